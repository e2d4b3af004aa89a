"""The durable outbox: messages written with what caused them, delivered by a worker, exactly once.

A message is a row (`OutboxMessage`) added in the caller's transaction: it exists if and only
if what caused it (a booking, an alert) was committed. `ketaflow messages send` runs
`plan_due` (adds the day-before reminders now due) and `deliver_due` (sends what is due) once.

Delivery of one row, each step its own short transaction:
1. claim: a conditional UPDATE moves it from pending (and due) to sending, leased by this
   worker until `lease_until`. Two workers claiming the same row: the UPDATE is atomic (SQLite
   holds the write lock; PostgreSQL re-checks the WHERE after the row lock), so exactly one
   gets rowcount 1 and the other passes on. A worker that dies mid-send leaves a lease that
   expires; the row is then claimed again.
2. compose: the text is rendered now (templates.toml) from the current record; a one-time
   portal link is made now and exists only in the e-mail (its digest is stored, as for links
   issued by staff), so nobody at the clinic ever sees it. A message that may no longer go out
   (no confirmed address, the patient opted out, the visit was cancelled or moved) is marked
   skipped, with the reason, and audited.
3. send; then mark sent (and audit it: `message.send`) only if this worker still holds the
   lease. A temporary failure (server down, 4xx) puts it back to pending with a later
   `next_attempt_at` (`backoff`): an outage loses nothing. A 5xx refusal marks it failed.

Exactly once, with one caveat any SMTP sender has: if the server took the message and this
worker died before step 3 committed, the lease expires and it is sent again. Every attempt
carries the same Message-ID (<outbox id@ketaflow>), so the copy can be recognised.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from zoneinfo import ZoneInfo

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ketaflow.errors import InvalidInput, KetaflowError
from ketaflow.messaging import templates
from ketaflow.messaging.smtp import PermanentFailure, Sender, TemporaryFailure
from ketaflow.security import new_token, token_digest
from ketaflow.services.audit import Actor, record, record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.clinics import clinic_for
from ketaflow.services.home_questionnaires import DUE_EVERY
from ketaflow.services.patient_access import LINK_VALID_DAYS
from ketaflow.services.permissions import Action
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write
from ketaflow.vocabulary import AppointmentKind, AppointmentStatus, Instrument, PlanStatus, Role

PENDING, SENDING, SENT, SKIPPED, FAILED = "pending", "sending", "sent", "skipped", "failed"
STATES = (PENDING, SENDING, SENT, SKIPPED, FAILED)
# How long a claimed message is this worker's: longer than any SMTP conversation (the client's
# timeout is 20 s). Engineering choice, not a clinical figure.
LEASE = timedelta(minutes=5)
# Retry timing after a temporary failure: 1, 2, 4, ... minutes, at most an hour apart, for ever
# (a message is never dropped for an outage). Engineering choice, not from a source.
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
# When the day-before reminder goes out: 10:00 the day before, in the clinic's zone. Clinic
# policy placeholder, not from a source; to be confirmed per clinic.
REMINDER_LOCAL_TIME = time(10, 0)
# How far ahead plan_due looks for visits to remind (covers "tomorrow" in every zone), and for
# infusions with no driver named (reminded two days before, 10:00 local).
PLAN_AHEAD = timedelta(hours=48)
DRIVER_AHEAD = timedelta(hours=72)
# The after-care message goes at 18:00 on the day of the infusion, in the clinic's zone ("the
# evening after an infusion", issue 17). Clinic policy placeholder, not from a source.
AFTERCARE_LOCAL_TIME = time(18, 0)
# Between visits (issue 17: "PHQ-9 before each infusion and weekly between series"), a patient is
# reminded weekly of the PHQ-9 while in care: their latest treatment plan is active or completed
# (not stopped) and their last infusion was at most IN_CARE ago. 90 days is NOT from a published
# source: clinic policy placeholder, to be confirmed (about two booster intervals at the 3-6 week
# spacing of maintenance.toml's notes). The reminder goes at REMINDER_LOCAL_TIME.
IN_CARE = timedelta(days=90)
# The kinds an urgent alert sends (services/alerts.py): the worker looks for them more often.
URGENT_KINDS = ("risk_alert", "risk_escalation")
OUTBOX_ACTOR = Actor(None, "ketaflow messages", user_agent="outbox worker", roles="operator")


def backoff(attempts: int) -> timedelta:
    """The wait before the next try after `attempts` failed tries (1 -> 1 min, 2 -> 2 min, ... <= 1 h)."""
    # The exponent is capped: after a day's outage 2**attempts would overflow a timedelta.
    wait: timedelta = FIRST_RETRY * (2 ** min(max(attempts - 1, 0), 16))
    return min(wait, LONGEST_RETRY)


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# ---- writing messages (in the caller's transaction) ------------------------------------------


def enqueue(
    db: Session,
    *,
    clinic_id: uuid.UUID,
    kind: str,
    due_at: datetime,
    patient_id: uuid.UUID | None = None,
    staff_user_id: uuid.UUID | None = None,
    appointment_id: uuid.UUID | None = None,
    task_id: uuid.UUID | None = None,
    caused_by_id: uuid.UUID | None = None,
    dedupe_key: str | None = None,
) -> m.OutboxMessage:
    """Add a message to the caller's transaction (no commit): it goes out if that commits."""
    templates.kind(kind)  # an unknown kind is a programming error, found here, not by the worker
    row = m.OutboxMessage(
        id=uuid.uuid4(),
        clinic_id=clinic_id,
        kind=kind,
        channel="email",
        patient_id=patient_id,
        staff_user_id=staff_user_id,
        appointment_id=appointment_id,
        task_id=task_id,
        caused_by_id=caused_by_id,
        dedupe_key=dedupe_key,
        state=PENDING,
        created_at=due_at,
        next_attempt_at=due_at,
        attempts=0,
    )
    db.add(row)
    return row


def reachable(db: Session, patient_id: uuid.UUID, kind: str) -> str | None:
    """Why a patient cannot be sent `kind` now (None: they can)."""
    patient = db.get(m.Patient, patient_id)
    prefs = db.scalar(
        select(m.PatientMessageSettings).where(m.PatientMessageSettings.patient_id == patient_id)
    )
    if patient is None or prefs is None or not prefs.email:
        return "the patient has no e-mail address for messages"
    if (patient.email or "").strip().lower() != prefs.email.strip().lower():
        return "the patient's e-mail address changed since it was confirmed"
    if kind != "address_confirmation" and prefs.confirmed_at is None:
        return "the patient has not confirmed their e-mail address"
    if kind in (prefs.opted_out or []):
        return f"the patient opted out of {kind.replace('_', ' ')} messages"
    return None


def on_booked(db: Session, appt: m.Appointment, *, caused_by_id: uuid.UUID | None, now: datetime) -> None:
    """The booking confirmation (for a new or moved visit), in the booking's transaction, only to a
    confirmed address. The caller holds the patient's row lock, so the key check cannot race."""
    key = f"booking_confirmation:{appt.id}:{appt.starts_at.isoformat()}"
    if db.scalar(select(m.OutboxMessage.id).where(m.OutboxMessage.dedupe_key == key)) is not None:
        return  # moved back to a time already confirmed
    if reachable(db, appt.patient_id, "booking_confirmation") is None:
        enqueue(
            db,
            clinic_id=appt.clinic_id,
            kind="booking_confirmation",
            due_at=now,
            patient_id=appt.patient_id,
            appointment_id=appt.id,
            caused_by_id=caused_by_id,
            dedupe_key=key,
        )


def _key(kind: str, appt: m.Appointment) -> str:
    """One message of a kind per visit and start time (a moved visit gets its own)."""
    return f"{kind}:{appt.id}:{appt.starts_at.isoformat()}"


def _at(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, zone)


def _phq9_every() -> timedelta:
    """How often the PHQ-9 falls due between visits (services/home_questionnaires.py, a placeholder)."""
    return DUE_EVERY[Instrument.PHQ9]


def _last_phq9(db: Session, patient_id: uuid.UUID) -> datetime | None:
    return db.scalar(
        select(func.max(m.QuestionnaireResponse.answered_at)).where(
            m.QuestionnaireResponse.patient_id == patient_id,
            m.QuestionnaireResponse.instrument == Instrument.PHQ9,
        )
    )


def _planned(
    db: Session, now: datetime, clinic_id: uuid.UUID | None
) -> list[tuple[str, m.Appointment, datetime]]:
    """(kind, visit, due) of every message the schedule calls for now (reachability checked later)."""
    base = (
        select(m.Appointment, m.Clinic.timezone)
        .join(m.Clinic, m.Clinic.id == m.Appointment.clinic_id)
        .join(m.PatientMessageSettings, m.PatientMessageSettings.patient_id == m.Appointment.patient_id)
        .where(m.PatientMessageSettings.confirmed_at.is_not(None))
    )
    if clinic_id is not None:
        base = base.where(m.Appointment.clinic_id == clinic_id)
    out: list[tuple[str, m.Appointment, datetime]] = []
    upcoming = base.where(
        m.Appointment.status == AppointmentStatus.BOOKED,
        m.Appointment.starts_at > now,
        m.Appointment.starts_at <= now + DRIVER_AHEAD,
    )
    for appt, zone_name in db.execute(upcoming).all():
        zone = ZoneInfo(zone_name)
        day = appt.starts_at.astimezone(zone).date()
        day_before = _at(day - timedelta(days=1), REMINDER_LOCAL_TIME, zone)
        if appt.starts_at <= now + PLAN_AHEAD:
            out.append(("visit_reminder", appt, day_before))
            if appt.kind == AppointmentKind.INFUSION:
                last = _last_phq9(db, appt.patient_id)
                if last is None or last <= now - _phq9_every():
                    out.append(("questionnaire_reminder", appt, day_before))
        if appt.kind == AppointmentKind.INFUSION and not _driver_named(appt):
            out.append(("driver_reminder", appt, _at(day - timedelta(days=2), REMINDER_LOCAL_TIME, zone)))
    done = base.where(
        m.Appointment.status == AppointmentStatus.COMPLETED,
        m.Appointment.kind == AppointmentKind.INFUSION,
        m.Appointment.starts_at > now - timedelta(days=1),
        m.Appointment.starts_at <= now,
    )
    for appt, zone_name in db.execute(done).all():
        zone = ZoneInfo(zone_name)
        evening = _at(appt.starts_at.astimezone(zone).date(), AFTERCARE_LOCAL_TIME, zone)
        out.append(("aftercare", appt, evening))
    return out


@dataclass(frozen=True)
class _Weekly:
    clinic_id: uuid.UUID
    patient_id: uuid.UUID
    due: datetime
    key: str


def _weekly_due(db: Session, now: datetime, clinic_id: uuid.UUID | None) -> list[_Weekly]:
    """The weekly PHQ-9 reminders between visits now due (see IN_CARE): one per patient and week.

    The weeks count from the last PHQ-9 answered (or, with none, from the last infusion): the
    reminder falls due each time one more interval (home_questionnaires.DUE_EVERY) has passed
    without an answer, and goes at 10:00 local on or after that moment. A patient with an infusion
    booked within PLAN_AHEAD is left to the reminder before that infusion."""
    every = _phq9_every()
    last_infusion = (
        select(m.Appointment.patient_id, func.max(m.Appointment.starts_at).label("at"))
        .where(
            m.Appointment.kind == AppointmentKind.INFUSION,
            m.Appointment.status == AppointmentStatus.COMPLETED,
            m.Appointment.starts_at > now - IN_CARE,
            m.Appointment.starts_at <= now,
        )
        .group_by(m.Appointment.patient_id)
        .subquery()
    )
    # One query per round (the worker plans every few seconds): the latest plan's status, the last
    # PHQ-9 and any infusion booked soon are correlated subqueries on indexed patient_id columns.
    plan_status = (
        select(m.TreatmentPlan.status)
        .where(m.TreatmentPlan.patient_id == m.Patient.id)
        .order_by(m.TreatmentPlan.created_at.desc())
        .limit(1)
        .correlate(m.Patient)
        .scalar_subquery()
    )
    last_phq9 = (
        select(func.max(m.QuestionnaireResponse.answered_at))
        .where(
            m.QuestionnaireResponse.patient_id == m.Patient.id,
            m.QuestionnaireResponse.instrument == Instrument.PHQ9,
        )
        .correlate(m.Patient)
        .scalar_subquery()
    )
    soon = m.Appointment.__table__.alias("soon")
    booked_soon = (
        select(soon.c.id)
        .where(
            soon.c.patient_id == m.Patient.id,
            soon.c.kind == AppointmentKind.INFUSION,
            soon.c.status == AppointmentStatus.BOOKED,
            soon.c.starts_at > now,
            soon.c.starts_at <= now + PLAN_AHEAD,
        )
        .correlate(m.Patient)
        .exists()
    )
    query = (
        select(m.Patient.id, m.Patient.clinic_id, m.Clinic.timezone, last_infusion.c.at, last_phq9)
        .join(last_infusion, last_infusion.c.patient_id == m.Patient.id)
        .join(m.Clinic, m.Clinic.id == m.Patient.clinic_id)
        .join(m.PatientMessageSettings, m.PatientMessageSettings.patient_id == m.Patient.id)
        .where(
            m.PatientMessageSettings.confirmed_at.is_not(None),
            # no plan, or the treatment was stopped: no reminders
            plan_status.in_([PlanStatus.ACTIVE, PlanStatus.COMPLETED]),
            ~booked_soon,
        )
    )
    if clinic_id is not None:
        query = query.where(m.Patient.clinic_id == clinic_id)
    out = []
    for patient_id, patient_clinic, zone_name, infused_at, answered_at in db.execute(query).all():
        anchor = answered_at or infused_at
        intervals = (now - anchor) // every
        if intervals < 1:
            continue
        fell_due = anchor + every * intervals
        zone = ZoneInfo(zone_name)
        day = fell_due.astimezone(zone).date()
        due = _at(day, REMINDER_LOCAL_TIME, zone)
        if due < fell_due:
            due = _at(day + timedelta(days=1), REMINDER_LOCAL_TIME, zone)
        key = f"questionnaire_reminder:weekly:{patient_id}:{fell_due.astimezone(zone).date().isoformat()}"
        out.append(_Weekly(patient_clinic, patient_id, due, key))
    return out


def _driver_named(appt: m.Appointment) -> bool:
    return bool((appt.escort_name or "").strip() or (appt.transport_arranged or "").strip())


def plan_due(db: Session, now: datetime, *, clinic_id: uuid.UUID | None = None) -> int:
    """Add the scheduled messages of every visit whose patient can be reached:
    - the day-before reminder (10:00 local the day before);
    - the PHQ-9 reminder before an infusion, when none was answered within the PHQ-9's interval
      (services/home_questionnaires.py), at the same time;
    - the reminder to name a driver, two days before an infusion with none named;
    - the after-care message, 18:00 local on the day of a completed infusion;
    - the weekly PHQ-9 reminder between visits (`_weekly_due`), once per patient and week.
    Each once per visit and start time; returns how many were added. Two planners at once add
    each message once: the insert skips a dedupe key already there."""
    begin_write(db)
    rows = []
    for kind, appt, due in _planned(db, now, clinic_id):
        if reachable(db, appt.patient_id, kind) is not None:
            continue
        rows.append(
            {
                "id": uuid.uuid4(),
                "clinic_id": appt.clinic_id,
                "kind": kind,
                "channel": "email",
                "patient_id": appt.patient_id,
                "appointment_id": appt.id,
                "dedupe_key": _key(kind, appt),
                "state": PENDING,
                "created_at": now,
                "next_attempt_at": max(due, now),
                "attempts": 0,
            }
        )
    for weekly in _weekly_due(db, now, clinic_id):
        if reachable(db, weekly.patient_id, "questionnaire_reminder") is not None:
            continue
        rows.append(
            {
                "id": uuid.uuid4(),
                "clinic_id": weekly.clinic_id,
                "kind": "questionnaire_reminder",
                "channel": "email",
                "patient_id": weekly.patient_id,
                "appointment_id": None,
                "dedupe_key": weekly.key,
                "state": PENDING,
                "created_at": now,
                "next_attempt_at": max(weekly.due, now),
                "attempts": 0,
            }
        )
    added = 0
    table = m.OutboxMessage.__table__
    assert isinstance(table, Table)
    make = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    for row in rows:
        statement = make(table).values(**row).on_conflict_do_nothing(index_elements=["dedupe_key"])
        added += len(db.execute(statement.returning(table.c.id)).all())  # rowcount is -1 on psycopg
    db.commit()
    return added


# ---- delivering --------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.skipped += other.skipped
        self.failed += other.failed
        self.errors += other.errors


def _due_clause(now: datetime):  # type: ignore[no-untyped-def]
    t = m.OutboxMessage
    return or_(
        and_(t.state == PENDING, t.next_attempt_at <= now),
        and_(t.state == SENDING, t.lease_until <= now),  # a worker died holding it
    )


def due_ids(
    db: Session,
    now: datetime,
    *,
    clinic_id: uuid.UUID | None = None,
    kinds: tuple[str, ...] | None = None,
    limit: int = 500,
) -> list[uuid.UUID]:
    t = m.OutboxMessage
    query = select(t.id).where(_due_clause(now)).order_by(t.next_attempt_at).limit(limit)
    if clinic_id is not None:
        query = query.where(t.clinic_id == clinic_id)
    if kinds is not None:
        query = query.where(t.kind.in_(kinds))
    ids = list(db.scalars(query))
    db.rollback()  # end the read: each delivery is its own transaction
    return ids


def claim(db: Session, message_id: uuid.UUID, now: datetime, worker: str) -> bool:
    """Take the message for this worker if it is still due (atomic); True if taken."""
    t = m.OutboxMessage
    begin_write(db)
    result = db.execute(
        update(t)
        .where(t.id == message_id, _due_clause(now))
        .values(state=SENDING, leased_by=worker, lease_until=now + LEASE, attempts=t.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    taken: bool = result.rowcount == 1  # type: ignore[attr-defined]
    db.commit()
    return taken


def _finish(db: Session, message_id: uuid.UUID, worker: str, **values: object) -> bool:
    """Set the outcome if this worker still holds the lease (in the caller's transaction)."""
    t = m.OutboxMessage
    result = db.execute(
        update(t)
        .where(t.id == message_id, t.state == SENDING, t.leased_by == worker)
        .values(lease_until=None, leased_by=None, **values)
        .execution_options(synchronize_session=False)
    )
    done: bool = result.rowcount == 1  # type: ignore[attr-defined]
    return done


@dataclass(frozen=True)
class Composed:
    to: str
    rendered: templates.Rendered


class Skip(Exception):
    """The message may not go out (why)."""


def clinic_card(clinic: m.Clinic) -> templates.ClinicCard:
    address = ", ".join(
        p for p in (clinic.address_line, clinic.city, f"{clinic.region} {clinic.postal_code}") if p
    )
    return templates.ClinicCard(clinic.name, address, clinic.phone or "")


def visit_when(starts_at: datetime, zone: ZoneInfo) -> str:
    local = starts_at.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y at %H:%M}"


def public_base(public_url: str | None) -> str:
    """The address every link is built on (KETAFLOW_PUBLIC_URL): required, never guessed."""
    if not public_url:
        raise InvalidInput(
            "Set KETAFLOW_PUBLIC_URL to the address patients reach ketaflow by (e.g. "
            "https://care.example.org): every link in a message is built on it."
        )
    return public_url.rstrip("/")


def _compose(
    db: Session, msg: m.OutboxMessage, now: datetime, public_url: str | None, escalate_minutes: int
) -> Composed:
    clinic = db.get(m.Clinic, msg.clinic_id)
    assert clinic is not None
    zone = ZoneInfo(clinic.timezone)
    kind = templates.kind(msg.kind)
    base = public_base(public_url)
    values: dict[str, object] = {"clinic": clinic_card(clinic), "escalate_minutes": escalate_minutes}
    if kind.audience == templates.STAFF:
        staff = db.get(m.StaffUser, msg.staff_user_id) if msg.staff_user_id else None
        if staff is None or not staff.active:
            raise Skip("the staff member is not an active user")
        values["staff_link"] = f"{base}/tasks/{msg.task_id}" if msg.task_id else f"{base}/"
        return Composed(staff.email, templates.render(msg.kind, templates.Values(**values)))  # type: ignore[arg-type]
    assert msg.patient_id is not None
    why_not = reachable(db, msg.patient_id, msg.kind)
    if why_not:
        raise Skip(why_not)
    patient = db.get(m.Patient, msg.patient_id)
    prefs = db.scalar(
        select(m.PatientMessageSettings).where(m.PatientMessageSettings.patient_id == msg.patient_id)
    )
    assert patient is not None and prefs is not None and prefs.email
    values["given_name"] = patient.given_name
    if msg.appointment_id is not None:
        appt = db.get(m.Appointment, msg.appointment_id)
        assert appt is not None
        _still_due(db, msg, appt, now, zone)
        values["visit_when"] = visit_when(appt.starts_at, zone)
        values["preparation"] = templates.message_preparation()
    elif msg.kind == "questionnaire_reminder":  # the weekly one between visits
        last = _last_phq9(db, msg.patient_id)
        if last is not None and last > now - _phq9_every():
            raise Skip("the questionnaire was answered since")
    body_fields = kind.body
    if "$portal_link" in body_fields:
        token = new_token()
        db.add(
            m.PatientAccessLink(
                clinic_id=patient.clinic_id,
                patient_id=patient.id,
                token_sha256=token_digest(token),
                created_by_id=None,
                created_at=now,
                expires_at=now + timedelta(days=LINK_VALID_DAYS),
            )
        )
        values["portal_link"] = f"{base}/p/{token}"
    if "$confirm_link" in body_fields:
        token = new_token()
        prefs.confirm_token_sha256 = token_digest(token)
        prefs.confirm_expires_at = now + timedelta(days=LINK_VALID_DAYS)  # one-time, and it expires
        values["confirm_link"] = f"{base}/messages/confirm/{token}"
    return Composed(prefs.email, templates.render(msg.kind, templates.Values(**values)))  # type: ignore[arg-type]


def _still_due(db: Session, msg: m.OutboxMessage, appt: m.Appointment, now: datetime, zone: ZoneInfo) -> None:
    """Raise Skip when what the message is about has changed since it was written."""
    if msg.kind == "aftercare":
        if appt.status != AppointmentStatus.COMPLETED:
            raise Skip("the visit was not completed")
        if now.astimezone(zone).date() != appt.starts_at.astimezone(zone).date():
            raise Skip("the evening of the visit has passed")
        return
    if appt.status != AppointmentStatus.BOOKED:
        raise Skip("the visit is no longer booked")
    if msg.dedupe_key and not msg.dedupe_key.endswith(appt.starts_at.isoformat()):
        raise Skip("the visit was moved (a message for the new time is planned)")
    if appt.starts_at <= now:
        raise Skip("the visit has already started")
    if msg.kind == "driver_reminder" and _driver_named(appt):
        raise Skip("a driver or transport is now named")
    if msg.kind == "questionnaire_reminder":
        last = _last_phq9(db, appt.patient_id)
        if last is not None and last > now - _phq9_every():
            raise Skip("the questionnaire was answered since")


def email_of(msg_id: uuid.UUID, composed: Composed, mail_from: str, now: datetime) -> EmailMessage:
    email = EmailMessage()
    email["From"] = mail_from
    email["To"] = composed.to
    email["Subject"] = composed.rendered.subject
    email["Date"] = formatdate(now.timestamp(), usegmt=True)
    email["Message-ID"] = f"<{msg_id}@ketaflow>"  # the same on every attempt (see the module note)
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
    email.set_content(composed.rendered.text)
    email.add_alternative(composed.rendered.html, subtype="html")
    return email


def deliver_one(
    db: Session,
    message_id: uuid.UUID,
    sender: Sender,
    now: datetime,
    *,
    worker: str,
    mail_from: str,
    public_url: str | None,
    escalate_minutes: int = 15,
) -> DeliveryReport:
    report = DeliveryReport()
    if not claim(db, message_id, now, worker):
        return report  # another worker has it (or it is no longer due)
    msg = db.get(m.OutboxMessage, message_id)
    assert msg is not None
    begin_write(db)
    try:
        composed = _compose(db, msg, now, public_url, escalate_minutes)
    except Skip as why:
        _finish(db, msg.id, worker, state=SKIPPED, last_error=str(why))
        _audit(db, msg, "message.skip", {"reason": str(why)})
        db.commit()
        report.skipped += 1
        return report
    except KetaflowError as exc:  # a setting to fix (KETAFLOW_PUBLIC_URL): the message waits
        db.rollback()
        begin_write(db)
        _finish(
            db,
            msg.id,
            worker,
            state=PENDING,
            next_attempt_at=now + backoff(msg.attempts),
            last_error=str(exc),
        )
        db.commit()
        report.retried += 1
        report.errors.append(str(exc))
        return report
    db.commit()  # the link's digest (or the confirmation's) is stored before the e-mail leaves
    email = email_of(msg.id, composed, mail_from, now)
    try:
        sender.send(email)
    except TemporaryFailure as exc:
        begin_write(db)
        attempts = db.scalar(select(m.OutboxMessage.attempts).where(m.OutboxMessage.id == msg.id)) or 1
        _finish(
            db, msg.id, worker, state=PENDING, next_attempt_at=now + backoff(attempts), last_error=str(exc)
        )
        db.commit()
        report.retried += 1
        report.errors.append(str(exc))
        return report
    except PermanentFailure as exc:
        begin_write(db)
        _finish(db, msg.id, worker, state=FAILED, last_error=str(exc), to_address=composed.to)
        _audit(db, msg, "message.send_failed", {"error": str(exc)})
        db.commit()
        report.failed += 1
        report.errors.append(str(exc))
        return report
    begin_write(db)
    if _finish(
        db,
        msg.id,
        worker,
        state=SENT,
        sent_at=now,
        to_address=composed.to,
        subject=composed.rendered.subject[:200],
        last_error=None,
    ):
        _audit(db, msg, "message.send", {"to": composed.to, "subject": composed.rendered.subject})
        report.sent += 1
    db.commit()
    return report


def _audit(db: Session, msg: m.OutboxMessage, action: str, details: dict[str, object]) -> None:
    record(
        db,
        OUTBOX_ACTOR,
        action,
        "outbox_message",
        msg.id,
        clinic_id=msg.clinic_id,
        patient_id=msg.patient_id,
        details={"kind": msg.kind, "attempt": msg.attempts, **details},
    )


def deliver_due(
    session: Callable[[], Session],
    sender: Sender,
    now: datetime,
    *,
    mail_from: str,
    public_url: str | None,
    escalate_minutes: int = 15,
    worker: str | None = None,
    clinic_id: uuid.UUID | None = None,
    kinds: tuple[str, ...] | None = None,
    progress: Callable[[DeliveryReport], None] | None = None,
) -> DeliveryReport:
    """Deliver every message due at `now` (of `kinds`, if given), each in its own transactions;
    returns the counts."""
    name = worker or worker_name()
    total = DeliveryReport()
    with session() as db:
        for message_id in due_ids(db, now, clinic_id=clinic_id, kinds=kinds):
            total.add(
                deliver_one(
                    db,
                    message_id,
                    sender,
                    now,
                    worker=name,
                    mail_from=mail_from,
                    public_url=public_url,
                    escalate_minutes=escalate_minutes,
                )
            )
            if progress is not None:
                progress(total)
    return total


# ---- the admin's view ------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxRow:
    id: uuid.UUID
    clinic_id: uuid.UUID
    kind: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "clinic_id": str(self.clinic_id),
            "kind": self.kind,
            "state": self.state,
            "attempts": self.attempts,
            "created_at": self.created_at.isoformat(),
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "last_error": self.last_error,
        }


def listing(db: Session, *, state: str | None = None, limit: int = 200) -> list[OutboxRow]:
    """The newest messages with their state; never their text, address or links."""
    if state is not None and state not in STATES:
        raise InvalidInput(f"There is no outbox state {state!r}; the states are {', '.join(STATES)}.")
    t = m.OutboxMessage
    query = select(t).order_by(t.created_at.desc()).limit(limit)
    if state is not None:
        query = query.where(t.state == state)
    return [
        OutboxRow(
            r.id,
            r.clinic_id,
            r.kind,
            r.state,
            r.attempts,
            r.created_at,
            r.next_attempt_at,
            r.sent_at,
            r.last_error,
        )
        for r in db.scalars(query)
    ]


@dataclass(frozen=True)
class ClinicOutbox:
    clinic: m.Clinic
    counts: dict[str, int]  # state -> messages
    rows: list[OutboxRow]
    tasks_open: int  # urgent alerts not yet acknowledged
    psychiatrists: list[tuple[uuid.UUID, str]]  # (id, name) of the clinic's active psychiatrists
    on_call_id: uuid.UUID | None  # the one named on call (None: every psychiatrist is told)


def clinic_outbox(db: Session, who: CurrentUser, code: str, *, limit: int = 100) -> ClinicOutbox:
    """The clinic's messages and their states, for its director or the administrator (no text,
    address or link); the read is audited."""
    clinic = clinic_for(db, who, code, Action.VIEW_CLINIC_DASHBOARD)
    t = m.OutboxMessage
    by_state = select(t.state, func.count()).where(t.clinic_id == clinic.id).group_by(t.state)
    counts: dict[str, int] = {state: int(n) for state, n in db.execute(by_state).all()}
    rows = [
        OutboxRow(
            r.id,
            r.clinic_id,
            r.kind,
            r.state,
            r.attempts,
            r.created_at,
            r.next_attempt_at,
            r.sent_at,
            r.last_error,
        )
        for r in db.scalars(
            select(t).where(t.clinic_id == clinic.id).order_by(t.created_at.desc()).limit(limit)
        )
    ]
    tasks_open = (
        db.scalar(
            select(func.count())
            .select_from(m.StaffTask)
            .where(m.StaffTask.clinic_id == clinic.id, m.StaffTask.acknowledged_at.is_(None))
        )
        or 0
    )
    psychiatrists = [
        (u.id, u.full_name)
        for u in db.scalars(
            select(m.StaffUser)
            .join(m.StaffRole, m.StaffRole.user_id == m.StaffUser.id)
            .where(
                m.StaffRole.clinic_id == clinic.id,
                m.StaffRole.role == Role.PSYCHIATRIST,
                m.StaffUser.active.is_(True),
            )
            .order_by(m.StaffUser.full_name)
        )
    ]
    on_call_id = db.scalar(
        select(m.OnCallPsychiatrist.user_id).where(m.OnCallPsychiatrist.clinic_id == clinic.id)
    )
    record_read(db, who.actor(), "outbox.list", "clinic", clinic.id, clinic_id=clinic.id)
    return ClinicOutbox(
        clinic, {s_: counts.get(s_, 0) for s_ in STATES}, rows, tasks_open, psychiatrists, on_call_id
    )
