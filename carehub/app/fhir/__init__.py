"""FHIR R4 as the hub sees it: the API of ``adapters/fhir/api`` wired to the pipeline, the
store, the mappings (``mappings/fhir``) and the checks (``conformance/fhir``).

=============  ===============================================================================
``views``      how each resource type reads from canonical state (ids, rendering)
``reads``      read, vread, history, search candidates, conditional searches
``checks``     what a write (and ``$validate``) says: conformance, then the mapping
``plan``       the plan of a write request (its entries, targets, entities, answers)
``writes``     write planning (targets, checks, mapping, canonical ids), the pipeline format,
               deletes, read-your-writes
``backend``    ``HubFhirBackend``: the ``FhirBackend`` composed of the above
``app``        ``make_fhir_app``: the sub-app with the config's clients and the audit sink
=============  ===============================================================================
"""

from __future__ import annotations

from carehub.app.fhir.app import make_fhir_app, store_audit
from carehub.app.fhir.backend import FHIR_PORT, HubFhirBackend
from carehub.app.fhir.plan import WritePlan
from carehub.app.fhir.views import views
from carehub.app.fhir.writes import FhirInboundFormat

__all__ = [
    "FHIR_PORT",
    "FhirInboundFormat",
    "HubFhirBackend",
    "WritePlan",
    "make_fhir_app",
    "store_audit",
    "views",
]
