"""Recovery and discharge: the checklist, refusals with every unmet item, the discharge, after-care."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from ketaflow.errors import Conflict
from ketaflow.services.auth import CurrentUser
from ketaflow.services.discharge import discharge, parse_entries
from ketaflow.store import models as m
from ketaflow.vocabulary import (
    AdministrationKind,
    AppointmentKind,
    AppointmentStatus,
    Severity,
    Sex,
    SideEffectKind,
    TreatmentPhase,
    VitalPhase,
)
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.races import race
from tests.integration.web.demo_support import staff
from tests.integration.web.sign_in_support import post_login

# Far from every other test's bookings: January 2027, Austin (UTC-6).
DAY0 = datetime(2027, 1, 5, 15, 0, tzinfo=UTC)  # 09:00 in Austin
_slot = iter(range(10_000))


class Clock:
    def __init__(self) -> None:
        self.now = DAY0

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Visit:
    session_id: uuid.UUID
    appointment_id: uuid.UUID
    patient_id: uuid.UUID
    stopped_at: datetime | None


Vitals = tuple[int, int, int, int, int]  # systolic, diastolic, heart rate, SpO2, respiratory rate
NORMAL: Vitals = (128, 82, 72, 98, 14)


def make_visit(
    engine: Engine,
    *,
    stopped: bool = True,
    recovery: Vitals | None = (130, 84, 74, 98, 14),
    driver: tuple[str, str] | None = ("Dana Reyes", "555-0100"),
    transport: str | None = None,
    nausea: Severity | None = None,
    start: datetime | None = None,
    sedation: int | None = 5,
) -> Visit:
    """A checked-in patient, seated, infused 40 minutes and (by default) stopped, in clinic 'aus'.

    Each visit gets its own patient and its own day (or starts at `start`: a server on the real
    clock needs a visit that stopped long enough ago), so tests never see each other's rows.
    """
    start = start or DAY0 + timedelta(days=next(_slot))
    with Session(engine) as db:
        clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        nurse = db.scalar(select(m.StaffUser).where(m.StaffUser.email == "nurse1.aus@demo.ketaflow.org"))
        assert clinic is not None and nurse is not None
        chair = db.scalars(select(m.Chair).where(m.Chair.clinic_id == clinic.id)).first()
        patient = m.Patient(
            organization_id=clinic.organization_id,
            clinic_id=clinic.id,
            mrn=f"DSC{uuid.uuid4().hex[:8]}",
            given_name="Robin",
            family_name="Okafor",
            date_of_birth=datetime(1979, 4, 2).date(),
            sex=Sex.FEMALE,
        )
        db.add(patient)
        db.flush()
        appt = m.Appointment(
            clinic_id=clinic.id,
            patient_id=patient.id,
            chair_id=chair.id if chair else None,
            kind=AppointmentKind.INFUSION,
            starts_at=start,
            ends_at=start + timedelta(hours=3, minutes=30),
            status=AppointmentStatus.IN_CHAIR,
            escort_name=driver[0] if driver else None,
            escort_phone=driver[1] if driver else None,
            escort_relationship="sister" if driver else None,
            transport_arranged=transport,
            checked_in_at=start,
        )
        db.add(appt)
        db.flush()
        session = m.InfusionSession(
            clinic_id=clinic.id,
            patient_id=patient.id,
            appointment_id=appt.id,
            chair_id=appt.chair_id,
            nurse_id=nurse.id,
            series_number=1,
            phase=TreatmentPhase.INDUCTION,
            opened_at=start,
        )
        db.add(session)
        db.flush()
        fact = {"clinic_id": clinic.id, "recorded_by_id": nurse.id}

        def vitals(at: datetime, phase: VitalPhase, v: Vitals, moaas: int | None = 5) -> m.VitalSign:
            return m.VitalSign(
                **fact,
                patient_id=patient.id,
                session_id=session.id,
                measured_at=at,
                recorded_at=at,
                phase=phase,
                systolic_mmhg=v[0],
                diastolic_mmhg=v[1],
                heart_rate_bpm=v[2],
                spo2_percent=v[3],
                respiratory_rate_per_min=v[4],
                sedation_score=moaas,
            )

        db.add(vitals(start + timedelta(minutes=5), VitalPhase.BASELINE, NORMAL))
        began = start + timedelta(minutes=10)
        db.add(
            m.AdministrationEvent(
                **fact,
                session_id=session.id,
                kind=AdministrationKind.START,
                occurred_at=began,
                recorded_at=began,
                rate_mg_per_min=0.9,
                cumulative_mg=0.0,
            )
        )
        stop_at = began + timedelta(minutes=40)
        if stopped:
            db.add(
                m.AdministrationEvent(
                    **fact,
                    session_id=session.id,
                    kind=AdministrationKind.STOP,
                    occurred_at=stop_at,
                    recorded_at=stop_at,
                    cumulative_mg=36.0,
                )
            )
            if recovery is not None:
                db.add(vitals(stop_at + timedelta(minutes=100), VitalPhase.RECOVERY, recovery, sedation))
        if nausea is not None:
            db.add(
                m.SideEffect(
                    **fact,
                    session_id=session.id,
                    kind=SideEffectKind.NAUSEA,
                    severity=nausea,
                    onset_at=began + timedelta(minutes=20),
                    recorded_at=began + timedelta(minutes=20),
                )
            )
        db.commit()
        return Visit(session.id, appt.id, patient.id, stop_at if stopped else None)


def sign_in(client: TestClient, who: str) -> dict[str, str]:
    client.cookies.clear()
    r = post_login(client, f"{who}@demo.ketaflow.org")
    assert r.status_code == 303
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


@pytest.fixture
def app(demo_engine: Engine) -> Iterator[tuple[TestClient, Clock]]:
    application = create_app(demo_engine)
    frozen = Clock()
    application.dependency_overrides[clock] = frozen
    with TestClient(application) as client:
        yield client, frozen
    with demo_engine.begin() as conn:
        conn.execute(delete(m.SignInAttempt))
        conn.execute(delete(m.SignInThrottle))


READY = {
    "score_kind": "aldrete",
    "score": 10,
    "walks_with_help": True,
    "nausea": "none",
    "driver": "Dana Reyes, 555-0100",
    "relationship": "sister",
    "instructions_given": True,
    "mental_status": "baseline",
    "suicidal_ideation": "none",
}


def counts(engine: Engine, visit: Visit) -> tuple[int, str, int]:
    """Discharge rows for the visit, the appointment's status and version."""
    with Session(engine) as db:
        n = db.scalar(
            select(func.count()).select_from(m.Discharge).where(m.Discharge.session_id == visit.session_id)
        )
        appt = db.get(m.Appointment, visit.appointment_id)
        assert appt is not None
        return n or 0, str(appt.status), appt.version


def at_observation_end(frozen: Clock, visit: Visit, extra_min: int = 5) -> None:
    assert visit.stopped_at is not None
    frozen.now = visit.stopped_at + timedelta(minutes=120 + extra_min)


def test_readiness_lists_each_criterion_with_its_source_and_the_observation_end(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = make_visit(demo_engine)
    assert visit.stopped_at is not None
    frozen.now = visit.stopped_at + timedelta(minutes=60)
    sign_in(client, "nurse1.aus")
    r = client.get(f"/api/sessions/{visit.session_id}/discharge")
    assert r.status_code == 200
    body = r.json()
    assert body["ready"] is False
    assert body["observation_ends_at"] == (visit.stopped_at + timedelta(minutes=120)).isoformat()
    assert body["minutes_since_end"] == 60
    crit = {c["criterion"]: c for c in body["criteria"]}
    assert list(crit) == [
        "observation",
        "vitals",
        "sedation",
        "mental_status",
        "suicidal_ideation",
        "recovery_score",
        "walking",
        "nausea",
        "driver",
        "instructions",
        "controlled",
    ]
    assert all(c["source"] for c in crit.values())
    assert crit["controlled"]["met"] is True  # nothing was drawn up for this visit
    assert not crit["observation"]["met"] and "60 of at least 120" in crit["observation"]["message"]
    assert crit["vitals"]["met"] is True
    assert crit["driver"]["met"] is True  # prefilled from the check-in
    assert body["entries"]["driver"] == "Dana Reyes, 555-0100"
    assert "SPRAVATO" in crit["observation"]["source"]
    assert any("Do not drive" in line for line in body["aftercare"])


@pytest.mark.parametrize(
    ("change", "criterion", "words"),
    [
        ("observation", "observation", "of at least 120 minutes"),
        ("vitals", "vitals", "Vitals are not back within limits"),
        ("driver", "driver", "Confirm the driver"),
        ("nausea", "nausea", "Nausea is moderate"),
        ("score", "recovery_score", "score 7 is below 9"),
        ("walking", "walking", "walk steadily with help"),
        ("instructions", "instructions", "after-care instructions"),
    ],
)
def test_discharge_is_refused_with_the_unmet_item_and_nothing_saved(
    app: tuple[TestClient, Clock], demo_engine: Engine, change: str, criterion: str, words: str
) -> None:
    client, frozen = app
    visit = make_visit(demo_engine, recovery=(186, 112, 96, 97, 16) if change == "vitals" else NORMAL)
    at_observation_end(frozen, visit, extra_min=-30 if change == "observation" else 5)
    body = dict(READY)
    if change == "driver":
        body["driver"] = "Dana"
    elif change == "nausea":
        body["nausea"] = "moderate"
    elif change == "score":
        body["score"] = 7
    elif change == "walking":
        body["walks_with_help"] = False
    elif change == "instructions":
        body["instructions_given"] = False
    nurse = sign_in(client, "nurse1.aus")
    before = counts(demo_engine, visit)
    r = client.post(f"/api/sessions/{visit.session_id}/discharge", json=body, headers=nurse)
    assert r.status_code == 400
    answer = r.json()
    assert [u["criterion"] for u in answer["unmet"]] == [criterion]
    assert words in answer["error"] and words in answer["unmet"][0]["message"]
    assert answer["unmet"][0]["source"]
    assert counts(demo_engine, visit) == before == (0, "in_chair", 1)


def test_every_unmet_item_is_listed_at_once(app: tuple[TestClient, Clock], demo_engine: Engine) -> None:
    client, frozen = app
    visit = make_visit(demo_engine, stopped=False, driver=None, nausea=Severity.SEVERE)
    frozen.now = DAY0 + timedelta(days=400)
    nurse = sign_in(client, "nurse1.aus")
    r = client.post(
        f"/api/sessions/{visit.session_id}/discharge",
        json={"score": 8, "nausea": "severe"},
        headers=nurse,
    )
    assert r.status_code == 400
    unmet = {u["criterion"]: u["message"] for u in r.json()["unmet"]}
    assert set(unmet) == {
        "observation",
        "vitals",
        "sedation",
        "mental_status",
        "suicidal_ideation",
        "recovery_score",
        "walking",
        "nausea",
        "driver",
        "instructions",
    }
    assert "has not been stopped" in unmet["observation"]
    assert "(1)" in r.json()["error"] and "(10)" in r.json()["error"]
    assert counts(demo_engine, visit)[0] == 0
    # The checklist prefills the charted, unresolved nausea.
    assert client.get(f"/api/sessions/{visit.session_id}/discharge").json()["entries"]["nausea"] == "severe"


def test_vitals_must_be_charted_after_the_stop(app: tuple[TestClient, Clock], demo_engine: Engine) -> None:
    client, frozen = app
    visit = make_visit(demo_engine, recovery=None)
    at_observation_end(frozen, visit)
    nurse = sign_in(client, "nurse1.aus")
    r = client.post(f"/api/sessions/{visit.session_id}/discharge", json=READY, headers=nurse)
    assert r.status_code == 400
    assert [u["message"] for u in r.json()["unmet"]] == [
        "Chart a set of vital signs taken after the infusion stopped.",
        "Chart the sedation level (MOAA/S) with the vitals after the stop before discharge.",
    ]


def test_discharge_when_all_is_met_then_a_second_is_a_conflict(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = make_visit(demo_engine)
    at_observation_end(frozen, visit)
    nurse = sign_in(client, "nurse1.aus")
    ready = client.get(f"/api/sessions/{visit.session_id}/discharge", params={**READY}).json()
    assert ready["ready"] is True and ready["unmet"] == []
    r = client.post(f"/api/sessions/{visit.session_id}/discharge", json=READY, headers=nurse)
    assert r.status_code == 200, r.text
    assert r.json()["driver"] == "Dana Reyes" and r.json()["recovery_score"] == "aldrete 10"
    assert counts(demo_engine, visit) == (1, "completed", 2)
    with Session(demo_engine) as db:
        row = db.scalar(select(m.Discharge).where(m.Discharge.session_id == visit.session_id))
        assert row is not None
        assert row.escort_phone == "555-0100" and row.escort_relationship == "sister"
        assert row.instructions_given is True and row.discharged_at == frozen.now
        assert row.criteria["criteria"]["observation"]["met"] is True
        assert row.criteria["minutes_since_end"] == 125
        audit = db.scalar(
            select(func.count())
            .select_from(m.AuditEvent)
            .where(m.AuditEvent.entity_id == visit.session_id, m.AuditEvent.action == "session.discharge")
        )
        assert audit == 1
    again = client.post(f"/api/sessions/{visit.session_id}/discharge", json=READY, headers=nurse)
    assert again.status_code == 409 and "already been discharged" in again.json()["error"]
    assert counts(demo_engine, visit) == (1, "completed", 2)
    after = client.get(f"/api/sessions/{visit.session_id}/discharge").json()
    assert after["ready"] is False and after["discharged"]["driver"] == "Dana Reyes"
    board = client.get("/api/clinics/aus/board").json()
    in_chairs = [c["now"]["session_id"] for c in board["chairs"] if c["now"] and c["now"]["session_id"]]
    assert str(visit.session_id) not in in_chairs  # discharged: the chair is free on the board


def test_arranged_transport_stands_in_for_a_driver(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = make_visit(demo_engine, driver=None, transport="Care home van, booked for 13:30")
    at_observation_end(frozen, visit)
    nurse = sign_in(client, "psychiatrist1.aus")
    prefilled = client.get(f"/api/sessions/{visit.session_id}/discharge").json()["entries"]
    assert prefilled["transport"] == "Care home van, booked for 13:30" and prefilled["driver"] == ""
    body = {**READY, "driver": "", "transport": prefilled["transport"], "score_kind": "padss", "score": 9}
    r = client.post(f"/api/sessions/{visit.session_id}/discharge", json=body, headers=nurse)
    assert r.status_code == 200, r.text
    assert r.json()["transport"] == "Care home van, booked for 13:30" and r.json()["driver"] is None


def test_a_stale_appointment_version_is_refused(app: tuple[TestClient, Clock], demo_engine: Engine) -> None:
    client, frozen = app
    visit = make_visit(demo_engine)
    at_observation_end(frozen, visit)
    nurse = sign_in(client, "nurse1.aus")
    r = client.post(
        f"/api/sessions/{visit.session_id}/discharge", json={**READY, "version": 0}, headers=nurse
    )
    assert r.status_code == 409 and "changed by someone else" in r.json()["error"]
    assert counts(demo_engine, visit) == (0, "in_chair", 1)


def test_the_page_shows_the_checklist_and_refuses_with_the_message_beside_the_field(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = make_visit(demo_engine)
    assert visit.stopped_at is not None
    frozen.now = visit.stopped_at + timedelta(minutes=30)
    sign_in(client, "nurse1.aus")
    url = f"/sessions/{visit.session_id}/discharge"
    page = client.get(url)
    assert page.status_code == 200
    text = page.text
    assert "Recovery and discharge" in text and "observation period ends at" in text
    ends = (visit.stopped_at + timedelta(minutes=120)).astimezone(ZoneInfo("America/Chicago"))
    assert ends.strftime("%H:%M") in text
    assert "SPRAVATO" in text and "Aldrete" in text and 'value="Dana Reyes, 555-0100"' in text
    assert f'href="/sessions/{visit.session_id}/aftercare"' in text
    csrf = client.get("/api/me").json()["csrf_token"]

    bad = client.post(url, data={"csrf": csrf, "score": "ten", "driver": "Sam Lee, 555-0199"})
    assert bad.status_code == 400 and "whole number" in bad.text and "field-error" in bad.text
    assert 'value="Sam Lee, 555-0199"' in bad.text  # what was typed is kept
    assert "Traceback" not in bad.text

    form = {
        "csrf": csrf,
        "score_kind": "aldrete",
        "score": "10",
        "walks_with_help": "1",
        "nausea": "none",
        "mental_status": "baseline",
        "suicidal_ideation": "none",
    }
    refused = client.post(url, data={**form, "driver": "Dana Reyes, 555-0100", "instructions_given": "1"})
    assert refused.status_code == 400 and "cannot be discharged yet" in refused.text
    assert counts(demo_engine, visit)[0] == 0

    at_observation_end(frozen, visit)
    done = client.post(
        url,
        data={**form, "driver": "Dana Reyes, 555-0100", "instructions_given": "1"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert counts(demo_engine, visit) == (1, "completed", 2)
    shown = client.get(url)
    assert shown.status_code == 200 and "Discharged" in shown.text
    assert client.post(url, data={**form, "csrf": "wrong"}).status_code == 403


def test_the_aftercare_sheet_is_printable_with_the_patient_clinic_and_driver(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = make_visit(demo_engine)
    at_observation_end(frozen, visit)
    nurse = sign_in(client, "nurse1.aus")
    assert (
        client.post(
            f"/api/sessions/{visit.session_id}/discharge",
            json={**READY, "driver": "Jordan Blake, 512-555-0142", "relationship": "husband"},
            headers=nurse,
        ).status_code
        == 200
    )
    sign_in(client, "frontdesk1.aus")  # the front desk may print it too
    r = client.get(f"/sessions/{visit.session_id}/aftercare")
    assert r.status_code == 200
    text = r.text
    with Session(demo_engine) as db:
        clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        assert clinic is not None
    assert "Robin Okafor" in text and clinic.name in text
    if clinic.phone:
        assert clinic.phone in text
    assert "Taken home by" in text and "Jordan Blake (husband), 512-555-0142" in text
    assert frozen.now.astimezone(ZoneInfo(clinic.timezone)).strftime("%d %B %Y") in text
    for words in ("Do not drive", "alcohol", "benzodiazepines", "Xanax", "988"):
        assert words in text
    assert "/static/print.css" in text
    sign_in(client, "nurse1.den")
    assert client.get(f"/sessions/{visit.session_id}/aftercare").status_code == 403


def test_two_nurses_discharging_the_same_patient_at_once_only_one_is_charted(demo_engine: Engine) -> None:
    """Both discharges set off together behind the session's lock; one is charted, the other told."""
    visit = make_visit(demo_engine)
    assert visit.stopped_at is not None
    now = visit.stopped_at + timedelta(minutes=125)
    nurses = [staff(demo_engine, "nurse1.aus"), staff(demo_engine, "psychiatrist1.aus")]
    entries = parse_entries(**{k: v for k, v in READY.items() if k != "relationship"})
    outcomes: list[str] = []

    def attempt(who: CurrentUser) -> Callable[[], None]:
        def run() -> None:
            with Session(demo_engine) as db:
                try:
                    discharge(db, who, visit.session_id, entries, now)
                    outcomes.append("discharged")
                except Conflict as exc:
                    outcomes.append(exc.message)

        return run

    session_lock = (
        select(m.InfusionSession.id).where(m.InfusionSession.id == visit.session_id).with_for_update()
    )
    race(demo_engine, session_lock, attempt(nurses[0]), attempt(nurses[1]))
    assert outcomes.count("discharged") == 1 and len(outcomes) == 2, outcomes
    refused = next(o for o in outcomes if o != "discharged")
    assert "already been discharged" in refused, outcomes  # the reason, not a stale appointment
    assert counts(demo_engine, visit) == (1, "completed", 2)
    with Session(demo_engine) as db:
        audits = db.scalar(
            select(func.count())
            .select_from(m.AuditEvent)
            .where(m.AuditEvent.entity_id == visit.session_id, m.AuditEvent.action == "session.discharge")
        )
    assert audits == 1
