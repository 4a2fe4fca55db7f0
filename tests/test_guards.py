"""Mutation checks: each guarded check, switched off, must turn a named test red.

For each check a subprocess runs the narrowest tests that should catch it with the check
replaced by its "let everything through" behaviour (``tests/guard_switch.py``); the run must
fail on an assertion — not on a usage or collection error. The table is in docs/sync.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.guard_switch import ENV, SWITCHES

REPO = Path(__file__).resolve().parent.parent
SYNC = "tests/sync/test_sync.py::"
WRITE_SCOPES = "tests/security/test_write_scopes.py::"
SAFETY = "tests/sync/test_identity_safety.py::"
HOLDS = "tests/security/test_fhir_identity_holds.py::"

#: check → the tests that must catch it
CATCHERS: dict[str, list[str]] = {
    "echo": [SYNC + "test_an_echo_between_two_systems_is_not_propagated"],
    "stale": [SYNC + "test_duplicates_and_stale_updates_change_nothing"],
    "unchanged": [SYNC + "test_duplicates_and_stale_updates_change_nothing"],
    "ownership": [SYNC + "test_a_non_owner_cannot_change_an_owned_field"],
    "redelivered": [
        SYNC + "test_a_change_applied_but_not_published_before_a_crash_is_published_on_redelivery"
    ],
    "duplicate-event": [
        SYNC + "test_a_change_applied_but_not_published_before_a_crash_is_published_on_redelivery"
    ],
    "removed-before": [
        "tests/sync/test_removal.py::test_a_removal_of_a_removed_or_unknown_record_changes_nothing"
    ],
    "fhir-scope": [
        "tests/adapters/fhir/api/test_fhirapi_auth.py::test_scope_letters_map_to_interactions"
    ],
    "fhir-write-scope": [
        WRITE_SCOPES
        + "test_c_only_create_of_a_known_identifier_changes_nothing_and_discloses_nothing",
        WRITE_SCOPES + "test_u_only_conditional_update_that_would_create_is_403",
        WRITE_SCOPES + "test_if_none_exist_match_with_s_but_no_r_answers_without_body_or_id",
    ],
    "fhir-if-none-exist": [
        WRITE_SCOPES + "test_if_none_exist_without_r_or_s_is_403_and_writes_nothing",
    ],
    "fhir-identity-hold": [
        HOLDS + "test_create_with_zoes_mrn_and_another_persons_facts_is_held",
        HOLDS + "test_identifiers_naming_two_patients_are_held_not_applied_to_the_first",
    ],
    "reused-control-id": [
        "tests/hub/test_reused_control_id.py::"
        "test_another_message_under_a_reused_control_id_is_processed_with_a_warning[sqlite]"
    ],
    "event-id-digest": [
        "tests/e2e/test_reused_control_id.py::"
        "test_an_a08_of_another_patient_under_a_reused_msh10_is_processed[sqlite]"
    ],
    "identifying": [
        SAFETY + "test_a_shared_real_ssn_with_other_demographics_is_two_patients_and_a_review"
    ],
    "placeholder": [SAFETY + "test_two_registrations_sharing_a_placeholder_ssn_stay_two_patients"],
    "disagreement": [
        SAFETY + "test_an_update_on_the_same_mrn_naming_another_person_is_held_for_review"
    ],
    "adopt-reservations": [
        SAFETY + "test_a_reservation_made_while_a_duplicate_registration_links_folds_into_it"
    ],
    "fold-reservations": [
        SAFETY + "test_a_reservation_made_before_a_duplicate_registration_folds_into_its_link"
    ],
    "held-siblings": [
        SAFETY + "test_the_encounter_and_coverage_of_a_held_patient_event_are_held_too"
    ],
    "merge-several": [
        SAFETY + "test_a_merge_whose_prior_identifiers_name_two_patients_is_held_for_review"
    ],
    "emitted-deliver": [
        "tests/e2e/test_emitted_invalid.py::"
        "test_an_invalid_hl7_rendering_is_parked_naming_the_field_and_never_sent"
    ],
    "emitted-convert": [
        "tests/cli/test_convert_validates.py::"
        "test_hl7v2_output_is_checked_by_hl7apy_strict_naming_the_field"
    ],
}

pytestmark = pytest.mark.rabbitmq


def test_every_switch_has_catchers() -> None:
    assert set(CATCHERS) == set(SWITCHES)


def _switched_off(check: str) -> subprocess.CompletedProcess[str]:
    """The catchers of ``check`` run in a pytest subprocess with the check switched off."""
    # inside, a missing service must fail loudly rather than skip (a skip is not a catch)
    env = dict(os.environ, **{ENV: check, "CAREHUB_REQUIRE_SERVICES": "1"})
    args = ["-q", "-x", "-p", "no:cacheprovider", "-p", "tests.guard_switch", *CATCHERS[check]]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        check=False,  # failing is what this run is for
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def switched_off_runs() -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    """Every switched-off run, started at once and run two at a time (each is mostly
    interpreter start-up and broker/database waits): the suite's slowest part, halved."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        runs = {check: pool.submit(_switched_off, check) for check in sorted(CATCHERS)}
        yield runs
        for run in runs.values():
            run.cancel()


@pytest.mark.slow  # one pytest subprocess per check, two at a time
@pytest.mark.parametrize("check", sorted(CATCHERS))
def test_a_switched_off_check_turns_its_tests_red(
    check: str,
    amqp_url: str,
    switched_off_runs: dict[str, Future[subprocess.CompletedProcess[str]]],
) -> None:
    # amqp_url: skipped when the broker is unreachable, like the tests it runs
    run = switched_off_runs[check].result()
    out = run.stdout + run.stderr
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    assert run.returncode == 1, f"{check} off: the tests did not fail (rc {run.returncode})\n{out}"
    assert re.search(r"\b1 failed\b", summary) and "error" not in summary, out
