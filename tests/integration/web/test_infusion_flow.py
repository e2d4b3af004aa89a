"""The nurse's infusion, through the API: check-in with a driver, seat, order, pump, vitals, levels."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.vocabulary import AppointmentKind, AppointmentStatus
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.web.demo_support import demo_plan
from tests.integration.web.sign_in_support import post_login

T0 = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # 10:00 in Austin


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(demo_engine: Engine) -> Iterator[tuple[TestClient, Clock, m.Appointment]]:
    app = create_app(demo_engine)
    frozen = Clock()
    app.dependency_overrides[clock] = frozen
    with Session(demo_engine) as db:
        clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        assert clinic is not None
        plan = demo_plan(db, "aus")
        chair = db.scalars(select(m.Chair).where(m.Chair.clinic_id == clinic.id)).first()
        appt = m.Appointment(
            clinic_id=clinic.id,
            patient_id=plan.patient_id,
            chair_id=chair.id if chair else None,
            treatment_plan_id=plan.id,
            kind=AppointmentKind.INFUSION,
            starts_at=T0,
            ends_at=T0 + timedelta(hours=3, minutes=30),
            status=AppointmentStatus.BOOKED,
        )
        db.add(appt)
        db.commit()
        db.refresh(appt)
        db.expunge(appt)
    with TestClient(app) as client:
        yield client, frozen, appt
    with demo_engine.begin() as conn:
        conn.execute(delete(m.SignInAttempt))
        conn.execute(delete(m.SignInThrottle))


def sign_in(client: TestClient, who: str) -> dict[str, str]:
    client.cookies.clear()
    r = post_login(client, f"{who}@demo.ketaflow.org")
    assert r.status_code == 303
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def vitals_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(m.VitalSign)) or 0


def test_it_walks_an_infusion_from_check_in_to_stop(
    world: tuple[TestClient, Clock, m.Appointment], demo_engine: Engine
) -> None:
    client, frozen, appt = world
    url = f"/api/appointments/{appt.id}"

    desk = sign_in(client, "frontdesk1.aus")
    refused = client.post(f"{url}/check-in", json={"version": 1, "driver": "Dana"}, headers=desk)
    assert refused.status_code == 400 and "Name who is driving the patient home" in refused.json()["error"]
    assert (
        client.post(f"{url}/check-in", json={"version": 1, "driver": "Dana Reyes, 555-0100"}).status_code
        == 403
    )
    ok = client.post(f"{url}/check-in", json={"version": 1, "driver": "Dana Reyes, 555-0100"}, headers=desk)
    assert ok.status_code == 200 and ok.json()["driver"] == "Dana Reyes"
    stale = client.post(
        f"{url}/check-in", json={"version": 1, "driver": "Dana Reyes, 555-0100"}, headers=desk
    )
    assert stale.status_code == 409

    nurse = sign_in(client, "nurse1.aus")
    session_id = client.post(f"{url}/open", headers=nurse).json()["session_id"]
    api = f"/api/sessions/{session_id}"
    no_order = client.post(f"{api}/pump", json={"kind": "start"}, headers=nurse)
    assert no_order.status_code == 400 and "psychiatrist must order the dose" in no_order.json()["error"]
    assert client.post(f"{api}/order", json={}, headers=nurse).status_code == 403

    psych = sign_in(client, "psychiatrist1.aus")
    too_much = client.post(f"{api}/order", json={"dose_mg_per_kg": 4.0}, headers=psych)
    assert too_much.status_code == 400 and "hard limit" in too_much.json()["error"]
    order = client.post(f"{api}/order", json={"protocol": "depression-induction"}, headers=psych).json()
    assert order.get("limit_status") == "ok" and order["dose_mg"] > 0, order

    nurse = sign_in(client, "nurse1.aus")
    assert (
        client.post(
            f"{api}/vitals",
            json={"bp": "128/82", "heart_rate": 72, "spo2": 98, "respiratory_rate": 14},
            headers=nurse,
        ).json()["level"]
        == "normal"
    )
    assert client.post(f"{api}/pump", json={"kind": "start"}, headers=nurse).json()["state"] == "running"
    assert client.post(f"{api}/pump", json={"kind": "start"}, headers=nurse).status_code == 409

    # issue 13: one reading at the pause level asks for a recheck; a second one confirms the pause
    frozen.now = T0 + timedelta(minutes=15)
    first = client.post(
        f"{api}/vitals",
        json={"bp": "186/114", "heart_rate": 96, "spo2": 97, "respiratory_rate": 16},
        headers=nurse,
    ).json()
    assert first["level"] == "watch" and any("Recheck" in a for a in first["actions"])
    frozen.now = T0 + timedelta(minutes=20)
    before = vitals_count(demo_engine)
    bad = client.post(f"{api}/vitals", json={"bp": "400/20", "heart_rate": 80}, headers=nurse)
    assert bad.status_code == 400 and "Traceback" not in bad.text
    assert vitals_count(demo_engine) == before  # nothing of a refused entry is kept
    high = client.post(
        f"{api}/vitals",
        json={"bp": "184/112", "heart_rate": 96, "spo2": 97, "respiratory_rate": 16},
        headers=nurse,
    ).json()
    assert high["level"] in {"pause", "stop"} and high["alerts"]
    assert client.post(f"{api}/pump", json={"kind": "pause"}, headers=nurse).json()["state"] == "paused"

    frozen.now = T0 + timedelta(minutes=30)
    assert client.post(f"{api}/pump", json={"kind": "resume"}, headers=nurse).json()["state"] == "running"
    levels = client.get(f"{api}/levels").json()
    assert len(levels["t_min"]) == len(levels["cp_ng_per_ml"]) == len(levels["ce_ng_per_ml"])
    assert levels["cp_now_ng_per_ml"] > 0 and levels["running"] is True
    view = client.get(api).json()
    rate = order["dose_mg"] / 40
    assert view["given_mg"] == pytest.approx(rate * 20, rel=1e-3)  # ran 0-20 min, paused 20-30, resumed at 30
    assert [e["kind"] for e in view["events"]] == ["start", "pause", "resume"]

    frozen.now = T0 + timedelta(minutes=50)
    assert client.post(f"{api}/pump", json={"kind": "stop"}, headers=nurse).json()["state"] == "stopped"
    stopped = client.get(api).json()
    assert stopped["events"][-1]["cumulative_mg"] == pytest.approx(order["dose_mg"], rel=1e-3)

    board = client.get("/api/clinics/aus/board").json()
    mine = [c["now"] for c in board["chairs"] if c["now"] and c["now"]["session_id"] == session_id]
    assert mine and mine[0]["state"] == "stopped" and mine[0]["last_vitals"]["level"] in {"pause", "stop"}
    assert (mine[0]["driver"], mine[0]["driver_phone"]) == ("Dana Reyes", "555-0100")
    page = client.get(f"/sessions/{session_id}")
    assert page.status_code == 200 and "Predicted ketamine levels" in page.text

    other = sign_in(client, "nurse1.den")
    assert client.get(api).status_code == 403
    assert client.get(f"/sessions/{session_id}").status_code == 403
    assert client.get("/api/clinics/aus/board").status_code == 403
    del other


def test_it_needs_the_csrf_token_for_every_change(world: tuple[TestClient, Clock, m.Appointment]) -> None:
    client, _frozen, appt = world
    sign_in(client, "frontdesk1.aus")
    r = client.post(
        f"/api/appointments/{appt.id}/check-in", json={"version": 1, "driver": "Dana Reyes, 555-0100"}
    )
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    form = client.post(
        f"/appointments/{appt.id}/check-in", data={"version": "1", "driver": "Dana Reyes, 555-0100"}
    )
    assert form.status_code == 403


def test_given_so_far_stops_at_the_bag(
    world: tuple[TestClient, Clock, m.Appointment], demo_engine: Engine
) -> None:
    """A pump stops at its volume to be infused: 45 minutes into a 40-minute order, the page,
    the API and the predicted levels all say the whole order and no more was given."""
    client, frozen, appt = world
    desk = sign_in(client, "frontdesk1.aus")
    url = f"/api/appointments/{appt.id}"
    assert (
        client.post(f"{url}/check-in", json={"version": 1, "driver": "Dana Reyes, 555-0100"}, headers=desk)
    ).status_code == 200
    nurse = sign_in(client, "nurse1.aus")
    session_id = client.post(f"{url}/open", headers=nurse).json()["session_id"]
    api = f"/api/sessions/{session_id}"
    psych = sign_in(client, "psychiatrist1.aus")
    order = client.post(f"{api}/order", json={"protocol": "depression-induction"}, headers=psych).json()
    vtbi_mg = order["volume_ml"] * order["bag_drug_mg"] / order["bag_volume_ml"]
    nurse = sign_in(client, "nurse1.aus")
    assert client.post(f"{api}/pump", json={"kind": "start"}, headers=nurse).json()["state"] == "running"

    frozen.now = T0 + timedelta(minutes=30)
    halfway = client.get(api).json()
    assert halfway["given_mg"] < vtbi_mg and halfway["order_complete"] is False

    frozen.now = T0 + timedelta(minutes=45)  # nobody charted the stop
    view = client.get(api).json()
    assert view["given_mg"] == pytest.approx(vtbi_mg, abs=0.01)
    assert view["state"] == "running" and view["order_complete"] is True
    levels = client.get(f"{api}/levels").json()
    assert levels["given_mg"] == pytest.approx(vtbi_mg, abs=0.01)
    assert levels["running"] is False
    page = client.get(f"/sessions/{session_id}").text
    assert "order is complete" in page and "chart Stop" in page
    assert f"{vtbi_mg:.1f} mg given" in page

    frozen.now = T0 + timedelta(minutes=47)
    client.post(f"{api}/pump", json={"kind": "stop"}, headers=nurse)
    stopped = client.get(api).json()
    assert stopped["events"][-1]["cumulative_mg"] == pytest.approx(vtbi_mg, abs=0.01)
    assert stopped["order_complete"] is False


def test_the_levels_of_an_infusion_begun_weeks_ago_are_a_chart_not_a_flood(
    world: tuple[TestClient, Clock, m.Appointment],
) -> None:
    """Read a month later, the curve ran from the start to now at 30 s: 86,000 points (a million
    for an infusion two years old, 51 MB and 12 s). It now widens its step to stay a chart."""
    client, frozen, appt = world
    desk = sign_in(client, "frontdesk1.aus")
    url = f"/api/appointments/{appt.id}"
    client.post(f"{url}/check-in", json={"version": 1, "driver": "Dana Reyes, 555-0100"}, headers=desk)
    nurse = sign_in(client, "nurse1.aus")
    session_id = client.post(f"{url}/open", headers=nurse).json()["session_id"]
    api = f"/api/sessions/{session_id}"
    psych = sign_in(client, "psychiatrist1.aus")
    order = client.post(f"{api}/order", json={"protocol": "depression-induction"}, headers=psych).json()
    nurse = sign_in(client, "nurse1.aus")
    assert client.post(f"{api}/pump", json={"kind": "start"}, headers=nurse).json()["state"] == "running"
    frozen.now = T0 + timedelta(minutes=40)
    assert client.post(f"{api}/pump", json={"kind": "stop"}, headers=nurse).json()["state"] == "stopped"
    soon = client.get(f"{api}/levels").json()
    assert len(soon["t_min"]) == 481 and soon["t_min"][1] == 0.5  # 0-240 min at 30 s, as before

    frozen.now = T0 + timedelta(days=30)
    levels = client.get(f"{api}/levels").json()
    now_min = 30 * 24 * 60.0
    assert levels["now_min"] == now_min
    assert len(levels["t_min"]) == len(levels["cp_ng_per_ml"]) == len(levels["ce_ng_per_ml"]) <= 1441
    assert now_min < levels["t_min"][-1] <= now_min + 60
    assert levels["given_mg"] == pytest.approx(order["dose_mg"], rel=1e-3)
    assert levels["cp_now_ng_per_ml"] == 0.0 and levels["minutes_until_clear"] == 0.0
    # The points both curves share (every step of the wide one is on the 30 s grid) agree.
    assert levels["t_min"][1] in soon["t_min"]
    assert levels["cp_ng_per_ml"][1] == soon["cp_ng_per_ml"][soon["t_min"].index(levels["t_min"][1])]
