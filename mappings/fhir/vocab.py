"""FhirVocabulary tables for the FHIR mappings, as data (``mappings/vocab/fhir_*.csv``).

A site overrides a table by pointing ``load_vocabulary(directory)`` at a folder holding its
own ``fhir_*.csv`` files with the same columns; tables missing there fall back to the packaged
ones.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from hub.canonical import ClaimKind, Coded
from hub.errors import ConfigError

__all__ = ["FhirVocabulary", "load_vocabulary"]


@dataclass(frozen=True)
class FhirVocabulary:
    """The tables a FHIR mapping consults.

    ``identifier_systems``: local namespace → FHIR system URI (``NPI`` →
    ``http://hl7.org/fhir/sid/us-npi``), used both ways. ``patient_class``: HL7 table 0004 code →
    FHIR ``Encounter.class`` coding (V2-to-FHIR ConceptMap table-hl70004-to-v3-actcode).
    ``claim_kinds``: FHIR ``claim-type`` code → canonical ``ClaimKind``.
    """

    identifier_systems: Mapping[str, str]
    patient_class: Mapping[str, Coded]
    claim_kinds: Mapping[str, ClaimKind]

    def system_for(self, namespace: str) -> str | None:
        return self.identifier_systems.get(namespace)

    def namespace_for(self, uri: str) -> str | None:
        for namespace, system in self.identifier_systems.items():
            if system == uri:
                return namespace
        return None

    def claim_type_for(self, kind: ClaimKind) -> str:
        """The first FHIR claim-type code listed for ``kind`` (table order decides)."""
        for code, mapped in self.claim_kinds.items():
            if mapped is kind:
                return code
        return kind.value


def _rows(name: str, directory: Path | None) -> list[dict[str, str]]:
    if directory is not None and (directory / name).is_file():
        text = (directory / name).read_text(encoding="utf-8")
    else:
        text = resources.files("mappings.vocab").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _build(directory: Path | None) -> FhirVocabulary:
    try:
        systems = {
            r["namespace"]: r["system_uri"] for r in _rows("fhir_identifier_systems.csv", directory)
        }
        classes = {
            r["v2_code"]: Coded(code=r["code"], system=r["system"], display=r["display"] or None)
            for r in _rows("fhir_patient_class.csv", directory)
        }
        kinds = {
            r["claim_type"]: ClaimKind(r["claim_kind"])
            for r in _rows("fhir_claim_type.csv", directory)
        }
    except (KeyError, ValueError, OSError) as exc:
        raise ConfigError(
            f"FHIR vocabulary table is unreadable: {exc}",
            location=str(directory or "mappings/vocab"),
        ) from exc
    return FhirVocabulary(
        MappingProxyType(systems), MappingProxyType(classes), MappingProxyType(kinds)
    )


@lru_cache(maxsize=8)
def load_vocabulary(directory: Path | None = None) -> FhirVocabulary:
    """The packaged tables, or a site's overrides read from ``directory``."""
    return _build(directory)
