"""Our accept/reject verdict against pyx12's, over the whole corpus.

Where pyx12 has a map for what a file holds, the verdicts must agree. Where they differ,
or pyx12 is silent (no map) or breaks, the table below says so with the reason, and the
test asserts pyx12's actual behaviour and ours — nothing is hidden behind xfail. The same
cases are written up in docs/x12.md ("pyx12 disagreements").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.x12.codec import parse
from conformance.x12.check import check_interchange

# pyx12 behaviours
NO_MAP = "no-map"  # pyx12 raises EngineError("Map not found …"): it cannot judge the file
NOT_X12 = "not-x12"  # pyx12 refuses the file before reading it ("does not look like X12")
OK, FAIL = "ok", "fail"

#: file → (pyx12's behaviour, our verdict, why they differ). Files not listed must agree.
KNOWN: dict[str, tuple[str, str, str]] = {
    # pyx12 has no 005010X279A1 (270/271) and no registered 005010X212 (276/277) map
    "lfhx12__270_005010X279A1_dependent-health-benefit-check.270": (NO_MAP, OK, "no 270 map"),
    "lfhx12__271_005010X279A1_dependent-health-benefit-check.271": (NO_MAP, OK, "no 271 map"),
    "lfhx12__271_005010X279A1_subscriber-health-benefit-check-error.271": (
        NO_MAP,
        FAIL,
        "no 271 map; SE02 differs from ST02",
    ),
    "nodex12__271.edi": (NO_MAP, FAIL, "no 271 map; 271 in an HS group, GE/IEA missing"),
    "stupidedi__005010_X279A1_HS270_pass_generic-request-by-clinic-for-patient-(subscriber)"
    "-eligibility.edi": (NO_MAP, OK, "no 270 map"),
    "lfhx12__276_005010X212_claim-level-status.276": (NO_MAP, OK, "no 276 map"),
    "lfhx12__277_005010X212_claim-level-status.277": (NO_MAP, OK, "277 X212 map not registered"),
    "stupidedi__005010_X212_HN277_pass_claim-response.edi": (NO_MAP, OK, "277 X212 map"),
    "stupidedi__005010_X212_HN277_pass_provider-response.edi": (NO_MAP, OK, "277 X212 map"),
    "stupidedi__005010_X212_HR276_pass_claim-request.edi": (NO_MAP, OK, "no 276 map"),
    "stupidedi__005010_X212_HR276_pass_provider-request.edi": (NO_MAP, OK, "no 276 map"),
    "stupidedi__005010_X212_HR277_pass_1.era": (NO_MAP, FAIL, "277 X212 map; IEA02 ≠ ISA13"),
    # errata and guides pyx12 has no map for; we validate errata against their relative
    "lfhx12__837_005010X222A2_demo.ambulance.example5.837": (
        NO_MAP,
        FAIL,
        "X222A2 read as X222A1: CLM05-2 missing",
    ),
    "lfhx12__837_005010X222A2_demo.autoaccident.837": (NO_MAP, OK, "X222A2 read as X222A1"),
    "lfhx12__837_005010X222A2_demo.cob.example3.B.837": (NO_MAP, OK, "X222A2 read as X222A1"),
    "lfhx12__837_005010X222A2_demo.drug.example10.3.837": (NO_MAP, OK, "X222A2 as X222A1"),
    "lfhx12__837_005010X223A3_institutional-claim.837i": (
        NO_MAP,
        FAIL,
        "X223A3 read as X223A2: N403 not 9 digits, CLM06 not used",
    ),
    "lfhx12__837_005010X223A3_two-claims-single-provider.837i": (
        NO_MAP,
        FAIL,
        "X223A3 read as X223A2: N403 not 9 digits",
    ),
    "lfhx12__837_004010X098A1_patient-is-dependent.837": (
        NO_MAP,
        FAIL,
        "4010 837P in a 00501 interchange: no table (IK5 I6)",
    ),
    "stupidedi__005010_X224A2_HC837_pass_claim-multi-quantity-single-line.edi": (
        NO_MAP,
        FAIL,
        "837D X224A2: no table (IK5 I6)",
    ),
    "stupidedi__005010_X224A2_HC837_pass_commercial-health-insurance.edi": (
        NO_MAP,
        FAIL,
        "837D X224A2: no table (IK5 I6)",
    ),
    "stupidedi__005010_X217_HI278_pass_admission-request-for-review.edi": (
        NO_MAP,
        FAIL,
        "278: no table (IK5 1); SE01 off by one",
    ),
    "stupidedi__005010_X217_HI278_pass_admission-response-to-request-for-review.edi": (
        NO_MAP,
        FAIL,
        "278: no table (IK5 1)",
    ),
    "stupidedi__005010_X307_BE834_pass_enroll-individuals-in-qualified-health-plan-through-"
    "health-insurance-exchange.edi": (NO_MAP, FAIL, "834 X307: no table (IK5 I6)"),
    # supply chain: pyx12 has no maps; ours are the 004010 standard tables
    "nodex12__850_3.edi": (NO_MAP, OK, "no 850 map in pyx12"),
    "nodex12__855.edi": (NO_MAP, OK, "no 855 map in pyx12"),
    "stupidedi__004010_IN810_pass_1.edi": (
        NO_MAP,
        FAIL,
        "no 810 map; IT1 breaks syntax note P020304 (IT103 missing)",
    ),
    "stupidedi__004010_X348_SC810_pass_basic-invoice.edi": (NO_MAP, OK, "no 810 map"),
    "stupidedi__004010_X357_SC850_pass_basic-po.edi": (NO_MAP, OK, "no 850 map"),
    "stupidedi__004010_X358_SC855_pass_basic-po-ack-accepted.edi": (NO_MAP, OK, "no 855 map"),
    "stupidedi__004010_X358_SC855_pass_basic-po-ack-rejected.edi": (NO_MAP, OK, "no 855 map"),
    # pyx12 refuses ISA12 00400/00406 and anything before the ISA (a BOM, a note); we read
    # ISA12 00200–00501 and keep what precedes the ISA as a warning
    "nodex12__850.edi": (NOT_X12, OK, "ISA12 00400"),
    "nodex12__850_2.edi": (NOT_X12, OK, "ISA12 00400"),
    "nodex12__850_fat.edi": (NOT_X12, OK, "ISA12 00400"),
    "nodex12__856.edi": (NOT_X12, OK, "ISA12 00406 (856 004060: no table, warning only)"),
    "stupidedi__004010_PR855_pass_1.edi": (NOT_X12, OK, "ISA12 00400"),
    "stupidedi__005010_X186A1_AG824_pass_partial-transaction-set-reject-reporting.edi": (
        NOT_X12,
        OK,
        "UTF-8 BOM before the ISA; 824 has no table (warning only)",
    ),
    "stupidedi__005010_X230_FA997_pass_response-to-functional-group-containing-837s.edi": (
        NOT_X12,
        OK,
        "UTF-8 BOM before the ISA",
    ),
    "stupidedi__005010_X231A1_FA999_pass_response-to-functional-group-containing-3-837s.edi": (
        NOT_X12,
        OK,
        "UTF-8 BOM before the ISA",
    ),
    "stupidedi__005010_X212_HR276_case_1.edi": (NOT_X12, OK, "a note before the ISA"),
    "stupidedi__005010_X222_HC837_case_1.edi": (
        NOT_X12,
        OK,
        "a note before the ISA; X222 read as X222A1",
    ),
    # pyx12 accepts, we reject
    "pyx12__multiple_st_loops.txt": (
        OK,
        FAIL,
        "ISA12 00501 with ISA11 'U': not a repetition separator (TA1 E/016); "
        "pyx12 does not check ISA11 in 5010",
    ),
    "pyx12__x12testdata_simple_837i_source.txt": (
        OK,
        FAIL,
        "4010 837I (004010X096A1): pyx12 has the 4010 map, we have no table (I6)",
    ),
}


def pyx12_behaviour(result: object) -> str:
    raised = getattr(result, "raised", None)
    if raised is not None:
        assert type(raised).__name__ == "EngineError" and "Map not found" in str(raised), (
            f"pyx12 raised something new: {raised!r}"
        )
        return NO_MAP
    errors = getattr(result, "errors", [])
    if errors and "does not look like an X12 data file" in errors[0]:
        return NOT_X12
    return OK if getattr(result, "ok", False) else FAIL


def our_verdict(data: bytes) -> str:
    return OK if all(check_interchange(ic).ok for ic in parse(data).interchanges) else FAIL


def test_verdict_agrees_with_pyx12_or_the_difference_is_known(
    x12_file: Path, pyx12: Callable[[bytes], object]
) -> None:
    data = x12_file.read_bytes()
    theirs, ours = pyx12_behaviour(pyx12(data)), our_verdict(data)
    if x12_file.name in KNOWN:
        expected_theirs, expected_ours, why = KNOWN[x12_file.name]
        assert (theirs, ours) == (expected_theirs, expected_ours), why
    else:
        assert theirs != NO_MAP, f"pyx12 could not judge {x12_file.name}: list it in KNOWN"
        # a file pyx12 refuses to read is rejected by it: our verdict must be a reject too
        assert ours == (FAIL if theirs == NOT_X12 else theirs)


def test_every_known_difference_names_a_corpus_file(x12_dir: Path) -> None:
    assert sorted(set(KNOWN) - {p.name for p in x12_dir.iterdir()}) == []


def test_pyx12_cannot_write_a_999_for_an_835_without_st03(
    x12_dir: Path, pyx12: Callable[[bytes], object]
) -> None:
    """pyx12 bug: with errors in an 835 whose ST has no ST03, its 999 visitor raises
    "Cannot create AK2: err_st.vriic was not set" and leaves a 999 cut after AK1."""
    import io
    import logging

    import pyx12.params
    import pyx12.x12n_document

    data = (x12_dir / "lfhx12__835_005010X221A1_managed-care.835").read_bytes()
    out = io.StringIO()
    logging.getLogger("pyx12").disabled = True
    try:
        ok = pyx12.x12n_document.x12n_document(
            pyx12.params.params(), io.StringIO(data.decode("latin-1")), out, None
        )
    finally:
        logging.getLogger("pyx12").disabled = False
    assert ok is False
    assert "AK1*HP" in out.getvalue() and "AK2" not in out.getvalue()
    assert "AK9" not in out.getvalue()


@pytest.mark.parametrize(
    "name",
    [
        "lfhx12__835_005010X221A1_managed-care.835",
        "stupidedi__005010_X223A2_HC837_pass_837-institutional-claim.edi",
    ],
)
def test_where_both_reject_we_name_the_same_faults(
    x12_dir: Path, name: str, pyx12: Callable[[bytes], object]
) -> None:
    data = (x12_dir / name).read_bytes()
    theirs = getattr(pyx12(data), "errors", [])
    report = check_interchange(parse(data).interchanges[0])
    ours = {f.location for f in report.errors}
    if "835" in name:
        assert any("(PER) missing" in e for e in theirs) and "1000A/PER" in ours
        assert any("BPR16" in e for e in theirs) and "BPR16" in ours
    else:
        assert any("N403" in e or "ZIP Code" in e for e in theirs) and "2010AA/N403" in ours
        assert any("DTP03" in e for e in theirs) and "2300/DTP03" in ours
