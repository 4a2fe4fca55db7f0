"""What pyx12 says about every X12 mapping input it does not accept cleanly, and why.

The inbound golden test runs pyx12 on the same input and compares its word with this table:
an input not listed must be pyx12-clean; a listed input must get exactly the listed verdict
(``tests.x12_support.pyx12_says``), so a change in either the input or pyx12 shows up. The
reasons agree with tests/conformance/x12/test_x12_pyx12.py, which compares pyx12's verdict
with ours over the corpus.
"""

from __future__ import annotations

__all__ = ["PYX12_KNOWN"]

NOT_X12 = ("not X12",)
NO_999 = "Failed to create 999 response"  # pyx12 bug: no 999 for an 835 without ST03
ZIP9 = (
    'Data element "Billing Provider Postal Zone or ZIP Code" with a value of (17111) failed '
    'to match the regular expression "[0-9]{9}" (17111)'
)
NO_PER = 'Mandatory segment "Payer Technical Contact Information" (PER) missing'
MISSING_HEADER = 'Mandatory loop "Table 1 - Header" (HEADER) missing'
MISSING_2000A = 'Mandatory loop "Billing/Pay-To Provider Hierarchical Level" (2000A) missing'


def _no_map(guide: str) -> tuple[str, ...]:
    return (f"no map for {guide}",)


def _not_found(segment: str) -> str:
    after = "/ISA_LOOP/GS_LOOP/ST_LOOP/DETAIL/2000/2100/DTM[232]"
    return f"Segment {segment} not found.  Started at {after}"


#: input file → (what pyx12 says, why that is expected)
PYX12_KNOWN: dict[str, tuple[tuple[str, ...], str]] = {
    # ---- pyx12 has no map for the guide (it cannot judge the input)
    "lfhx12__270_005010X279A1_dependent-health-benefit-check.270": (
        _no_map("005010X279A1"),
        "no 270/271 map",
    ),
    "lfhx12__271_005010X279A1_dependent-health-benefit-check.271": (
        _no_map("005010X279A1"),
        "no 270/271 map",
    ),
    "lfhx12__271_005010X279A1_subscriber-health-benefit-check-error.271": (
        _no_map("005010X279A1"),
        "no 270/271 map",
    ),
    "nodex12__271.edi": (_no_map("005010X279A1"), "no 270/271 map"),
    "271_inactive.edi": (_no_map("005010X279A1"), "no 270/271 map"),
    "stupidedi__005010_X279A1_HS270_pass_generic-request-by-clinic-for-patient-(subscriber)"
    "-eligibility.edi": (_no_map("005010X279A1"), "no 270/271 map"),
    "lfhx12__276_005010X212_claim-level-status.276": (_no_map("005010X212"), "no 276 map"),
    "lfhx12__277_005010X212_claim-level-status.277": (
        _no_map("005010X212"),
        "277 X212 map not registered",
    ),
    "stupidedi__005010_X212_HN277_pass_claim-response.edi": (
        _no_map("005010X212"),
        "277 X212 map not registered",
    ),
    "stupidedi__005010_X212_HN277_pass_provider-response.edi": (
        _no_map("005010X212"),
        "277 X212 map not registered",
    ),
    "stupidedi__005010_X212_HR276_pass_claim-request.edi": (_no_map("005010X212"), "no 276 map"),
    "stupidedi__005010_X212_HR276_pass_provider-request.edi": (
        _no_map("005010X212"),
        "no 276 map",
    ),
    "stupidedi__005010_X212_HR277_pass_1.era": (_no_map("005010X212"), "277 X212 map"),
    "stupidedi__005010_X217_HI278_pass_admission-request-for-review.edi": (
        _no_map("005010X217"),
        "no 278 map",
    ),
    "stupidedi__005010_X217_HI278_pass_admission-response-to-request-for-review.edi": (
        _no_map("005010X217"),
        "no 278 map",
    ),
    "stupidedi__005010_X307_BE834_pass_enroll-individuals-in-qualified-health-plan-through-"
    "health-insurance-exchange.edi": (_no_map("005010X307"), "no 834 X307 map"),
    "lfhx12__837_004010X098A1_patient-is-dependent.837": (
        _no_map("004010X098A1"),
        "4010 837P in a 00501 interchange",
    ),
    "lfhx12__837_005010X222A2_demo.ambulance.example5.837": (
        _no_map("005010X222A2"),
        "no X222A2 errata map",
    ),
    "lfhx12__837_005010X222A2_demo.autoaccident.837": (
        _no_map("005010X222A2"),
        "no X222A2 errata map",
    ),
    "lfhx12__837_005010X222A2_demo.cob.example3.B.837": (
        _no_map("005010X222A2"),
        "no X222A2 errata map",
    ),
    "lfhx12__837_005010X222A2_demo.drug.example10.3.837": (
        _no_map("005010X222A2"),
        "no X222A2 errata map",
    ),
    "lfhx12__837_005010X223A3_institutional-claim.837i": (
        _no_map("005010X223A3"),
        "no X223A3 errata map",
    ),
    "lfhx12__837_005010X223A3_two-claims-single-provider.837i": (
        _no_map("005010X223A3"),
        "no X223A3 errata map",
    ),
    "stupidedi__005010_X224A2_HC837_pass_claim-multi-quantity-single-line.edi": (
        _no_map("005010X224A2"),
        "no 837D map",
    ),
    "stupidedi__005010_X224A2_HC837_pass_commercial-health-insurance.edi": (
        _no_map("005010X224A2"),
        "no 837D map",
    ),
    # supply chain: pyx12 maps only HIPAA guides
    "nodex12__850_3.edi": (_no_map("004010"), "no 850 map"),
    "nodex12__855.edi": (_no_map("004010"), "no 855 map"),
    "855_backorder_change.edi": (_no_map("004010"), "no 855 map"),
    "850_005010_supplies.edi": (_no_map("005010"), "no 850 map"),
    "856_005010_lot_expiry.edi": (_no_map("005010"), "no 856 map"),
    "stupidedi__004010_IN810_pass_1.edi": (_no_map("004010"), "no 810 map"),
    "stupidedi__004010_X348_SC810_pass_basic-invoice.edi": (_no_map("004010X348"), "no 810 map"),
    "stupidedi__004010_X357_SC850_pass_basic-po.edi": (_no_map("004010X357"), "no 850 map"),
    "stupidedi__004010_X358_SC855_pass_basic-po-ack-accepted.edi": (
        _no_map("004010X358"),
        "no 855 map",
    ),
    "stupidedi__004010_X358_SC855_pass_basic-po-ack-rejected.edi": (
        _no_map("004010X358"),
        "no 855 map",
    ),
    # ---- pyx12 refuses to read the input: ISA12 00400/00406, a fixed-width ISA broken,
    # or anything (a BOM, a note) before the ISA; our codec reads all of these
    "gozer__asn856.txt": (NOT_X12, "ISA12 00400"),
    "gozer__po850.txt": (NOT_X12, "ISA12 00400"),
    "nodex12__850.edi": (NOT_X12, "ISA12 00400"),
    "nodex12__850_2.edi": (NOT_X12, "ISA12 00400"),
    "nodex12__850_fat.edi": (NOT_X12, "ISA12 00400"),
    "nodex12__856.edi": (NOT_X12, "ISA12 00406"),
    "stupidedi__004010_FA997_pass_1.edi": (NOT_X12, "ISA12 00400"),
    "stupidedi__004010_PR855_pass_1.edi": (NOT_X12, "ISA12 00400"),
    "stupidedi__004010_SH856_fail_2.edi": (NOT_X12, "ISA12 00400"),
    "stupidedi__004010_PO850_pass_1.edi": (NOT_X12, "ISA08 is 16 characters, not 15"),
    "stupidedi__004010_PR855_fail_2.edi": (NOT_X12, "ISA06/ISA08 not padded, a line break"),
    "stupidedi__004010_X091A1_HP835_case_1.edi": (NOT_X12, "ISA06 is 31 characters"),
    "stupidedi__005010_X186A1_AG824_pass_partial-transaction-set-reject-reporting.edi": (
        NOT_X12,
        "UTF-8 BOM before the ISA",
    ),
    "stupidedi__005010_X230_FA997_pass_response-to-functional-group-containing-837s.edi": (
        NOT_X12,
        "UTF-8 BOM before the ISA",
    ),
    "stupidedi__005010_X231A1_FA999_pass_response-to-functional-group-containing-3-837s.edi": (
        NOT_X12,
        "UTF-8 BOM before the ISA",
    ),
    "stupidedi__005010_X212_HR276_case_1.edi": (NOT_X12, "a note before the ISA"),
    "stupidedi__005010_X221_HP835_case_1.edi": (NOT_X12, "a note before the ISA"),
    "stupidedi__005010_X221_HP835_case_2.edi": (NOT_X12, "a note before the ISA"),
    "stupidedi__005010_X221_HP835_case_3a.edi": (NOT_X12, "a note before the ISA"),
    "stupidedi__005010_X222_HC837_case_1.edi": (NOT_X12, "a note before the ISA"),
    # ---- pyx12 accepts, then cannot write its own 999 (its bug, not the input's)
    "pyx12__835_mult_loops.txt": ((NO_999,), "835 without ST03"),
    "stupidedi__005010_X221A1_HP835_pass_era-sample.edi": ((NO_999,), "835 without ST03"),
    "stupidedi__005010_X221A1_HP835_pass_multiple-claims-single-check.edi": (
        (NO_999,),
        "835 without ST03",
    ),
    "835_denials_reversal.edi": ((NO_999,), "835 without ST03"),
    # ---- deliberately or really non-conformant inputs: pyx12 rejects them
    "lfhx12__835_005010X221A1_cob-contractural-adjustment.835": (
        (
            "rejected",
            'Mandatory data element "Check Issue or EFT Effective Date" (BPR16) is missing',
            NO_PER,
            _not_found("SVC*HC>55669"),
            _not_found("DTM*472"),
            _not_found("CAS*OA"),
            _not_found("REF*1B"),
            _not_found("AMT*B6"),
            NO_999,
        ),
        "sample without BPR16 and PER*BL; its 2110 follows a DTM*232 pyx12 cannot place",
    ),
    "lfhx12__835_005010X221A1_managed-care.835": (
        (
            "rejected",
            'Data element "Check Issue or EFT Effective Date" (BPR16) contains an invalid date '
            "(20002316) (20002316)",
            NO_PER,
            NO_999,
        ),
        "BPR16 has no 23rd month (our mapping refuses it too); no PER*BL",
    ),
    "lfhx12__835_005010X221A1_medicare-part-a.835": (
        (
            "rejected",
            NO_PER,
            'Data element "Monetary Amount" (TS309) is marked as Not Used',
            'Data element "Monetary Amount" (TS311) is marked as Not Used',
            NO_999,
        ),
        "no PER*BL; TS3 carries amounts X221A1 marks not used",
    ),
    "pyx12__x12testdata_834_eol_in_element_source.txt": (
        (
            "rejected",
            'Data element "Member Address Line" (N301), contains an invalid control '
            "character(<LF>) (<LF>)",
        ),
        "pyx12's own test input: a line feed inside N301",
    ),
    "pyx12__x12testdata_fail_no_IEA_source.txt": (
        (
            "rejected",
            MISSING_HEADER,
            MISSING_2000A,
            "SE count of 0 for SE02=11280001 is wrong. I count 2",
            'Mandatory segment "Interchange Control Trailer" (IEA=000010121) missing',
        ),
        "pyx12's own test input: an empty 837 and no IEA",
    ),
    "pyx12__x12testdata_mult_isa_source.txt": (
        (
            "rejected",
            'Mandatory loop "Utilization Management Organization (UMO) Level" (2000A) missing',
            'Mandatory segment "Transmission Type Identification" (REF) missing',
            'Mandatory loop "Submitter Name" (1000A) missing',
            'Mandatory loop "Receiver Name" (1000B) missing',
            MISSING_2000A,
            MISSING_HEADER,
        ),
        "pyx12's own test input: interchanges of empty (ST/SE only) transaction sets",
    ),
    "pyx12__x12testdata_trailer_errors_source.txt": (
        (
            "rejected",
            "SE count of 60 for SE02=300207436 is wrong. I count 59",
            "GE id=333 does not match GS id=1",
            "IEA id=333 does not match ISA id=000484950",
            "IEA count for IEA02=333 is wrong",
            'Data element "Interchange Control Number" (IEA02) is too short: len("333") = 3 '
            "< 9 (min_len) (333)",
        ),
        "pyx12's own test input: wrong SE/GE/IEA trailers",
    ),
    "stupidedi__005010_X223A2_HC837_pass_837-institutional-claim.edi": (
        (
            "rejected",
            ZIP9,
            'Data element "Statement From and To Date" (DTP03) contains an invalid date '
            "(19960911) (19960911)",
        ),
        "2010AA N403 is ZIP+4 in X223A2 (5 digits here); DTP*434 RD8 with one date",
    ),
    "stupidedi__005010_X223A2_HC837_pass_two-claims-for-the-same-provider.edi": (
        ("rejected", ZIP9),
        "2010AA N403 is ZIP+4 in X223A2 (5 digits here)",
    ),
}
