"""A bedside monitor's ORU^R01 (HL7 v2.3 to 2.6; 2.5.1 the reference) read into vital-sign readings.

Pure: message text in, a `MonitorMessage` out, or a `Refusal` saying why not (with the ACK code
and where in the message). Which monitor, chair, patient and infusion the readings belong to is
decided by the caller (services/monitor_feed.py), which also checks the values against the
clinic's plausible ranges before charting them.

What is read (HL7 v2.5.1 chapter 7, ORU^R01; IHE PCD-01 for how monitors fill it):
- MSH-3/4 the sender, MSH-9 the type (ORU^R01), MSH-10 the control id, MSH-12 the version;
- PID-3 the patient's identifiers (optional: a monitor often does not know the patient);
- PV1-3 the assigned location (a gateway's bed label);
- OBX-3 the observation identifier (observation_codes.toml), OBX-5 the value, OBX-6 the unit,
  OBX-11 the result status, OBX-14 the observation time (else OBR-7, else MSH-7), OBX-18 the
  equipment instance identifier (the device; v2.4 and later).
Readings taken at the same moment form one set (one charted row); an observation ketaflow does
not chart (mean pressure, temperature, the device hierarchy rows) is skipped, not refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import hl7

from ketaflow.interop.hl7.codes import CodeTable, code_table

SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6")
# OBX-11 (HL7 table 0085) statuses that carry no value to chart: D deleted, W wrong, X cannot be
# obtained. F final, R not verified (what monitors send, IHE PCD-01), C corrected, P preliminary
# and an empty status are charted.
_NOT_CHARTED_STATUS = {"D", "W", "X"}
_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?$")

# HL7 table 0357 (message error condition codes) used in ERR.
DATA_TYPE_ERROR = "102"
REQUIRED_FIELD_MISSING = "101"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT = "201"
UNSUPPORTED_VERSION = "203"
UNKNOWN_KEY = "204"
APPLICATION_ERROR = "207"
ERROR_TEXT = {
    DATA_TYPE_ERROR: "Data type error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT: "Unsupported event code",
    UNSUPPORTED_VERSION: "Unsupported version id",
    UNKNOWN_KEY: "Unknown key identifier",
    APPLICATION_ERROR: "Application internal error",
}


class Refusal(Exception):
    """Why a message cannot be charted: the ACK code (AR: rejected, not this kind of message or
    sender; AE: its content cannot be charted), the reason in words, and where (e.g. OBX^3^5)."""

    def __init__(self, ack_code: str, reason: str, *, where: str = "", error_code: str = APPLICATION_ERROR):
        super().__init__(reason)
        self.ack_code = ack_code
        self.reason = reason
        self.where = where
        self.error_code = error_code
        # Who sent it, when that could be read before the refusal (so the refusal can be filed
        # under the monitor's clinic): OBX-18 device ids and the PV1-3 location.
        self.device_ids: tuple[str, ...] = ()
        self.location = ""


@dataclass(frozen=True)
class HL7Time:
    """A time as HL7 sends it: the wall-clock time and, when sent, its offset from UTC (minutes).
    Without an offset the time is the sender's local time (HL7 v2.5.1 section 2.A.74), which the
    caller knows once it knows the clinic."""

    wall: datetime
    offset_min: int | None

    def to_utc(self, zone: ZoneInfo) -> datetime:
        if self.offset_min is None:
            return self.wall.replace(tzinfo=zone).astimezone(UTC)
        return self.wall.replace(tzinfo=timezone(timedelta(minutes=self.offset_min))).astimezone(UTC)


@dataclass(frozen=True)
class ReadingSet:
    """The vital signs measured at one moment, in ketaflow's units (mmHg, /min, %), unrounded."""

    observed_at: HL7Time
    values: dict[str, float]  # parameter name (systolic, diastolic, heart_rate, spo2, ...) -> value
    where: dict[str, str] = field(default_factory=dict)  # parameter -> its OBX (for a refusal)


@dataclass(frozen=True)
class Header:
    """What an ACK needs from the message it answers: enough of MSH, read even from a message
    that is refused."""

    control_id: str
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    version: str
    trigger: str
    field_separator: str = "|"
    encoding: str = "^~\\&"

    @property
    def sender(self) -> str:
        """The sender as duplicates are told apart: MSH-3 and MSH-4."""
        return f"{self.sending_application}|{self.sending_facility}"


@dataclass(frozen=True)
class MonitorMessage:
    header: Header
    device_ids: tuple[str, ...]  # OBX-18 entity identifiers and universal ids (v2.4 on)
    location: str  # PV1-3 as sent ("" if none)
    patient_ids: tuple[str, ...]  # PID-3 identifiers (CX.1)
    readings: tuple[ReadingSet, ...]


def normalise(text: str) -> str:
    """Segments separated by CR, as HL7 requires; LF and CRLF (what files and some gateways
    send) are taken as CR. Surrounding blank space is dropped."""
    return text.replace("\r\n", "\r").replace("\n", "\r").strip("\r\n\t \x00")


def read_header(text: str) -> Header:
    """MSH of `text`; a Refusal (AR) if there is none."""
    text = normalise(text)
    if not text.startswith("MSH") or len(text) < 8:
        raise Refusal("AR", "This is not an HL7 v2 message: it does not begin with an MSH segment.")
    fs = text[3]
    first = text.split("\r", 1)[0]
    fields = first.split(fs)
    encoding = fields[1] if len(fields) > 1 else "^~\\&"
    cs = encoding[0] if encoding else "^"

    def get(n: int) -> str:  # MSH-n: fields[n - 1], since MSH-1 is the separator itself
        return fields[n - 1] if len(fields) > n - 1 else ""

    def first_comp(v: str) -> str:
        return v.split(cs)[0]

    msg_type = get(9).split(cs)
    return Header(
        control_id=get(10).strip(),
        sending_application=first_comp(get(3)),
        sending_facility=first_comp(get(4)),
        receiving_application=first_comp(get(5)),
        receiving_facility=first_comp(get(6)),
        version=first_comp(get(12)).strip(),
        trigger=msg_type[1] if len(msg_type) > 1 else "",
        field_separator=fs,
        encoding=encoding,
    )


def _check_header(text: str, header: Header) -> None:
    fields = normalise(text).split("\r", 1)[0].split(header.field_separator)
    msg_type = (fields[8] if len(fields) > 8 else "").split(header.encoding[:1] or "^")
    if not header.control_id:
        raise Refusal(
            "AR",
            "The message has no control id (MSH-10).",
            where="MSH^1^10",
            error_code=REQUIRED_FIELD_MISSING,
        )
    if msg_type[0] != "ORU":
        raise Refusal(
            "AR",
            "ketaflow takes ORU^R01 (observation results) from monitors, not "
            f"{'^'.join(msg_type[:2]) or 'an untyped message'}.",
            where="MSH^1^9",
            error_code=UNSUPPORTED_MESSAGE_TYPE,
        )
    if header.trigger != "R01":
        raise Refusal(
            "AR",
            f"ketaflow takes ORU^R01 from monitors, not ORU^{header.trigger or '(no event)'}.",
            where="MSH^1^9",
            error_code=UNSUPPORTED_EVENT,
        )
    if header.version not in SUPPORTED_VERSIONS:
        raise Refusal(
            "AR",
            f"HL7 version {header.version or '(none)'} is not supported; "
            "send v2.3 to v2.6 (2.5.1 preferred).",
            where="MSH^1^12",
            error_code=UNSUPPORTED_VERSION,
        )


def parse_time(text: str) -> HL7Time | None:
    """An HL7 TS/DTM (YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]); None if empty; ValueError if bad."""
    text = text.strip()
    if not text:
        return None
    m = _TS.match(text)
    if not m:
        raise ValueError(text)
    y, mo, d, h, mi, s, frac, off = m.groups()
    wall = datetime(
        int(y),
        int(mo or 1),
        int(d or 1),
        int(h or 0),
        int(mi or 0),
        int(s or 0),
        int((frac or "0").ljust(6, "0")[:6]),
    )
    offset = None
    if off:
        sign = -1 if off[0] == "-" else 1
        offset = sign * (int(off[1:3]) * 60 + int(off[3:5]))
    return HL7Time(wall, offset)


def _time(text: str, where: str) -> HL7Time | None:
    try:
        return parse_time(text)
    except ValueError:
        raise Refusal(
            "AE",
            f"The time '{text}' in {where} is not an HL7 date and time (YYYYMMDDHHMMSS).",
            where=where,
            error_code=DATA_TYPE_ERROR,
        ) from None


class _Segment:
    """One segment's fields as text, numbered as HL7 numbers them: for MSH, [1] is the field
    separator itself and [2] the encoding characters (MSH-1, MSH-2), as python-hl7 numbers them.
    A plain split of the segment on the field separator: the values read here are single
    fields (their components and repetitions split where they are read), so the cost of building
    python-hl7's whole tree of objects for every message (most of the parsing time under a
    monitor's load) is not paid."""

    __slots__ = ("name", "fields")

    def __init__(self, line: str, fs: str) -> None:
        parts = line.split(fs)
        self.name = parts[0]
        self.fields = ["MSH", fs, *parts[1:]] if self.name == "MSH" else parts


class _Message:
    """A message as its segments (`_Segment`), with python-hl7's unescaping for the rare value
    that carries an escape sequence."""

    def __init__(self, text: str, header: Header) -> None:
        self.text = text
        self.segments = [_Segment(line, header.field_separator) for line in text.split("\r")]

    def segment(self, name: str) -> _Segment:
        return next(s for s in self.segments if s.name == name)

    def unescape(self, value: str) -> str:
        return str(hl7.parse(self.text.split("\r", 1)[0]).unescape(value))

    def __iter__(self) -> Iterator[_Segment]:
        return iter(self.segments)


class _Fields:
    """Fields of one segment as text, with the message's separators."""

    def __init__(self, segment: _Segment, enc: str, fs: str) -> None:
        self.segment = segment
        self.cs, self.rs = enc[0], enc[1]
        self.is_msh = segment.name == "MSH"

    def raw(self, n: int) -> str:
        fields = self.segment.fields
        return fields[n] if n < len(fields) else ""

    def reps(self, n: int) -> list[str]:
        return [r for r in self.raw(n).split(self.rs) if r]

    def comps(self, n: int, rep: str | None = None) -> list[str]:
        value = self.raw(n).split(self.rs)[0] if rep is None else rep
        return value.split(self.cs)


def _unescape(message: _Message, value: str) -> str:
    return message.unescape(value) if "\\" in value else value


def read_oru(text: str, table: CodeTable | None = None) -> MonitorMessage:
    """The readings in a monitor's ORU^R01, or a Refusal saying why they cannot be charted."""
    table = table or code_table()
    header = read_header(text)
    _check_header(text, header)
    if len(header.encoding) < 2:
        raise Refusal(
            "AR",
            "The message could not be read as HL7 v2: MSH-2 must give the component and repetition "
            "separators (^~\\&).",
            where="MSH^1^2",
        )
    message = _Message(normalise(text), header)
    enc = header.encoding
    fs = header.field_separator

    devices, location, patient_ids = _identity(message, enc, fs)
    try:
        readings = _complete(_read_sets(message, enc, fs, table))
    except Refusal as refusal:
        refusal.device_ids, refusal.location = devices, location
        raise
    return MonitorMessage(header, devices, location, patient_ids, readings)


def _complete(sets: dict[HL7Time, ReadingSet]) -> tuple[ReadingSet, ...]:
    """The sets in time order, if there is one and no blood pressure lacks a half."""
    if not sets:
        raise Refusal(
            "AE",
            "The message has no observation ketaflow charts (blood pressure, heart rate, SpO2, "
            "respiratory rate) with a value.",
            where="OBX",
            error_code=REQUIRED_FIELD_MISSING,
        )
    for reading in sets.values():
        has_sys, has_dia = "systolic" in reading.values, "diastolic" in reading.values
        if has_sys != has_dia:
            missing = "diastolic" if has_sys else "systolic"
            raise Refusal(
                "AE",
                f"A blood pressure without its {missing} value cannot be charted; send both together.",
                where=reading.where.get("systolic" if has_sys else "diastolic", "OBX"),
                error_code=REQUIRED_FIELD_MISSING,
            )
    return tuple(sorted(sets.values(), key=lambda r: (r.observed_at.wall, r.observed_at.offset_min or 0)))


def _identity(message: _Message, enc: str, fs: str) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """The OBX-18 device ids (entity and universal ids, in order), PV1-3 and PID-3's identifiers."""
    patient_ids: list[str] = []
    location = ""
    devices: list[str] = []
    for segment in message:
        name = segment.name
        f = _Fields(segment, enc, fs)
        if name == "PID":
            patient_ids += [f.comps(3, rep)[0].strip() for rep in f.reps(3) if f.comps(3, rep)[0].strip()]
        elif name == "PV1":
            location = f.raw(3).strip()
        elif name == "OBX":
            for rep in f.reps(18):
                parts = f.comps(18, rep)
                for ident in (parts[0], parts[2] if len(parts) > 2 else ""):
                    if ident.strip() and ident.strip() not in devices:
                        devices.append(ident.strip())
    return tuple(devices), location, tuple(patient_ids)


def _read_sets(message: _Message, enc: str, fs: str, table: CodeTable) -> dict[HL7Time, ReadingSet]:
    """The charted observations, grouped by moment (raises a Refusal for one that cannot be)."""
    msh = _Fields(message.segment("MSH"), enc, fs)
    sent_at = _time(msh.raw(7), "MSH^1^7")
    obr_time: HL7Time | None = None
    sets: dict[HL7Time, ReadingSet] = {}
    chosen: dict[tuple[HL7Time, str], int] = {}  # (moment, parameter) -> priority charted
    obx_seq = 0
    for segment in message:
        name = segment.name
        f = _Fields(segment, enc, fs)
        if name == "OBR":
            obr_time = _time(f.raw(7), "OBR^1^7") or obr_time
        elif name == "OBX":
            obx_seq += 1
            _read_obx(message, f, obx_seq, table, obr_time or sent_at, sets, chosen)
    return sets


def _read_obx(
    message: _Message,
    f: _Fields,
    seq: int,
    table: CodeTable,
    default_time: HL7Time | None,
    sets: dict[HL7Time, ReadingSet],
    chosen: dict[tuple[HL7Time, str], int],
) -> None:
    where = f"OBX^{seq}"
    ident = f.comps(3) + ["", "", "", "", "", ""]
    match = table.lookup(ident[2], ident[0], ident[1]) or (
        table.lookup(ident[5], ident[3], ident[4]) if ident[3] else None
    )
    if match is None:
        return
    status = f.raw(11).strip().upper()
    raw_value = _unescape(message, f.raw(5)).strip()
    if status in _NOT_CHARTED_STATUS or not raw_value:
        return
    parameter = match.parameter
    value = _number(raw_value, f.raw(2).strip().upper(), f.cs, parameter.label, f"{where}^5")
    unit_parts = tuple(f.comps(6))
    factor = table.factor(parameter.unit, unit_parts)
    if factor is None:
        sent = "^".join(p for p in unit_parts if p)
        raise Refusal(
            "AE",
            f"{parameter.label} was sent in '{sent}', a unit ketaflow does not know for it "
            f"(expected {parameter.unit}).",
            where=f"{where}^6",
            error_code=TABLE_VALUE_NOT_FOUND,
        )
    observed = _time(f.raw(14), f"{where}^14") or default_time
    if observed is None:
        raise Refusal(
            "AE",
            f"{parameter.label} has no observation time (OBX-14, OBR-7 or MSH-7).",
            where=f"{where}^14",
            error_code=REQUIRED_FIELD_MISSING,
        )
    reading = sets.setdefault(observed, ReadingSet(observed, {}, {}))
    key = (observed, parameter.name)
    if key in chosen and chosen[key] < match.priority:
        return  # a better source of this value at this moment was already read
    if key in chosen and chosen[key] == match.priority and reading.values[parameter.name] != value * factor:
        raise Refusal(
            "AE",
            f"Two different values of {parameter.label.lower()} were sent for the same moment.",
            where=f"{where}^5",
            error_code=DATA_TYPE_ERROR,
        )
    chosen[key] = match.priority
    reading.values[parameter.name] = value * factor
    reading.where[parameter.name] = f"{where}^5"


def _number(raw: str, value_type: str, cs: str, label: str, where: str) -> float:
    """OBX-5 as a number: NM, or SN with no comparator ("^128" or "=^128"), or a number sent as ST."""
    text = raw
    if value_type == "SN":
        parts = raw.split(cs)
        if len(parts) > 1 and parts[0] in ("", "="):
            text = parts[1]
        else:
            raise Refusal(
                "AE",
                f"{label} was sent as '{raw}', not an exact number; it cannot be charted.",
                where=where,
                error_code=DATA_TYPE_ERROR,
            )
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise Refusal(
            "AE",
            f"{label} was sent as '{raw}', which is not a number; it cannot be charted.",
            where=where,
            error_code=DATA_TYPE_ERROR,
        )
    return value
