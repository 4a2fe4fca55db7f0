"""Audit the installed dependencies for known vulnerabilities with pip-audit.

::

    python -m tests.security.audit_deps [--allow-unaudited] [--timeout SECONDS]

pip-audit checks every package installed in this environment (``.venv``) against its
vulnerability service. Exit status:

* 0 — every dependency was looked up and none has a known vulnerability;
* 1 — a known vulnerability (each printed with the versions that fix it); never 0, whatever
  the flags;
* 2 — pip-audit could not run (not installed, or failed for a reason other than the network);
* 3 — the audit was **not done**: the vulnerability service could not be reached, or it could
  not look up some dependencies (a package index that is a local mirror answers "not found on
  PyPI" for everything, and pip-audit then reports "no known vulnerabilities" — that is not
  a pass). With ``--allow-unaudited`` this case exits 0, still saying plainly that nothing
  was audited; use it only where the machine has no way to reach the service.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AuditResult", "Vulnerability", "judge", "main", "parse_report", "run_pip_audit"]

#: our own distribution: installed editable from the checkout, never on PyPI
OWN_PROJECTS = frozenset({"carehub"})
#: stderr of a pip-audit that could not reach its service
_NETWORK = (
    "connectionerror",
    "max retries exceeded",
    "failed to establish a new connection",
    "name or service not known",
    "temporary failure in name resolution",
    "nameresolutionerror",
    "network is unreachable",
    "timed out",
    "timeout",
    "proxyerror",
    "sslerror",
    "serviceerror",
    "connection refused",
)

CLEAN, VULNERABLE, BROKEN, UNAUDITED = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Vulnerability:
    package: str
    version: str
    id: str
    fix_versions: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


@dataclass
class AuditResult:
    """What one pip-audit run found."""

    audited: list[str] = field(default_factory=list)
    #: (package, why it could not be looked up)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    vulnerabilities: list[Vulnerability] = field(default_factory=list)


def parse_report(text: str) -> AuditResult:
    """pip-audit's ``-f json`` output (``{"dependencies": [...]}``, or the bare list of
    older versions). Raises ValueError when it is not that."""
    data: Any = json.loads(text)
    deps = data.get("dependencies") if isinstance(data, dict) else data
    if not isinstance(deps, list):
        raise ValueError("not a pip-audit JSON report")
    result = AuditResult()
    for dep in deps:
        if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
            raise ValueError("not a pip-audit JSON report")
        name = dep["name"]
        if "skip_reason" in dep:
            result.skipped.append((name, str(dep["skip_reason"])))
            continue
        result.audited.append(name)
        for vuln in dep.get("vulns") or []:
            result.vulnerabilities.append(
                Vulnerability(
                    name,
                    str(dep.get("version", "?")),
                    str(vuln.get("id", "?")),
                    tuple(vuln.get("fix_versions") or ()),
                    tuple(vuln.get("aliases") or ()),
                )
            )
    return result


def run_pip_audit(timeout: float) -> subprocess.CompletedProcess[str]:
    """pip-audit over the environment this interpreter runs in, as JSON."""
    command = [sys.executable, "-m", "pip_audit", "-f", "json", "--progress-spinner", "off"]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def judge(
    returncode: int, stdout: str, stderr: str, *, allow_unaudited: bool = False
) -> tuple[int, list[str]]:
    """The exit status and the lines to print for one pip-audit run."""
    try:
        result = parse_report(stdout) if stdout.strip() else None
    except ValueError:
        result = None
    if result is None:
        return _no_report(returncode, stderr, allow_unaudited)
    lines = [
        f"VULNERABLE: {v.package} {v.version}: {v.id}"
        + (f" ({', '.join(v.aliases)})" if v.aliases else "")
        + (f"; fixed in {', '.join(v.fix_versions)}" if v.fix_versions else "; no fix yet")
        for v in result.vulnerabilities
    ]
    if result.vulnerabilities:
        lines.append(f"{len(result.vulnerabilities)} known vulnerabilities; upgrade or pin.")
        return VULNERABLE, lines
    missing = [(n, why) for n, why in result.skipped if n.lower() not in OWN_PROJECTS]
    if missing:
        lines.append(
            f"DEPENDENCIES NOT AUDITED: {len(missing)} of {len(missing) + len(result.audited)} "
            "packages could not be looked up by pip-audit's vulnerability service, e.g. "
            f"{missing[0][0]}: {missing[0][1]}"
        )
        return _unaudited(lines, allow_unaudited)
    lines.append(f"no known vulnerabilities in {len(result.audited)} audited packages")
    return CLEAN, lines


def _no_report(returncode: int, stderr: str, allow_unaudited: bool) -> tuple[int, list[str]]:
    last = next((ln for ln in reversed(stderr.strip().splitlines()) if ln.strip()), "")
    if "no module named pip_audit" in stderr.lower():
        return BROKEN, ["pip-audit is not installed (pip install -e '.[dev]')"]
    if any(mark in stderr.lower() for mark in _NETWORK):
        lines = [
            "DEPENDENCIES NOT AUDITED: pip-audit could not reach its vulnerability service"
            f" ({last[:200]})"
        ]
        return _unaudited(lines, allow_unaudited)
    return BROKEN, [f"pip-audit failed (exit {returncode}): {last[:300]}"]


def _unaudited(lines: list[str], allow_unaudited: bool) -> tuple[int, list[str]]:
    if allow_unaudited:
        lines.append("--allow-unaudited: exiting 0, but nothing was checked")
        return CLEAN, lines
    lines.append("run where the service is reachable, or pass --allow-unaudited to accept this")
    return UNAUDITED, lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.security.audit_deps")
    parser.add_argument("--allow-unaudited", action="store_true")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    try:
        done = run_pip_audit(args.timeout)
    except subprocess.TimeoutExpired:
        status, lines = _unaudited(
            [f"DEPENDENCIES NOT AUDITED: pip-audit did not finish in {args.timeout:.0f} s"],
            args.allow_unaudited,
        )
    else:
        status, lines = judge(
            done.returncode, done.stdout, done.stderr, allow_unaudited=args.allow_unaudited
        )
    for line in lines:
        print(line)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
