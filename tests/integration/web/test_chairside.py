"""The nurse in the chair: side effects, interventions, pause reasons, comfort, help requests, CADSS,
vitals checked as typed; through the API and the HTML forms, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from ketaflow.clinical import default_rules
from ketaflow.errors import Conflict
from ketaflow.services import chairside, infusion
from ketaflow.services.auth import CurrentUser
from ketaflow.store import models as m
from ketaflow.vocabulary import (
    AdministrationKind,
    AppointmentKind,
    AppointmentStatus,
    Instrument,
    Respondent,
    Role,
    TreatmentPhase,
)
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.races import race
from tests.integration.web.demo_support import demo_plan
from tests.integration.web.sign_in_support import post_login

# 10:00 in Austin on a day no other test books.
T0 = datetime(2033, 2, 14, 16, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class ChairWorld:
    """Fresh infusion sessions at the Austin clinic, one per test, each in its own chair slot."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with Session(engine) as db:
            clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
            assert clinic is not None
            plan = demo_plan(db, "aus")
            chair = db.scalars(
                select(m.Chair).where(m.Chair.clinic_id == clinic.id).order_by(m.Chair.label)
            ).first()
            assert chair is not None
            self.clinic_id, self.plan_id, self.patient_id = clinic.id, plan.id, plan.patient_id
            self.chair_id = chair.id
            psychiatrist = db.scalar(
                select(m.StaffUser.id).where(m.StaffUser.email == "psychiatrist1.aus@demo.ketaflow.org")
            )
            assert psychiatrist is not None
            self.psychiatrist_id = psychiatrist

    def session(
        self, *, at: datetime = T0, ordered: bool = True, started: bool = False, chair: int = 0
    ) -> uuid.UUID:
        """An open infusion (opened at `at`), with a dose order and optionally a started pump, in the
        clinic's first chair (or its `chair`-th, by position)."""
        with Session(self.engine) as db:
            chair_id = db.scalars(
                select(m.Chair.id).where(m.Chair.clinic_id == self.clinic_id).order_by(m.Chair.label)
            ).all()[chair]
            appt = m.Appointment(
                clinic_id=self.clinic_id,
                patient_id=self.patient_id,
                chair_id=chair_id,
                treatment_plan_id=self.plan_id,
                kind=AppointmentKind.INFUSION,
                starts_at=at,
                ends_at=at + timedelta(hours=3),
                status=AppointmentStatus.IN_CHAIR,
                escort_name="Dana Reyes",
                escort_phone="555-0100",
            )
            db.add(appt)
            db.flush()
            session = m.InfusionSession(
                clinic_id=self.clinic_id,
                patient_id=self.patient_id,
                appointment_id=appt.id,
                treatment_plan_id=self.plan_id,
                chair_id=chair_id,
                series_number=98,
                phase=TreatmentPhase.MAINTENANCE,
                opened_at=at,
            )
            db.add(session)
            db.flush()
            if ordered:
                db.add(
                    m.DoseOrder(
                        clinic_id=self.clinic_id,
                        session_id=session.id,
                        ordered_by_id=self.psychiatrist_id,
                        ordered_at=at,
                        protocol_code="depression-induction",
                        dosing_weight_kg=70.0,
                        dose_mg_per_kg=0.5,
                        dose_mg=35.0,
                        duration_min=40.0,
                        bag_drug_mg=100.0,
                        bag_volume_ml=100.0,
                        rate_ml_per_h=52.5,
                        volume_ml=35.0,
                    )
                )
            if started:
                db.add(
                    m.AdministrationEvent(
                        clinic_id=self.clinic_id,
                        session_id=session.id,
                        kind=AdministrationKind.START,
                        occurred_at=at + timedelta(minutes=1),
                        rate_ml_per_h=52.5,
                        rate_mg_per_min=35.0 / 40,
                        cumulative_mg=0.0,
                    )
                )
            db.commit()
            sid: uuid.UUID = session.id
            return sid

    def discharge(self, session_id: uuid.UUID, at: datetime) -> None:
        with Session(self.engine) as db:
            db.add(
                m.Discharge(
                    clinic_id=self.clinic_id,
                    session_id=session_id,
                    discharged_at=at,
                    recovery_score_kind="aldrete",
                    recovery_score=10,
                    escort_name="Dana Reyes",
                    escort_phone="555-0100",
                    instructions_given=True,
                )
            )
            db.commit()

    def count(self, model: Any, session_id: uuid.UUID) -> int:
        with self.engine.connect() as conn:
            return (
                conn.scalar(select(func.count()).select_from(model).where(model.session_id == session_id))
                or 0
            )

    def rows(self, model: Any, session_id: uuid.UUID) -> list[Any]:
        with Session(self.engine) as db:
            return list(
                db.scalars(select(model).where(model.session_id == session_id).order_by(model.recorded_at))
            )


@pytest.fixture
def app_clock(demo_engine: Engine) -> Iterator[tuple[TestClient, Clock]]:
    app = create_app(demo_engine)
    frozen = Clock()
    app.dependency_overrides[clock] = frozen
    with TestClient(app) as client:
        yield client, frozen


@pytest.fixture
def world(demo_engine: Engine) -> ChairWorld:
    return ChairWorld(demo_engine)


def sign_in(client: TestClient, who: str) -> dict[str, str]:
    client.cookies.clear()
    r = post_login(client, f"{who}@demo.ketaflow.org")
    assert r.status_code == 303
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def refused(r: Any, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    assert "Traceback" not in r.text
    assert words in r.json()["error"], r.json()["error"]


# ---- side effects -----------------------------------------------------------------------------


def test_a_side_effect_is_charted_and_resolved_by_an_amendment(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    nurse = sign_in(client, "nurse1.aus")
    api = f"/api/sessions/{sid}"
    frozen.now = T0 + timedelta(minutes=15)

    r = client.post(
        f"{api}/side-effects",
        json={"kind": "nausea", "severity": "moderate", "notes": "queasy", "adverse_event": False},
        headers=nurse,
    )
    assert r.status_code == 200, r.text
    nausea = r.json()
    assert nausea["onset_at"] == frozen.now.isoformat() and nausea["resolved_at"] is None

    view = client.get(api).json()
    assert [e["kind"] for e in view["side_effects"]] == ["nausea"]
    page = client.get(f"/sessions/{sid}")
    assert page.status_code == 200 and "Side effect: nausea (moderate) since 10:15" in page.text

    frozen.now = T0 + timedelta(minutes=25)
    early = client.post(
        f"{api}/side-effects/{nausea['id']}/resolve",
        json={"resolved_at": (T0 + timedelta(minutes=10)).isoformat()},
        headers=nurse,
    )
    refused(early, 400, "before its onset")
    done = client.post(f"{api}/side-effects/{nausea['id']}/resolve", json={}, headers=nurse)
    assert done.status_code == 200, done.text
    assert done.json()["amends_id"] == nausea["id"] and done.json()["resolved_at"] == frozen.now.isoformat()

    rows = world.rows(m.SideEffect, sid)
    assert len(rows) == 2
    original = next(r for r in rows if str(r.id) == nausea["id"])
    assert original.resolved_at is None and original.amends_id is None  # the charted original is intact
    assert [e["resolved_at"] for e in client.get(api).json()["side_effects"]] == [frozen.now.isoformat()]

    again = client.post(f"{api}/side-effects/{nausea['id']}/resolve", json={}, headers=nurse)
    refused(again, 409, "already marked resolved")
    again_latest = client.post(f"{api}/side-effects/{done.json()['id']}/resolve", json={}, headers=nurse)
    refused(again_latest, 409, "already marked resolved")
    assert world.count(m.SideEffect, sid) == 2

    with Session(world.engine) as db:
        audit = db.scalars(
            select(m.AuditEvent.action).where(
                m.AuditEvent.patient_id == world.patient_id, m.AuditEvent.action.like("side_effect.%")
            )
        ).all()
    assert {"side_effect.create", "side_effect.resolve"} <= set(audit)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"kind": "itching", "severity": "mild"}, 400, "must be one of nausea"),
        ({"kind": "nausea", "severity": "awful"}, 400, "severity must be one of mild"),
        ({"kind": "", "severity": "mild"}, 400, "Choose the side effect"),
        (
            {"kind": "nausea", "severity": "mild", "onset_at": "2033-02-14T16:30:00+00:00"},
            400,
            "in the future",
        ),
        ({"kind": "nausea", "severity": "mild", "onset_at": "2033-02-14T15:00:00+00:00"}, 400, "before this"),
        ({"kind": "nausea", "severity": "mild", "onset_at": "2033-02-14T16:05:00"}, 400, "time zone"),
        ({"kind": "nausea", "severity": "mild", "notes": "x" * 2001}, 400, "too long"),
    ],
)
def test_bad_side_effects_are_refused_and_nothing_is_saved(
    app_clock: tuple[TestClient, Clock], world: ChairWorld, body: dict[str, Any], status: int, words: str
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    nurse = sign_in(client, "nurse1.aus")
    frozen.now = T0 + timedelta(minutes=20)
    refused(client.post(f"/api/sessions/{sid}/side-effects", json=body, headers=nurse), status, words)
    assert world.count(m.SideEffect, sid) == 0


# ---- interventions ----------------------------------------------------------------------------


def test_interventions_drug_or_action_linked_to_a_side_effect(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    nurse = sign_in(client, "nurse1.aus")
    api = f"/api/sessions/{sid}"
    frozen.now = T0 + timedelta(minutes=12)
    se = client.post(f"{api}/side-effects", json={"kind": "nausea", "severity": "mild"}, headers=nurse).json()

    refused(
        client.post(f"{api}/interventions", json={"kind": "drug", "drug_name": "ondansetron"}, headers=nurse),
        400,
        "Write the dose of ondansetron",
    )
    refused(
        client.post(f"{api}/interventions", json={"kind": "drug", "dose_text": "4 mg IV"}, headers=nurse),
        400,
        "Name the drug",
    )
    refused(
        client.post(f"{api}/interventions", json={"kind": "action"}, headers=nurse),
        400,
        "Describe the action",
    )
    refused(
        client.post(f"{api}/interventions", json={"kind": "prayer", "description": "x"}, headers=nurse),
        400,
        "must be one of drug",
    )
    refused(
        client.post(
            f"{api}/interventions",
            json={"kind": "action", "description": "x", "side_effect_id": str(uuid.uuid4())},
            headers=nurse,
        ),
        404,
        "no such side effect",
    )
    assert world.count(m.Intervention, sid) == 0

    drug = client.post(
        f"{api}/interventions",
        json={"kind": "drug", "drug_name": "ondansetron", "dose_text": "4 mg IV", "side_effect_id": se["id"]},
        headers=nurse,
    )
    assert drug.status_code == 200, drug.text
    assert drug.json()["description"] == "ondansetron 4 mg IV"
    action = client.post(
        f"{api}/interventions",
        json={"kind": "action", "description": "reassurance, lights dimmed"},
        headers=nurse,
    )
    assert action.status_code == 200, action.text

    # The side effect is resolved afterwards: the intervention still shows what it was for.
    frozen.now = T0 + timedelta(minutes=20)
    assert client.post(f"{api}/side-effects/{se['id']}/resolve", json={}, headers=nurse).status_code == 200
    listed = client.get(api).json()["interventions"]
    assert [(i["kind"], i["side_effect_kind"]) for i in listed] == [("drug", "nausea"), ("action", None)]
    page = client.get(f"/sessions/{sid}").text
    assert "ondansetron 4 mg IV" in page and "(for nausea)" in page


# ---- pump pause with a reason -------------------------------------------------------------------


def test_a_pause_carries_its_reason_prefilled_from_the_latest_alert(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    nurse = sign_in(client, "nurse1.aus")
    api = f"/api/sessions/{sid}"
    frozen.now = T0 + timedelta(minutes=5)
    assert (
        client.post(f"{api}/vitals", json={"bp": "128/82", "heart_rate": 72}, headers=nurse).status_code
        == 200
    )
    # issue 13: one cuff value at the pause level asks for a recheck; the second confirms the pause
    frozen.now = T0 + timedelta(minutes=10)
    first = client.post(f"{api}/vitals", json={"bp": "182/110", "heart_rate": 90}, headers=nurse).json()
    assert first["level"] == "watch" and any("Recheck" in a for a in first["actions"])
    assert not client.get(api).json()["suggested_pause_reason"]
    frozen.now = T0 + timedelta(minutes=15)
    high = client.post(f"{api}/vitals", json={"bp": "182/110", "heart_rate": 90}, headers=nurse).json()
    assert high["level"] in {"pause", "stop"}
    suggested = client.get(api).json()["suggested_pause_reason"]
    assert suggested.startswith("BP 182/110: ")
    page = client.get(f"/sessions/{sid}").text
    assert 'name="reason"' in page and "BP 182/110: " in page

    refused(
        client.post(f"{api}/pump", json={"kind": "resume", "reason": "why"}, headers=nurse),
        400,
        "pause or a stop only",
    )
    r = client.post(f"{api}/pump", json={"kind": "pause", "reason": "BP 182/110"}, headers=nurse)
    assert r.status_code == 200 and r.json()["state"] == "paused"
    events = client.get(api).json()["events"]
    assert [(e["kind"], e["reason"]) for e in events] == [("start", None), ("pause", "BP 182/110")]
    assert "<em>BP 182/110</em>" in client.get(f"/sessions/{sid}").text

    # The form path: stop with a reason.
    frozen.now = T0 + timedelta(minutes=20)
    csrf = nurse["X-CSRF-Token"]
    form = client.post(
        f"/sessions/{sid}/pump",
        data={"csrf": csrf, "kind": "stop", "reason": "patient asked", "confirm": "yes"},
        follow_redirects=False,
    )
    assert form.status_code == 303
    assert client.get(api).json()["events"][-1]["reason"] == "patient asked"
    page = client.get(f"/sessions/{sid}").text
    assert f'href="/sessions/{sid}/discharge">Recovery and discharge</a>' in page


def _pump_buttons(page: str) -> list[str]:
    """The pump actions a page offers: one form each, its kind in a hidden field."""
    return re.findall(r'<form method="post" action="/sessions/[^"]+/pump" id="pump-(\w+)"', page)


def test_the_page_offers_only_the_pump_actions_valid_now_each_in_its_own_form(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=False)
    nurse = sign_in(client, "nurse1.aus")
    api = f"/api/sessions/{sid}"
    assert _pump_buttons(client.get(f"/sessions/{sid}").text) == ["start"]
    client.post(f"{api}/pump", json={"kind": "start"}, headers=nurse)
    assert _pump_buttons(client.get(f"/sessions/{sid}").text) == ["pause", "stop"]
    frozen.now = T0 + timedelta(minutes=5)
    client.post(f"{api}/pump", json={"kind": "pause", "reason": "restroom"}, headers=nurse)
    assert _pump_buttons(client.get(f"/sessions/{sid}").text) == ["resume", "stop"]
    frozen.now = T0 + timedelta(minutes=8)
    client.post(f"{api}/pump", json={"kind": "stop"}, headers=nurse)
    assert _pump_buttons(client.get(f"/sessions/{sid}").text) == []


def test_stop_from_the_page_needs_its_confirmation_and_nothing_is_charted_without_it(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    nurse = sign_in(client, "nurse1.aus")
    frozen.now = T0 + timedelta(minutes=10)
    before = world.count(m.AdministrationEvent, sid)
    r = client.post(
        f"/sessions/{sid}/pump",
        data={"csrf": nurse["X-CSRF-Token"], "kind": "stop", "reason": "patient asked"},
        follow_redirects=False,
    )
    assert r.status_code == 400 and "confirm" in r.text and "cannot be restarted" in r.text
    assert world.count(m.AdministrationEvent, sid) == before
    assert client.get(f"/api/sessions/{sid}").json()["state"] == "running"
    # What was typed is kept in the stop form, ready to confirm.
    assert 'value="patient asked"' in r.text


def test_the_discharge_link_appears_only_once_the_infusion_is_stopped(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    sign_in(client, "nurse1.aus")
    frozen.now = T0 + timedelta(minutes=10)
    assert "Recovery and discharge" not in client.get(f"/sessions/{sid}").text


# ---- comfort ------------------------------------------------------------------------------------


def test_comfort_settings_are_a_new_row_per_change(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    nurse = sign_in(client, "nurse1.aus")
    api = f"/api/sessions/{sid}"
    frozen.now = T0 + timedelta(minutes=3)
    first = client.post(f"{api}/comfort", json={"music": True, "dimmed_light": True}, headers=nurse).json()
    assert first["changed"] and first["music"] and first["dimmed_light"] and not first["eye_mask"]
    same = client.post(f"{api}/comfort", json={"music": True, "dimmed_light": True}, headers=nurse).json()
    assert same["changed"] is False
    assert world.count(m.ComfortSetting, sid) == 1
    frozen.now = T0 + timedelta(minutes=8)
    csrf = nurse["X-CSRF-Token"]
    form = client.post(
        f"/sessions/{sid}/comfort", data={"csrf": csrf, "music": "1", "eye_mask": "1"}, follow_redirects=False
    )
    assert form.status_code == 303
    assert world.count(m.ComfortSetting, sid) == 2
    comfort = client.get(api).json()["comfort"]
    assert (comfort["music"], comfort["dimmed_light"], comfort["eye_mask"]) == (True, False, True)
    page = client.get(f"/sessions/{sid}").text
    assert 'name="eye_mask" value="1" checked' in page and 'name="dimmed_light" value="1">' in page


def _board_slot(board: dict[str, Any], sid: uuid.UUID) -> dict[str, Any]:
    """The board's slot for this session, wherever the board placed it (other tests share the chair)."""
    slots = [c["now"] for c in board["chairs"]] + [s for c in board["chairs"] for s in c["later"]]
    found = [s for s in slots + board["unassigned"] if s and s["session_id"] == str(sid)]
    assert found, "the session is on the board"
    slot: dict[str, Any] = found[0]
    return slot


# ---- assistance requests --------------------------------------------------------------------------


def test_a_request_for_help_waits_then_is_answered_by_an_amendment(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    B = T0 + timedelta(days=1)
    sid = world.session(at=B, started=True)  # its own day: the board shows one slot per chair
    nurse = sign_in(client, "nurse1.aus")
    api = f"/api/sessions/{sid}"
    frozen.now = B + timedelta(minutes=30)
    refused(
        client.post(f"{api}/assistance", json={"reason": "snack"}, headers=nurse),
        400,
        "must be one of restroom",
    )
    asked = client.post(
        f"{api}/assistance",
        json={"reason": "restroom", "asked_at": (B + timedelta(minutes=28)).isoformat()},
        headers=nurse,
    )
    assert asked.status_code == 200, asked.text
    req = asked.json()
    assert req["minutes_waiting"] == 2

    frozen.now = B + timedelta(minutes=34)
    assert client.get(api).json()["assistance"][0]["minutes_waiting"] == 6
    assert "waiting 6 min" in client.get(f"/sessions/{sid}").text
    board = client.get("/api/clinics/aus/board").json()
    mine = _board_slot(board, sid)
    assert mine["open_requests"] == [{"reason": "restroom", "asked_at": req["asked_at"]}]

    refused(
        client.post(
            f"{api}/assistance/{req['id']}/answer",
            json={"helped_at": (B + timedelta(minutes=20)).isoformat()},
            headers=nurse,
        ),
        400,
        "before the request",
    )
    helped = client.post(f"{api}/assistance/{req['id']}/answer", json={}, headers=nurse)
    assert helped.status_code == 200, helped.text
    with Session(world.engine) as db:
        nurse_id = db.scalar(
            select(m.StaffUser.id).where(m.StaffUser.email == "nurse1.aus@demo.ketaflow.org")
        )
    assert helped.json()["helped_by_id"] == str(nurse_id) and helped.json()["amends_id"] == req["id"]
    refused(
        client.post(f"{api}/assistance/{req['id']}/answer", json={}, headers=nurse), 409, "already answered"
    )
    rows = world.rows(m.AssistanceRequest, sid)
    original = next(r for r in rows if r.amends_id is None)
    assert len(rows) == 2 and original.helped_at is None  # the original request stays as charted
    board = client.get("/api/clinics/aus/board").json()
    assert _board_slot(board, sid)["open_requests"] == []


# ---- the board as a triage screen -----------------------------------------------------------------


def test_the_board_puts_the_most_urgent_chair_first_with_its_reason(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    """Four chairs on a day of their own: stop-level vitals, a help request, a pause with its reason
    and a stopped infusion. The triage lists stop first, then help; the paused chair shows its reason
    and the stopped one the minutes since the stop; the front desk sees the request only."""
    client, frozen = app_clock
    D = T0 + timedelta(days=5)
    frozen.now = D
    urgent, waiting, paused, stopped = (world.session(at=D, started=True, chair=i) for i in range(4))
    nurse = sign_in(client, "nurse1.aus")
    frozen.now = D + timedelta(minutes=4)
    for sid in (urgent, waiting, paused, stopped):
        ok = client.post(
            f"/api/sessions/{sid}/vitals", json={"bp": "128/82", "heart_rate": 72, "spo2": 98}, headers=nurse
        )
        assert ok.status_code == 200, ok.text
    frozen.now = D + timedelta(minutes=8)
    client.post(
        f"/api/sessions/{paused}/pump", json={"kind": "pause", "reason": "restroom with help"}, headers=nurse
    )
    client.post(f"/api/sessions/{stopped}/pump", json={"kind": "stop"}, headers=nurse)
    client.post(f"/api/sessions/{waiting}/assistance", json={"reason": "nausea"}, headers=nurse)
    frozen.now = D + timedelta(minutes=9)
    high = client.post(
        f"/api/sessions/{urgent}/vitals", json={"bp": "204/122", "heart_rate": 96, "spo2": 97}, headers=nurse
    )
    assert high.json()["level"] == "stop"

    frozen.now = D + timedelta(minutes=12)
    board = client.get("/api/clinics/aus/board").json()
    order = [t["session_id"] for t in board["triage"]]
    assert order[:2] == [str(urgent), str(waiting)], board["triage"]
    assert board["triage"][0]["level"] == "stop" and "BP 204/122" in board["triage"][0]["text"]
    assert "(3 min)" in board["triage"][0]["text"]  # how old the reading is
    assert board["triage"][1]["text"].startswith("Help requested: Asked for help (nausea) (4 min)")
    lines = {
        sid: " | ".join(line["text"] for line in _board_slot(board, sid)["lines"])
        for sid in (urgent, paused, stopped)
    }
    assert "4 min: restroom with help" in lines[paused]
    assert "4 min since the stop" in lines[stopped]
    assert "BP 204/122" in lines[urgent]
    assert _board_slot(board, urgent)["lines"][1]["after"] == "3 min ago"
    page = client.get("/clinics/aus/board").text
    assert 'http-equiv="refresh"' not in page  # updates itself in place (static/board.js)
    assert page.index("BP 204/122") < page.index("Asked for help (nausea)")
    assert "urgent-stop" in page

    sign_in(client, "frontdesk1.aus")
    desk = client.get("/api/clinics/aus/board").json()
    assert [t["session_id"] for t in desk["triage"]] == [str(waiting)]
    desk_text = json.dumps(desk)
    assert "204/122" not in desk_text and "restroom with help" not in desk_text


def test_the_board_confirms_a_blood_pressure_pause_by_symptoms_as_the_infusion_page_does(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    """Issue 13: a pause at 180/110 needs a second reading within the window or a symptom. The
    infusion page counted a charted headache; the board's triage did not, and showed "recheck"
    where the page said "pause". Both now assess the latest reading with the same call."""
    client, frozen = app_clock
    D = T0 + timedelta(days=7)
    frozen.now = D
    sid = world.session(at=D, started=True)
    nurse = sign_in(client, "nurse1.aus")
    api = f"/api/sessions/{sid}"
    frozen.now = D + timedelta(minutes=4)
    calm = {"bp": "128/82", "heart_rate": 72, "spo2": 98, "sedation": 5}
    assert client.post(f"{api}/vitals", json=calm, headers=nurse).status_code == 200
    frozen.now = D + timedelta(minutes=10)
    ache = {"kind": "headache", "severity": "moderate", "notes": "", "adverse_event": False}
    assert client.post(f"{api}/side-effects", json=ache, headers=nurse).status_code == 200
    frozen.now = D + timedelta(minutes=12)
    high = {"bp": "184/112", "heart_rate": 80, "spo2": 98, "sedation": 5}
    r = client.post(f"{api}/vitals", json=high, headers=nurse)
    assert r.status_code == 200, r.text
    assert r.json()["level"] == "pause"  # one reading, confirmed by the headache charted before it
    assert client.get(api).json()["vitals"][-1]["level"] == "pause"
    frozen.now = D + timedelta(minutes=13)
    board = client.get("/api/clinics/aus/board").json()
    slot = _board_slot(board, sid)
    assert slot["last_vitals"]["level"] == "pause", slot["last_vitals"]
    mine = [t for t in board["triage"] if t["session_id"] == str(sid)]
    assert mine and mine[0]["level"] == "pause", board["triage"]


# ---- CADSS ----------------------------------------------------------------------------------------


def test_cadss_is_scored_by_the_scales_module_and_stored_as_clinician_rated(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    nurse = sign_in(client, "nurse1.aus")
    api = f"/api/sessions/{sid}"
    frozen.now = T0 + timedelta(minutes=41)
    answers = [i % 5 for i in range(23)]  # 0,1,2,3,4 four times (4 x 10 = 40) then 0,1,2 (3): total 43
    refused(
        client.post(f"{api}/cadss", json={"answers": answers[:22] + [None]}, headers=nurse),
        400,
        "item 23 is unanswered",
    )
    refused(
        client.post(f"{api}/cadss", json={"answers": answers[:22]}, headers=nurse), 400, "needs 23 answers"
    )
    refused(
        client.post(f"{api}/cadss", json={"answers": [5] + answers[1:]}, headers=nurse),
        400,
        "item 1 must be 0 to 4",
    )
    assert world.count(m.QuestionnaireResponse, sid) == 0

    r = client.post(f"{api}/cadss", json={"answers": answers}, headers=nurse)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 43 and r.json()["max_total"] == 92
    (row,) = world.rows(m.QuestionnaireResponse, sid)
    assert (row.instrument, row.respondent, row.total, row.answers) == (
        Instrument.CADSS,
        Respondent.CLINICIAN,
        43,
        answers,
    )
    assert row.patient_id == world.patient_id and str(row.for_date) == "2033-02-14"
    assert client.get(api).json()["cadss"][0]["total"] == 43
    assert "total <strong>43</strong> of 92" in client.get(f"/sessions/{sid}").text


def test_the_cadss_form_is_a_radio_group_per_item_with_its_wording_and_anchors(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    """Issue 19 item 6: 23 drop-downs labelled "CADSS item 1..23" become one fieldset per item,
    its text as the legend and the anchors as radio buttons (as the patient's PHQ-9 on the portal);
    the page's form scores the same hand-worked total as the API."""
    client, frozen = app_clock
    sid = world.session(started=True)
    nurse = sign_in(client, "nurse1.aus")
    frozen.now = T0 + timedelta(minutes=41)
    page = client.get(f"/sessions/{sid}").text
    form = page[page.index('class="cadss-form"') : page.index("Score and save CADSS")]
    assert "<select" not in form and "CADSS item 1 " not in form
    assert form.count("<fieldset") == 23 and form.count("<legend") == 23
    items = default_rules().scales["cadss"].item_labels
    assert items is not None
    for number, text in enumerate(items, start=1):
        assert f"{number}. {escape(text)}" in form, text
        assert form.count(f'name="item_{number}"') == 5
    for anchor in ("Not at all", "Slightly", "Moderately", "Considerably", "Extremely"):
        assert form.count(anchor) == 23, anchor
    assert "paraphrase" in page  # the page says what the item texts are

    answers = {f"item_{i}": str((i - 1) % 5) for i in range(1, 24)}  # hand-worked total 43
    r = client.post(f"/sessions/{sid}/cadss", data={**answers, "csrf": nurse["X-CSRF-Token"]})
    assert r.status_code == 200, r.text[:400]
    assert "total <strong>43</strong> of 92" in client.get(f"/sessions/{sid}").text


# ---- vitals as they are typed ------------------------------------------------------------------------


def test_the_vitals_check_follows_the_published_thresholds_and_saves_nothing(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    # Before the pump starts: each threshold alone (no confirmed-pause rule, no expected readings;
    # while it runs the check previews the chart, see the test below).
    sid = world.session(started=False)
    nurse = sign_in(client, "nurse1.aus")
    check = f"/api/sessions/{sid}/vitals/check"
    rules = default_rules().vitals
    sys_high = rules.thresholds["systolic_high"]
    spo2_low = rules.thresholds["spo2_low"]
    assert sys_high.pause is not None and spo2_low.watch is not None

    ok = client.get(check, params={"bp": "120/80", "heart_rate": 70, "spo2": 98, "respiratory_rate": 14})
    assert ok.status_code == 200 and ok.json()["level"] == "normal" and ok.json()["baseline"] is None
    at_pause = client.get(check, params={"bp": f"{int(sys_high.pause)}/80"}).json()
    assert at_pause["level"] in {"pause", "stop"}
    assert any(
        a["parameter"] == "systolic_high" and a["source"] == sys_high.source for a in at_pause["alerts"]
    )
    below = int(sys_high.watch if sys_high.watch is not None else sys_high.pause) - 1
    assert client.get(check, params={"bp": f"{below}/80"}).json()["level"] == "normal"
    low = client.get(check, params={"spo2": int(spo2_low.watch)}).json()
    assert low["level"] != "normal" and low["alerts"][0]["parameter"] == "spo2_low"

    # Against the session's baseline (its first charted reading): a rise the absolute rules do not flag.
    frozen.now = T0 + timedelta(minutes=2)
    charted = client.post(
        f"/api/sessions/{sid}/vitals", json={"bp": "112/70", "heart_rate": 70}, headers=nurse
    )
    assert charted.status_code == 200
    rise = rules.relative["systolic_rise"]
    assert rise.watch is not None and sys_high.watch is not None
    risen = int(112 * (1 + rise.watch)) + 1
    assert risen < sys_high.watch
    relative = client.get(check, params={"bp": f"{risen}/70"}).json()
    assert relative["baseline"]["bp"] == "112/70" and relative["level"] == "watch"
    assert [a["parameter"] for a in relative["alerts"]] == ["systolic_rise"]
    assert client.get(check, params={"bp": f"{risen - 2}/70"}).json()["level"] == "normal"

    refused(client.get(check, params={"bp": "400/20"}), 400, "outside the range")
    refused(client.get(check, params={"heart_rate": 900}), 400, "Heart rate must be between")
    assert world.count(m.VitalSign, sid) == 1  # the checks charted nothing
    with Session(world.engine) as db:
        audited = db.scalar(
            select(func.count())
            .select_from(m.AuditEvent)
            .where(m.AuditEvent.entity_id == sid, m.AuditEvent.action == "vitals.check")
        )
    assert audited and audited >= 4
    page = client.get(f"/sessions/{sid}").text
    assert 'id="vitals-check"' in page and "/static/chairside.js" in page
    assert client.get("/static/chairside.js").status_code == 200


def test_the_vitals_check_previews_what_charting_the_reading_would_say(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    """The check as the nurse types applies the same confirmed-pause rule as the chart: one reading
    at 180/110 asks for a recheck; a repeat within the window, or a charted headache, pauses."""
    client, frozen = app_clock
    sid = world.session(started=True)
    nurse = sign_in(client, "nurse1.aus")
    api = f"/api/sessions/{sid}"
    high = {"bp": "184/112", "heart_rate": 80, "spo2": 98, "sedation": 5}
    frozen.now = T0 + timedelta(minutes=3)
    calm = {"bp": "128/82", "heart_rate": 72, "spo2": 98, "sedation": 5}
    assert client.post(f"{api}/vitals", json=calm, headers=nurse).status_code == 200
    frozen.now = T0 + timedelta(minutes=8)
    first = client.get(f"{api}/vitals/check", params=high).json()
    assert first["level"] == "watch" and first["actions"][0].startswith("Recheck the blood pressure")
    charted = client.post(f"{api}/vitals", json=high, headers=nurse).json()
    assert (charted["level"], charted["actions"]) == (first["level"], first["actions"])
    frozen.now = T0 + timedelta(minutes=13)
    repeat = client.get(f"{api}/vitals/check", params=high).json()
    assert repeat["level"] == "pause"  # confirmed by the reading 5 minutes ago

    other = world.session(started=True)
    frozen.now = T0 + timedelta(minutes=14)
    ache = {"kind": "headache", "severity": "moderate", "notes": "", "adverse_event": False}
    assert client.post(f"/api/sessions/{other}/side-effects", json=ache, headers=nurse).status_code == 200
    frozen.now = T0 + timedelta(minutes=15)
    assert client.get(f"/api/sessions/{other}/vitals/check", params=high).json()["level"] == "pause"


# ---- after discharge ---------------------------------------------------------------------------------


def test_after_discharge_nothing_new_is_charted_but_open_items_can_be_closed(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    nurse = sign_in(client, "nurse1.aus")
    api = f"/api/sessions/{sid}"
    frozen.now = T0 + timedelta(minutes=20)
    se = client.post(
        f"{api}/side-effects", json={"kind": "headache", "severity": "mild"}, headers=nurse
    ).json()
    req = client.post(f"{api}/assistance", json={"reason": "reposition"}, headers=nurse).json()
    world.discharge(sid, T0 + timedelta(minutes=100))
    frozen.now = T0 + timedelta(minutes=110)
    for path, body in [
        ("side-effects", {"kind": "nausea", "severity": "mild"}),
        ("interventions", {"kind": "action", "description": "reassurance"}),
        ("comfort", {"music": True}),
        ("assistance", {"reason": "restroom"}),
        ("cadss", {"answers": [0] * 23}),
    ]:
        refused(client.post(f"{api}/{path}", json=body, headers=nurse), 409, "discharged")
    assert client.post(f"{api}/side-effects/{se['id']}/resolve", json={}, headers=nurse).status_code == 200
    assert client.post(f"{api}/assistance/{req['id']}/answer", json={}, headers=nurse).status_code == 200
    page = client.get(f"/sessions/{sid}")
    assert page.status_code == 200 and "Discharged" in page.text and "Recovery and discharge" in page.text
    assert f'action="/sessions/{sid}/side-effects"' not in page.text


# ---- the HTML forms ---------------------------------------------------------------------------------


def _counts(world: ChairWorld, sid: uuid.UUID) -> tuple[int, ...]:
    return tuple(
        world.count(model, sid)
        for model in (
            m.SideEffect,
            m.Intervention,
            m.ComfortSetting,
            m.AssistanceRequest,
            m.QuestionnaireResponse,
        )
    )


@pytest.mark.parametrize(
    ("path", "data", "words"),
    [
        ("side-effects", {"kind": "itching", "severity": "mild"}, "must be one of nausea"),
        ("side-effects", {"kind": "nausea", "severity": "mild", "onset_at": "10:45"}, "in the future"),
        ("side-effects", {"kind": "nausea", "severity": "mild", "onset_at": "9:30"}, "before this infusion"),
        (
            "side-effects",
            {"kind": "nausea", "severity": "mild", "onset_at": "half past"},
            "a time like 14:05",
        ),
        ("interventions", {"kind": "drug", "drug_name": "ondansetron"}, "Write the dose of ondansetron"),
        ("interventions", {"kind": "action", "side_effect_id": "nope", "description": "x"}, "from the list"),
        ("assistance", {"reason": ""}, "Choose the reason"),
        ("cadss", {f"item_{i}": "1" for i in range(1, 23)}, "item 23 is unanswered"),
        ("cadss", {**{f"item_{i}": "1" for i in range(1, 23)}, "item_23": "x"}, "whole number from 0 to 4"),
    ],
)
def test_a_bad_form_comes_back_with_the_message_and_what_was_typed(
    app_clock: tuple[TestClient, Clock], world: ChairWorld, path: str, data: dict[str, str], words: str
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    csrf = sign_in(client, "nurse1.aus")["X-CSRF-Token"]
    frozen.now = T0 + timedelta(minutes=30)  # 10:30 in Austin
    before = _counts(world, sid)
    r = client.post(f"/sessions/{sid}/{path}", data={"csrf": csrf, **data}, follow_redirects=False)
    assert r.status_code == 400 and "Traceback" not in r.text
    assert words in r.text.replace("&#39;", "'")
    assert _counts(world, sid) == before
    if path == "side-effects" and "onset_at" in data:
        assert f'value="{data["onset_at"]}"' in r.text  # what was typed is kept
    if path == "cadss":
        assert "<details open>" in r.text and 'name="item_1" value="1" checked' in r.text


def test_the_forms_chart_and_redirect_back_to_their_section(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    csrf = sign_in(client, "nurse1.aus")["X-CSRF-Token"]
    frozen.now = T0 + timedelta(minutes=30)

    def post(path: str, **data: str) -> str:
        r = client.post(f"/sessions/{sid}/{path}", data={"csrf": csrf, **data}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return str(r.headers["location"])

    assert post(
        "side-effects",
        kind="dizziness",
        severity="mild",
        onset_at="10:20",
        adverse_event="1",
        notes="on standing",
    ).endswith("#side-effects")
    (se,) = world.rows(m.SideEffect, sid)
    assert se.onset_at == T0 + timedelta(minutes=20) and se.is_adverse_event
    post("interventions", kind="action", description="repositioned", side_effect_id=str(se.id))
    post("assistance", reason="anxiety", asked_at="10:25")
    post("cadss", **{f"item_{i}": "2" for i in range(1, 24)})
    (req,) = world.rows(m.AssistanceRequest, sid)
    post(f"assistance/{req.id}/answer", helped_at="10:29")
    post(f"side-effects/{se.id}/resolve")
    assert _counts(world, sid) == (2, 1, 0, 2, 1)
    page = client.get(f"/sessions/{sid}").text
    for text in (
        "Side effects",
        "Interventions",
        "Comfort",
        "Requests for help",
        "Dissociation (CADSS)",
        "repositioned",
        "helped 10:29 (after 4 min)",
        "total <strong>46</strong>",
    ):
        assert text in page, text
    # A stale second answer on the form path: 400 with the message, nothing saved.
    r = client.post(
        f"/sessions/{sid}/assistance/{req.id}/answer", data={"csrf": csrf}, follow_redirects=False
    )
    assert r.status_code == 400 and "already answered" in r.text
    assert _counts(world, sid) == (2, 1, 0, 2, 1)


def test_the_front_desk_is_refused_the_infusion_page_with_a_reason(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    sign_in(client, "frontdesk1.aus")
    frozen.now = T0 + timedelta(minutes=5)
    page = client.get(f"/sessions/{sid}")
    assert page.status_code == 403 and "does not allow you to read clinical records" in page.text
    assert "Requests for help" not in page.text and "Traceback" not in page.text


def test_the_director_reads_the_page_without_the_charting_forms(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    sign_in(client, "director1.aus")
    frozen.now = T0 + timedelta(minutes=5)
    page = client.get(f"/sessions/{sid}")
    assert page.status_code == 200 and "Requests for help" in page.text
    assert f'action="/sessions/{sid}/side-effects"' not in page.text


# ---- the page stays a fixed handful of queries ----------------------------------------------------------


def test_session_view_does_not_grow_queries_with_rows(
    app_clock: tuple[TestClient, Clock], world: ChairWorld, demo_engine: Engine
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    nurse = sign_in(client, "nurse1.aus")
    api = f"/api/sessions/{sid}"
    who = _nurse(demo_engine, world)

    def statements() -> int:
        seen: list[str] = []

        def count(*_args: Any) -> None:
            seen.append("x")

        with Session(demo_engine) as db:
            event.listen(demo_engine, "before_cursor_execute", count)
            try:
                infusion.session_view(db, who, sid, frozen.now)
            finally:
                event.remove(demo_engine, "before_cursor_execute", count)
        return len(seen)

    frozen.now = T0 + timedelta(minutes=5)
    empty = statements()
    for minute in range(6, 16):
        frozen.now = T0 + timedelta(minutes=minute)
        se = client.post(
            f"{api}/side-effects", json={"kind": "nausea", "severity": "mild"}, headers=nurse
        ).json()
        client.post(
            f"{api}/interventions",
            json={"kind": "action", "description": "reassurance", "side_effect_id": se["id"]},
            headers=nurse,
        )
        client.post(f"{api}/assistance", json={"reason": "other"}, headers=nurse)
        client.post(f"{api}/vitals", json={"bp": "120/80"}, headers=nurse)
        client.post(f"{api}/comfort", json={"music": minute % 2 == 0}, headers=nurse)
    frozen.now = T0 + timedelta(minutes=20)
    full = statements()
    assert full == empty
    # 16, and 2 for the hash chain of its read audit (lock the head, move it: store/chain.py)
    assert full <= 18, f"session_view ran {full} statements"


def _nurse(engine: Engine, world: ChairWorld) -> CurrentUser:
    """nurse1.aus as the services see her (she has signed in during these tests)."""
    with Session(engine) as db:
        user = db.scalar(select(m.StaffUser).where(m.StaffUser.email == "nurse1.aus@demo.ketaflow.org"))
        assert user is not None
        web = db.scalars(select(m.WebSession).where(m.WebSession.user_id == user.id)).first()
        assert web is not None
        db.expunge_all()
        return CurrentUser(user, web, {str(world.clinic_id): {Role.NURSE}})


def test_two_nurses_answering_the_same_request_at_once_only_one_is_charted(
    app_clock: tuple[TestClient, Clock], world: ChairWorld, demo_engine: Engine
) -> None:
    # On PostgreSQL the session-row lock decides; on SQLite, writers queue (BEGIN IMMEDIATE).
    client, _frozen = app_clock
    sign_in(client, "nurse1.aus")
    who = _nurse(demo_engine, world)
    sid = world.session(started=True)
    with Session(demo_engine) as db:
        req = chairside.request_assistance(db, who, sid, reason="restroom", now=T0 + timedelta(minutes=10))
        req_id = req.id
    outcomes: list[str] = []

    def answer() -> None:
        with Session(demo_engine) as db:
            try:
                chairside.answer_assistance(db, who, sid, req_id, now=T0 + timedelta(minutes=12))
                outcomes.append("answered")
            except Conflict:
                outcomes.append("conflict")

    # Both answers set off together (a barrier) behind the lock they need, held by the test
    # until both are seen waiting for it: then they really do overlap.
    race(
        demo_engine,
        select(m.InfusionSession.id).where(m.InfusionSession.id == sid).with_for_update(),
        answer,
        answer,
    )
    assert sorted(outcomes) == ["answered", "conflict"]
    assert world.count(m.AssistanceRequest, sid) == 2  # the request and one answer amending it


def test_the_board_links_the_infusion_page_only_for_those_who_may_read_it(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    world.session(started=True)  # the chair shows one of this module's open infusions in it
    frozen.now = T0 + timedelta(minutes=5)
    sign_in(client, "nurse1.aus")
    assert 'href="/sessions/' in client.get("/clinics/aus/board").text
    sign_in(client, "frontdesk1.aus")
    board = client.get("/clinics/aus/board").text
    assert 'href="/sessions/' not in board and f'href="/patients/{world.patient_id}"' in board


def test_the_front_desk_board_withholds_vital_signs_and_alerts(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    world.session(started=True)
    frozen.now = T0 + timedelta(minutes=5)
    nurse = sign_in(client, "nurse1.aus")

    def slots(board: dict[str, Any]) -> list[dict[str, Any]]:
        return [c["now"] for c in board["chairs"] if c["now"]] + board["unassigned"]

    # Vitals for the infusion the board shows in the chair (this module's chair holds several).
    board = client.get("/api/clinics/aus/board").json()
    shown = next(s for s in slots(board) if s["session_id"] and s["state"] != "discharged")
    vitals = {"bp": "182/112", "heart_rate": 96, "spo2": 97, "respiratory_rate": 16}
    r = client.post(f"/api/sessions/{shown['session_id']}/vitals", json=vitals, headers=nurse)
    assert r.status_code == 200, r.text
    seen = client.get("/api/clinics/aus/board").json()
    assert seen["clinical"] is True and any(s["last_vitals"] for s in slots(seen))
    assert "Systolic blood pressure 182 mmHg is high" in client.get("/clinics/aus/board").text
    sign_in(client, "frontdesk1.aus")
    withheld = client.get("/api/clinics/aus/board").json()
    assert withheld["clinical"] is False and not any(s["last_vitals"] for s in slots(withheld))
    assert [s["state"] for s in slots(withheld)] == [s["state"] for s in slots(seen)]
    page = client.get("/clinics/aus/board").text
    assert "182/112" not in page and "mmHg" not in page and "shown to the clinical staff" in page


def test_the_answer_to_a_charted_reading_is_that_reading_even_when_a_later_one_was_charted_first(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    # Two people chart on one infusion at once: the request whose clock read 10:10 waits for the
    # write lock while the one of 10:15 commits first. Found by the kill -9 test's burst (issue 12):
    # the answer then carried the 10:15 reading's id and alert level instead of its own.
    client, frozen = app_clock
    sid = world.session(started=True)
    nurse = sign_in(client, "nurse1.aus")
    api = f"/api/sessions/{sid}"
    frozen.now = T0 + timedelta(minutes=15)
    later = client.post(f"{api}/vitals", json={"bp": "204/122", "heart_rate": 96, "spo2": 97}, headers=nurse)
    assert later.status_code == 200 and later.json()["level"] == "stop"
    frozen.now = T0 + timedelta(minutes=10)
    own = client.post(f"{api}/vitals", json={"bp": "128/82", "heart_rate": 72, "spo2": 98}, headers=nurse)
    assert own.status_code == 200, own.text
    answer = own.json()
    assert answer["id"] != later.json()["id"]
    assert (answer["systolic"], answer["diastolic"], answer["heart_rate"]) == (128, 82, 72)
    assert answer["measured_at"] == frozen.now.isoformat()
    assert answer["level"] != "stop"
