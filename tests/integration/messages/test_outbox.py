"""The outbox: written with its cause, delivered through a real SMTP server (STARTTLS + AUTH),
exactly once with two workers, nothing lost in an outage, every send audited (both engines)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from ketaflow.messaging.smtp import SmtpConfig, SmtpSender
from ketaflow.services import outbox, patient_access
from ketaflow.store import models as m
from ketaflow.vocabulary import AppointmentStatus, Instrument, PlanStatus, Respondent
from tests.integration.messages.conftest import NOW, PUBLIC_URL, Site, add_patient, add_visit
from tests.integration.messages.smtp_server import SmtpServer
from tests.integration.races import race

FROM = "Blue Heron Clinics <care@example.org>"


def deliver(site: Site, server: SmtpServer, at=NOW, worker=None):  # type: ignore[no-untyped-def]
    return outbox.deliver_due(
        site.session,
        SmtpSender(SmtpConfig.from_url(server.url)),
        at,
        mail_from=FROM,
        public_url=PUBLIC_URL,
        clinic_id=site.clinic_id,  # type: ignore[arg-type]
        worker=worker,
    )


def queue(site: Site, n: int, kind: str = "visit_reminder") -> list[uuid.UUID]:
    ids = []
    with site.session() as db:
        for _ in range(n):
            row = outbox.enqueue(
                db,
                clinic_id=site.clinic_id,  # type: ignore[arg-type]
                kind=kind,
                due_at=NOW,
                patient_id=site.patient_id,  # type: ignore[arg-type]
                appointment_id=site.appointment_id,  # type: ignore[arg-type]
            )
            ids.append(row.id)
        db.commit()
    return ids


def states(site: Site) -> Counter[str]:
    with site.session() as db:
        rows = db.execute(
            select(m.OutboxMessage.state, func.count())
            .where(m.OutboxMessage.clinic_id == site.clinic_id)
            .group_by(m.OutboxMessage.state)
        ).all()
        return Counter(dict(rows))  # type: ignore[arg-type]


def audited(site: Site, action: str) -> int:
    with site.session() as db:
        return (
            db.scalar(
                select(func.count())
                .select_from(m.AuditEvent)
                .where(m.AuditEvent.clinic_id == site.clinic_id, m.AuditEvent.action == action)
            )
            or 0
        )


def test_a_message_exists_only_if_its_cause_committed(site: Site) -> None:
    with site.session() as db:
        appt = db.get(m.Appointment, site.appointment_id)
        assert appt is not None
        outbox.on_booked(db, appt, caused_by_id=None, now=NOW)
        db.rollback()  # the booking failed: its confirmation must not exist
    assert states(site) == Counter()
    with site.session() as db:
        appt = db.get(m.Appointment, site.appointment_id)
        assert appt is not None
        outbox.on_booked(db, appt, caused_by_id=None, now=NOW)
        db.commit()
    assert states(site) == Counter({"pending": 1})


def test_it_sends_over_starttls_with_auth_and_audits_each_message(site: Site, smtp: SmtpServer) -> None:
    queue(site, 1, "booking_confirmation")
    report = deliver(site, smtp)
    assert (report.sent, report.retried, report.failed, report.skipped) == (1, 0, 0, 0)
    assert len(smtp.inbox.messages) == 1
    got = smtp.inbox.messages[0]
    assert got.rcpt_tos == ["alex@example.net"]
    assert got.message["Subject"] == "Your visit at Blue Heron Austin is booked"
    assert got.message["From"] == FROM
    text = got.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = got.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Thursday 10 December 2026 at 09:30" in text  # 15:30 UTC in Chicago
    assert "+1 512 555 0100" in text and "Bring a driver" in text and "<li><strong>Bring a driver" in html
    # The one-time link is on KETAFLOW_PUBLIC_URL, works, and was never stored in clear.
    links = [w for w in text.split() if w.startswith(PUBLIC_URL + "/p/")]
    assert len(links) == 1
    token = links[0].rsplit("/", 1)[1]
    with site.session() as db:
        patient_access.check_link(db, token, NOW)  # raises if the link does not work
        row = db.scalar(select(m.OutboxMessage).where(m.OutboxMessage.clinic_id == site.clinic_id))
        assert row is not None and row.state == "sent" and row.attempts == 1 and row.sent_at == NOW
        assert token not in (row.subject or "") and row.to_address == "alex@example.net"
    assert audited(site, "message.send") == 1


def test_an_outage_loses_nothing_and_each_message_goes_once_when_the_server_is_back(
    site: Site, smtp_down: SmtpServer
) -> None:
    queue(site, 3)
    report = deliver(site, smtp_down)
    assert (report.sent, report.retried) == (0, 3)
    assert "Could not reach the mail server" in report.errors[0]
    assert states(site) == Counter({"pending": 3})
    # Not due again before the back-off: a second run a second later sends nothing.
    assert deliver(site, smtp_down, NOW + timedelta(seconds=1)).retried == 0
    # Still down at the first retry: back off further (1 min, then 2 min).
    assert deliver(site, smtp_down, NOW + timedelta(minutes=1)).retried == 3
    with site.session() as db:
        nexts = set(
            db.scalars(
                select(m.OutboxMessage.next_attempt_at).where(m.OutboxMessage.clinic_id == site.clinic_id)
            )
        )
    assert nexts == {NOW + timedelta(minutes=3)}
    smtp_down.start()
    report = deliver(site, smtp_down, NOW + timedelta(minutes=3))
    assert report.sent == 3
    assert deliver(site, smtp_down, NOW + timedelta(hours=5)).sent == 0
    ids = [r.message["Message-ID"] for r in smtp_down.inbox.messages]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert states(site) == Counter({"sent": 3})
    assert audited(site, "message.send") == 3


def test_two_workers_deliver_each_message_exactly_once(site: Site, smtp: SmtpServer) -> None:
    queue(site, 12)
    reports = []

    def worker(name: str):  # type: ignore[no-untyped-def]
        return lambda: reports.append(deliver(site, smtp, worker=name))

    race(site.engine, None, worker("w1"), worker("w2"))
    assert sum(r.sent for r in reports) == 12
    ids = Counter(r.message["Message-ID"] for r in smtp.inbox.messages)
    assert len(ids) == 12 and set(ids.values()) == {1}
    assert states(site) == Counter({"sent": 12})
    assert audited(site, "message.send") == 12


def test_a_claim_is_one_workers_until_its_lease_runs_out(site: Site) -> None:
    [message_id] = queue(site, 1)
    with site.session() as a, site.session() as b:
        assert outbox.claim(a, message_id, NOW, "w1") is True
        assert outbox.claim(b, message_id, NOW, "w2") is False
        # w1 died holding it: once the lease has run out another worker takes it over.
        assert outbox.claim(b, message_id, NOW + outbox.LEASE, "w2") is True


def test_unconfirmed_and_opted_out_patients_get_nothing_and_it_is_audited(
    site: Site, smtp: SmtpServer
) -> None:
    with site.session() as db:
        clinic = db.get(m.Clinic, site.clinic_id)
        assert clinic is not None
        for patient in (
            add_patient(db, clinic, email="new@example.net", confirmed=False),
            add_patient(db, clinic, email="quiet@example.net", opted_out=["visit_reminder"]),
        ):
            appt = add_visit(db, patient, NOW + timedelta(hours=20))
            outbox.enqueue(
                db,
                clinic_id=clinic.id,
                kind="visit_reminder",
                due_at=NOW,
                patient_id=patient.id,
                appointment_id=appt.id,
            )
        db.commit()
    report = deliver(site, smtp)
    assert (report.sent, report.skipped) == (0, 2)
    assert smtp.inbox.messages == []
    with site.session() as db:
        reasons = set(
            db.scalars(select(m.OutboxMessage.last_error).where(m.OutboxMessage.clinic_id == site.clinic_id))
        )
    assert reasons == {
        "the patient has not confirmed their e-mail address",
        "the patient opted out of visit reminder messages",
    }
    assert audited(site, "message.skip") == 2


def test_a_refused_mailbox_is_failed_not_retried(site: Site, smtp: SmtpServer) -> None:
    smtp.inbox.refuse.add("alex@example.net")
    queue(site, 1)
    report = deliver(site, smtp)
    assert (report.failed, report.retried) == (1, 0)
    assert "550" in report.errors[0]
    assert states(site) == Counter({"failed": 1})
    assert audited(site, "message.send_failed") == 1


def planned(site: Site) -> dict[str, m.OutboxMessage]:
    with site.session() as db:
        rows = db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.clinic_id == site.clinic_id))
        return {r.kind: r for r in rows}


def test_planning_adds_each_message_once_and_a_cancelled_visit_gets_none(
    site: Site, smtp: SmtpServer
) -> None:
    # Tomorrow's infusion (09:30 local): no driver named, no PHQ-9 answered yet.
    assert outbox.plan_due(site.session(), NOW, clinic_id=site.clinic_id) == 3  # type: ignore[arg-type]
    assert outbox.plan_due(site.session(), NOW, clinic_id=site.clinic_id) == 0  # type: ignore[arg-type]
    rows = planned(site)
    assert set(rows) == {"visit_reminder", "questionnaire_reminder", "driver_reminder"}
    # Due 10:00 local the day before (16:00 UTC, Chicago in December), already past at NOW (18:00).
    assert {r.next_attempt_at for r in rows.values()} == {NOW}
    with site.session() as db:
        appt = db.get(m.Appointment, site.appointment_id)
        assert appt is not None
        appt.status = AppointmentStatus.CANCELLED
        db.commit()
    report = deliver(site, smtp)
    assert report.skipped == 3 and smtp.inbox.messages == []


def test_a_message_whose_reason_went_away_is_skipped(site: Site, smtp: SmtpServer) -> None:
    outbox.plan_due(site.session(), NOW, clinic_id=site.clinic_id)  # type: ignore[arg-type]
    with site.session() as db:
        appt = db.get(m.Appointment, site.appointment_id)
        patient = db.get(m.Patient, site.patient_id)
        assert appt is not None and patient is not None
        appt.escort_name = "Jordan Rivera"  # the front desk took the driver's name by phone
        db.add(
            m.QuestionnaireResponse(
                clinic_id=patient.clinic_id,
                patient_id=patient.id,
                instrument=Instrument.PHQ9,
                answers=[0] * 9,
                total=0,
                respondent=Respondent.PATIENT,
                answered_at=NOW - timedelta(hours=1),
                for_date=(NOW - timedelta(hours=1)).date(),
                recorded_at=NOW - timedelta(hours=1),
            )
        )
        db.commit()
    assert deliver(site, smtp).sent == 1
    with site.session() as db:
        reasons = dict(
            db.execute(
                select(m.OutboxMessage.kind, m.OutboxMessage.last_error).where(
                    m.OutboxMessage.clinic_id == site.clinic_id
                )
            ).all()
        )
    assert reasons == {
        "visit_reminder": None,
        "driver_reminder": "a driver or transport is now named",
        "questionnaire_reminder": "the questionnaire was answered since",
    }
    assert smtp.inbox.messages[0].message["Subject"] == "Your visit at Blue Heron Austin tomorrow"


def test_after_care_goes_the_evening_of_a_completed_infusion_and_not_the_day_after(
    site: Site, smtp: SmtpServer
) -> None:
    with site.session() as db:
        appt = db.get(m.Appointment, site.appointment_id)
        assert appt is not None
        appt.starts_at = datetime(2026, 12, 9, 15, 0, tzinfo=UTC)  # 09:00 local today
        appt.status = AppointmentStatus.COMPLETED
        db.commit()
    outbox.plan_due(site.session(), NOW, clinic_id=site.clinic_id)  # type: ignore[arg-type]
    [row] = planned(site).values()
    assert row.kind == "aftercare" and row.next_attempt_at == datetime(
        2026, 12, 10, 0, 0, tzinfo=UTC
    )  # 18:00
    assert deliver(site, smtp).sent == 0  # not yet evening
    evening = datetime(2026, 12, 10, 0, 30, tzinfo=UTC)
    assert deliver(site, smtp, evening).sent == 1
    assert smtp.inbox.messages[0].message["Subject"] == "This evening, from Blue Heron Austin"
    # A worker that was down all evening does not send it the next day.
    with site.session() as db:
        db.execute(
            update(m.OutboxMessage)
            .where(m.OutboxMessage.id == row.id)
            .values(state="pending", next_attempt_at=evening, sent_at=None)
        )
        db.commit()
    assert deliver(site, smtp, datetime(2026, 12, 10, 15, 0, tzinfo=UTC)).skipped == 1


def test_the_background_worker_sends_what_is_written_and_stops(site: Site, smtp: SmtpServer) -> None:
    from ketaflow.services.outbox_worker import OutboxWorker

    worker = OutboxWorker(
        site.engine,
        SmtpSender(SmtpConfig.from_url(smtp.url)),
        mail_from=FROM,
        public_url=PUBLIC_URL,
        escalate_minutes=15,
        clock=lambda: NOW,
        poll_seconds=0.05,
    )
    worker.start()
    try:
        ids = queue(site, 2)
        deadline = 600  # rounds, a bound and not a timing: it normally takes one or two
        while worker.rounds < deadline and worker.is_alive():
            got = {r.message["Message-ID"] for r in smtp.inbox.messages}
            if {f"<{i}@ketaflow>" for i in ids} <= got:
                break
            worker.stopping.wait(0.05)
    finally:
        worker.stop()
    assert not worker.is_alive()
    with site.session() as db:
        sent = set(db.scalars(select(m.OutboxMessage.state).where(m.OutboxMessage.id.in_(ids))))
    assert sent == {"sent"}
    # It also planned the messages of the clinic's visit tomorrow (reminder, PHQ-9, driver) and sent them.
    assert states(site) == Counter({"sent": 5})
    ids_seen = [r.message["Message-ID"] for r in smtp.inbox.messages]
    assert len(ids_seen) == len(set(ids_seen))


def test_without_a_public_address_messages_wait_and_say_what_to_set(site: Site, smtp: SmtpServer) -> None:
    [message_id] = queue(site, 1)
    report = outbox.deliver_due(
        site.session,
        SmtpSender(SmtpConfig.from_url(smtp.url)),
        NOW,
        mail_from=FROM,
        public_url=None,
        clinic_id=site.clinic_id,  # type: ignore[arg-type]
    )
    assert (report.sent, report.retried) == (0, 1) and "Set KETAFLOW_PUBLIC_URL" in report.errors[0]
    assert smtp.inbox.messages == []
    with site.session() as db:
        row = db.get(m.OutboxMessage, message_id)
        assert (
            row is not None and row.state == "pending" and row.next_attempt_at == NOW + timedelta(minutes=1)
        )
        # No patient link was made for an e-mail that did not go.
        assert (
            db.scalar(
                select(func.count())
                .select_from(m.PatientAccessLink)
                .where(m.PatientAccessLink.patient_id == site.patient_id)
            )
            == 0
        )
    assert deliver(site, smtp, NOW + timedelta(minutes=1)).sent == 1


def _between_series(site: Site, plan_status: PlanStatus = PlanStatus.COMPLETED) -> None:
    """The site's patient: the series done (its last infusion 09:30 local on 2026-12-01), no infusion
    booked, their plan `plan_status`."""
    with site.session() as db:
        appt = db.get(m.Appointment, site.appointment_id)
        assert appt is not None
        appt.starts_at = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
        appt.ends_at = appt.starts_at + timedelta(hours=3)
        appt.status = AppointmentStatus.COMPLETED
        db.add(
            m.TreatmentPlan(
                clinic_id=site.clinic_id,
                patient_id=site.patient_id,
                protocol_code="depression-induction",
                planned_infusions=6,
                target_dose_mg_per_kg=0.5,
                infusion_minutes=40,
                status=plan_status,
                created_by_id=site.psychiatrist_id,
            )
        )
        db.commit()


def _answer_phq9(site: Site, at: datetime) -> None:
    with site.session() as db:
        db.add(
            m.QuestionnaireResponse(
                clinic_id=site.clinic_id,
                patient_id=site.patient_id,
                instrument=Instrument.PHQ9,
                answers=[1] * 9,
                total=9,
                respondent=Respondent.PATIENT,
                answered_at=at,
                for_date=at.date(),
                recorded_at=at,
            )
        )
        db.commit()


def weekly(site: Site) -> list[m.OutboxMessage]:
    with site.session() as db:
        return list(
            db.scalars(
                select(m.OutboxMessage)
                .where(m.OutboxMessage.clinic_id == site.clinic_id, m.OutboxMessage.appointment_id.is_(None))
                .order_by(m.OutboxMessage.next_attempt_at)
            )
        )


def test_between_series_the_phq9_is_asked_for_weekly_with_the_clock(site: Site, smtp: SmtpServer) -> None:
    _between_series(site)
    _answer_phq9(site, datetime(2026, 12, 2, 20, 0, tzinfo=UTC))  # 14:00 local, the day after
    plan = outbox.plan_due
    # Less than a week since the last answer: nothing (NOW is 2026-12-09 18:00 UTC, 12:00 local).
    at = datetime(2026, 12, 9, 19, 59, tzinfo=UTC)
    assert plan(site.session(), at, clinic_id=site.clinic_id) == 0  # type: ignore[arg-type]
    # A week after it (14:00 local on the 9th): it fell due after 10:00, so it goes 10:00 the next day.
    at = datetime(2026, 12, 9, 20, 0, tzinfo=UTC)
    assert plan(site.session(), at, clinic_id=site.clinic_id) == 1  # type: ignore[arg-type]
    assert plan(site.session(), at + timedelta(hours=5), clinic_id=site.clinic_id) == 0  # type: ignore[arg-type]
    [row] = weekly(site)
    ten_next_day = datetime(2026, 12, 10, 16, 0, tzinfo=UTC)  # 10:00 in Chicago (UTC-6)
    assert (row.kind, row.next_attempt_at) == ("questionnaire_reminder", ten_next_day)
    assert deliver(site, smtp, ten_next_day - timedelta(minutes=1)).sent == 0
    assert deliver(site, smtp, ten_next_day).sent == 1
    [mail] = smtp.inbox.messages
    assert mail.message["Subject"] == "A few questions from Blue Heron Austin"
    assert f"{PUBLIC_URL}/p/" in mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # Not answered: one more a week later, and only one.
    week2 = datetime(2026, 12, 16, 20, 0, tzinfo=UTC)
    assert plan(site.session(), week2, clinic_id=site.clinic_id) == 1  # type: ignore[arg-type]
    assert plan(site.session(), week2, clinic_id=site.clinic_id) == 0  # type: ignore[arg-type]
    # Answered before it goes: it is skipped, and the weeks count from the new answer.
    _answer_phq9(site, datetime(2026, 12, 17, 15, 0, tzinfo=UTC))
    assert deliver(site, smtp, datetime(2026, 12, 17, 16, 0, tzinfo=UTC)).skipped == 1
    assert plan(site.session(), datetime(2026, 12, 24, 14, 0, tzinfo=UTC), clinic_id=site.clinic_id) == 0  # type: ignore[arg-type]
    assert plan(site.session(), datetime(2026, 12, 24, 15, 0, tzinfo=UTC), clinic_id=site.clinic_id) == 1  # type: ignore[arg-type]
    # An infusion booked within two days: the reminder before it asks instead (no weekly one).
    with site.session() as db:
        patient = db.get(m.Patient, site.patient_id)
        assert patient is not None
        add_visit(db, patient, datetime(2027, 1, 1, 15, 30, tzinfo=UTC))
        db.commit()
    at = datetime(2026, 12, 31, 15, 0, tzinfo=UTC)  # two weeks after the answer, the infusion tomorrow
    assert plan(site.session(), at, clinic_id=site.clinic_id) == 3  # type: ignore[arg-type]
    assert len(weekly(site)) == 3  # the two sent or skipped, the one of the 24th; none for the 31st


def test_no_weekly_reminder_without_a_plan_in_course_or_long_after_the_last_infusion(site: Site) -> None:
    _between_series(site, PlanStatus.STOPPED)
    at = datetime(2026, 12, 20, 16, 0, tzinfo=UTC)
    assert outbox.plan_due(site.session(), at, clinic_id=site.clinic_id) == 0  # type: ignore[arg-type]
    with site.session() as db:
        db.execute(
            update(m.TreatmentPlan)
            .where(m.TreatmentPlan.patient_id == site.patient_id)
            .values(status=PlanStatus.ACTIVE)
        )
        db.commit()
    assert outbox.plan_due(site.session(), at, clinic_id=site.clinic_id) == 1  # type: ignore[arg-type]
    # 90 days after the last infusion (outbox.IN_CARE), the patient is no longer reminded.
    later = datetime(2026, 12, 1, 15, 30, tzinfo=UTC) + outbox.IN_CARE
    assert outbox.plan_due(site.session(), later, clinic_id=site.clinic_id) == 0  # type: ignore[arg-type]


def test_an_alerts_message_goes_in_the_next_urgent_round_not_the_next_full_one(
    site: Site, smtp: SmtpServer
) -> None:
    """The worker's full round is an hour away; the psychiatrist's message still leaves, from the
    urgent rounds between (and a reminder written meanwhile waits for the full round)."""
    from ketaflow.services import alerts
    from ketaflow.services.audit import Actor
    from ketaflow.services.outbox_worker import OutboxWorker

    worker = OutboxWorker(
        site.engine,
        SmtpSender(SmtpConfig.from_url(smtp.url)),
        mail_from=FROM,
        public_url=PUBLIC_URL,
        escalate_minutes=15,
        clock=lambda: NOW,
        poll_seconds=3600,
        urgent_poll_seconds=0.05,
    )
    worker.start()
    try:
        while worker.rounds < 1 and worker.is_alive():  # the first full round (tomorrow's reminders)
            worker.stopping.wait(0.05)
        after_first = len(smtp.inbox.messages)
        [reminder] = queue(site, 1)
        with site.session() as db:
            [task] = alerts.raise_alert(
                db,
                clinic_id=site.clinic_id,  # type: ignore[arg-type]
                patient_id=site.patient_id,  # type: ignore[arg-type]
                source_id=uuid.uuid4(),
                now=NOW,
                actor=Actor(None, "test"),
            )
            db.commit()
        for _ in range(600):  # a bound on the waits, not a timing: it normally takes one or two
            if len(smtp.inbox.messages) > after_first:
                break
            worker.stopping.wait(0.05)
    finally:
        worker.stop()
    assert worker.rounds == 1  # no second full round ran
    [urgent] = smtp.inbox.messages[after_first:]
    assert urgent.rcpt_tos == [f"{site_email(site, site.psychiatrist_id)}"]
    with site.session() as db:
        rows = db.execute(
            select(m.OutboxMessage.kind, m.OutboxMessage.state, m.OutboxMessage.created_at).where(
                (m.OutboxMessage.task_id == task.id) | (m.OutboxMessage.id == reminder)
            )
        ).all()
    assert sorted(rows) == [("risk_alert", "sent", NOW), ("visit_reminder", "pending", NOW)]


def site_email(site: Site, user_id: object) -> str:
    with site.session() as db:
        user = db.get(m.StaffUser, user_id)
        assert user is not None
        return user.email
