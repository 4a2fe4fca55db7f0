"""Synthetic traffic for the demo clinic: realistic HL7 v2 messages with made-up people.

Every person here is invented; nothing comes from real records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["DemoPatient", "adt_message", "demo_patients"]

_FAMILY = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Noether",
    "Curie",
    "Franklin",
    "Meitner",
    "Salk",
    "Nightingale",
    "Blackwell",
    "Apgar",
    "Drew",
    "Jenner",
    "Lister",
    "Seacole",
    "Osler",
]
_GIVEN_F = [
    "Ada",
    "Grace",
    "Emmy",
    "Marie",
    "Rosalind",
    "Lise",
    "Florence",
    "Elizabeth",
    "Virginia",
    "Mary",
]
_GIVEN_M = ["Alan", "Jonas", "Charles", "Edward", "Joseph", "William", "Louis", "Rudolf"]
_STREETS = ["Main St", "Oak Ave", "Elm St", "Maple Dr", "Cedar Ln", "Pine Rd", "Birch Way"]
_CITIES = [
    ("Springfield", "IL", "62701"),
    ("Madison", "WI", "53703"),
    ("Salem", "OR", "97301"),
    ("Dover", "DE", "19901"),
    ("Austin", "TX", "78701"),
]
_DOCTORS = [
    ("1234567893", "Welby", "Marcus"),
    ("1245319599", "Quinn", "Michaela"),
    ("1679576722", "Kildare", "James"),
]


@dataclass(frozen=True)
class DemoPatient:
    mrn: str
    family: str
    given: str
    middle: str
    birth_date: str  # YYYYMMDD
    sex: str
    street: str
    city: str
    state: str
    postal: str
    phone: str


def demo_patients(count: int, seed: int = 7) -> list[DemoPatient]:
    """``count`` invented patients, the same ones for the same seed."""
    rnd = random.Random(seed)
    people = []
    for i in range(count):
        sex = rnd.choice("FM")
        given = rnd.choice(_GIVEN_F if sex == "F" else _GIVEN_M)
        city, state, postal = rnd.choice(_CITIES)
        born = datetime(1940, 1, 1) + timedelta(days=rnd.randrange(0, 80 * 365))
        people.append(
            DemoPatient(
                mrn=f"MRN{100000 + i:06d}",
                family=rnd.choice(_FAMILY),
                given=given,
                middle=rnd.choice("ABCDEFGHJKLMNPRSTW"),
                birth_date=born.strftime("%Y%m%d"),
                sex=sex,
                street=f"{rnd.randrange(1, 999)} {rnd.choice(_STREETS)}",
                city=city,
                state=state,
                postal=postal,
                phone=f"555{rnd.randrange(1000000, 9999999)}",
            )
        )
    return people


def adt_message(
    patient: DemoPatient,
    control_id: str,
    *,
    trigger: str = "A04",
    when: datetime | None = None,
    visit: str | None = None,
) -> bytes:
    """An ADT^A04 (register) or ADT^A08 (update) for ``patient``, HL7 2.5.1, CR endings."""
    ts = (when or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    npi, doc_family, doc_given = _DOCTORS[int(patient.mrn[-1]) % len(_DOCTORS)]
    p = patient
    segments = [
        f"MSH|^~\\&|DEMO-EHR|DEMO-CLINIC|CAREHUB|DEMO-HUB|{ts}||ADT^{trigger}^ADT_A01|"
        f"{control_id}|P|2.5.1",
        f"EVN|{trigger}|{ts}",
        f"PID|1||{p.mrn}^^^DEMO-CLINIC&2.16.840.1.113883.3.9999&ISO^MR||{p.family}^{p.given}^"
        f"{p.middle}||{p.birth_date}|{p.sex}|||{p.street}^^{p.city}^{p.state}^{p.postal}^USA"
        f"^H||^PRN^PH^^1^{p.phone[:3]}^{p.phone[3:]}",
        f"PV1|1|O|CLINIC^101^1^DEMO-CLINIC||||{npi}^{doc_family}^{doc_given}^^^Dr^^^NPI^L^^^NPI"
        f"|||||||||||{visit or 'V' + control_id[-6:]}",
    ]
    return ("\r".join(segments) + "\r").encode()
