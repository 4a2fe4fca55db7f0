"""The context a FHIR mapping runs in: which partner, how identifiers and ids translate.

Identifier systems: a canonical ``Identifier.system`` is a namespace (``HOSP-MRN``, an OID, a
URI). In FHIR it must be a URI, so::

    HOSP-MRN                       <->  urn:carehub:id:HOSP-MRN
    1.2.36.146.595.217.0.1 (OID)   <->  urn:oid:1.2.36.146.595.217.0.1
    NPI (vocab table)              <->  http://hl7.org/fhir/sid/us-npi
    http://example.org/mrn         <->  http://example.org/mrn  (already a URI: unchanged)

Resource ids: the hub serves canonical ids as FHIR ids by default (``fhir_id`` and
``canonical_id`` are the identity). A partner context passes resolvers backed by the
identifier cross-reference; when ``canonical_id`` returns ``None`` the partner's FHIR id is
kept as an identifier of system ``urn:carehub:fhir-id:<source>`` so nothing is lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from urllib.parse import quote, unquote

from hub.canonical import EntityType
from mappings.fhir.vocab import FhirVocabulary, load_vocabulary

__all__ = [
    "CAREHUB_ID_PREFIX",
    "FHIR_ID_PREFIX",
    "URI_SYSTEM",
    "FhirMapContext",
    "default_namespace",
    "default_system_uri",
]

CAREHUB_ID_PREFIX = "urn:carehub:id:"
FHIR_ID_PREFIX = "urn:carehub:fhir-id:"
#: FHIR's system for identifiers that are themselves URIs (urn:uuid:…, absolute references)
URI_SYSTEM = "urn:ietf:rfc:3986"

_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")


def default_system_uri(namespace: str, vocab: FhirVocabulary | None = None) -> str:
    """A local identifier namespace → the FHIR ``Identifier.system`` URI."""
    known = (vocab or load_vocabulary()).system_for(namespace)
    if known:
        return known
    if _OID.fullmatch(namespace):
        return "urn:oid:" + namespace
    if _URI.fullmatch(namespace):
        return namespace
    return CAREHUB_ID_PREFIX + quote(namespace, safe="-._~")


def default_namespace(uri: str, vocab: FhirVocabulary | None = None) -> str:
    """A FHIR ``Identifier.system`` URI → the canonical namespace (inverse of the above)."""
    known = (vocab or load_vocabulary()).namespace_for(uri)
    if known:
        return known
    if uri.startswith(CAREHUB_ID_PREFIX):
        return unquote(uri[len(CAREHUB_ID_PREFIX) :])
    if uri.startswith("urn:oid:") and _OID.fullmatch(uri[8:]):
        return uri[8:]
    return uri


def _same_id(_: EntityType, value: str) -> str | None:
    return value


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FhirMapContext:
    """What a FHIR mapping needs to know besides the resource.

    ``source``: the partner system's configured name (goes into ``Identifier.source`` and
    ``RecordMeta``). ``fhir_id``/``canonical_id``: resolve a canonical id to the FHIR id the
    target knows and back (``None`` = unknown). ``local_tz``: the zone assumed for canonical
    times that carry no offset (FHIR requires one whenever a time is given). ``clock``: the time
    written in required ``created`` elements the canonical model does not keep.
    """

    source: str
    fhir_id: Callable[[EntityType, str], str | None] = _same_id
    canonical_id: Callable[[EntityType, str], str | None] = _same_id
    local_tz: tzinfo = UTC
    clock: Callable[[], datetime] = _now
    vocab: FhirVocabulary = field(default_factory=load_vocabulary)

    def system_uri(self, namespace: str) -> str:
        return default_system_uri(namespace, self.vocab)

    def namespace(self, uri: str) -> str:
        return default_namespace(uri, self.vocab)

    @property
    def fhir_id_system(self) -> str:
        """Namespace under which a partner's own FHIR ids are kept as identifiers."""
        return FHIR_ID_PREFIX + quote(self.source, safe="-._~")
