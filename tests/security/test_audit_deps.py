"""The dependency audit's reading of pip-audit (not pip-audit itself): fake reports and
failures in, exit status and the plain statement out."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.security import audit_deps
from tests.security.audit_deps import BROKEN, CLEAN, UNAUDITED, VULNERABLE, judge, parse_report

CLEAN_REPORT = json.dumps(
    {
        "dependencies": [
            {"name": "aiohttp", "version": "3.9.5", "vulns": []},
            {"name": "pydantic", "version": "2.7.0", "vulns": []},
            {"name": "carehub", "skip_reason": "Dependency not found on PyPI"},
        ],
        "fixes": [],
    }
)
VULNERABLE_REPORT = json.dumps(
    {
        "dependencies": [
            {
                "name": "aiohttp",
                "version": "3.9.1",
                "vulns": [
                    {
                        "id": "PYSEC-2024-24",
                        "fix_versions": ["3.9.2"],
                        "aliases": ["CVE-2024-23334", "GHSA-5h86-8mv2-jq9f"],
                        "description": "path traversal",
                    }
                ],
            },
            {"name": "pydantic", "version": "2.7.0", "vulns": []},
        ],
        "fixes": [],
    }
)
MIRROR_REPORT = json.dumps(
    {
        "dependencies": [
            {
                "name": n,
                "skip_reason": f"Dependency not found on PyPI and could not be audited: {n}",
            }
            for n in ("aiohttp", "pydantic", "carehub")
        ],
        "fixes": [],
    }
)
NETWORK_STDERR = (
    "Traceback (most recent call last):\n"
    "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='pypi.org', port=443): "
    "Max retries exceeded with url: /pypi/aiohttp/3.9.5/json "
    "(Caused by NameResolutionError(\"Failed to resolve 'pypi.org'\"))\n"
)


def test_a_clean_report_passes_and_our_own_package_does_not_count_as_unaudited():
    status, lines = judge(0, CLEAN_REPORT, "")
    assert status == CLEAN
    assert lines == ["no known vulnerabilities in 2 audited packages"]


def test_a_vulnerability_fails_with_its_id_aliases_and_fix():
    for allow in (False, True):
        status, lines = judge(1, VULNERABLE_REPORT, "", allow_unaudited=allow)
        assert status == VULNERABLE
        assert lines[0] == (
            "VULNERABLE: aiohttp 3.9.1: PYSEC-2024-24 (CVE-2024-23334, GHSA-5h86-8mv2-jq9f); "
            "fixed in 3.9.2"
        )


def test_dependencies_that_could_not_be_looked_up_are_not_a_pass():
    """A local index mirror: pip-audit exits 0 saying "no known vulnerabilities", yet looked
    nothing up. That is reported as not audited."""
    status, lines = judge(0, MIRROR_REPORT, "")
    assert status == UNAUDITED
    assert lines[0].startswith("DEPENDENCIES NOT AUDITED: 2 of 2 packages")
    status, lines = judge(0, MIRROR_REPORT, "", allow_unaudited=True)
    assert status == CLEAN and "nothing was checked" in lines[-1]


def test_an_unreachable_service_is_said_plainly_and_allowed_only_when_asked():
    status, lines = judge(1, "", NETWORK_STDERR)
    assert status == UNAUDITED
    assert lines[0].startswith("DEPENDENCIES NOT AUDITED: pip-audit could not reach")
    assert "NameResolutionError" in lines[0]
    status, _ = judge(1, "", NETWORK_STDERR, allow_unaudited=True)
    assert status == CLEAN


def test_pip_audit_missing_or_crashing_is_broken_even_with_allow_unaudited():
    missing = "/x/python: No module named pip_audit\n"
    assert judge(1, "", missing, allow_unaudited=True)[0] == BROKEN
    crash = "Traceback (most recent call last):\nKeyError: 'requires_dist'\n"
    status, lines = judge(2, "not json", crash, allow_unaudited=True)
    assert status == BROKEN and "KeyError" in lines[0]


def test_the_bare_list_of_older_pip_audit_versions_is_read():
    legacy = json.dumps([{"name": "pyyaml", "version": "5.3", "vulns": [{"id": "PYSEC-2021-142"}]}])
    result = parse_report(legacy)
    assert result.audited == ["pyyaml"]
    assert result.vulnerabilities[0].id == "PYSEC-2021-142"
    assert judge(1, legacy, "")[1][0] == "VULNERABLE: pyyaml 5.3: PYSEC-2021-142; no fix yet"


def test_not_a_report_is_refused():
    for text in ('{"x": 1}', "[1, 2]", "null"):
        with pytest.raises(ValueError):
            parse_report(text)


@pytest.mark.parametrize(
    ("stdout", "stderr", "flags", "expected"),
    [
        (CLEAN_REPORT, "", [], 0),
        (VULNERABLE_REPORT, "", ["--allow-unaudited"], 1),
        ("", NETWORK_STDERR, [], 3),
        ("", NETWORK_STDERR, ["--allow-unaudited"], 0),
        (MIRROR_REPORT, "", [], 3),
    ],
)
def test_main_exit_status(monkeypatch, capsys, stdout, stderr, flags, expected):
    def fake(timeout: float):
        return subprocess.CompletedProcess(["pip-audit"], 1 if stderr else 0, stdout, stderr)

    monkeypatch.setattr(audit_deps, "run_pip_audit", fake)
    assert audit_deps.main(flags) == expected
    assert capsys.readouterr().out.strip()


def test_main_says_so_when_pip_audit_hangs(monkeypatch, capsys):
    def slow(timeout: float):
        raise subprocess.TimeoutExpired("pip-audit", timeout)

    monkeypatch.setattr(audit_deps, "run_pip_audit", slow)
    assert audit_deps.main(["--timeout", "5"]) == UNAUDITED
    assert "did not finish in 5 s" in capsys.readouterr().out
