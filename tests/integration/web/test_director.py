"""The director's page: today's board in brief, the week's bookings and chair use, on hand-made bookings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.vocabulary import (
    AdministrationKind,
    AppointmentKind,
    AppointmentStatus,
    AssistanceReason,
    Sex,
    TreatmentPhase,
    VitalPhase,
)
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.web.sign_in_support import post_login

# A week no other test books (the demo test network is shared): Monday 9 July 2035, CDT.
MONDAY = date(2035, 7, 9)
TUESDAY = MONDAY + timedelta(days=1)
AUSTIN = ZoneInfo("America/Chicago")
NOW = datetime.combine(TUESDAY, time(12, 0), AUSTIN).astimezone(UTC)


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), AUSTIN).astimezone(UTC)


def sign_in(client: TestClient, who: str) -> None:
    client.cookies.clear()
    r = post_login(client, f"{who}@demo.ketaflow.org")
    assert r.status_code == 303


@pytest.fixture(scope="module")
def week(demo_engine: Engine) -> dict[str, int]:
    """Hand-made bookings in clinic 'aus' for the week of MONDAY; returns the active chair count."""
    with Session(demo_engine) as db:
        clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        nurse = db.scalar(select(m.StaffUser).where(m.StaffUser.email == "nurse1.aus@demo.ketaflow.org"))
        assert clinic is not None and nurse is not None
        chairs = list(
            db.scalars(
                select(m.Chair)
                .where(m.Chair.clinic_id == clinic.id, m.Chair.active.is_(True))
                .order_by(m.Chair.position)
            )
        )
        assert len(chairs) >= 3

        def book(
            starts: datetime,
            ends: datetime,
            status: AppointmentStatus,
            chair: m.Chair | None,
            kind: AppointmentKind = AppointmentKind.INFUSION,
        ) -> m.Appointment:
            patient = m.Patient(
                organization_id=clinic.organization_id,
                clinic_id=clinic.id,
                mrn=f"DIR{uuid.uuid4().hex[:8]}",
                given_name="Casey",
                family_name="Director-Test",
                date_of_birth=date(1985, 1, 1),
                sex=Sex.MALE,
            )
            db.add(patient)
            db.flush()
            appt = m.Appointment(
                clinic_id=clinic.id,
                patient_id=patient.id,
                chair_id=chair.id if chair else None,
                kind=kind,
                starts_at=starts,
                ends_at=ends,
                status=status,
                escort_name="Dana Reyes",
                escort_phone="555-0100",
            )
            db.add(appt)
            db.flush()
            return appt

        c1, c2, c3 = chairs[:3]
        # Tuesday: three 3.5-hour chair slots (10.5 chair-hours), a cancellation, a consultation.
        book(local(TUESDAY, 8), local(TUESDAY, 11, 30), AppointmentStatus.COMPLETED, c1)
        running = book(local(TUESDAY, 11, 30), local(TUESDAY, 15), AppointmentStatus.IN_CHAIR, c2)
        book(local(TUESDAY, 15), local(TUESDAY, 18, 30), AppointmentStatus.BOOKED, c3)
        book(local(TUESDAY, 15), local(TUESDAY, 18, 30), AppointmentStatus.CANCELLED, c1)
        book(
            local(TUESDAY, 10),
            local(TUESDAY, 11),
            AppointmentStatus.BOOKED,
            None,
            AppointmentKind.CONSULTATION,
        )
        # Wednesday: 17:00-20:00 counts only until closing at 18:30 (1.5 h); a no-show holds nothing.
        book(
            local(TUESDAY + timedelta(days=1), 17),
            local(TUESDAY + timedelta(days=1), 20),
            AppointmentStatus.BOOKED,
            c1,
        )
        book(
            local(TUESDAY + timedelta(days=1), 8),
            local(TUESDAY + timedelta(days=1), 11, 30),
            AppointmentStatus.NO_SHOW,
            c2,
        )
        # Saturday: closed, so no available chair-hours (the booking still counts as a booking).
        book(
            local(MONDAY + timedelta(days=5), 10),
            local(MONDAY + timedelta(days=5), 13),
            AppointmentStatus.BOOKED,
            c1,
        )

        # The running infusion in chair 2, with a high blood pressure and an open request for help.
        session = m.InfusionSession(
            clinic_id=clinic.id,
            patient_id=running.patient_id,
            appointment_id=running.id,
            chair_id=c2.id,
            nurse_id=nurse.id,
            series_number=1,
            phase=TreatmentPhase.INDUCTION,
            opened_at=local(TUESDAY, 11, 35),
        )
        db.add(session)
        db.flush()
        fact = {"clinic_id": clinic.id, "recorded_by_id": nurse.id}
        for minutes, bp, phase in (
            (0, (126, 80), VitalPhase.BASELINE),
            (15, (184, 112), VitalPhase.INFUSION),  # issue 13: a second high reading confirms the pause
            (20, (186, 114), VitalPhase.INFUSION),
        ):
            db.add(
                m.VitalSign(
                    **fact,
                    patient_id=running.patient_id,
                    session_id=session.id,
                    measured_at=local(TUESDAY, 11, 40) + timedelta(minutes=minutes),
                    phase=phase,
                    systolic_mmhg=bp[0],
                    diastolic_mmhg=bp[1],
                    heart_rate_bpm=80,
                    spo2_percent=98,
                    respiratory_rate_per_min=14,
                )
            )
        db.add(
            m.AdministrationEvent(
                **fact,
                session_id=session.id,
                kind=AdministrationKind.START,
                occurred_at=local(TUESDAY, 11, 45),
                rate_mg_per_min=0.9,
                cumulative_mg=0.0,
            )
        )
        db.add(
            m.AssistanceRequest(
                **fact,
                session_id=session.id,
                reason=AssistanceReason.RESTROOM,
                asked_at=local(TUESDAY, 11, 55),
            )
        )
        db.commit()
        return {"chairs": len(chairs)}


@pytest.fixture
def client(demo_engine: Engine) -> Iterator[TestClient]:
    app = create_app(demo_engine)
    app.dependency_overrides[clock] = lambda: NOW
    with TestClient(app) as c:
        yield c
    with demo_engine.begin() as conn:
        conn.execute(delete(m.SignInAttempt))
        conn.execute(delete(m.SignInThrottle))


def test_the_api_counts_today_and_the_week(client: TestClient, week: dict[str, int]) -> None:
    sign_in(client, "director1.aus")
    r = client.get("/api/clinics/aus/director")
    assert r.status_code == 200, r.text
    body = r.json()
    today = body["today"]
    assert today["day"] == TUESDAY.isoformat()
    assert today["busy"] == 1 and today["running"] == 1 and today["free"] == today["chairs"] - 1
    assert today["open_requests"] == 1
    assert [a["chair"] for a in today["alerts"]] and today["alerts"][0]["level"] in {"pause", "stop"}
    assert today["infusions"] == {
        "done": 1,
        "in_chair": 1,
        "checked_in": 0,
        "booked": 1,
        "no_show": 0,
        "cancelled": 1,
    }
    w = body["week"]
    assert w["start"] == MONDAY.isoformat() and w["active_chairs"] == week["chairs"]
    assert "08:00–18:30" in w["opening_hours"] and "not a clinical" in w["opening_hours"]
    days = {d["day"]: d for d in w["days"]}
    assert len(days) == 7
    available = week["chairs"] * 10.5
    tue = days[TUESDAY.isoformat()]
    assert tue["infusions"] == 4 and tue["other"] == 1 and tue["completed"] == 1
    assert tue["cancelled_or_no_show"] == 1
    assert tue["booked_chair_hours"] == pytest.approx(10.5)
    assert tue["available_chair_hours"] == pytest.approx(available)
    assert tue["use_percent"] == pytest.approx(round(100 * 10.5 / available, 1))
    wed = days[(TUESDAY + timedelta(days=1)).isoformat()]
    assert wed["booked_chair_hours"] == pytest.approx(1.5) and wed["cancelled_or_no_show"] == 1
    sat = days[(MONDAY + timedelta(days=5)).isoformat()]
    assert sat["open"] is False and sat["infusions"] == 1
    assert sat["booked_chair_hours"] == 0 and sat["available_chair_hours"] == 0 and sat["use_percent"] is None
    assert sat["hours"] == "closed" and tue["hours"] == "08:00–18:30" and tue["closure"] is None
    assert body["hours_url"] == "/clinics/aus/hours"
    assert days[MONDAY.isoformat()]["booked_chair_hours"] == 0
    assert w["booked_chair_hours"] == pytest.approx(12.0)
    assert w["available_chair_hours"] == pytest.approx(available * 5)
    assert body["outcomes_url"] == "/clinics/aus/outcomes"


def test_another_week_is_chosen_by_date(client: TestClient, week: dict[str, int]) -> None:
    sign_in(client, "admin")
    later = client.get("/api/clinics/aus/director", params={"week": "2035-07-18"}).json()["week"]
    assert later["start"] == "2035-07-16" and later["booked_chair_hours"] == 0
    bad = client.get("/api/clinics/aus/director", params={"week": "next tuesday"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.json()["error"]
    page = client.get("/clinics/aus/director", params={"week": "31/03/2031"})
    assert page.status_code == 400 and "YYYY-MM-DD" in page.text and "Traceback" not in page.text


def test_the_page_shows_the_summary_the_chart_and_the_assumption(
    client: TestClient, week: dict[str, int]
) -> None:
    sign_in(client, "director1.aus")
    r = client.get("/clinics/aus/director")
    assert r.status_code == 200
    text = r.text
    assert "director&#39;s page" in text or "director's page" in text
    assert f"1</span> of {week['chairs']} chairs busy" in text
    assert "open requests for help" in text and "vital-sign alerts" in text
    assert "<svg" in text and 'class="bar' in text and "Chair use per day" in text
    pct = round(100 * 10.5 / (week["chairs"] * 10.5), 1)
    assert f"{pct:g}%" in text
    assert "08:00–18:30" in text and "not a clinical figure" in text
    assert 'href="/clinics/aus/hours"' in text  # the hours behind "available", and where to set them
    assert 'href="/clinics/aus/outcomes"' in text and 'href="/clinics/aus/board"' in text
    assert "?week=2035-07-02" in text and "?week=2035-07-16" in text
    # Reachable: the clinic navigation on the board links here.
    board = client.get("/clinics/aus/board")
    assert board.status_code == 200 and 'href="/clinics/aus/director"' in board.text


def test_a_nurse_or_another_clinic_is_refused_the_page(client: TestClient, week: dict[str, int]) -> None:
    sign_in(client, "nurse1.aus")
    r = client.get("/clinics/aus/director")
    assert r.status_code == 403 and "does not allow you to see the clinic dashboard" in r.text
    sign_in(client, "director1.den")
    assert client.get("/clinics/aus/director").status_code == 403
    assert client.get("/clinics/nowhere/director").status_code == 404
