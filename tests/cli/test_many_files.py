"""``carehub validate``/``convert``/``send`` over several files: each file is read on its
own; a missing, unreadable, empty or unrecognised file is a content error for that file
(naming it), the other files' results are all printed, and the exit code is 1 — never a
usage error (2) that hides the rest."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from carehub.app.hub import Hub
from carehub.cli import cli
from hub.config import parse_config

ADT = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A04|M%d|P|2.5.1\rPID|1||%d^^^H^MR||Doe^Jane||19800101|F\r"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """One good HL7 v2 file and one of every way a file can fail to be read."""
    out = {name: tmp_path / name for name in ("good.hl7", "empty.hl7", "blank.hl7")}
    out["good.hl7"].write_bytes(ADT % (1, 1) + ADT % (2, 2))
    out["empty.hl7"].write_bytes(b"")
    out["blank.hl7"].write_bytes(b"\r\n  \n")
    out["adir"] = tmp_path / "adir"
    out["adir"].mkdir()
    out["broken.hl7"] = tmp_path / "broken.hl7"
    out["broken.hl7"].symlink_to(tmp_path / "gone")
    out["missing.hl7"] = tmp_path / "missing.hl7"
    out["odd.txt"] = tmp_path / "odd.txt"
    out["odd.txt"].write_bytes(b"\n\nhello, not a message\n")
    out["latin1.json"] = tmp_path / "latin1.json"
    out["latin1.json"].write_bytes(
        b'{"resourceType": "Patient", "name": [{"family": "M\xfcller"}]}'
    )
    # root reads any file whatever its mode: the refusal is the operating system's answer
    out["secret.hl7"] = tmp_path / "secret.hl7"
    out["secret.hl7"].write_bytes(ADT % (3, 3))
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "secret.hl7":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return out


EXPECTED_PROBLEMS = {
    "empty.hl7": (1, "empty file"),
    "blank.hl7": (1, "blank file"),
    "adir": (1, "cannot read: a directory"),
    "broken.hl7": (1, "cannot read: a broken symbolic link"),
    "missing.hl7": (1, "cannot read: no such file or directory"),
    "odd.txt": (3, "not HL7 v2 (MSH, FHS or BHS), X12 (ISA) or FHIR JSON"),
    "secret.hl7": (1, "cannot read: permission denied"),
}


def test_every_file_is_reported_and_a_bad_one_hides_none_of_the_others(files: dict[str, Path]):
    code, out, err = run("validate", *(str(p) for p in files.values()))
    assert code == 1 and err == ""
    for name, (line, text) in EXPECTED_PROBLEMS.items():
        assert f"{files[name]}:{line}: ERROR: {text}" in out, name
    good = files["good.hl7"]
    assert f"{good}:1: ADT^A04 M1: ok (AA)" in out and f"{good}:3: ADT^A04 M2: ok (AA)" in out
    # invalid UTF-8 where it matters (FHIR JSON is UTF-8): an error naming file and line
    assert f"{files['latin1.json']}:1: fhir: ERROR" in out and "not valid JSON" in out
    assert out.rstrip().endswith("9 files (7 unreadable), 3 messages, 2 valid, 1 with errors")


def test_json_has_an_entry_for_each_file_that_could_not_be_read(files: dict[str, Path]):
    code, out, _ = run("validate", "--json", *(str(p) for p in files.values()))
    assert code == 1
    entries = json.loads(out)
    by_file = {Path(e["file"]).name: e for e in entries if e["format"] == "file"}
    assert set(by_file) == set(EXPECTED_PROBLEMS)
    for name, (line, text) in EXPECTED_PROBLEMS.items():
        entry = by_file[name]
        assert entry["ok"] is False and entry["line"] == line and entry["outcome"] == "rejected"
        assert [f["severity"] for f in entry["findings"]] == ["error"]
        assert entry["findings"][0]["text"].startswith(text.split(" (")[0])
    assert [e["ok"] for e in entries if e["file"] == str(files["good.hl7"])] == [True, True]


def test_several_good_files_exit_0(tmp_path: Path, corpus: Path):
    good = tmp_path / "good.hl7"
    good.write_bytes(ADT % (1, 1))
    batch = corpus / "hl7v2" / "mirth__batch_batch01.hl7"
    code, out, _ = run("validate", str(good), str(batch))
    assert code == 0 and "2 files, 4 messages, 4 valid, 0 with errors" in out


def test_only_usage_errors_exit_2():
    assert run("validate")[0] == 2  # no file given
    assert run("validate", "--nope", "x.hl7")[0] == 2


def test_convert_converts_the_good_files_and_names_the_bad_ones(
    files: dict[str, Path], tmp_path: Path
):
    out_dir = tmp_path / "out"
    code, out, _ = run(
        "convert", "--to", "fhir", "--out", str(out_dir), *(str(p) for p in files.values())
    )
    assert code == 1
    for name, (line, text) in EXPECTED_PROBLEMS.items():
        assert f"{files[name]}:{line}: ERROR: {text}" in out, name
    patients = sorted(p.name for p in out_dir.glob("good-*-Patient.json"))
    assert len(patients) == 2  # both messages of the good file converted


def test_convert_to_stdout_keeps_errors_on_stderr(files: dict[str, Path]):
    code, out, err = run(
        "convert", "--to", "canonical", str(files["good.hl7"]), str(files["empty.hl7"])
    )
    assert code == 1
    assert out.count('"kind": "patient.registered"') == 2 and "ERROR" not in out
    assert f"{files['empty.hl7']}:1: ERROR: empty file" in err


CONFIG = """
hub: {namespace: clisend, http: {enabled: false}}
systems:
  ehr:
    inbound: [{type: mllp, name: adt, port: 0}]
"""


@pytest.fixture
async def mllp_port(tmp_path: Path) -> AsyncIterator[int]:
    cfg = parse_config(CONFIG).with_overrides(db_url=f"sqlite:///{tmp_path / 'send.db'}")
    async with Hub(cfg) as hub:
        assert hub.inbound is not None
        yield int(hub.inbound.find("ehr").server.port)


async def test_send_sends_the_good_files_and_reports_the_others(
    mllp_port: int, tmp_path: Path, corpus: Path
):
    good = tmp_path / "good.hl7"
    good.write_bytes(ADT % (7, 7))
    claim = corpus / "x12" / "lfhx12__837_005010X222A2_demo.autoaccident.837"
    args = ["send", "--json", f"mllp://127.0.0.1:{mllp_port}"]
    args += [str(tmp_path / "missing.hl7"), str(claim), str(good)]
    result: Any = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert result.exit_code == 1, result.output
    missing, x12, sent = json.loads(result.stdout)
    assert missing["code"] is None and "no such file" in missing["text"]
    assert x12["code"] is None and "x12 is not HL7 v2" in x12["text"]
    assert sent["code"] == "AA" and sent["control_id"] == "M7" and sent["accepted"]


def test_a_codec_bug_on_one_message_is_reported_for_it_and_the_rest_still_judged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from carehub.app.hl7v2 import Hl7v2Inbound

    real = Hl7v2Inbound.parse

    def parse(self: Hl7v2Inbound, raw: bytes) -> Any:
        if b"|M2|" in raw:
            raise RuntimeError("a bug")
        return real(self, raw)

    monkeypatch.setattr(Hl7v2Inbound, "parse", parse)
    good = tmp_path / "good.hl7"
    good.write_bytes(ADT % (1, 1) + ADT % (2, 2) + ADT % (3, 3))
    code, out, err = run("validate", str(good))
    assert code == 1 and err == "" and "Traceback" not in out
    assert f"{good}:1: ADT^A04 M1: ok (AA)" in out and f"{good}:5: ADT^A04 M3: ok (AA)" in out
    assert f"{good}:3: hl7v2: ERROR" in out
    assert "internal error judging this message (RuntimeError)" in out
    monkeypatch.setenv("CAREHUB_DEBUG", "1")
    with pytest.raises(RuntimeError, match="a bug"):
        CliRunner().invoke(cli, ["validate", str(good)], catch_exceptions=False)


def test_convert_out_never_overwrites_an_output_of_another_file_with_the_same_name(
    tmp_path: Path,
):
    """a/x.hl7 and b/x.hl7 share the stem x: each one's outputs are prefixed with
    its position in the argument list, so none overwrites another; a unique stem keeps the
    plain name."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b, c = tmp_path / "a" / "x.hl7", tmp_path / "b" / "x.hl7", tmp_path / "y.hl7"
    a.write_bytes(ADT % (1, 1))
    b.write_bytes(ADT % (2, 2))
    c.write_bytes(ADT % (3, 3))
    out_dir = tmp_path / "out"
    code, _, _ = run("convert", "--to", "canonical", "--out", str(out_dir), str(a), str(b), str(c))
    assert code == 0
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == [
        "1-x-0001-01-patient.registered.json",
        "2-x-0001-01-patient.registered.json",
        "y-0001-01-patient.registered.json",
    ]
    first = (out_dir / names[0]).read_bytes()
    second = (out_dir / names[1]).read_bytes()
    assert first != second  # each file's own output
