"""Registering patients at the front desk (with duplicate detection) and finding them again.

Duplicate detection looks only at patients of the same organization born on the same day
(a handful of rows), then compares names after folding case, accents and whitespace:

- the same given and family name;
- the given and family names swapped;
- the same family name and a given name with the same first three letters ("Kate" and
  "Katherine"), or one given name being an initial or a prefix of the other.

A match is only a question for the front desk: the form comes back with the candidates and
the patient is registered when "This is a different person" is ticked.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from ketaflow.clinical.rules import ClinicalRules, default_rules
from ketaflow.errors import Conflict, InvalidInput, NotFound, Problems, invalid
from ketaflow.input_rules import person_name
from ketaflow.services import hl7_outbox
from ketaflow.services.audit import record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.clinics import clinic_for
from ketaflow.services.permissions import Action, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write, lock_row
from ketaflow.vocabulary import RecordStatus, Sex

# Date-of-birth sanity: nobody verified has lived past 122 years (Jeanne Calment, 1875-1997;
# Robine JM, Allard M. Science 1998;279(5358):1834-1835), so an age above 120 is a typing error.
MAX_AGE_YEARS = 120
# Phone numbers: at least 7 digits (a local number) and at most 15 (ITU-T E.164, the longest
# international number). A data-entry check, not a clinical number.
PHONE_DIGITS = (7, 15)
NAME_MAX = 100  # the column width of Patient.given_name / family_name
SIMILAR_PREFIX = 3  # "a family name that matches with a similar given name, e.g. first 3 letters"
PAGE_SIZE = 25
MAX_PAGE = (
    1_000_000  # 25 million patients a clinic: any page past it is a mistake (and overflowed the OFFSET)
)
MRN_PREFIX = "KF"  # the demo generator's MRNs: KF + 2-digit clinic number + 5-digit sequence


@dataclass(frozen=True)
class Candidate:
    """An existing patient who may be the person being registered."""

    patient_id: uuid.UUID
    mrn: str
    given_name: str
    family_name: str
    date_of_birth: date
    clinic_code: str
    why: str


class PossibleDuplicates(Conflict):
    """Patients that look like the one being registered; registering needs a confirmation."""

    def __init__(self, candidates: Sequence[Candidate]) -> None:
        n = len(candidates)
        super().__init__(
            f"{n} patient{'s' if n != 1 else ''} with this date of birth and a matching name "
            f"{'are' if n != 1 else 'is'} already registered; open {'them' if n != 1 else 'the chart'} to "
            'check, and tick "This is a different person" only if it is someone else.'
        )
        self.candidates = list(candidates)


@dataclass(frozen=True)
class NewPatient:
    """What the front desk types; text as typed, numbers already parsed (None when blank)."""

    given_name: str
    family_name: str
    date_of_birth: str | date
    sex: str
    phone: str = ""
    email: str = ""
    address: str = ""
    emergency_contact_name: str = ""
    emergency_contact_phone: str = ""
    emergency_contact_relationship: str = ""
    weight_kg: float | None = None
    height_cm: float | None = None
    medications: str | Sequence[str] = ""
    allergies: str | Sequence[str] = ""


# ---- names ------------------------------------------------------------------------------


def fold(name: str) -> str:
    """A name folded for comparison: no accents, no case, no spaces, hyphens or apostrophes."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in bare.casefold() if ch.isalnum())


def why_duplicate(given: str, family: str, other_given: str, other_family: str) -> str | None:
    """Why two names (with the same date of birth) may be one person, or None."""
    g, f, og, of = fold(given), fold(family), fold(other_given), fold(other_family)
    if not (g and f and og and of):
        return None
    if g == og and f == of:
        return "same name"
    if g == of and f == og:
        return "given and family names swapped"
    if f == of:
        n = min(SIMILAR_PREFIX, len(g), len(og))
        if g[:n] == og[:n]:
            return "same family name and a similar given name"
    return None


def find_duplicates(
    db: Session, organization_id: uuid.UUID, given: str, family: str, dob: date
) -> list[Candidate]:
    """Patients of the organization born on `dob` whose name matches (one query, a few rows)."""
    rows = db.execute(
        select(m.Patient, m.Clinic.code)
        .join(m.Clinic, m.Clinic.id == m.Patient.clinic_id)
        .where(m.Patient.organization_id == organization_id, m.Patient.date_of_birth == dob)
        .order_by(m.Patient.family_name, m.Patient.given_name)
    ).all()
    found = []
    for p, code in rows:
        why = why_duplicate(given, family, p.given_name, p.family_name)
        if why:
            found.append(Candidate(p.id, p.mrn, p.given_name, p.family_name, p.date_of_birth, code, why))
    return found


# ---- validation -------------------------------------------------------------------------


def _name(value: str, field: str, label: str) -> str:
    """A name as typed, normalised and checked for spoofing (`input_rules.person_name`)."""
    value = person_name(value, field, label, max_length=NAME_MAX)
    if not value:
        raise invalid(field, f"Enter the patient's {label}.")
    if not any(ch.isalpha() for ch in value):
        raise invalid(field, f"The {label} must contain letters.")
    return value


def parse_date_of_birth(value: str | date, today: date) -> date:
    if isinstance(value, date):
        dob = value
    else:
        text = (value or "").strip()
        if not text:
            raise invalid("date_of_birth", "Enter the date of birth.")
        try:
            dob = date.fromisoformat(text)
        except ValueError:
            raise invalid(
                "date_of_birth",
                f"Write the date of birth as YYYY-MM-DD (for example 1980-05-17); got {text!r}.",
            ) from None
    if dob > today:
        raise invalid("date_of_birth", "The date of birth is in the future; check the year.")
    oldest = today.replace(
        year=today.year - MAX_AGE_YEARS, day=28 if (today.month, today.day) == (2, 29) else today.day
    )
    if dob < oldest:
        raise invalid(
            "date_of_birth",
            f"A date of birth more than {MAX_AGE_YEARS} years ago is not plausible; check the year.",
        )
    return dob


def _sex(value: str) -> Sex:
    try:
        return Sex((value or "").strip().lower())
    except ValueError:
        raise invalid("sex", "Choose the patient's sex: female, male, other or unknown.") from None


def _phone(value: str, field: str, label: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    digits = sum(ch.isdigit() for ch in value)
    lo, hi = PHONE_DIGITS
    if (
        not re.fullmatch(r"\+?[\d\s().\-/]+(\s*(x|ext\.?)\s*\d+)?", value, re.IGNORECASE)
        or not lo <= digits <= hi
    ):
        raise invalid(
            field, f"The {label} must have {lo} to {hi} digits (for example 555-0100 123); got {value!r}."
        )
    return value[:40]


def _email(value: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > 254 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise invalid("email", f"The email address {value!r} is not valid; check it or leave it empty.")
    return value


def _measure(
    weight_kg: float | None, height_cm: float | None, rules: ClinicalRules
) -> tuple[float | None, float | None]:
    """Weight and height within the plausible ranges of the clinical rules (dosing.toml)."""
    dw = rules.dosing_weight
    if weight_kg is None:
        if height_cm is not None:
            raise invalid("weight_kg", "Enter the weight with the height (both are measured together).")
        return None, None
    lo, hi = dw.plausible_weight_kg.min, dw.plausible_weight_kg.max
    if not lo <= weight_kg <= hi:  # NaN fails this comparison too
        raise invalid("weight_kg", f"Weight must be between {lo:g} and {hi:g} kg; got {weight_kg:g}.")
    if height_cm is not None:
        lo, hi = dw.plausible_height_cm.min, dw.plausible_height_cm.max
        if not lo <= height_cm <= hi:
            raise invalid("height_cm", f"Height must be between {lo:g} and {hi:g} cm; got {height_cm:g}.")
    return weight_kg, height_cm


def _lines(value: str | Sequence[str]) -> list[str]:
    items = value.splitlines() if isinstance(value, str) else list(value)
    return [re.sub(r"\s+", " ", item).strip() for item in items if item and item.strip()]


def _allergy(line: str) -> tuple[str, str | None]:
    """'penicillin - rash' or 'penicillin: rash' -> ('penicillin', 'rash')."""
    parts = re.split(r"\s+-\s+|:\s*|\s+\(", line, maxsplit=1)
    substance = parts[0].strip()
    reaction = parts[1].rstrip(")").strip() if len(parts) > 1 else None
    return substance[:255], (reaction or None)


# ---- MRN --------------------------------------------------------------------------------


def next_mrn(db: Session, clinic: m.Clinic) -> str:
    """The next MRN in the demo's format, KF + clinic number (2 digits) + sequence (5 digits).

    The clinic number is the one its patients already carry; a clinic without patients takes
    the next number after the highest in the organization. Two indexed MAX queries.
    """
    pattern = re.compile(rf"^{MRN_PREFIX}(\d{{2}})(\d{{5}})$")
    like = f"{MRN_PREFIX}_______"
    mine = db.scalar(
        select(func.max(m.Patient.mrn)).where(m.Patient.clinic_id == clinic.id, m.Patient.mrn.like(like))
    )
    if mine and (hit := pattern.match(mine)):
        return f"{MRN_PREFIX}{hit.group(1)}{int(hit.group(2)) + 1:05d}"
    highest = db.scalar(
        select(func.max(m.Patient.mrn)).where(
            m.Patient.organization_id == clinic.organization_id, m.Patient.mrn.like(like)
        )
    )
    number = int(hit.group(1)) + 1 if highest and (hit := pattern.match(highest)) else 1
    return f"{MRN_PREFIX}{number:02d}{1:05d}"


@dataclass(frozen=True)
class CheckedPatient:
    """What the front desk typed, each value checked and cleaned."""

    given_name: str
    family_name: str
    date_of_birth: date
    sex: Sex
    phone: str | None
    email: str | None
    ec_name: str | None
    ec_phone: str | None
    weight_kg: float | None
    height_cm: float | None


def checked_patient(new: NewPatient, today: date, rules: ClinicalRules | None = None) -> CheckedPatient:
    """Check every field of a new patient; every mistake at once (InvalidFields), each on its field."""
    found = Problems()
    given = found.check(lambda: _name(new.given_name, "given_name", "given name"))
    family = found.check(lambda: _name(new.family_name, "family_name", "family name"))
    dob = found.check(lambda: parse_date_of_birth(new.date_of_birth, today))
    sex = found.check(lambda: _sex(new.sex))
    phone = found.check(lambda: _phone(new.phone, "phone", "phone number"))
    email = found.check(lambda: _email(new.email))
    ec_name = re.sub(r"\s+", " ", new.emergency_contact_name or "").strip()[:200] or None
    ec_phone = found.check(
        lambda: _phone(new.emergency_contact_phone, "emergency_contact_phone", "emergency contact's phone")
    )
    if ec_phone and not ec_name:
        found.add("emergency_contact_name", "Name the emergency contact whose phone number you entered.")
    measured = found.check(lambda: _measure(new.weight_kg, new.height_cm, rules or default_rules()))
    found.raise_any()
    assert given and family and dob and sex and measured
    return CheckedPatient(given, family, dob, sex, phone, email, ec_name, ec_phone, *measured)


# ---- use cases --------------------------------------------------------------------------


def register(
    db: Session,
    who: CurrentUser,
    code: str,
    new: NewPatient,
    *,
    confirm_not_duplicate: bool = False,
    now: datetime,
    rules: ClinicalRules | None = None,
    commit: bool = True,
) -> m.Patient:
    """Register a patient at the clinic `code`; refused (with candidates) if they may exist already.

    `commit=False` leaves the registration in the caller's transaction (a referral import adds the
    rest of the Bundle and commits it all at once, or nothing)."""
    begin_write(db)
    clinic = clinic_for(db, who, code, Action.REGISTER_PATIENT)
    today = now.astimezone(ZoneInfo(clinic.timezone)).date()
    c = checked_patient(new, today, rules)
    given, family, dob, sex, phone, email = (
        c.given_name,
        c.family_name,
        c.date_of_birth,
        c.sex,
        c.phone,
        c.email,
    )
    ec_name, ec_phone, weight, height = c.ec_name, c.ec_phone, c.weight_kg, c.height_cm
    medications = _lines(new.medications)
    allergies = [_allergy(line) for line in _lines(new.allergies)]

    # Registrations of one organization queue here (PostgreSQL; SQLite's writer lock already
    # serializes them): the MRN sequence and the duplicate check must see each other's rows.
    lock_row(db, m.Organization, clinic.organization_id)
    candidates = find_duplicates(db, clinic.organization_id, given, family, dob)
    if candidates and not confirm_not_duplicate:
        record(
            db,
            who.actor(),
            "patient.duplicate_check",
            "clinic",
            clinic.id,
            clinic_id=clinic.id,
            details={"candidates": [str(c.patient_id) for c in candidates]},
        )
        db.commit()  # the audit of what was shown is kept; nothing was registered
        raise PossibleDuplicates(candidates)

    patient = m.Patient(
        id=uuid.uuid4(),
        organization_id=clinic.organization_id,
        clinic_id=clinic.id,
        mrn=next_mrn(db, clinic),
        given_name=given,
        family_name=family,
        date_of_birth=dob,
        sex=sex,
        phone=phone,
        email=email,
        address=(new.address or "").strip() or None,
        emergency_contact_name=ec_name,
        emergency_contact_phone=ec_phone,
        emergency_contact_relationship=(new.emergency_contact_relationship or "").strip()[:60] or None,
        created_at=now,
    )
    db.add(patient)
    try:
        db.flush()  # the patient row first: the facts and the audit event refer to it
    except IntegrityError as exc:  # pragma: no cover - the lock above should make this impossible
        raise Conflict(
            "Another registration took this record number at the same moment; submit again."
        ) from exc
    fact = {
        "clinic_id": clinic.id,
        "patient_id": patient.id,
        "recorded_by_id": who.user.id,
        "recorded_at": now,
    }
    if weight is not None:
        db.add(m.BodyMeasurement(**fact, measured_at=now, weight_kg=weight, height_cm=height))
    for written in medications:
        db.add(m.Medication(**fact, as_written=written, status=RecordStatus.ACTIVE))
    for substance, reaction in allergies:
        db.add(m.Allergy(**fact, substance=substance, reaction=reaction, status=RecordStatus.ACTIVE))
    record(
        db,
        who.actor(),
        "patient.register",
        "patient",
        patient.id,
        clinic_id=clinic.id,
        patient_id=patient.id,
        details={
            "mrn": patient.mrn,
            "confirmed_not_duplicate_of": [str(c.patient_id) for c in candidates],
        },
    )
    hl7_outbox.report_registration(db, patient, clinic, now)  # ADT^A04, when HL7 is sent
    if commit:
        db.commit()
    return patient


# What a registration's details may be changed to (the record number, never; the weight,
# medications and allergies are clinical facts, charted and amended on their own).
DETAIL_FIELDS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "phone",
    "email",
    "address",
    "emergency_contact_name",
    "emergency_contact_phone",
    "emergency_contact_relationship",
)


def patient_to_edit(db: Session, who: CurrentUser, patient_id: uuid.UUID) -> m.Patient:
    """A registered patient whose details `who` may change (those who may register at its clinic)."""
    patient = db.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound("There is no such patient.")
    require(who, Action.REGISTER_PATIENT, patient.clinic_id)
    return patient


def update_details(
    db: Session, who: CurrentUser, patient_id: uuid.UUID, details: NewPatient, *, version: int, now: datetime
) -> list[str]:
    """Change a registered patient's details (names, date of birth, sex, contact and emergency
    contact) to `details`, each checked as at registration; `version` is the row's version the
    form was built from (someone else's change since: Conflict, nothing written). Returns the
    fields changed; when any did, the change is audited (the fields' names, not their values)
    and, when the installation sends HL7, an ADT^A08 goes to the outbox in the same transaction."""
    begin_write(db)
    patient = patient_to_edit(db, who, patient_id)
    clinic = db.get(m.Clinic, patient.clinic_id)
    assert clinic is not None  # foreign key
    if patient.version != version:
        raise Conflict(
            "Someone else changed this patient's details since you opened them; "
            "reload and make your change again."
        )
    today = now.astimezone(ZoneInfo(clinic.timezone)).date()
    c = checked_patient(replace(details, weight_kg=None, height_cm=None), today)
    wanted = {
        "given_name": c.given_name,
        "family_name": c.family_name,
        "date_of_birth": c.date_of_birth,
        "sex": c.sex,
        "phone": c.phone,
        "email": c.email,
        "address": (details.address or "").strip() or None,
        "emergency_contact_name": c.ec_name,
        "emergency_contact_phone": c.ec_phone,
        "emergency_contact_relationship": (details.emergency_contact_relationship or "").strip()[:60] or None,
    }
    changed = [f for f in DETAIL_FIELDS if getattr(patient, f) != wanted[f]]
    if not changed:
        db.rollback()
        return []
    for f in changed:
        setattr(patient, f, wanted[f])
    db.flush()
    record(
        db,
        who.actor(),
        "patient.edit",
        "patient",
        patient.id,
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        details={"fields": changed},
    )
    hl7_outbox.report_update(db, patient, clinic, now)  # ADT^A08, when HL7 is sent
    db.commit()
    return changed


@dataclass(frozen=True)
class Found:
    patient_id: uuid.UUID
    mrn: str
    given_name: str
    family_name: str
    date_of_birth: date
    sex: str
    phone: str | None


@dataclass(frozen=True)
class SearchPage:
    clinic: m.Clinic
    q: str
    page: int
    patients: list[Found]
    has_next: bool
    searched_by: str  # "name", "mrn", "date of birth" or "all"


_DOB = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_MRN = re.compile(r"^[A-Za-z]{0,4}\d{3,}$")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _starts(column: InstrumentedAttribute[str], text: str) -> ColumnElement[bool]:
    return column.ilike(_escape(text) + "%", escape="\\")


def _search_statement(clinic: m.Clinic, q: str) -> tuple[Select[tuple[m.Patient]], str]:
    base = select(m.Patient).where(m.Patient.clinic_id == clinic.id)
    if not q:
        return base, "all"
    if _DOB.match(q):
        try:
            dob = date.fromisoformat("-".join(part.zfill(2) for part in q.split("-")))
        except ValueError:
            raise InvalidInput(f"{q!r} is not a date; search a date of birth as YYYY-MM-DD.") from None
        return base.where(m.Patient.date_of_birth == dob), "date of birth"
    if _MRN.match(q):
        mrn = q.upper()
        # A range on the (organization_id, mrn) unique index: a prefix of the MRN finds it.
        upper = mrn[:-1] + chr(ord(mrn[-1]) + 1)
        return (
            base.where(
                m.Patient.organization_id == clinic.organization_id,
                m.Patient.mrn >= mrn,
                m.Patient.mrn < upper,
            ),
            "mrn",
        )
    words = [w for w in re.split(r"[\s,]+", q) if w]
    if len(words) == 1:
        w = words[0]
        return base.where(or_(_starts(m.Patient.family_name, w), _starts(m.Patient.given_name, w))), "name"
    first, rest = words[0], " ".join(words[1:])
    if "," in q:  # "Rivera, Alex": family name first
        first, rest = q.split(",", 1)[0].strip(), q.split(",", 1)[1].strip()
        cond = and_(_starts(m.Patient.family_name, first), _starts(m.Patient.given_name, rest))
    else:
        last = words[-1]
        head = " ".join(words[:-1])
        cond = or_(
            and_(_starts(m.Patient.given_name, head), _starts(m.Patient.family_name, last)),
            and_(_starts(m.Patient.family_name, first), _starts(m.Patient.given_name, rest)),
            _starts(m.Patient.family_name, q.strip()),  # a family name with a space ("De La Cruz")
        )
    return base.where(cond), "name"


def search(db: Session, who: CurrentUser, code: str, q: str, *, page: int = 1) -> SearchPage:
    """Find the clinic's patients by name (prefixes), MRN (prefix) or date of birth; one page.

    One query on indexed columns narrowed to the clinic (ix_patients_clinic_id; MRNs on the
    (organization_id, mrn) unique index), LIMIT page size + 1 to know if there is a next page.
    """
    clinic = clinic_for(db, who, code, Action.READ_CHART)
    q = re.sub(r"\s+", " ", q or "").strip()[:100]
    page = max(1, page)
    if page > MAX_PAGE:
        raise InvalidInput(f"There is no page {page:,} of patients; go back to the first page.")
    stmt, how = _search_statement(clinic, q)
    rows = db.scalars(
        stmt.order_by(m.Patient.family_name, m.Patient.given_name, m.Patient.mrn)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    found = [
        Found(p.id, p.mrn, p.given_name, p.family_name, p.date_of_birth, p.sex, p.phone)
        for p in rows[:PAGE_SIZE]
    ]
    record_read(
        db,
        who.actor(),
        "patient.search",
        "clinic",
        clinic.id,
        clinic_id=clinic.id,
        details={"q": q, "page": page, "shown": [str(f.patient_id) for f in found]},
    )
    return SearchPage(clinic, q, page, found, len(rows) > PAGE_SIZE, how)
