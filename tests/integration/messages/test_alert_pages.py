"""An item-9 answer on the patient's page reaches the on-call psychiatrist at once (task + message),
escalates to the director when not acknowledged in time (a controllable clock), and is acknowledged
once on its page; the address confirmation and the patient's choice of messages work in the browser's
way (forms). Both engines, on the demo network."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.services import alerts, outbox
from ketaflow.store import models as m
from ketaflow.vocabulary import Role
from tests.integration.messages.conftest import PUBLIC_URL
from tests.integration.messages.smtp_server import SmtpServer
from tests.integration.web import test_portal
from tests.integration.web.test_booking import _who
from tests.integration.web.test_portal import T0, World, csrf_of, open_as_patient, sign_in

world = test_portal.world  # the patient's-page fixture, shared with the portal tests

ESCALATE_MINUTES = 15


def staff_id(world: World, login: str) -> object:
    with Session(world.engine) as db:
        return db.scalar(select(m.StaffUser.id).where(m.StaffUser.email == f"{login}@demo.ketaflow.org"))


def tasks_of(world: World) -> list[m.StaffTask]:
    with Session(world.engine) as db:
        return list(db.scalars(select(m.StaffTask).where(m.StaffTask.patient_id == world.patient)))


def messages_of(world: World, task_id: object) -> list[m.OutboxMessage]:
    with Session(world.engine) as db:
        return list(
            db.scalars(
                select(m.OutboxMessage)
                .where(m.OutboxMessage.task_id == task_id)
                .order_by(m.OutboxMessage.kind)
            )
        )


def test_an_item_9_answer_reaches_the_on_call_psychiatrist_and_escalates(
    world: World, smtp: SmtpServer
) -> None:
    director = _who(world.engine, "director1.aus")
    clinic_id = uuid.UUID(next(iter(director.roles)))
    psychiatrist = staff_id(world, "psychiatrist1.aus")
    with Session(world.engine) as db:
        alerts.set_on_call(db, director, clinic_id, psychiatrist, T0)  # type: ignore[arg-type]

    headers = open_as_patient(world.client, world.patient)
    r = world.client.post(
        "/api/me/questionnaires/phq9", json={"answers": [1, 1, 1, 1, 1, 1, 1, 1, 1]}, headers=headers
    )
    assert r.status_code in (200, 201), r.text
    # In the answer's own transaction: the task and the urgent message, due at once.
    [task] = tasks_of(world)
    assert (task.assigned_to_id, task.created_at, task.acknowledged_at) == (psychiatrist, T0, None)
    [alert] = messages_of(world, task.id)
    assert (alert.kind, alert.staff_user_id, alert.next_attempt_at, alert.state) == (
        "risk_alert",
        psychiatrist,
        T0,
        "pending",
    )
    sent = outbox.deliver_one(
        Session(world.engine),
        alert.id,
        outbox_sender(smtp),
        T0,
        worker="test",
        mail_from="care@example.org",
        public_url=PUBLIC_URL,
        escalate_minutes=ESCALATE_MINUTES,
    )
    assert sent.sent == 1
    [mail] = smtp.inbox.messages
    assert mail.rcpt_tos == ["psychiatrist1.aus@demo.ketaflow.org"]
    assert mail.message["Subject"].startswith("Urgent: a patient of ")
    body = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"{PUBLIC_URL}/tasks/{task.id}" in body and "15 minutes" in body

    # Not acknowledged: nothing before the set time, the director's message at it, and only once.
    with Session(world.engine) as db:
        alerts.escalate_due(db, T0 + timedelta(minutes=ESCALATE_MINUTES - 1), ESCALATE_MINUTES)
    assert [m_.kind for m_ in messages_of(world, task.id)] == ["risk_alert"]
    with Session(world.engine) as db:
        alerts.escalate_due(db, T0 + timedelta(minutes=ESCALATE_MINUTES), ESCALATE_MINUTES)
        alerts.escalate_due(db, T0 + timedelta(minutes=ESCALATE_MINUTES + 5), ESCALATE_MINUTES)
    escalations = [x for x in messages_of(world, task.id) if x.kind == "risk_escalation"]
    directors = {staff_id(world, "director1.aus")}
    assert {x.staff_user_id for x in escalations} >= directors and len(escalations) == len(
        {x.staff_user_id for x in escalations}
    )

    # The front desk may not open it; the psychiatrist acknowledges it once on its page.
    sign_in(world.client, "frontdesk1.aus")
    assert world.client.get(f"/tasks/{task.id}").status_code == 403
    sign_in(world.client, "psychiatrist1.aus")
    page = world.client.get(f"/tasks/{task.id}")
    assert page.status_code == 200 and "Same-day review" in page.text and "Acknowledge" in page.text
    world.clock.now = T0 + timedelta(minutes=20)
    r = world.client.post(
        f"/tasks/{task.id}/acknowledge", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert r.status_code == 303
    [task] = tasks_of(world)
    assert task.acknowledged_at == T0 + timedelta(minutes=20) and task.acknowledged_by_id == psychiatrist
    again = world.client.post(f"/tasks/{task.id}/acknowledge", data={"csrf": csrf_of(page.text)})
    assert again.status_code == 409 and "already acknowledged" in again.text


def test_a_positive_cssrs_screen_on_the_patients_page_escalates_like_item_9(
    world: World, smtp: SmtpServer
) -> None:
    director = _who(world.engine, "director1.aus")
    clinic_id = uuid.UUID(next(iter(director.roles)))
    psychiatrist = staff_id(world, "psychiatrist1.aus")
    with Session(world.engine) as db:
        alerts.set_on_call(db, director, clinic_id, psychiatrist, T0)  # type: ignore[arg-type]
    open_as_patient(world.client, world.patient)
    page = world.client.get("/me/questionnaires/cssrs_screen")
    # Question 1 "Yes" only: a positive screen, low risk (the screener's triage), which is enough.
    r = world.client.post(
        "/me/questionnaires/cssrs_screen",
        data={"csrf": csrf_of(page.text), "q1": "1", "q2": "0", "q6": "0"},
    )
    assert r.status_code == 200 and "Your care team has been alerted" in r.text and "988" in r.text
    [task] = tasks_of(world)
    assert (task.assigned_to_id, task.created_at, task.acknowledged_at) == (psychiatrist, T0, None)
    assert (
        task.details["instrument"] == "cssrs_screen"
        and "Positive C-SSRS screen (low risk)" in (task.details["message"])
    )
    [alert] = messages_of(world, task.id)
    assert (alert.kind, alert.staff_user_id, alert.next_attempt_at) == ("risk_alert", psychiatrist, T0)
    report = outbox.deliver_one(
        Session(world.engine),
        alert.id,
        outbox_sender(smtp),
        T0,
        worker="test",
        mail_from="care@example.org",
        public_url=PUBLIC_URL,
        escalate_minutes=ESCALATE_MINUTES,
    )
    assert report.sent == 1
    [mail] = smtp.inbox.messages
    assert "C-SSRS" not in mail.message["Subject"] and "suicid" not in mail.message["Subject"].lower()
    # The controllable clock: not yet at 14 minutes, once at 15 (not again at 20).
    with Session(world.engine) as db:
        assert alerts.escalate_due(db, T0 + timedelta(minutes=ESCALATE_MINUTES - 1), ESCALATE_MINUTES) == 0
        assert alerts.escalate_due(db, T0 + timedelta(minutes=ESCALATE_MINUTES), ESCALATE_MINUTES) == 1
        assert alerts.escalate_due(db, T0 + timedelta(minutes=ESCALATE_MINUTES + 5), ESCALATE_MINUTES) == 0
    escalations = [x for x in messages_of(world, task.id) if x.kind == "risk_escalation"]
    assert {x.staff_user_id for x in escalations} >= {staff_id(world, "director1.aus")}
    assert all(x.next_attempt_at == T0 + timedelta(minutes=ESCALATE_MINUTES) for x in escalations)
    # The task's page says what raised it, with the source of the screener's rule.
    sign_in(world.client, "psychiatrist1.aus")
    shown = world.client.get(f"/tasks/{task.id}")
    assert shown.status_code == 200 and "Positive C-SSRS screen" in shown.text and "Posner" in shown.text


def test_with_no_psychiatrist_on_call_every_psychiatrist_is_told(world: World) -> None:
    with Session(world.engine) as db:
        patient = db.get(m.Patient, world.patient)
        assert patient is not None
        db.execute(
            m.OnCallPsychiatrist.__table__.delete().where(m.OnCallPsychiatrist.clinic_id == patient.clinic_id)
        )
        db.commit()
        psychiatrists = set(
            db.scalars(
                select(m.StaffRole.user_id).where(
                    m.StaffRole.clinic_id == patient.clinic_id, m.StaffRole.role == Role.PSYCHIATRIST
                )
            )
        )
    headers = open_as_patient(world.client, world.patient)
    world.client.post(
        "/api/me/questionnaires/phq9", json={"answers": [0, 0, 0, 0, 0, 0, 0, 0, 2]}, headers=headers
    )
    assert {t.assigned_to_id for t in tasks_of(world)} == psychiatrists
    # A PHQ-9 with item 9 at 0 raises nothing.
    world.client.post(
        "/api/me/questionnaires/phq9", json={"answers": [3, 3, 3, 3, 3, 3, 3, 3, 0]}, headers=headers
    )
    assert len(tasks_of(world)) == len(psychiatrists)


def test_the_patient_chooses_their_messages_on_their_page(world: World) -> None:
    open_as_patient(world.client, world.patient)
    page = world.client.get("/me/messages")
    assert page.status_code == 200 and "no confirmed e-mail address" in page.text
    kept = ["booking_confirmation", "visit_reminder"]
    r = world.client.post("/me/messages", data={"csrf": csrf_of(page.text), "wanted": kept})
    assert r.status_code == 200 and "Your choice is saved" in r.text
    with Session(world.engine) as db:
        prefs = db.scalar(
            select(m.PatientMessageSettings).where(m.PatientMessageSettings.patient_id == world.patient)
        )
        assert prefs is not None
        assert set(prefs.opted_out) == {"driver_reminder", "questionnaire_reminder", "aftercare"}
    assert world.client.post("/me/messages", data={"csrf": "forged", "wanted": kept}).status_code == 403


def test_staff_send_a_confirmation_and_the_patient_confirms_with_a_button(
    world: World, smtp: SmtpServer
) -> None:
    with Session(world.engine) as db:
        patient = db.get(m.Patient, world.patient)
        assert patient is not None
        patient.email = f"{world.given_name.lower()}@example.net"
        db.commit()
    sign_in(world.client, "frontdesk1.aus")
    page = world.client.get(f"/patients/{world.patient}/portal-link")
    assert "is not confirmed yet" in page.text
    r = world.client.post(
        f"/patients/{world.patient}/messages/confirm-address",
        data={"csrf": csrf_of(page.text)},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "A confirmation e-mail is on its way" in r.text
    with Session(world.engine) as db:
        [queued] = db.scalars(
            select(m.OutboxMessage).where(
                m.OutboxMessage.patient_id == world.patient, m.OutboxMessage.kind == "address_confirmation"
            )
        )
    outbox.deliver_one(
        Session(world.engine),
        queued.id,
        outbox_sender(smtp),
        T0,
        worker="test",
        mail_from="care@example.org",
        public_url=PUBLIC_URL,
    )
    body = smtp.inbox.messages[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [path] = re.findall(re.escape(PUBLIC_URL) + r"(/messages/confirm/\S+)", body)
    world.client.cookies.clear()
    look = world.client.get(path)
    assert look.status_code == 200 and "Yes, this is my address" in look.text
    done = world.client.post(path)
    assert done.status_code == 200 and "the clinic will send its messages to" in done.text
    assert world.client.post(path).status_code == 410  # once
    sign_in(world.client, "frontdesk1.aus")
    assert "confirmed by the patient" in world.client.get(f"/patients/{world.patient}/portal-link").text


def outbox_sender(smtp: SmtpServer):  # type: ignore[no-untyped-def]
    from ketaflow.messaging.smtp import SmtpConfig, SmtpSender

    return SmtpSender(SmtpConfig.from_url(smtp.url))


def test_the_clinics_outbox_page_shows_states_to_its_director_only(world: World) -> None:
    with Session(world.engine) as db:
        patient = db.get(m.Patient, world.patient)
        assert patient is not None
        outbox.enqueue(
            db, clinic_id=patient.clinic_id, kind="visit_reminder", due_at=T0, patient_id=patient.id
        )
        db.commit()
    sign_in(world.client, "director1.aus")
    page = world.client.get("/clinics/aus/messages")
    assert page.status_code == 200 and 'id="outbox-states"' in page.text and "visit reminder" in page.text
    assert "example.net" not in page.text and "/p/" not in page.text  # no address, no link
    sign_in(world.client, "frontdesk1.aus")
    assert world.client.get("/clinics/aus/messages").status_code == 403


def test_the_director_names_the_on_call_psychiatrist_on_the_clinics_page(world: World) -> None:
    psychiatrist = staff_id(world, "psychiatrist1.aus")
    sign_in(world.client, "director1.aus")
    page = world.client.get("/clinics/aus/messages")
    assert 'id="on-call-user"' in page.text
    r = world.client.post(
        "/clinics/aus/messages/on-call",
        data={"csrf": csrf_of(page.text), "user_id": str(psychiatrist)},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "Saved." in r.text
    with Session(world.engine) as db:
        patient = db.get(m.Patient, world.patient)
        assert patient is not None
        assert alerts.on_call(db, patient.clinic_id) == [psychiatrist]
    bad = world.client.post(
        "/clinics/aus/messages/on-call", data={"csrf": csrf_of(page.text), "user_id": "nobody"}
    )
    assert bad.status_code == 400 and "Choose the psychiatrist on call from the list." in bad.text
    nurse = staff_id(world, "nurse1.aus")
    assert (
        world.client.post(
            "/clinics/aus/messages/on-call", data={"csrf": csrf_of(page.text), "user_id": str(nurse)}
        ).status_code
        == 404
    )
