"""The clinic's HL7 v2.5.1 messages out (issue 16, begun): ADT^A04 (registered), ADT^A08 (updated),
ADT^A03 (discharged) and RAS^O17 (an infusion given), built and validated by hl7apy against the
standard's message structures. Pure: plain values in, message text out.

They go out through the durable outbox (services/hl7_outbox.py, sent by `ketaflow hl7 send`).
Registration enqueues the A04 and a discharge the RAS^O17 and the A03 (services/hl7_outbox.py,
when KETAFLOW_HL7_DESTINATION is set); the A08 is built but no use case enqueues it yet.

Codes: HL7 table 0001 (administrative sex: F, M, O, U), table 0004 (patient class: O outpatient),
table 0162 (route of administration: IV intravenous), table 0119 (order control: RE, observations
to follow). The drug is sent as RxNorm ingredient 6130 (ketamine), which shared/reference/
interop.md marks UNVERIFIED: confirm it in a published RxNorm source before a receiver relies on
it (US Core would want the clinical-drug code of the product given, not the ingredient).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message

VERSION = "2.5.1"
SEX_CODE = {"female": "F", "male": "M", "other": "O", "unknown": "U"}  # HL7 table 0001
KETAMINE = "6130^ketamine^RXNORM"  # RxNorm ingredient: UNVERIFIED (see the module doc)
ADT_STRUCTURE = {"A04": "ADT_A01", "A08": "ADT_A01", "A03": "ADT_A03"}


@dataclass(frozen=True)
class PatientIdentity:
    mrn: str
    family_name: str
    given_name: str
    birth_date: date
    sex: str  # vocabulary.Sex value


def _ts(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("an HL7 time needs a timezone")
    return at.strftime("%Y%m%d%H%M%S%z")


def _header(
    message: Message, event: str, structure: str, *, at: datetime, control_id: str, facility: str
) -> None:
    kind = structure.split("_", 1)[0]
    message.msh.msh_3 = "KETAFLOW"
    message.msh.msh_4 = facility
    message.msh.msh_7 = _ts(at)
    message.msh.msh_9 = f"{kind}^{event}^{structure}"
    message.msh.msh_10 = control_id
    message.msh.msh_11 = "P"
    message.msh.msh_12 = VERSION


def _pid(segment: object, patient: PatientIdentity) -> None:
    pid = segment
    pid.pid_3 = f"{patient.mrn}^^^KETAFLOW^MR"  # type: ignore[attr-defined]
    pid.pid_5 = f"{patient.family_name}^{patient.given_name}"  # type: ignore[attr-defined]
    pid.pid_7 = patient.birth_date.strftime("%Y%m%d")  # type: ignore[attr-defined]
    pid.pid_8 = SEX_CODE.get(patient.sex, "U")  # type: ignore[attr-defined]


def adt(
    event: str,
    patient: PatientIdentity,
    *,
    at: datetime,
    control_id: str,
    facility: str,
    location: str = "",
    discharged_at: datetime | None = None,
) -> str:
    """ADT^A04 (registered), ^A08 (patient information updated) or ^A03 (discharged), validated."""
    structure = ADT_STRUCTURE.get(event)
    if structure is None:
        raise ValueError(f"ketaflow sends ADT A04, A08 and A03, not {event}")
    message = Message(structure, version=VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    _header(message, event, structure, at=at, control_id=control_id, facility=facility)
    message.evn.evn_2 = _ts(at)
    _pid(message.pid, patient)
    message.pv1.pv1_2 = "O"  # outpatient (table 0004)
    if location:
        message.pv1.pv1_3 = location
    if event == "A03" and discharged_at is not None:
        message.pv1.pv1_45 = _ts(discharged_at)
    message.validate()
    return str(message.to_er7())


def ras(
    patient: PatientIdentity,
    *,
    at: datetime,
    control_id: str,
    facility: str,
    order_id: str,
    started_at: datetime,
    ended_at: datetime,
    given_mg: float,
) -> str:
    """RAS^O17: the ketamine given in one infusion (RXA: start, end, amount in mg; RXR: IV), validated."""
    message = Message("RAS_O17", version=VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    _header(message, "O17", "RAS_O17", at=at, control_id=control_id, facility=facility)
    patient_group = message.add_group("RAS_O17_PATIENT")
    _pid(patient_group.pid, patient)
    order = message.add_group("RAS_O17_ORDER")
    order.orc.orc_1 = "RE"  # observations/performed service to follow (table 0119)
    order.orc.orc_2 = order_id
    given = order.add_group("RAS_O17_ADMINISTRATION")
    rxa = given.rxa
    rxa.rxa_1 = "0"
    rxa.rxa_2 = "1"
    rxa.rxa_3 = _ts(started_at)
    rxa.rxa_4 = _ts(ended_at)
    rxa.rxa_5 = KETAMINE
    rxa.rxa_6 = f"{given_mg:g}"
    rxa.rxa_7 = "mg^milligram^UCUM"
    given.rxr.rxr_1 = "IV^Intravenous^HL70162"
    message.validate()
    return str(message.to_er7())
