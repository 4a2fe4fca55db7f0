"""The benchmark stays runnable and measures only ADT messages (no timing asserted)."""

from __future__ import annotations

from hl7v2_corpus import HL7_DIR

from bench.hl7v2_codec import codec_rates


def test_codec_rates_reports_the_three_parsers_on_adt_messages_only():
    paths = [HL7_DIR / "fhirconverter__ADT-A40-01.hl7", HL7_DIR / "fhirconverter__ORU-R01-01.hl7"]
    rates = codec_rates(paths, seconds=0.01)
    assert rates["messages"] == 1.0
    assert {k for k, v in rates.items() if v > 0} == {"messages", "carehub", "python-hl7", "hl7apy"}
