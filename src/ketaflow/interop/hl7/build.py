"""An ORU^R01 as a monitor (or its gateway) sends it, IHE PCD-01 style: IEEE 11073 MDC codes and
units, OBX-18 the device, OBX-14 the observation time with its UTC offset. Written as text (fast
enough for a simulator sending hundreds a second); the tests check its output with hl7apy."""

from __future__ import annotations

from datetime import datetime

from ketaflow.interop.hl7.ack import escape

# (OBX-3, OBX-6) per parameter: the first MDC code of each in observation_codes.toml.
MDC_CODES = {
    "systolic": ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "266016^MDC_DIM_MMHG^MDC"),
    "diastolic": ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "266016^MDC_DIM_MMHG^MDC"),
    "heart_rate": ("147842^MDC_ECG_HEART_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
    "spo2": ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "262688^MDC_DIM_PERCENT^MDC"),
    "respiratory_rate": ("151562^MDC_RESP_RATE^MDC", "264928^MDC_DIM_RESP_PER_MIN^MDC"),
}


def hl7_time(at: datetime) -> str:
    """An HL7 DTM with seconds and the UTC offset (`at` must be timezone-aware)."""
    if at.tzinfo is None:
        raise ValueError("an HL7 time needs a timezone")
    return at.strftime("%Y%m%d%H%M%S%z")


def build_oru(
    values: dict[str, float],
    *,
    observed_at: datetime,
    control_id: str,
    device_id: str = "",
    location: str = "",
    sender: str = "KETAFLOW-SIM",
    facility: str = "",
    mrn: str = "",
    patient_name: tuple[str, str] = ("", ""),
) -> str:
    """One ORU^R01 v2.5.1 with an OBX per value (segments separated by CR). With an MRN or a
    location it carries PID (PID-3 the MRN, PID-5 the name: both required there) and PV1-3."""
    at = hl7_time(observed_at)
    segments = [
        f"MSH|^~\\&|{escape(sender)}|{escape(facility)}|KETAFLOW||{at}||ORU^R01^ORU_R01|{escape(control_id)}|P|2.5.1"
    ]
    if mrn or location:
        family, given = patient_name
        segments.append(f"PID|||{escape(mrn)}^^^KETAFLOW^MR||{escape(family)}^{escape(given)}")
        if location:
            segments.append(f"PV1||O|{location}")
    segments.append(f"OBR|1|||182777000^monitoring of patient^SCT|||{at}")
    device = f"{escape(device_id)}^^{escape(device_id)}^EUI-64" if device_id else ""
    for i, (name, value) in enumerate(values.items(), start=1):
        code, unit = MDC_CODES[name]
        segments.append(f"OBX|{i}|NM|{code}||{value:g}|{unit}|||||R|||{at}||||{device}")
    return "\r".join(segments)
