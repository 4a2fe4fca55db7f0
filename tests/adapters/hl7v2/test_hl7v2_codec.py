"""HL7 v2 codec: corpus round trip, field access, escapes, charsets, errors, limits."""

from __future__ import annotations

import pytest
from hl7v2_corpus import HL7_DIR, HL7_FILES, normalise

from adapters.hl7v2 import (
    EncodingChars,
    Hl7v2Codec,
    Limits,
    Message,
    escape,
    find_unknown_escapes,
    new_segment,
    parse,
    read_header,
    split_messages,
    unescape,
)
from hub.errors import LimitExceeded, MappingError, ParseError
from hub.findings import Severity
from hub.ports import Codec

NOT_HL7 = {"hapi__uuencoded_escaped.txt"}  # a uuencoded blob, not a message

ADT = (
    "MSH|^~\\&|REG|HOSP|HUB|CARE|20240102030405||ADT^A04^ADT_A01|CTRL-1|P|2.5.1|||AL|NE||"
    "UNICODE UTF-8\r"
    "EVN|A04|20240102030405\r"
    "PID|1||111^^^HOSP^MR~222^^^SSA^SS||DOE^JANE^Q\\T\\R||19800101|F|||1 Main St^^Town^ST^12345\r"
    "PV1|1|O|CLINIC^101^A\r"
    "OBX|1|ST|A^First||one\r"
    "OBX|2|TX|B^Second||two \\F\\ pipes \\S\\ hats \\E\\ back \\.br\\next\r"
    "ZXT|custom|data\r"
)


# ---------------------------------------------------------------- the corpus


@pytest.mark.parametrize("path", HL7_FILES, ids=lambda p: p.name)
def test_every_corpus_file_round_trips(path):
    data = path.read_bytes()
    messages = split_messages(data)
    if path.name in NOT_HL7:
        assert messages == []
        with pytest.raises(ParseError):
            parse(data)
        return
    assert messages, "no message found"
    for raw in messages:
        message = parse(raw)
        assert message.render() == normalise(raw)
        assert message.message_code is not None  # (a few corpus messages lack MSH-10)


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("mirth__TestADT.txt", 124),
        ("hapi__messages.txt", 18),
        ("hapi__example_oml_o21.hl7", 13),
        ("mirth__batch_batch01.hl7", 3),
        ("mirth__batch_batch03.hl7", 2),
        ("mirth__test-hl7-batch-input.txt", 1),
    ],
)
def test_split_messages_finds_each_message(name, count):
    messages = split_messages((HL7_DIR / name).read_bytes())
    assert len(messages) == count
    assert all(m.startswith(b"MSH") for m in messages)


def test_comments_between_messages_are_dropped():
    messages = split_messages((HL7_DIR / "hapi__messages.txt").read_bytes())
    assert not any(b"Original message" in m or b"/*" in m for m in messages)
    assert parse(messages[1]).control_id == "589888ADT30502184808"


def test_unmodified_segments_stay_byte_identical_after_a_change():
    raw = (HL7_DIR / "mirth__TestADT.txt").read_bytes()
    message = parse(split_messages(raw)[0])
    before = [seg.render() for seg in message.segments]
    message.set("PID-5.1", "CHANGED")
    after = [seg.render() for seg in message.segments]
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert [message.segments[i].id for i in changed] == ["PID"]


def test_bom_and_line_endings_are_read_alike():
    body = ADT.replace("\r", "\r\n")
    crlf = parse(b"\xef\xbb\xbf" + body.encode())
    lf = parse(ADT.replace("\r", "\n").encode())
    assert crlf.render() == lf.render() == ADT.encode()


def test_non_default_delimiters_are_read_from_msh():
    message = parse((HL7_DIR / "hapi__segmentfinder_a24.hl7").read_bytes())
    assert message.encoding == EncodingChars("^", "~", "|", "\\", "&")
    assert message.message_type == "ADT^A24"
    assert message["PID-3.4"] == "FOO"
    assert message["PID-3.4.3"] == "0363"
    assert message["PID-3.6.2"] == "200M"
    assert message["PID[2]-1"] == "2"


def test_doubled_encoding_character_is_tolerated_with_a_finding():
    message = parse((HL7_DIR / "lfhhl7__sample_unix.hl7").read_bytes())
    assert message.encoding.escape == "\\"
    assert message.encoding.subcomponent == ""
    assert [f.location for f in message.findings] == ["MSH-2"]
    assert message.control_id == "102"


# ---------------------------------------------------------------- field access


@pytest.fixture
def adt() -> Message:
    return parse(ADT.encode())


def test_msh_accessors(adt):
    assert adt.message_type == "ADT^A04"
    assert adt.message_code == "ADT"
    assert adt.trigger_event == "A04"
    assert adt.message_structure == "ADT_A01"
    assert adt.control_id == "CTRL-1"
    assert (adt.sending_application, adt.sending_facility) == ("REG", "HOSP")
    assert (adt.receiving_application, adt.receiving_facility) == ("HUB", "CARE")
    assert adt.processing_id == "P"
    assert adt.version == "2.5.1"
    assert (adt.accept_ack_type, adt.app_ack_type) == ("AL", "NE")
    assert adt.charset == "UNICODE UTF-8"
    assert adt["MSH-1"] == "|"
    assert adt["MSH-2"] == "^~\\&"


def test_paths_address_repetitions_components_and_occurrences(adt):
    assert adt["PID-3"] == "111"
    assert adt["PID-3(2).1"] == "222"
    assert adt["PID-3(2).4"] == "SSA"
    assert adt["PID-3(3).1"] is None
    assert adt["PID-5.1.1"] == "DOE"
    assert adt.get("PV1-3.2") == "101"
    assert adt["OBX-5"] == "one"
    assert adt["OBX[2]-5"] == "two | pipes ^ hats \\ back \nnext"
    assert adt["OBX[3]-5"] is None
    assert adt["ZXT-2"] == "data"
    assert adt.get("NK1-2", "none") == "none"


def test_values_are_unescaped_when_read(adt):
    assert adt["PID-5.3"] == "Q&R"
    assert adt.raw("PID-5.3") == "Q\\T\\R"


def test_raw_returns_the_named_level(adt):
    assert adt.raw("PID-3") == "111^^^HOSP^MR~222^^^SSA^SS"
    assert adt.raw("PID-3(2)") == "222^^^SSA^SS"
    assert adt.raw("PID-5.2") == "JANE"
    assert adt.raw("ZXT") == "ZXT|custom|data"


def test_repetitions_and_segment_iteration(adt):
    reps = adt.repetitions("PID-3")
    assert [(r.get(1), r.get(4), r.get(5)) for r in reps] == [
        ("111", "HOSP", "MR"),
        ("222", "SSA", "SS"),
    ]
    assert [seg.value(5) for seg in adt.segments_by_id("OBX")] == [
        "one",
        "two | pipes ^ hats \\ back \nnext",
    ]
    assert [seg.id for seg in adt.segments] == ["MSH", "EVN", "PID", "PV1", "OBX", "OBX", "ZXT"]
    assert adt.repetitions("PID-4") == []


def test_bad_paths_are_programming_errors(adt):
    for path in ("PID", "pid-3", "PID-0", "PID-3(0)", "PID-3.x"):
        with pytest.raises(ValueError):
            adt.get(path)


# ---------------------------------------------------------------- changing and building


def test_set_escapes_and_reads_back(adt):
    adt.set("PID-5.2", "A|B^C&D~E\\F")
    assert adt.raw("PID-5.2") == "A\\F\\B\\S\\C\\T\\D\\R\\E\\E\\F"
    assert adt["PID-5.2"] == "A|B^C&D~E\\F"
    assert parse(adt.render())["PID-5.2"] == "A|B^C&D~E\\F"


def test_set_pads_missing_levels(adt):
    adt.set("PID-3(4).5", "XX")
    assert adt.raw("PID-3") == "111^^^HOSP^MR~222^^^SSA^SS~~^^^^XX"
    adt.set("PV1-50", "late")
    assert adt["PV1-50"] == "late"
    assert adt.segment("PV1").render().count("|") == 50


def test_set_appends_the_next_occurrence_only(adt):
    adt.set("NK1-2.1", "ROE")
    assert adt.segments[-1].render() == "NK1||ROE"
    with pytest.raises(ValueError):
        adt.set("NK1[3]-2", "X")


def test_msh_delimiter_fields_cannot_be_set(adt):
    with pytest.raises(ValueError):
        adt.set("MSH-1", "#")
    with pytest.raises(ValueError):
        adt.set("MSH-2", "^~\\&")


def test_set_raw_replaces_a_whole_field(adt):
    adt.set_raw("PID-3", "9^^^X^MR")
    assert adt.repetitions("PID-3")[0].get(4) == "X"
    assert len(adt.repetitions("PID-3")) == 1


def test_values_that_the_charset_cannot_carry_are_refused():
    message = parse(b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5||||||8859/1\rPID|1\r")
    message.set("PID-5", "Zoë")
    with pytest.raises(MappingError):
        message.set("PID-5", "名前")
    assert parse(message.render())["PID-5"] == "Zoë"


def test_create_builds_a_message_that_parses_back():
    message = Message.create(
        "ADT^A04^ADT_A01", control_id="X1", sending=("APP", "FAC"), receiving=("HUB", "CARE")
    )
    message.append(new_segment("EVN", "A04"))
    message.set("PID-5.1", "DOE")
    back = parse(message.render())
    assert back.message_type == "ADT^A04"
    assert back.control_id == "X1"
    assert back.sending_application == "APP"
    assert back.version == "2.5.1"
    assert back["PID-5"] == "DOE"
    assert back.render().endswith(b"\rPID|||||DOE\r")


def test_codec_satisfies_the_port():
    codec = Hl7v2Codec()
    assert isinstance(codec, Codec)
    assert codec.render(codec.parse(ADT.encode())) == ADT.encode()


# ---------------------------------------------------------------- escapes


def test_escape_sequences_from_a_real_file():
    message = parse((HL7_DIR / "hl7dotnet__Sample-ORM.txt").read_bytes())
    notes = [seg.value(3) for seg in message.segments_by_id("NTE")]
    assert notes[0] == "some text\nsome text after new line\nissue Efferent-Health#82"
    assert notes[1] == "some text\r\nsome text after new line\r\nissue Efferent-Health#81"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("a\\F\\b", "a|b"),
        ("a\\S\\b\\T\\c\\R\\d\\E\\e", "a^b&c~d\\e"),
        ("\\X4142\\", "AB"),
        ("caf\\XC3A9\\", "café"),
        ("\\H\\bold\\N\\", "bold"),
        ("one\\.sp2\\two", "one\n\ntwo"),
        ("\\C2842\\kept", "\\C2842\\kept"),
        ("\\M244041\\kept", "\\M244041\\kept"),
        ("\\Q\\unknown", "\\Q\\unknown"),
        ("open \\r", "open \\r"),
    ],
)
def test_unescape(raw, value):
    assert unescape(raw, EncodingChars()) == value


def test_unknown_escapes_are_found_not_raised():
    enc = EncodingChars()
    assert find_unknown_escapes("\\Q\\ and \\F\\ and \\Zx\\", enc) == ["\\Q\\", "\\Zx\\"]
    assert find_unknown_escapes("tail \\r", enc) == ["\\r"]
    assert find_unknown_escapes("\\C2842\\ \\X41\\ \\.br\\", enc) == []


def test_escape_uses_the_message_delimiters():
    enc = EncodingChars("#", "!", "*", "$", "@")
    assert escape("a#b!c$d\ne", enc) == "a$F$b$S$c$E$d$.br$e"
    assert unescape(escape("a#b!c$d@e*f", enc), enc) == "a#b!c$d@e*f"


# ---------------------------------------------------------------- character sets


def test_msh18_latin1_is_decoded_and_re_encoded():
    raw = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5||||||8859/1\rPID|1||||Müller\r".encode("latin-1")
    message = parse(raw)
    assert message["PID-5"] == "Müller"
    assert message.findings == []
    assert message.render() == raw


def test_utf8_without_msh18_is_read_with_a_finding():
    raw = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1||||Zoë\r".encode()
    message = parse(raw)
    assert message["PID-5"] == "Zoë"
    assert [f.severity for f in message.findings] == [Severity.INFORMATION]
    assert message.render() == raw


def test_undecodable_bytes_fall_back_to_latin1_with_a_warning():
    raw = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5||||||UNICODE UTF-8\rPID|1||||M\xfcller\r"
    message = parse(raw)
    assert message["PID-5"] == "Müller"
    assert message.findings[0].severity == Severity.WARNING
    assert message.render() == raw


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("raw", "location"),
    [
        (b"", "message"),
        (b"\r\n\r\n", "message"),
        (b"PID|1||x\r", "segment 1"),
        (b"FHS|^~\\&\r", "segment 1"),
        (b"MSH", "MSH-1"),
        (b"MSH||A|B\r", "MSH-2"),
        (b"MSHX^~\\&|A\r", "MSH-1"),
        (b"MSH|^A\\&|A\r", "MSH-2"),
        (b"MSH|^~\\&^~\\&|A\r", "MSH-2"),
        (b"MSH|^~\\&|A\rpid|1\r", "line 2"),
        (b"MSH|^~\\&|A\r// a comment\r", "line 2"),
        (b"MSH|^~\\&|A\rPID|1\rMSH|^~\\&|B\r", "line 3"),
    ],
)
def test_malformed_input_raises_parse_error_with_a_location(raw, location):
    with pytest.raises(ParseError) as info:
        parse(raw)
    assert info.value.location == location


def test_read_header_salvages_msh10_from_a_broken_message():
    header = read_header(b"junk\rMSH|^~\\&|A|B|C|D|2024||ADT^A01|CTRL-9|P|2.4\rPID|1\rpid\r")
    assert header is not None
    assert header.value(10) == "CTRL-9"
    assert read_header(b"no header at all") is None
    assert read_header(b"MSH|^A\\&|A|B|C|D|2024||ADT^A01|C7\r").value(10) == "C7"


# ---------------------------------------------------------------- limits


def test_oversized_message_is_refused_before_decoding():
    data = b"MSH|^~\\&|" + b"x" * (100 * 1024 * 1024)
    with pytest.raises(LimitExceeded) as info:
        parse(data)
    assert info.value.location == "message"


def test_too_many_repetitions_names_the_field():
    raw = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1||" + "~".join(["x"] * 10_001) + "\r"
    with pytest.raises(LimitExceeded) as info:
        parse(raw.encode())
    assert info.value.location == "PID-3"


@pytest.mark.parametrize(
    ("limits", "body", "location"),
    [
        (Limits(max_segments=3), "\rPID|1" * 3, "message"),
        (Limits(max_fields=11), "\rPID" + "|x" * 12, "PID"),
        (Limits(max_components=5), "\rPID|1|" + "^".join("abcdef"), "PID-2"),
        (Limits(max_subcomponents=3), "\rPID|1|a^" + "&".join("abcd"), "PID-2"),
        (Limits(max_repetitions=2), "\rOBX|1|a~b~c", "OBX-2"),
    ],
)
def test_each_limit_is_enforced(limits, body, location):
    raw = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5" + body
    with pytest.raises(LimitExceeded) as info:
        parse(raw.encode(), limits=limits)
    assert info.value.location == location


def test_within_limits_is_accepted():
    raw = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1||" + "~".join(["x"] * 1_000) + "\r"
    assert len(parse(raw.encode()).repetitions("PID-3")) == 1_000


@pytest.mark.parametrize("charset", ["undefined", "unicode_escape", "base64", "idna", "NOPE"])
def test_charsets_that_are_not_plain_text_fall_back_with_a_warning(charset):
    raw = f"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5||||||{charset}\rPID|1||\\X41\\\r".encode()
    message = parse(raw)
    assert message["PID-3"] == "A"
    assert message.findings[0].severity == Severity.WARNING
    assert message.render() == raw


def test_nul_in_msh18_is_an_unknown_charset():
    raw = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5||||||UTF\x008\rPID|1\r"
    assert parse(raw).findings[0].text.startswith("unknown character set")
