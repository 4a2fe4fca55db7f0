"""Golden tests: each inbound trigger on corpus messages where the corpus has one, on our own
fixtures where it does not. Goldens are reviewed by eye; regenerate with
CAREHUB_REGEN_GOLDEN=1 and review the diff. The same test validates the input with hl7apy
STRICT: no error, or exactly the findings ``STRICT_KNOWN`` lists for it."""

from __future__ import annotations

import pytest
from hl7map_support import FIXTURES, HL7_CORPUS, check_golden, context, raw_message, strict_errors

from adapters.hl7v2 import parse
from hub.canonical import EventKind
from mappings.hl7v2 import map_message
from tests.golden import dump_events

K = EventKind

# (golden name, file, message index in the file, expected event kinds)
CORPUS = [
    (
        "adt_a01_rich",
        "fhirconverter__ADT-A01-01.hl7",
        0,
        [K.PATIENT_UPDATED, K.ENCOUNTER_STARTED, K.COVERAGE_UPDATED],
    ),
    ("adt_a01_v251", "fhirconverter__ADT01-28.hl7", 0, [K.PATIENT_UPDATED, K.ENCOUNTER_STARTED]),
    (
        "adt_a01_v231",
        "mirth__TestADT.txt",
        1,
        [K.PATIENT_UPDATED, K.ENCOUNTER_STARTED, K.COVERAGE_UPDATED, K.COVERAGE_UPDATED],
    ),
    ("adt_a03", "hapi__adt_a03.txt", 0, [K.ENCOUNTER_FINISHED]),
    ("adt_a04_v23", "fhirconverter__ADT04-251.hl7", 0, [K.PATIENT_REGISTERED, K.ENCOUNTER_STARTED]),
    ("adt_a08", "fhirconverter__ADT-A08-02.hl7", 0, [K.PATIENT_UPDATED, K.ENCOUNTER_UPDATED]),
    ("adt_a28", "fhirconverter__ADT-A28-01.hl7", 0, [K.PATIENT_REGISTERED, K.COVERAGE_UPDATED]),
    ("adt_a31_v231", "mirth__TestADT.txt", 0, [K.PATIENT_UPDATED]),
    (
        "adt_a40_two_groups",
        "fhirconverter__ADT-A40-02.hl7",
        0,
        [K.PATIENT_MERGED, K.PATIENT_MERGED],
    ),
    ("siu_s12", "fhirconverter__SIU-S12-01.hl7", 0, [K.APPOINTMENT_BOOKED]),
    ("siu_s12_v23", "mirth__nonbatch_01.hl7", 0, [K.APPOINTMENT_BOOKED]),
    ("siu_s13", "fhirconverter__SIU-S13-01.hl7", 0, [K.APPOINTMENT_RESCHEDULED]),
    ("siu_s14", "fhirconverter__SIU-S14-01.hl7", 0, [K.APPOINTMENT_MODIFIED]),
    ("siu_s15", "fhirconverter__SIU-S15-01.hl7", 0, [K.APPOINTMENT_CANCELLED]),
    ("siu_s26", "fhirconverter__SIU-S26-01.hl7", 0, [K.APPOINTMENT_NOSHOW]),
    (
        "dft_p03",
        "fhirconverter__DFT-P03-01.hl7",
        0,
        [K.CHARGE_POSTED, K.CHARGE_POSTED, K.COVERAGE_UPDATED],
    ),
    (
        "dft_p11",
        "fhirconverter__DFT-P11-01.hl7",
        0,
        [K.CHARGE_POSTED, K.CHARGE_POSTED, K.COVERAGE_UPDATED],
    ),
    ("adt_a60", "fhirconverter__ADT-A60-01.hl7", 0, [K.PATIENT_UPDATED, K.ALLERGY_UPDATED]),
    (
        "oru_r01_cbc",
        "fhirconverter__LRI_2.0-NG_CBC_Typ_Message.hl7",
        0,
        [K.PATIENT_UPDATED, *[K.RESULT_REPORTED] * 28, K.REPORT_ISSUED],
    ),
    ("mdm_t02_text", "fhirconverter__MDM-T02-03.hl7", 0, [K.PATIENT_UPDATED, K.DOCUMENT_REPORTED]),
    (
        "vxu_v04",
        "fhirconverter__VXU.hl7",
        0,
        [
            K.PATIENT_UPDATED,
            K.IMMUNIZATION_RECORDED,
            K.IMMUNIZATION_RECORDED,
            K.IMMUNIZATION_RECORDED,
        ],
    ),
    (
        "vxu_v04_nist_max",
        "fhirconverter__IZ_1_1.1_Admin_Child_Max_Message.hl7",
        0,
        [K.PATIENT_UPDATED, K.IMMUNIZATION_RECORDED],
    ),
    (
        "vxu_v04_v28",
        "fhirconverter__VXU-V04-01.hl7",
        0,
        [K.PATIENT_UPDATED, K.IMMUNIZATION_RECORDED, K.COVERAGE_UPDATED],
    ),
]

OWN = [
    ("adt_a02", "adt_a02_transfer.hl7", [K.ENCOUNTER_TRANSFERRED]),
    (
        "adt_a05",
        "adt_a05_preadmit.hl7",
        [K.PATIENT_UPDATED, K.ENCOUNTER_PLANNED, K.COVERAGE_UPDATED, K.COVERAGE_UPDATED],
    ),
    ("adt_a11", "adt_a11_cancel_admit.hl7", [K.ENCOUNTER_CANCELLED]),
    ("adt_a13", "adt_a13_cancel_discharge.hl7", [K.ENCOUNTER_DISCHARGE_CANCELLED]),
    ("adt_a04_zsegments", "adt_a04_zsegments.hl7", [K.PATIENT_REGISTERED, K.ENCOUNTER_STARTED]),
    ("siu_s17", "siu_s17_deleted.hl7", [K.APPOINTMENT_DELETED]),
    ("siu_s16", "siu_s16_discontinue.hl7", [K.APPOINTMENT_DISCONTINUED]),
    ("adt_a06", "adt_a06_class_change.hl7", [K.PATIENT_UPDATED, K.ENCOUNTER_CLASS_CHANGED]),
    ("adt_a21", "adt_a21_leave.hl7", [K.ENCOUNTER_LEAVE_STARTED]),
    ("adt_a47", "adt_a47_change_id.hl7", [K.PATIENT_IDENTIFIER_CHANGED]),
    *(
        (f"mdm_{t}", f"mdm_{t}.hl7", [K.PATIENT_UPDATED, K.DOCUMENT_REPORTED])
        for t in ("t04", "t06", "t08", "t10")
    ),
    (
        "mfn_m02",
        "mfn_m02_staff.hl7",
        [
            K.PRACTITIONER_UPDATED,
            *[K.PRACTITIONER_CREDENTIAL_EXPIRING] * 3,
            K.PRACTITIONER_DEACTIVATED,
        ],
    ),
]


_WITHDRAWN = "OperationNotAllowed: Cannot instantiate an unknown Element with strict validation"
_CODED_IS = "MaxChildLimitReached: Cannot add <Component IS (None) of type IS>: max limit (1) "

#: golden name → (the hl7apy STRICT error texts its input gets, why the input is so).
#: Inputs not listed must have no error. hl7apy stops at a segment's first problem, so a
#: listed text is the first, not every, deviation.
STRICT_KNOWN: dict[str, tuple[list[str], str]] = {
    **{
        name: ([_WITHDRAWN], "v2.8 sample filling fields 2.8 withdrew (EVN-1, AL1, …)")
        for name in (
            "adt_a01_rich",
            "adt_a08",
            "adt_a28",
            "adt_a40_two_groups",
            "siu_s12",
            "siu_s13",
            "siu_s14",
            "siu_s15",
            "siu_s26",
            "dft_p03",
            "dft_p11",
            "adt_a60",
        )
    },
    "adt_a03": (
        ["MaxLengthReached: The value OSPEDALE MAGGIORE DI LODI exceed the max length: 20"],
        "a facility name longer than HD-1 allows",
    ),
    "adt_a04_v23": (
        [
            "PID is out of order or repeated in ADT_A01 2.3 (expected EVN)",
            "ValueError: Invalid value for TN data",
        ],
        "no EVN segment; a phone number that is not TN syntax",
    ),
    "adt_a31_v231": (["no structure known for ADT^A31"], "hl7apy has no 2.3.1 ADT_A31"),
    "siu_s12_v23": (
        ["MaxLengthReached: The value RECEIVING_APPLICATION exceed the max length: 20"],
        "MSH-5 longer than HD-1 allows",
    ),
    # our fixtures send a coded value (code^text) where the table is IS, as many senders do;
    # the mapping keeps the text, so the fixture stays as senders write it
    "adt_a05": (
        [f"{_CODED_IS}reached for <Field PV1_14 (ADMIT_SOURCE) of type IS>"],
        "PV1-14 sent as code^text^table",
    ),
    "adt_a11": (
        [f"{_CODED_IS}reached for <Field EVN_4 (EVENT_REASON_CODE) of type IS>"],
        "EVN-4 sent as code^text",
    ),
    "oru_r01_cbc": (
        ["InvalidName: Invalid name for Component: CE_9"],
        "the NIST sample fills CWE.9 (original text) inside CE-typed fields, as v2.5.1 LRI does",
    ),
    "mdm_t02_text": (
        [
            "ORC is not allowed in MDM_T02 2.3 (expected TXA)",
            "InvalidName: Invalid name for Component: CM_MSG_3",
        ],
        "a v2.3 MDM with the v2.4+ ORC/OBR group and a structure (MSH-9.3) 2.3 has no place for",
    ),
    "vxu_v04": (
        [_WITHDRAWN],
        "the NIST sample fills MSH-22/23 (responsible organisations), fields added in v2.7",
    ),
    "vxu_v04_v28": (
        [
            "MaxChildLimitReached: Cannot add <Component WD (None) of type WD>: max limit (1) "
            "reached for <Field PID_2 (PATIENT_ID) of type WD>"
        ],
        "v2.8 sample filling PID-2, which 2.8 withdrew",
    ),
    "vxu_v04_nist_max": (
        ["Missing required child RXA.RXA_4"],
        "RXA-4 (end of administration) left empty, as many IZ senders do",
    ),
    "mfn_m02": (
        [f"{_CODED_IS}reached for <Field PRA_3 (PRACTITIONER_CATEGORY) of type IS>"],
        "PRA-3 sent as code^text",
    ),
}


def _strict_as_known(name: str, raw: bytes) -> None:
    expected, why = STRICT_KNOWN.get(name, ([], "strictly valid"))
    assert [f["text"] for f in strict_errors(raw)] == expected, why


@pytest.mark.parametrize(("name", "file", "index", "kinds"), CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_message_maps_to_golden(name, file, index, kinds):
    raw = raw_message(HL7_CORPUS / file, index)
    _strict_as_known(name, raw)
    events = map_message(parse(raw), context())
    assert [e.kind for e in events] == kinds
    check_golden(f"in_{name}.json", dump_events(events))


@pytest.mark.parametrize(("name", "file", "kinds"), OWN, ids=[c[0] for c in OWN])
def test_own_fixture_maps_to_golden(name, file, kinds):
    raw = raw_message(FIXTURES / file)
    _strict_as_known(name, raw)
    events = map_message(parse(raw), context())
    assert [e.kind for e in events] == kinds
    check_golden(f"in_{name}.json", dump_events(events))


def test_every_known_strict_finding_names_a_golden():
    assert sorted(set(STRICT_KNOWN) - {c[0] for c in CORPUS + OWN}) == []


def test_every_trigger_in_the_registry_has_a_golden():
    from mappings.hl7v2 import INBOUND
    from mappings.hl7v2.adt import ADT_EVENTS

    covered = {f.split("_")[0].upper() + "^" + f.split("_")[1].upper() for f, *_ in CORPUS + OWN}
    # every ADT trigger A01–A62 is checked field by field against the trigger table of
    # docs/hl7v2-mappings.md (test_hl7map_adt_triggers.py); goldens cover one per family
    table = {f"ADT^{t}" for t in ADT_EVENTS}
    assert set(INBOUND) - table <= covered
    assert {"ADT^A06", "ADT^A21", "ADT^A40", "ADT^A47", "ADT^A60"} <= covered
