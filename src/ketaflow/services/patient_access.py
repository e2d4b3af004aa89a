"""A patient's own access: one-time links issued by staff, and the patient sessions they open.

Only SHA-256 digests of link and session tokens are stored (as for staff sessions). A link
works once: it is marked used by a conditional UPDATE, so two requests racing with the same
link cannot both open a session.

The link is for the patient only (issue 11): it is handed over as a printout, and opening it
also asks the patient's date of birth; MAX_BIRTH_DATE_TRIES wrong dates spend the link. A
browser signed in as staff cannot open it (`refuse_staff_browser`). Every issue, opening and
refusal is audited, and every opening and wrong date names the staff member who issued it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ketaflow.audit_codes import PATIENT_ROLE
from ketaflow.errors import InvalidInput, NotFound
from ketaflow.security import new_token, token_digest
from ketaflow.services.audit import NOWHERE, Actor, Origin, record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.permissions import Action, require
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write

# How long an unused link stays valid. This is a clinic setting (how long a link may sit in
# a patient's inbox); there is no per-clinic settings table yet, so every clinic gets 7 days.
# Source: none, clinic policy placeholder, to be confirmed.
LINK_VALID_DAYS = 7
# How long a patient session lasts after the link is opened (mirrors the staff session,
# services.auth.SESSION_HOURS). Clinic policy placeholder, to be confirmed.
PATIENT_SESSION_HOURS = 12

PATIENT_LABEL = "patient"
# Who "issued" a link the outbox made and e-mailed to the patient (no staff member saw it).
EMAILED_BY = "e-mailed to the patient by ketaflow"
# Wrong dates of birth a link survives; the next one spends it (a date has ~36,500 values in a
# century, so a handful of tries cannot find it). Clinic policy placeholder, not from a source.
MAX_BIRTH_DATE_TRIES = 5


def patient_actor(origin: Origin) -> Actor:
    """The audit actor for anything a patient does on their own page."""
    return Actor(None, PATIENT_LABEL, origin.ip_address, origin.user_agent, roles=PATIENT_ROLE)


@dataclass(frozen=True)
class IssuedLink:
    token: str  # shown once, in the URL; only its digest is stored
    link: m.PatientAccessLink


@dataclass(frozen=True)
class LinkRow:
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    created_by: str


@dataclass(frozen=True)
class LinkPage:
    patient: m.Patient
    clinic: m.Clinic
    links: list[LinkRow]
    valid_days: int


def _patient_for_staff(db: Session, who: CurrentUser, patient_id: uuid.UUID) -> m.Patient:
    patient = db.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound("There is no such patient.")
    require(who, Action.ISSUE_PATIENT_LINK, patient.clinic_id)
    return patient


def link_page(db: Session, who: CurrentUser, patient_id: uuid.UUID) -> LinkPage:
    """The patient's earlier links (never their tokens), for the staff page; the read is audited."""
    patient = _patient_for_staff(db, who, patient_id)
    clinic = db.get(m.Clinic, patient.clinic_id)
    assert clinic is not None
    rows = db.execute(
        select(m.PatientAccessLink, m.StaffUser.full_name)
        .outerjoin(m.StaffUser, m.StaffUser.id == m.PatientAccessLink.created_by_id)
        .where(m.PatientAccessLink.patient_id == patient_id)
        .order_by(m.PatientAccessLink.created_at.desc())
        .limit(20)
    ).all()
    links = [
        LinkRow(link.created_at, link.expires_at, link.used_at, name or EMAILED_BY) for link, name in rows
    ]
    record_read(
        db,
        who.actor(),
        "patient_link.list",
        "patient",
        patient.id,
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
    )
    return LinkPage(patient, clinic, links, LINK_VALID_DAYS)


def issue_link(
    db: Session,
    who: CurrentUser,
    patient_id: uuid.UUID,
    now: datetime,
) -> IssuedLink:
    """Create a one-time link to the patient's own page. Earlier sessions stay open."""
    begin_write(db)
    patient = _patient_for_staff(db, who, patient_id)
    token = new_token()
    link = m.PatientAccessLink(
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        token_sha256=token_digest(token),
        created_by_id=who.user.id,
        created_at=now,
        expires_at=now + timedelta(days=LINK_VALID_DAYS),
    )
    db.add(link)
    db.flush()
    record(
        db,
        who.actor(),
        "patient_link.issue",
        "patient_access_link",
        link.id,
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        details={"expires_at": link.expires_at.isoformat()},
    )
    db.commit()
    return IssuedLink(token, link)


class LinkRefused(InvalidInput):
    """The link cannot be used; `gone` is True when it was valid once (used or expired)."""

    def __init__(self, message: str, *, gone: bool) -> None:
        super().__init__(message)
        self.gone = gone


NOT_VALID = (
    "This link is not valid. Check that you copied the whole address, or ask your clinic for a new link."
)
ALREADY_USED = "This link has already been used; each link works only once. Ask your clinic for a new link."
EXPIRED = "This link has expired. Ask your clinic for a new link."
SPENT = (
    "This link no longer works: the date of birth was wrong too many times. Ask your clinic for a new link."
)
WRONG_BIRTH_DATE = "That date of birth does not match the clinic's record; check it and try again."
NEED_BIRTH_DATE = "Give your date of birth to open your page."
STAFF_BROWSER = (
    "This link is for the patient: it opens on the patient's own phone or computer, never in a browser "
    "signed in to ketaflow as staff. Give the printout to the patient."
)


@dataclass(frozen=True)
class OpenedSession:
    token: str  # the cookie value; only its digest is stored
    session: m.PatientSession


def check_link(db: Session, token: str, now: datetime) -> None:
    """Refuse a link that is unknown, used or expired, without using it up.

    Opening a link is two steps: looking at it (this; e-mail scanners and link previews
    fetch links without a person there) and then the patient pressing the button, which
    redeems it. Only redeeming writes anything, refusals included.
    """
    link = db.scalar(
        select(m.PatientAccessLink).where(m.PatientAccessLink.token_sha256 == token_digest(token or ""))
    )
    if link is None or link.used_at is not None or link.expires_at <= now or _spent(link):
        raise _refusal(_why_refused(link))


def _spent(link: m.PatientAccessLink) -> bool:
    return (link.failed_attempts or 0) >= MAX_BIRTH_DATE_TRIES


def _why_refused(link: m.PatientAccessLink | None) -> str:
    """Why a link that cannot open a session now is refused: unknown, used, spent, or else expired."""
    if link is None:
        return "unknown"
    if link.used_at is not None:
        return "used"
    return "spent" if _spent(link) else "expired"


def _refusal(reason: str) -> LinkRefused:
    if reason == "unknown":
        return LinkRefused(NOT_VALID, gone=False)
    return LinkRefused({"used": ALREADY_USED, "spent": SPENT}.get(reason, EXPIRED), gone=True)


def _issuer(db: Session, link: m.PatientAccessLink) -> dict[str, str]:
    """Who issued a link, for the audit details of everything done with it."""
    if link.created_by_id is None:
        return {"issued_by_id": "", "issued_by": EMAILED_BY}
    staff = db.get(m.StaffUser, link.created_by_id)
    return {"issued_by_id": str(link.created_by_id), "issued_by": staff.email if staff else "unknown"}


def refuse_staff_browser(db: Session, token: str, who: CurrentUser) -> LinkRefused:
    """Audit a staff-signed-in browser trying to open a patient's link (the link stays unused)."""
    link = db.scalar(
        select(m.PatientAccessLink).where(m.PatientAccessLink.token_sha256 == token_digest(token or ""))
    )
    if link is not None:
        begin_write(db)
        record(
            db,
            who.actor(),
            "patient_link.refused_staff_browser",
            "patient_access_link",
            link.id,
            clinic_id=link.clinic_id,
            patient_id=link.patient_id,
            details=_issuer(db, link),
        )
        db.commit()
    return LinkRefused(STAFF_BROWSER, gone=False)


def redeem_link(
    db: Session,
    token: str,
    now: datetime,
    *,
    date_of_birth: date | None,
    origin: Origin = NOWHERE,
) -> OpenedSession:
    """Use a one-time link with the patient's date of birth: mark it used (once, atomically) and
    open a patient session. A wrong date is counted; MAX_BIRTH_DATE_TRIES of them spend the link."""
    digest = token_digest(token or "")
    begin_write(db)
    link = db.scalar(select(m.PatientAccessLink).where(m.PatientAccessLink.token_sha256 == digest))
    usable = link is not None and link.used_at is None and link.expires_at > now and not _spent(link)
    if link is not None and usable:
        if date_of_birth is None:
            db.rollback()
            raise LinkRefused(NEED_BIRTH_DATE, gone=False)
        patient = db.get(m.Patient, link.patient_id)
        if patient is None or patient.date_of_birth != date_of_birth:
            db.execute(
                update(m.PatientAccessLink)
                .where(m.PatientAccessLink.id == link.id)
                .values(failed_attempts=m.PatientAccessLink.failed_attempts + 1)
                .execution_options(synchronize_session=False)
            )
            tries = (link.failed_attempts or 0) + 1
            record(
                db,
                patient_actor(origin),
                "patient_link.wrong_birth_date",
                "patient_access_link",
                link.id,
                clinic_id=link.clinic_id,
                patient_id=link.patient_id,
                details={**_issuer(db, link), "tries": tries},
            )
            db.commit()
            if tries >= MAX_BIRTH_DATE_TRIES:
                raise LinkRefused(SPENT, gone=True)
            raise LinkRefused(WRONG_BIRTH_DATE, gone=False)
    used = db.execute(
        update(m.PatientAccessLink)
        .where(
            m.PatientAccessLink.token_sha256 == digest,
            m.PatientAccessLink.used_at.is_(None),
            m.PatientAccessLink.expires_at > now,
            m.PatientAccessLink.failed_attempts < MAX_BIRTH_DATE_TRIES,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.expire_all()
    link = db.scalar(select(m.PatientAccessLink).where(m.PatientAccessLink.token_sha256 == digest))
    if used.rowcount != 1 or link is None:  # type: ignore[attr-defined]
        reason = _why_refused(link)
        if link is None:
            db.rollback()
            raise _refusal(reason)
        record(
            db,
            patient_actor(origin),
            f"patient_link.refused_{reason}",
            "patient_access_link",
            link.id,
            clinic_id=link.clinic_id,
            patient_id=link.patient_id,
            details=_issuer(db, link),
        )
        db.commit()
        raise _refusal(reason)
    session_token = new_token()
    session = m.PatientSession(
        patient_id=link.patient_id,
        link_id=link.id,
        token_sha256=token_digest(session_token),
        csrf_token=new_token(),
        created_at=now,
        expires_at=now + timedelta(hours=PATIENT_SESSION_HOURS),
    )
    db.add(session)
    db.flush()
    record(
        db,
        patient_actor(origin),
        "patient.sign_in",
        "patient_session",
        session.id,
        clinic_id=link.clinic_id,
        patient_id=link.patient_id,
        details={"link_id": str(link.id), **_issuer(db, link)},
    )
    db.commit()
    return OpenedSession(session_token, session)


@dataclass(frozen=True)
class CurrentPatient:
    """The patient signed in through a link, with their session and clinic."""

    patient: m.Patient
    clinic: m.Clinic
    session: m.PatientSession
    # Where this request came from (web/patient_deps.py builds it); every audit event carries it.
    origin: Origin = NOWHERE

    def actor(self) -> Actor:
        return patient_actor(self.origin)


def current_patient(
    db: Session, token: str | None, now: datetime, *, origin: Origin = NOWHERE
) -> CurrentPatient | None:
    """The patient for a patient-session cookie, or None if missing, expired or signed out."""
    if not token:
        return None
    session = db.scalar(select(m.PatientSession).where(m.PatientSession.token_sha256 == token_digest(token)))
    if session is None or session.revoked_at is not None or session.expires_at <= now:
        return None
    patient = db.get(m.Patient, session.patient_id)
    if patient is None:
        return None
    clinic = db.get(m.Clinic, patient.clinic_id)
    if clinic is None:
        return None
    return CurrentPatient(patient, clinic, session, origin)


def sign_out(db: Session, me: CurrentPatient, now: datetime) -> None:
    begin_write(db)
    session = db.get(m.PatientSession, me.session.id)
    if session is not None and session.revoked_at is None:
        session.revoked_at = now
    record(
        db,
        me.actor(),
        "patient.sign_out",
        "patient_session",
        me.session.id,
        clinic_id=me.clinic.id,
        patient_id=me.patient.id,
    )
    db.commit()
