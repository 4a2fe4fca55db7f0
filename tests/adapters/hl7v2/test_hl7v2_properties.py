"""Property tests: generated messages round-trip with any delimiters; arbitrary bytes raise
nothing but ParseError."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.hl7v2 import Message, parse
from adapters.hl7v2.fuzz import check_one
from hub.errors import ParseError

DELIMITERS = "|^~\\&#!$%*+,-./:;<=>?@[]_`{}"
SEGMENT_IDS = st.from_regex(r"\A[A-Z][A-Z0-9]{2}\Z").filter(
    lambda s: s not in {"MSH", "FHS", "BHS", "BTS", "FTS"}
)


@st.composite
def messages(draw: st.DrawFn) -> tuple[str, str]:
    """(message text, its five delimiters as MSH-1 + MSH-2)."""
    delims = draw(st.permutations(DELIMITERS).map(lambda p: "".join(p[:5])))
    field_sep = delims[0]
    alphabet = st.sampled_from(string.ascii_letters + string.digits + " .é漢" + delims[1:])
    value = st.text(alphabet, max_size=12)
    header = draw(st.lists(value, min_size=10, max_size=20))
    header[6] = "ADT^A01".replace("^", delims[1])
    lines = ["MSH" + field_sep + delims[1:] + field_sep + field_sep.join(header)]
    for _ in range(draw(st.integers(0, 6))):
        seg_id = draw(SEGMENT_IDS)
        fields = draw(st.lists(value, max_size=12))
        lines.append(field_sep.join([seg_id, *fields]))
    terminator = draw(st.sampled_from(["\r", ""]))
    return "\r".join(lines) + terminator, delims


@given(messages())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_generated_messages_round_trip(sample):
    text, delims = sample
    data = text.encode()
    message = parse(data)
    assert message.encoding.field == delims[0]
    assert message.encoding.msh2 == delims[1:]
    assert message.render() == data


@given(messages(), st.text(min_size=1, max_size=30).filter(lambda v: "\r" not in v and v.strip()))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
# "." as the subcomponent separator: a line break must not be escaped as \.br\
@example(("MSH|^~\\.|||||||ADT^A01|||\r", "|^~\\."), "0\n")
def test_set_then_get_gives_the_value_back(sample, value):
    text, _ = sample
    message = parse(text.encode())
    message.set("ZZZ-3(2).2.2", value)
    for reread in (message, parse(message.render())):
        assert reread["ZZZ-3(2).2.2"] == value


@given(st.binary(max_size=400))
@settings(max_examples=400)
def test_arbitrary_bytes_raise_only_parse_error(data):
    check_one(data)


@given(messages(), st.binary(min_size=1, max_size=8), st.integers(0, 10_000))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_corrupted_messages_raise_only_parse_error(sample, noise, where):
    data = sample[0].encode()
    at = where % (len(data) + 1)
    check_one(data[:at] + noise + data[at:])


def test_check_one_lets_parse_error_through_and_flags_internal_failures():
    check_one(b"not hl7")  # a ParseError is the expected outcome, so nothing is raised
    assert isinstance(parse(b"MSH|^~\\&|A\r"), Message)
    try:
        parse(b"")
    except ParseError as exc:
        assert exc.code != "207"
