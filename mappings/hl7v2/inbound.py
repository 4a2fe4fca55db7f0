"""The inbound registry: message key (``ADT^A04``) → mapping, and ``map_message``.

The key is MSH-9.1 ``^`` MSH-9.2. MSH-9.3 (the message structure) does not choose the
mapping: the mappings read segments by id, so ``ADT^A08^ADT_A01``, ``ADT^A04^ADT_A04`` (a
common mislabel) and ``ADT^A04`` with no structure all map alike. Senders of v2.1/2.2 that
leave MSH-9.2 empty have their trigger read from EVN-1.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from adapters.hl7v2 import Message
from hub.canonical import Event
from hub.context import MapContext
from hub.errors import UnsupportedMessage

from .adt import ADT_EVENTS, adt_mapper
from .dft import dft_mapper, dft_p11_mapper
from .mdm import MDM_TRIGGERS, mdm_mapper
from .mfn import mfn_m02_mapper
from .oru import oru_mapper
from .siu import SIU_TRIGGERS, siu_mapper
from .source import Mapper
from .vxu import vxu_mapper

__all__ = ["INBOUND", "STRUCTURES", "map_message", "message_key"]


def _registry() -> dict[str, Mapper]:
    # every ADT trigger A01–A62: mapped, or stored and acknowledged (mappings.hl7v2.adt)
    table: dict[str, Mapper] = {f"ADT^{t}": adt_mapper(t) for t in ADT_EVENTS}
    table.update({f"SIU^{t}": siu_mapper(t) for t in SIU_TRIGGERS})
    table["DFT^P03"] = dft_mapper
    table["MFN^M02"] = mfn_m02_mapper
    table["DFT^P11"] = dft_p11_mapper
    table["ORU^R01"] = oru_mapper
    table.update({f"MDM^{t}": mdm_mapper(t) for t in MDM_TRIGGERS})
    table["VXU^V04"] = vxu_mapper
    return table


#: message key → mapping; an explicit value that carehub.app wires (never filled on import
#: by decorators)
INBOUND: Mapping[str, Mapper] = MappingProxyType(_registry())

#: the abstract message structure (MSH-9.3) each key has in v2.5.1, for documentation and
#: for rendering; inbound accepts any structure label
STRUCTURES: Mapping[str, str] = MappingProxyType(
    {
        "ADT^A01": "ADT_A01",
        "ADT^A02": "ADT_A02",
        "ADT^A03": "ADT_A03",
        "ADT^A04": "ADT_A01",
        "ADT^A05": "ADT_A05",
        "ADT^A08": "ADT_A01",
        "ADT^A11": "ADT_A09",
        "ADT^A13": "ADT_A01",
        "ADT^A28": "ADT_A05",
        "ADT^A31": "ADT_A05",
        "ADT^A40": "ADT_A39",
        "SIU^S12": "SIU_S12",
        "SIU^S13": "SIU_S12",
        "SIU^S14": "SIU_S12",
        "SIU^S15": "SIU_S12",
        "SIU^S17": "SIU_S12",
        "SIU^S26": "SIU_S12",
        "DFT^P03": "DFT_P03",
        "MFN^M02": "MFN_M02",
        # issue 12: every other ADT trigger's structure, SIU S16 and DFT P11
        **{f"ADT^{t}": structure for t, (_, structure) in ADT_EVENTS.items()},
        "SIU^S16": "SIU_S12",
        "DFT^P11": "DFT_P11",
        "ORU^R01": "ORU_R01",
        "MDM^T02": "MDM_T02",
        "MDM^T04": "MDM_T02",
        "MDM^T06": "MDM_T02",
        "MDM^T08": "MDM_T02",
        "MDM^T10": "MDM_T02",
        "VXU^V04": "VXU_V04",
    }
)

_KNOWN_CODES = frozenset(key.split("^")[0] for key in INBOUND)


def message_key(msg: Message) -> str:
    """``MSH-9.1^MSH-9.2``; the trigger from EVN-1 when MSH-9.2 is empty, or from a
    structure-shaped MSH-9.1 (``ADT_A04``) some senders write."""
    code = (msg.get("MSH-9.1") or "").strip().upper()
    trigger = (msg.get("MSH-9.2") or "").strip().upper()
    if "_" in code and not trigger:
        code, _, trigger = code.partition("_")
    if not trigger and code == "ADT":
        trigger = (msg.get("EVN-1") or "").strip().upper()
    return f"{code}^{trigger}" if trigger else code


def map_message(msg: Message, ctx: MapContext) -> list[Event]:
    """Map one parsed message to canonical events.

    Raises ``UnsupportedMessage`` with HL7 table 0357 code ``200`` (unsupported message
    type) or ``201`` (unsupported event code) for what ``INBOUND`` has no mapping for, and
    ``MappingError`` when a value cannot be carried (naming the field).
    """
    key = message_key(msg)
    mapper = INBOUND.get(key)
    if mapper is not None:
        return mapper(msg, ctx)
    code = key.split("^")[0]
    if code in _KNOWN_CODES:
        raise UnsupportedMessage(f"event {key} is not supported", code="201", location="MSH-9.2")
    raise UnsupportedMessage(
        f"message type {code or '(empty)'} is not supported", code="200", location="MSH-9.1"
    )
