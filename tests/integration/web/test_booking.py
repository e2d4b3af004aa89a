"""Booking at the front desk: clashes, touching intervals, cancel, reschedule, the week, concurrency."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.errors import Conflict
from ketaflow.services import booking
from ketaflow.services.auth import CurrentUser
from ketaflow.store import models as m
from ketaflow.vocabulary import AppointmentStatus, PlanStatus
from tests.integration.races import race
from tests.integration.web.frontdesk_support import Desk, chairs, clinic, count, make_patient, open_desk

NOW = datetime(2031, 3, 3, 14, 0, tzinfo=UTC)  # Monday 08:00 in Austin (CST, UTC-6)


@pytest.fixture(scope="module")
def desk(demo_engine: Engine) -> Iterator[Desk]:
    yield from open_desk(demo_engine, NOW, roles=("front_desk", "nurse"))


def appointment(engine: Engine, appt_id: str) -> m.Appointment:
    with Session(engine) as db:
        row = db.get(m.Appointment, uuid.UUID(appt_id))
        assert row is not None
        return row


def give_plan(engine: Engine, patient_id: uuid.UUID, minutes: float = 40) -> uuid.UUID:
    with Session(engine) as db:
        psych = db.scalar(
            select(m.StaffUser).where(m.StaffUser.email == "psychiatrist1.aus@demo.ketaflow.org")
        )
        assert psych is not None
        plan = m.TreatmentPlan(
            clinic_id=clinic(db).id,
            patient_id=patient_id,
            protocol_code="depression-induction",
            planned_infusions=6,
            target_dose_mg_per_kg=0.5,
            infusion_minutes=minutes,
            status=PlanStatus.ACTIVE,
            created_by_id=psych.id,
        )
        db.add(plan)
        db.commit()
        made: uuid.UUID = plan.id
        return made


def test_an_infusion_is_booked_from_the_form_with_the_usual_length_and_the_plan(desk: Desk) -> None:
    client, headers = desk.as_("front_desk")
    pid = make_patient(desk.engine)
    plan_id = give_plan(desk.engine, pid)
    chair = chairs(desk.engine)[0]
    page = client.get(f"/patients/{pid}/book")
    assert page.status_code == 200 and "Book an appointment" in page.text and "Chair 1" in page.text
    r = client.post(
        f"/patients/{pid}/book",
        data={
            "csrf": headers["X-CSRF-Token"],
            "kind": "infusion",
            "day": "2031-03-04",
            "start": "08:00",
            "chair_id": str(chair),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    with Session(desk.engine) as db:
        appt = db.scalars(select(m.Appointment).where(m.Appointment.patient_id == pid)).one()
        assert appt.starts_at == datetime(2031, 3, 4, 14, 0, tzinfo=UTC)  # 08:00 CST
        assert appt.ends_at - appt.starts_at == timedelta(minutes=booking.INFUSION_VISIT_MIN)
        assert appt.treatment_plan_id == plan_id and appt.chair_id == chair
        assert db.scalars(
            select(m.AuditEvent).where(
                m.AuditEvent.entity_id == appt.id, m.AuditEvent.action == "appointment.book"
            )
        ).one()
    listed = client.get(f"/patients/{pid}/book")
    assert "Tue 04 Mar 2031 08:00–11:30" in listed.text and "Reschedule or cancel" in listed.text


def test_a_four_hour_infusion_plan_holds_the_chair_for_the_long_visit(desk: Desk) -> None:
    client, headers = desk.as_("front_desk")
    pid = make_patient(desk.engine)
    give_plan(desk.engine, pid, minutes=240)
    r = client.post(
        f"/api/patients/{pid}/appointments",
        json={
            "kind": "infusion",
            "day": "2031-03-05",
            "start": "08:00",
            "chair_id": str(chairs(desk.engine)[7]),
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    a = appointment(desk.engine, r.json()["id"])
    assert a.ends_at - a.starts_at == timedelta(minutes=booking.LONG_INFUSION_VISIT_MIN)


def book(desk: Desk, pid: uuid.UUID, **body: object) -> tuple[int, dict[str, object]]:
    client, headers = desk.as_("front_desk")
    r = client.post(f"/api/patients/{pid}/appointments", json=body, headers=headers)
    return r.status_code, r.json()


def test_clashes_are_refused_and_touching_bookings_are_allowed(desk: Desk) -> None:
    chair = str(chairs(desk.engine)[1])
    first, second = make_patient(desk.engine, given="Clara", family="Chairfirst"), make_patient(desk.engine)
    status, a = book(desk, first, kind="infusion", day="2031-03-06", start="08:00", chair_id=chair)
    assert status == 201, a
    before = count(desk.engine, m.Appointment)

    status, body = book(desk, second, kind="infusion", day="2031-03-06", start="10:00", chair_id=chair)
    assert (
        status == 409
        and "Chair 2 is already booked Thu 06 Mar 2031 08:00-11:30 for Clara Chairfirst" in str(body["error"])
    )
    status, body = book(
        desk, first, kind="infusion", day="2031-03-06", start="09:00", chair_id=str(chairs(desk.engine)[2])
    )
    assert status == 409 and "Clara Chairfirst is already booked Thu 06 Mar 2031 08:00-11:30" in str(
        body["error"]
    )
    status, body = book(desk, first, kind="consultation", day="2031-03-06", start="11:00")
    assert status == 409 and "already booked" in str(body["error"])
    assert count(desk.engine, m.Appointment) == before  # nothing saved

    # Touching, not overlapping (half-open intervals): 15:00-18:30 first, then 11:30-15:00, which
    # starts when the first booking ends and ends when the one before it starts.
    status, body = book(
        desk, make_patient(desk.engine), kind="infusion", day="2031-03-06", start="15:00", chair_id=chair
    )
    assert status == 201, body
    status, body = book(desk, second, kind="infusion", day="2031-03-06", start="11:30", chair_id=chair)
    assert status == 201, body

    # The form shows the clash beside the page and keeps what was typed.
    client, headers = desk.as_("front_desk")
    page = client.post(
        f"/patients/{second}/book",
        data={
            "csrf": headers["X-CSRF-Token"],
            "kind": "infusion",
            "day": "2031-03-06",
            "start": "09:15",
            "chair_id": chair,
        },
    )
    assert (
        page.status_code == 400 and "Chair 2 is already booked" in page.text and 'value="09:15"' in page.text
    )


def test_cancelled_and_no_show_bookings_free_the_chair(desk: Desk) -> None:
    chair = str(chairs(desk.engine)[3])
    pid, other = make_patient(desk.engine), make_patient(desk.engine)
    status, a = book(desk, pid, kind="infusion", day="2031-03-07", start="08:00", chair_id=chair)
    client, headers = desk.as_("front_desk")
    r = client.post(
        f"/api/appointments/{a['id']}/cancel", json={"version": 1, "reason": "unwell"}, headers=headers
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["version"] == 2
    again = client.post(f"/api/appointments/{a['id']}/cancel", json={"version": 2}, headers=headers)
    assert again.status_code == 409 and "only a booked appointment can be changed" in again.json()["error"]
    status, body = book(desk, other, kind="infusion", day="2031-03-07", start="08:00", chair_id=chair)
    assert status == 201, body
    with Session(desk.engine) as db:
        row = db.get(m.Appointment, uuid.UUID(str(body["id"])))
        assert row is not None
        row.status = AppointmentStatus.NO_SHOW
        db.commit()
    status, body = book(desk, pid, kind="infusion", day="2031-03-07", start="09:00", chair_id=chair)
    assert status == 201, body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "massage", "day": "2031-03-04", "start": "09:00"}, "Choose what the appointment is for"),
        ({"kind": "infusion", "day": "2031-03-04", "start": "09:00"}, "An infusion needs a chair"),
        (
            {"kind": "consultation", "day": "2031-03-04", "start": "09:00", "chair": 0},
            "Only infusions are booked into a chair",
        ),
        ({"kind": "consultation", "day": "04/03/2031", "start": "09:00"}, "Write the day as YYYY-MM-DD"),
        ({"kind": "consultation", "day": "2031-03-04", "start": "25:00"}, "Write the start time as HH:MM"),
        ({"kind": "consultation", "day": "2031-03-03", "start": "07:59"}, "is in the past"),
        ({"kind": "consultation", "day": "2030-03-04", "start": "09:00"}, "is in the past"),
        (
            {"kind": "consultation", "day": "2031-03-04", "start": "09:00", "length_min": 0},
            "between 15 and 720 minutes",
        ),
        (
            {"kind": "infusion", "day": "2031-03-04", "start": "09:00", "chair_id": "nope"},
            "Choose a chair from the list",
        ),
        ({"kind": "infusion", "day": "2031-03-04", "start": "09:00", "chair": "den"}, "Choose one of"),
    ],
)
def test_bad_bookings_are_refused_with_a_message_and_nothing_saved(
    desk: Desk, body: dict[str, object], message: str
) -> None:
    pid = make_patient(desk.engine)
    body = dict(body)
    if body.pop("chair", None) == 0:
        body["chair_id"] = str(chairs(desk.engine)[0])
    if "chair" in body or message == "Choose one of":
        body["chair_id"] = str(chairs(desk.engine, "den")[0])
    before = count(desk.engine, m.Appointment)
    status, answer = book(desk, pid, **body)
    assert status == 400 and message in str(answer["error"]), answer
    assert count(desk.engine, m.Appointment) == before
    client, headers = desk.as_("front_desk")
    form = {k: str(v) for k, v in body.items()}
    page = client.post(f"/patients/{pid}/book", data={"csrf": headers["X-CSRF-Token"], **form})
    assert page.status_code == 400 and message in page.text.replace("&#39;", "'")
    assert count(desk.engine, m.Appointment) == before


def test_reschedule_checks_clashes_and_refuses_a_stale_version(desk: Desk) -> None:
    chair = str(chairs(desk.engine)[4])
    pid, other = make_patient(desk.engine), make_patient(desk.engine, given="Otto", family="Otherchair")
    _, a = book(desk, pid, kind="infusion", day="2031-03-10", start="08:00", chair_id=chair)
    _, b = book(desk, other, kind="infusion", day="2031-03-10", start="15:00", chair_id=chair)
    client, headers = desk.as_("front_desk")
    url = f"/api/appointments/{a['id']}/reschedule"
    clash = client.post(url, json={"version": 1, "day": "2031-03-10", "start": "13:00"}, headers=headers)
    assert clash.status_code == 409 and "for Otto Otherchair" in clash.json()["error"]
    moved = client.post(url, json={"version": 1, "day": "2031-03-10", "start": "11:30"}, headers=headers)
    assert moved.status_code == 200 and moved.json()["version"] == 2, moved.text
    a_row = appointment(desk.engine, str(a["id"]))
    assert a_row.starts_at == datetime(2031, 3, 10, 16, 30, tzinfo=UTC)  # 11:30 CDT (DST began 9 March)
    assert a_row.ends_at - a_row.starts_at == timedelta(minutes=210)  # the length is kept
    stale = client.post(url, json={"version": 1, "day": "2031-03-11", "start": "08:00"}, headers=headers)
    assert stale.status_code == 409 and "changed by someone else" in stale.json()["error"]
    # Moving it onto its own old time is not a clash with itself.
    back = client.post(url, json={"version": 2, "day": "2031-03-10", "start": "08:00"}, headers=headers)
    assert back.status_code == 200
    # The form: a stale reschedule comes back on the book page with the message.
    page = client.post(
        f"/appointments/{a['id']}/reschedule",
        data={"csrf": headers["X-CSRF-Token"], "version": "1", "day": "2031-03-12", "start": "08:00"},
    )
    assert page.status_code == 400 and "changed by someone else" in page.text
    ok = client.post(
        f"/appointments/{a['id']}/cancel",
        data={"csrf": headers["X-CSRF-Token"], "version": "3"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and appointment(desk.engine, str(a["id"])).status == "cancelled"
    assert b


def test_the_week_shows_bookings_per_chair_and_consultations_per_day(desk: Desk) -> None:
    chair_ids = chairs(desk.engine)
    pid = make_patient(desk.engine, given="Wendy", family="Weekview")
    _, infusion = book(
        desk, pid, kind="infusion", day="2031-03-19", start="08:00", chair_id=str(chair_ids[5])
    )
    _, consult = book(desk, pid, kind="consultation", day="2031-03-20", start="09:00")
    _, cancelled = book(desk, pid, kind="follow-up", day="2031-03-21", start="09:00")
    client, headers = desk.as_("front_desk")
    client.post(f"/api/appointments/{cancelled['id']}/cancel", json={"version": 1}, headers=headers)

    nurse, _ = desk.as_("nurse")
    page = nurse.get("/clinics/aus/week", params={"start": "2031-03-17"})
    assert page.status_code == 200
    text = page.text
    assert "week of 17 March 2031" in text and "Chair 6" in text and f'href="/patients/{pid}"' in text
    assert "08:00–11:30" in text and "Wendy Weekview" in text and "infusion · booked" in text
    assert "consultation · booked" in text and "follow-up · cancelled" in text
    assert "start=2031-03-10" in text and "start=2031-03-24" in text

    api = nurse.get("/api/clinics/aus/week", params={"start": "2031-03-17"}).json()
    assert api["start"] == "2031-03-17" and len(api["days"]) == 7
    thursday = api["days"][2]
    assert [b["id"] for b in thursday["chairs"][str(chair_ids[5])]] == [infusion["id"]]
    assert thursday["booked_chair_hours"] >= 3.5 and thursday["open_chair_hours"] is None
    assert [b["id"] for b in api["days"][3]["without_chair"]] == [consult["id"]]
    assert nurse.get("/api/clinics/aus/week", params={"start": "17-03-2031"}).status_code == 400
    # Without a start: the Monday of this week (the clock says Monday 3 March).
    assert nurse.get("/api/clinics/aus/week").json()["start"] == "2031-03-03"


def test_the_week_and_chair_use_are_built_in_few_queries(desk: Desk) -> None:
    from sqlalchemy import event

    statements: list[str] = []

    def count_it(*args: object) -> None:
        statements.append(str(args[2]))

    who = _who(desk.engine, "frontdesk1.aus")
    event.listen(desk.engine, "before_cursor_execute", count_it)
    try:
        with Session(desk.engine, expire_on_commit=False) as db:
            week = booking.week_view(db, who, "aus", date(2031, 3, 17), NOW)
    finally:
        event.remove(desk.engine, "before_cursor_execute", count_it)
    # The read audit's hash-chain head (store/chain.py) is not one of the page's queries.
    selects = [
        s
        for s in statements
        if s.lstrip().upper().startswith("SELECT") and "chain_heads" not in s and "pg_advisory" not in s
    ]
    assert len(selects) <= 3, selects  # the clinic, its chairs, the week's bookings with names
    assert len(booking.chair_use(week)) == 7


def _who(engine: Engine, login: str) -> CurrentUser:
    with Session(engine) as db:
        user = db.scalar(select(m.StaffUser).where(m.StaffUser.email == f"{login}@demo.ketaflow.org"))
        assert user is not None
        roles: dict[str, set[Any]] = {}
        for r in db.scalars(select(m.StaffRole).where(m.StaffRole.user_id == user.id)):
            roles.setdefault(str(r.clinic_id), set()).add(r.role)
        db.expunge_all()
        return CurrentUser(user, None, roles)


@pytest.mark.parametrize("same", ["chair", "patient"])
def test_two_bookings_at_the_same_instant_cannot_both_win(demo_engine: Engine, same: str) -> None:
    """Threads race to book one chair (or one patient) at the same time: exactly one wins.

    In one process; over HTTP against `ketaflow serve`'s worker processes see
    tests/integration/cli/test_serve_races.py."""
    who = _who(demo_engine, "frontdesk1.aus")
    chair_ids = chairs(demo_engine)
    patients = [make_patient(demo_engine), make_patient(demo_engine)]
    if same == "patient":
        patients = [patients[0], patients[0]]
    chosen = [chair_ids[6], chair_ids[6]] if same == "chair" else [chair_ids[6], chair_ids[7]]
    day = date(2031, 9, 1 + 2 * (same == "patient"))
    outcomes: list[str] = []

    def attempt(i: int) -> Callable[[], None]:
        def run() -> None:
            with Session(demo_engine) as db:
                try:
                    booking.book(
                        db,
                        who,
                        patients[i],
                        kind="infusion",
                        day=day,
                        start="08:00",
                        chair_id=chosen[i],
                        now=NOW,
                    )
                    outcomes.append("booked")
                except Conflict as exc:
                    outcomes.append(f"refused: {exc.message}")

        return run

    # Both set off together behind the row they contend for, held until both are seen waiting.
    contended = (m.Chair, chosen[0]) if same == "chair" else (m.Patient, patients[0])
    lock = select(contended[0].id).where(contended[0].id == contended[1]).with_for_update()
    race(demo_engine, lock, attempt(0), attempt(1))
    assert sorted(outcomes)[0] == "booked" and sorted(outcomes)[1].startswith("refused"), outcomes
    with Session(demo_engine) as db:
        taken = db.scalars(
            select(m.Appointment).where(
                m.Appointment.patient_id.in_(patients),
                m.Appointment.starts_at == datetime(2031, 9, day.day, 13, 0, tzinfo=UTC),  # 08:00 CDT
            )
        ).all()
        assert len(taken) == 1
