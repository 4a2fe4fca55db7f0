"""FHIR R4 conformance: resources checked against the R4B models (findings naming the element
path), and findings rendered as an ``OperationOutcome`` — the FHIR acknowledgement.

::

    report = check_resource(resource)            # Report; Finding.location = "Patient.birthDate"
    validate_fhir(resource)                      # or raise MappingError naming the element
    body = operation_outcome(report)             # dict: resourceType OperationOutcome
"""

from __future__ import annotations

from conformance.fhir.outcome import operation_outcome, outcome_bytes
from conformance.fhir.validate import MAX_FINDINGS, check_resource, element_path, validate_fhir

__all__ = [
    "MAX_FINDINGS",
    "check_resource",
    "element_path",
    "operation_outcome",
    "outcome_bytes",
    "validate_fhir",
]
