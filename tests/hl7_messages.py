"""Real ORU^R01 message text for the HL7 tests, built and validated by hl7apy (an independent HL7
v2 implementation), in each version monitors send (2.3 to 2.6)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_message, parse_segments

VERSIONS = ("2.3", "2.4", "2.5", "2.5.1", "2.6")

# (OBX-3, OBX-6) of each vital sign, as IHE PCD-01 monitors send them (IEEE 11073) and in LOINC/UCUM.
MDC = {
    "systolic": ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "266016^MDC_DIM_MMHG^MDC"),
    "diastolic": ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "266016^MDC_DIM_MMHG^MDC"),
    "mean": ("150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", "266016^MDC_DIM_MMHG^MDC"),
    "heart_rate": ("147842^MDC_ECG_HEART_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
    "pulse_rate": ("149530^MDC_PULS_OXIM_PULS_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
    "spo2": ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "262688^MDC_DIM_PERCENT^MDC"),
    "respiratory_rate": ("151562^MDC_RESP_RATE^MDC", "264928^MDC_DIM_RESP_PER_MIN^MDC"),
    "temperature": ("150344^MDC_TEMP^MDC", "268192^MDC_DIM_DEGC^MDC"),
}
LOINC = {
    "systolic": ("8480-6^Systolic blood pressure^LN", "mm[Hg]^mm[Hg]^UCUM"),
    "diastolic": ("8462-4^Diastolic blood pressure^LN", "mm[Hg]^mm[Hg]^UCUM"),
    "heart_rate": ("8867-4^Heart rate^LN", "/min^/min^UCUM"),
    "spo2": ("2708-6^Oxygen saturation^LN", "%^%^UCUM"),
    "respiratory_rate": ("9279-1^Respiratory rate^LN", "/min^/min^UCUM"),
}


@dataclass(frozen=True)
class Obs:
    """One OBX: a code and unit (from MDC or LOINC above, or given), value, time, status."""

    code: str
    unit: str
    value: str
    at: str = ""  # OBX-14, HL7 TS ("" = none)
    status: str = "R"
    value_type: str = "NM"


def obs(name: str, value: object, at: str = "", *, codes: dict[str, tuple[str, str]] = MDC, **kw: str) -> Obs:
    code, unit = codes[name]
    return Obs(code, unit, str(value), at, **kw)


def ts(at: datetime) -> str:
    """An HL7 TS with its UTC offset (the form IHE PCD-01 asks for)."""
    return at.strftime("%Y%m%d%H%M%S") + at.strftime("%z")


def oru(
    observations: Sequence[Obs],
    *,
    version: str = "2.5.1",
    control_id: str | None = None,
    sender: str = "MONGW",
    facility: str = "CLINIC",
    sent_at: str = "20261125101500+0000",
    device: str = "",
    mrn: str = "",
    location: str = "",
) -> str:
    """An ORU^R01 built with hl7apy at strict validation (and validated), as ER7 text."""
    m = Message("ORU_R01", version=version, validation_level=VALIDATION_LEVEL.STRICT)
    m.msh.msh_3 = sender
    m.msh.msh_4 = facility
    m.msh.msh_5 = "KETAFLOW"
    m.msh.msh_7 = sent_at
    m.msh.msh_9 = "ORU^R01^ORU_R01" if version >= "2.4" else "ORU^R01"
    m.msh.msh_10 = control_id or f"M{uuid.uuid4().hex[:19]}"  # unique unless given: duplicates are refused
    m.msh.msh_11 = "P"
    m.msh.msh_12 = version
    result = m.add_group("ORU_R01_RESPONSE" if version == "2.3" else "ORU_R01_PATIENT_RESULT")
    if mrn or location:
        patient = result.add_group("ORU_R01_PATIENT")
        patient.pid.pid_3 = f"{mrn}^^^KETAFLOW^MR" if mrn else ""
        patient.pid.pid_5 = "Doe^Jane"
        if location:
            visit = patient.add_group("ORU_R01_VISIT")
            visit.pv1.pv1_2 = "O"
            visit.pv1.pv1_3 = location
    order = result.add_group("ORU_R01_ORDER_OBSERVATION")
    order.obr.obr_4 = "182777000^monitoring of patient^SCT"
    if version == "2.3":  # v2.3 makes OBR-27 (quantity/timing) required
        order.obr.obr_27 = "1"
    for i, o in enumerate(observations, start=1):
        group = order.add_group("ORU_R01_OBSERVATION")
        obx = group.obx
        obx.obx_1 = str(i)
        obx.obx_2 = o.value_type
        obx.obx_3 = o.code
        obx.obx_5 = o.value
        obx.obx_6 = o.unit
        obx.obx_11 = o.status
        if o.at:
            obx.obx_14 = o.at
        if device and version != "2.3":  # OBX-18 (equipment instance) is v2.4 and later
            obx.obx_18 = f"{device}^^{device}^EUI-64"
    m.validate()
    return str(m.to_er7())


def validated(text: str, structure: str | None = None) -> Message:
    """`text` parsed by hl7apy at strict validation (raises if it is not a valid message).

    hl7apy's parser finds the structure in MSH-9.3, which v2.3 does not have: name it then."""
    text = text.replace("\n", "\r")
    if structure is None:
        message = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    else:
        version = text.split("\r", 1)[0].split("|")[11]
        message = Message(structure, version=version, validation_level=VALIDATION_LEVEL.STRICT)
        message.children = parse_segments(
            text,
            version,
            validation_level=VALIDATION_LEVEL.STRICT,
            references=message.reference,
            find_groups=True,
        )
    message.validate()
    return message
