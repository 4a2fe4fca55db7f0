"""A pytest plugin for tests/test_guards.py: switches one guarded check off.

Loaded with ``-p tests.guard_switch``; ``CAREHUB_GUARD_OFF=<name>`` names the check, which is
monkeypatched for the whole session to its "let everything through" behaviour. Production
code has no switch: the check is replaced from outside, like a mutant.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest

ENV = "CAREHUB_GUARD_OFF"


async def _no_judgement(self: Any, case: Any) -> None:
    return None


async def _never_applied(self: Any, env: Any) -> bool:
    return False


def _never_removed(record: Any) -> bool:
    return False


def _allows_all(self: Any, resource_type: str, permission: str) -> bool:
    return True


async def _key_alone(self: Any, fmt: Any, unit: Any, st: Any, key: str, digest: Any) -> None:
    # the rule before issue 12: the same sender + control id is a resend, whatever it holds
    st.original = await unit.find_accepted_duplicate(st.system, key, _final_statuses())


def _final_statuses() -> Any:
    return importlib.import_module("hub.pipeline")._FINAL


def _basis_without_digest(system: str, key: str | None, message_id: str, digest: Any = None) -> str:
    return f"{system}|{key}" if key else message_id


def _identifies_all(self: Any, namespace: str, type_: str | None) -> bool:
    return True


def _never_placeholder(value: str | None, namespace: str | None = None) -> bool:
    return False


def _never_disagrees(mine: Any, theirs: Any) -> None:
    return None


def _may_always_search(caller: Any, entry: Any) -> None:
    return None


async def _same_person_always(self: Any, item: Any, known: Any) -> None:
    return None


async def _adopts_none(self: Any, store: Any, etype: str, canonical_id: str, pairs: Any) -> list:
    return []


async def _folds_none(self: Any, store: Any, reserved: Any, target: str, *_: Any) -> tuple:
    return ()


async def _subject_agrees(self: Any, unit: Any, env: Any, incoming: Any) -> None:
    return None


async def _names_one(self: Any, unit: Any, env: Any, ref: Any, survivor_id: str) -> Any:
    """``Merger._plan`` that never sees several live records (the first is retired)."""
    plan = await _ORIGINALS["merge-several"](self, unit, env, ref, survivor_id)
    return type(plan)(plan.pairs, plan.live[:1], plan.reserved, plan.survivor)


def _emits_anything(target: str, payload: Any) -> Any:
    """``check_emitted`` that finds nothing: every rendering passes."""
    return importlib.import_module("hub.findings").Report()


#: what a switched-off check was (for a replacement that wraps it)
_ORIGINALS: dict[str, Any] = {}


#: name → (module, class — "" for a module-level function —, attribute, replacement)
SWITCHES: dict[str, tuple[str, str, str, Any]] = {
    "echo": ("hub.sync.rules", "Echo", "judge", _no_judgement),
    "stale": ("hub.sync.rules", "Stale", "judge", _no_judgement),
    "ownership": ("hub.sync.rules", "NotOwned", "judge", _no_judgement),
    "unchanged": ("hub.sync.rules", "Unchanged", "judge", _no_judgement),
    "redelivered": ("hub.sync.rules", "Redelivered", "judge", _no_judgement),
    "duplicate-event": ("hub.sync.engine", "SyncEngine", "_already_applied", _never_applied),
    "removed-before": ("hub.sync.removal", "", "is_tombstone", _never_removed),
    "fhir-scope": ("adapters.fhir.api.auth", "ApiClient", "allows", _allows_all),
    "fhir-write-scope": ("adapters.fhir.api.model", "Caller", "may", _allows_all),
    "fhir-if-none-exist": ("carehub.app.fhir.writes", "", "_may_search", _may_always_search),
    "fhir-identity-hold": (
        "carehub.app.fhir.writes",
        "WritePlanner",
        "_same_person",
        _same_person_always,
    ),
    "reused-control-id": ("hub.pipeline", "Pipeline", "_find_earlier", _key_alone),
    "event-id-digest": ("hub.ids", "", "event_basis", _basis_without_digest),
    "identifying": ("hub.sync.linking", "IdentifierPolicy", "identifying", _identifies_all),
    "placeholder": ("hub.sync.identity", "", "is_placeholder", _never_placeholder),
    "disagreement": ("hub.sync.identity", "", "disagreement", _never_disagrees),
    "adopt-reservations": (
        "hub.sync.identity",
        "IdentityService",
        "adopt_reservations",
        _adopts_none,
    ),
    "fold-reservations": ("hub.sync.identity", "IdentityService", "_fold", _folds_none),
    "held-siblings": ("hub.sync.engine", "SyncEngine", "_subject_differs", _subject_agrees),
    "merge-several": ("hub.sync.merge", "Merger", "_plan", _names_one),
    "emitted-deliver": ("conformance.emitted", "", "check_emitted", _emits_anything),
    "emitted-convert": ("carehub.app.files", "", "check_emitted", _emits_anything),
}


def pytest_configure(config: pytest.Config) -> None:
    name = os.environ.get(ENV)
    if not name:
        return
    if name not in SWITCHES:
        raise pytest.UsageError(f"{ENV}={name!r}: no such guarded check ({', '.join(SWITCHES)})")
    module, cls, attr, replacement = SWITCHES[name]
    target = importlib.import_module(module)
    if cls:
        target = getattr(target, cls)
    if not hasattr(target, attr):
        raise pytest.UsageError(f"{module} {cls} has no {attr}: the guard table is stale")
    _ORIGINALS[name] = getattr(target, attr)
    setattr(target, attr, replacement)
