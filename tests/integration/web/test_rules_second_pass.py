"""Issue 13 through the app: deferral at the pump, confirmed pauses, screening inputs, maintenance checks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.vocabulary import AppointmentKind, AppointmentStatus, TreatmentPhase, VitalPhase
from tests.integration.web.consult_support import count, new_patient, psychiatrist_id
from tests.integration.web.roles import Caller, callers

NOW = datetime(2032, 6, 9, 15, 0, tzinfo=UTC)  # a day no other test uses


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


def _session_with_order(engine: Engine, pid: uuid.UUID, *, phase: TreatmentPhase, at: datetime) -> uuid.UUID:
    """An opened infusion with a standard order and no pump event yet."""
    with Session(engine) as db:
        patient = db.get(m.Patient, pid)
        assert patient is not None
        appt = m.Appointment(
            clinic_id=patient.clinic_id,
            patient_id=pid,
            kind=AppointmentKind.INFUSION,
            starts_at=at,
            ends_at=at + timedelta(hours=2),
            status=AppointmentStatus.IN_CHAIR,
        )
        db.add(appt)
        db.flush()
        s = m.InfusionSession(
            clinic_id=patient.clinic_id,
            patient_id=pid,
            appointment_id=appt.id,
            series_number=1,
            phase=phase,
            opened_at=at,
        )
        db.add(s)
        db.flush()
        db.add(
            m.DoseOrder(
                clinic_id=patient.clinic_id,
                session_id=s.id,
                ordered_by_id=psychiatrist_id(engine),
                ordered_at=at,
                protocol_code="depression-maintenance"
                if phase is TreatmentPhase.MAINTENANCE
                else "depression-induction",
                dosing_weight_kg=70,
                dose_mg_per_kg=0.5,
                dose_mg=35,
                duration_min=40,
                bag_drug_mg=100,
                bag_volume_ml=100,
                rate_ml_per_h=52.5,
                volume_ml=35,
                limit_status="ok",
            )
        )
        db.commit()
        return s.id


def _pump_events(engine: Engine, sid: uuid.UUID) -> int:
    with engine.connect() as conn:
        return (
            conn.scalar(
                select(func.count())
                .select_from(m.AdministrationEvent)
                .where(m.AdministrationEvent.session_id == sid)
            )
            or 0
        )


# ---- fault 1: a pre-infusion reading at the pause level defers; one cuff value does not pause --
def test_the_pump_will_not_start_after_a_pre_infusion_reading_at_the_pause_level(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine, NOW)
    sid = _session_with_order(
        demo_engine, pid, phase=TreatmentPhase.INDUCTION, at=NOW - timedelta(minutes=30)
    )
    nurse = who["nurse"]
    api = f"/api/sessions/{sid}"
    r = nurse.client.post(f"{api}/vitals", json={"bp": "184/112", "heart_rate": 80}, headers=nurse.headers)
    assert r.status_code == 200, r.text
    refused = nurse.client.post(f"{api}/pump", json={"kind": "start"}, headers=nurse.headers)
    assert refused.status_code == 409, refused.text
    assert "not startable today" in refused.json()["error"].lower()
    assert _pump_events(demo_engine, sid) == 0  # nothing written
    # a recheck after rest below the level lets it start
    ok = nurse.client.post(f"{api}/vitals", json={"bp": "150/92", "heart_rate": 78}, headers=nurse.headers)
    assert ok.status_code == 200
    assert nurse.client.post(f"{api}/pump", json={"kind": "start"}, headers=nurse.headers).status_code == 200
    assert _pump_events(demo_engine, sid) == 1


def test_one_high_reading_asks_for_a_recheck_and_a_second_confirms_the_pause(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine, NOW)
    sid = _session_with_order(
        demo_engine, pid, phase=TreatmentPhase.INDUCTION, at=NOW - timedelta(minutes=40)
    )
    with Session(demo_engine) as db:  # baseline 10 min before, running since 5 min before
        s = db.get(m.InfusionSession, sid)
        assert s is not None
        db.add_all(
            [
                m.VitalSign(
                    clinic_id=s.clinic_id,
                    session_id=sid,
                    patient_id=pid,
                    measured_at=NOW - timedelta(minutes=40),
                    phase=VitalPhase.BASELINE,
                    systolic_mmhg=168,
                    diastolic_mmhg=102,
                ),
                m.AdministrationEvent(
                    clinic_id=s.clinic_id,
                    session_id=sid,
                    kind="start",
                    occurred_at=NOW - timedelta(minutes=35),
                    rate_ml_per_h=52.5,
                    rate_mg_per_min=0.875,
                    cumulative_mg=0,
                ),
                m.VitalSign(
                    clinic_id=s.clinic_id,
                    session_id=sid,
                    patient_id=pid,
                    measured_at=NOW - timedelta(minutes=4),
                    phase=VitalPhase.INFUSION,
                    systolic_mmhg=186,
                    diastolic_mmhg=116,
                ),
            ]
        )
        db.commit()
    view = who["nurse"].client.get(f"/api/sessions/{sid}").json()
    first_high = view["vitals"][-1]
    assert first_high["level"] == "watch", first_high
    assert any("Recheck" in a for a in first_high["actions"])
    nurse = who["nurse"]
    second = nurse.client.post(
        f"/api/sessions/{sid}/vitals", json={"bp": "182/114", "heart_rate": 84}, headers=nurse.headers
    ).json()
    assert second["level"] == "pause", second


# ---- screening inputs: age from the date of birth, pregnancy status, route ----------------------
def test_a_patient_under_18_by_date_of_birth_is_not_eligible(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine, NOW)
    with demo_engine.begin() as conn:
        conn.execute(
            m.Patient.__table__.update().where(m.Patient.id == pid).values(date_of_birth=date(2015, 1, 1))
        )
    psych = who["psychiatrist"]
    r = psych.client.post(
        f"/api/patients/{pid}/consultation",
        json={"indication": "Treatment-resistant depression", "pregnancy_status": "not_applicable"},
        headers=psych.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["eligible"] is False
    assert "age" in {f["rule"] for f in r.json()["findings"]}
    assert r.json()["screening_input"]["age_years"] == 17


def test_pregnancy_status_and_route_are_screened_and_stored(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine, NOW)
    psych = who["psychiatrist"]
    body = {
        "indication": "Treatment-resistant depression",
        "medications": ["clarithromycin 500 mg"],
        "pregnancy_status": "possible",
        "route": "oral",
    }
    r = psych.client.post(f"/api/patients/{pid}/consultation", json=body, headers=psych.headers)
    assert r.status_code == 200, r.text
    rules = {f["rule"]: f["level"] for f in r.json()["findings"]}
    assert rules["pregnancy_status"] == "psychiatrist_review"
    assert rules["cyp_inhibitor"] == "caution"
    assert r.json()["screening_input"]["pregnancy_status"] == "possible"
    assert r.json()["screening_input"]["route"] == "oral"
    assert any(g["rule"] == "fasting" for g in r.json()["guidance"])
    bad = psych.client.post(
        f"/api/patients/{pid}/screen", json={"pregnancy_status": "maybe"}, headers=psych.headers
    )
    assert bad.status_code == 400 and "pregnancy" in bad.json()["error"].lower()


def test_the_consultation_page_asks_for_pregnancy_status_and_route(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine, NOW)
    page = who["psychiatrist"].client.get(f"/patients/{pid}/consultation")
    assert 'name="pregnancy_status"' in page.text and 'name="route"' in page.text
    assert "Fasting" in page.text or "fasting" in page.text


# ---- maintenance: liver tests and bladder screening, due and overdue on the course -------------
def test_the_course_shows_maintenance_checks_due_and_records_them(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine, NOW)
    _session_with_order(demo_engine, pid, phase=TreatmentPhase.MAINTENANCE, at=NOW - timedelta(days=60))
    psych = who["psychiatrist"]
    course = psych.client.get(f"/api/patients/{pid}/course").json()
    checks = {c["key"]: c for c in course["monitoring"]}
    assert checks["liver_tests"]["status"] == "overdue" and checks["bladder_screen"]["status"] == "overdue"
    assert "Ketalar" in checks["liver_tests"]["source"]
    page = psych.client.get(f"/patients/{pid}/course")
    assert "Liver" in page.text and "overdue" in page.text

    done = {
        "kind": "liver_tests",
        "done_on": (NOW - timedelta(days=1)).date().isoformat(),
        "result": "normal",
    }
    r = psych.client.post(f"/api/patients/{pid}/monitoring", json=done, headers=psych.headers)
    assert r.status_code == 200, r.text
    assert count(demo_engine, m.MonitoringCheck, pid) == 1
    after = {c["key"]: c for c in psych.client.get(f"/api/patients/{pid}/course").json()["monitoring"]}
    assert after["liver_tests"]["status"] == "up_to_date"
    assert after["bladder_screen"]["status"] == "overdue"

    future = {"kind": "bladder_screen", "done_on": (NOW + timedelta(days=3)).date().isoformat()}
    bad = psych.client.post(f"/api/patients/{pid}/monitoring", json=future, headers=psych.headers)
    assert bad.status_code == 400 and "future" in bad.json()["error"]
    unknown = {"kind": "kidney", "done_on": NOW.date().isoformat()}
    assert (
        psych.client.post(f"/api/patients/{pid}/monitoring", json=unknown, headers=psych.headers).status_code
        == 400
    )
    assert count(demo_engine, m.MonitoringCheck, pid) == 1


def test_an_induction_patient_has_no_maintenance_checks_due(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine, NOW)
    _session_with_order(demo_engine, pid, phase=TreatmentPhase.INDUCTION, at=NOW - timedelta(days=3))
    course = who["psychiatrist"].client.get(f"/api/patients/{pid}/course").json()
    assert {c["status"] for c in course["monitoring"]} == {"not_applicable"}
