"""Correcting a charted vital sign, dose order, side effect or questionnaire answer, through the JSON API
and the pages, on SQLite and PostgreSQL.

Each correction must leave the original row exactly as charted, add one amendment row with who,
when and why, show in the current view (session, chart) and in the chart's history (old -> new),
be audited, and pass the same checks as a new entry. A refused correction saves nothing: no row,
no audit event.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaflow.errors import Conflict
from ketaflow.services import infusion
from ketaflow.services.auth import CurrentUser
from ketaflow.store import models as m
from ketaflow.vocabulary import Instrument, Respondent, Role
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.web.correction_support import WEIGHT_KG, CorrectionWorld
from tests.integration.web.sign_in_support import post_login

# 10:00 in Austin (CST) on days no other test books.
T0 = datetime(2035, 1, 8, 16, 0, tzinfo=UTC)
VITALS = {"heart_rate": 72, "spo2": 98, "respiratory_rate": 14}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def app(demo_engine: Engine) -> Iterator[tuple[TestClient, Clock]]:
    application = create_app(demo_engine)
    frozen = Clock()
    application.dependency_overrides[clock] = frozen
    with TestClient(application) as client:
        yield client, frozen


@pytest.fixture
def world(demo_engine: Engine) -> CorrectionWorld:
    return CorrectionWorld(demo_engine)


def sign_in(client: TestClient, who: str) -> dict[str, str]:
    client.cookies.clear()
    r = post_login(client, f"{who}@demo.ketaflow.org")
    assert r.status_code == 303
    return {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has a form with its CSRF token"
    return found.group(1)


def refused(r: Any, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    assert "Traceback" not in r.text
    assert words in r.json()["error"], r.json()["error"]


def staff_name(engine: Engine, user_id: uuid.UUID) -> str:
    with Session(engine) as db:
        user = db.get(m.StaffUser, user_id)
        assert user is not None
        return user.full_name


def chart_vitals(client: TestClient, sid: uuid.UUID, headers: dict[str, str], bp: str) -> dict[str, Any]:
    r = client.post(f"/api/sessions/{sid}/vitals", json={"bp": bp, **VITALS, "sedation": 5}, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


# ---- vital signs ----------------------------------------------------------------------------------


def test_a_mistyped_vital_sign_is_corrected_and_classified_again(
    app: tuple[TestClient, Clock], world: CorrectionWorld, demo_engine: Engine
) -> None:
    client, frozen = app
    sid = world.session(T0, ordered=True, started=True)
    nurse = sign_in(client, "nurse1.aus")
    frozen.now = T0 + timedelta(minutes=10)
    chart_vitals(client, sid, nurse, "124/80")
    frozen.now = T0 + timedelta(minutes=15)
    typo = chart_vitals(client, sid, nurse, "204/122")
    assert typo["level"] == "stop"  # 204 systolic: stop and call (vitals rules)
    vid = uuid.UUID(typo["id"])
    frozen.now = T0 + timedelta(minutes=17)

    r = client.post(
        f"/api/sessions/{sid}/vitals/{vid}/correct",
        json={"bp": "128/82", **VITALS, "reason": "typed 204/122 for 128/82"},
        headers=nurse,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["amends_id"] == str(vid) and body["id"] != str(vid)
    assert (body["systolic"], body["diastolic"]) == (128, 82)
    assert body["level"] == "normal" and body["alerts"] == [], "the corrected reading is classified again"

    # The original stays exactly as charted; the amendment row says who, when and why.
    original = world.get(m.VitalSign, vid)
    assert (original.systolic_mmhg, original.diastolic_mmhg, original.amends_id) == (204, 122, None)
    new = world.get(m.VitalSign, uuid.UUID(body["id"]))
    assert new.amends_id == vid and new.recorded_by_id == world.nurse_id
    assert new.amendment_reason == "typed 204/122 for 128/82"
    assert new.recorded_at == frozen.now
    assert (new.measured_at, new.phase, new.heart_rate_bpm) == (original.measured_at, original.phase, 72)
    assert world.count(m.VitalSign, session_id=sid) == 3

    # The current view shows the correction, once.
    view = client.get(f"/api/sessions/{sid}").json()
    assert [(v["systolic"], v["diastolic"], v["amended"], v["level"]) for v in view["vitals"]] == [
        (124, 80, False, "normal"),
        (128, 82, True, "normal"),
    ]
    assert view["suggested_pause_reason"] is None  # the stop alert left with the typo

    # Audited with old -> new.
    (audit,) = world.audits("vital_sign.correct", new.id)
    assert audit.actor_user_id == world.nurse_id and audit.clinic_id == world.clinic_id
    assert audit.details == {
        "amends": str(vid),
        "reason": "typed 204/122 for 128/82",
        "changes": {"systolic_mmhg": [204, 128], "diastolic_mmhg": [122, 82]},
    }

    # The chart's history: who corrected what, when, why, old -> new.
    chart = client.get(f"/api/patients/{world.patient_id}").json()
    (line,) = [c for c in chart["corrections"] if c["entry_id"] == str(new.id)]
    assert line["kind"] == "vital_sign" and line["amends_id"] == str(vid)
    assert line["corrected_by"] == staff_name(demo_engine, world.nurse_id)
    assert line["reason"] == "typed 204/122 for 128/82"
    assert line["changes"] == [{"label": "BP", "old": "204/122", "new": "128/82"}]
    assert line["what"].startswith("Vital signs of 08 Jan 2035 10:15")
    series = world.get(m.InfusionSession, sid).series_number  # from the chart's own read of them
    assert line["what"].endswith(f"(infusion {series})")


def test_a_reading_corrected_upwards_raises_its_alert(
    app: tuple[TestClient, Clock], world: CorrectionWorld
) -> None:
    client, frozen = app
    sid = world.session(T0 + timedelta(hours=3), ordered=True, started=True)
    nurse = sign_in(client, "nurse1.aus")
    frozen.now = T0 + timedelta(hours=3, minutes=5)
    chart_vitals(client, sid, nurse, "124/80")
    frozen.now = T0 + timedelta(hours=3, minutes=10)
    vid = chart_vitals(client, sid, nurse, "128/82")["id"]
    r = client.post(
        f"/api/sessions/{sid}/vitals/{vid}/correct",
        json={"bp": "204/122", **VITALS, "reason": "the monitor said 204/122; I typed the last one"},
        headers=nurse,
    )
    assert r.status_code == 200, r.text
    assert r.json()["level"] == "stop"
    assert any("Systolic blood pressure 204 mmHg is high" in a for a in r.json()["alerts"])
    assert client.get(f"/api/sessions/{sid}").json()["vitals"][-1]["level"] == "stop"


@pytest.mark.parametrize(
    ("body", "where", "status", "words"),
    [
        ({"bp": "128/82", **VITALS, "reason": "   "}, "own", 400, "Write the reason for the correction"),
        ({"bp": "128/82", **VITALS}, "own", 422, "reason"),
        ({"bp": "128/82", **VITALS, "reason": "x" * 501}, "own", 400, "too long"),
        ({"bp": "400/20", **VITALS, "reason": "typo"}, "own", 400, "outside the range"),
        ({"bp": "128", **VITALS, "reason": "typo"}, "own", 400, "systolic/diastolic"),
        ({"bp": "128/82", "heart_rate": 400, "reason": "typo"}, "own", 400, "Heart rate"),
        ({"bp": "204/122", **VITALS, "reason": "no change"}, "own", 400, "same as the charted"),
        ({"bp": "128/82", **VITALS, "reason": "typo"}, "missing", 404, "no such vital signs reading"),
        ({"bp": "128/82", **VITALS, "reason": "typo"}, "other", 404, "no such vital signs reading on this"),
    ],
)
def test_a_refused_vitals_correction_saves_nothing(
    app: tuple[TestClient, Clock],
    world: CorrectionWorld,
    body: dict[str, Any],
    where: str,
    status: int,
    words: str,
) -> None:
    client, frozen = app
    sid = world.session(T0 + timedelta(days=1), ordered=True, started=True)
    elsewhere = world.session(T0 + timedelta(days=1, hours=4), ordered=True, started=True)
    nurse = sign_in(client, "nurse1.aus")
    frozen.now = T0 + timedelta(days=1, minutes=10)
    vid = chart_vitals(client, sid, nurse, "204/122")["id"]
    target = {"own": f"{sid}/vitals/{vid}", "missing": f"{sid}/vitals/{uuid.uuid4()}"}.get(
        where, f"{elsewhere}/vitals/{vid}"
    )
    r = client.post(f"/api/sessions/{target}/correct", json=body, headers=nurse)
    refused(r, status, words)
    assert world.count(m.VitalSign, session_id=sid) == 1
    assert world.count(m.VitalSign, session_id=elsewhere) == 0
    assert world.audits("vital_sign.correct") == []


def test_a_reading_corrected_since_it_was_read_is_refused_with_a_sentence_to_reload(
    app: tuple[TestClient, Clock], world: CorrectionWorld, demo_engine: Engine
) -> None:
    client, frozen = app
    sid = world.session(T0 + timedelta(days=2), ordered=True, started=True)
    nurse = sign_in(client, "nurse1.aus")
    frozen.now = T0 + timedelta(days=2, minutes=10)
    vid = chart_vitals(client, sid, nurse, "204/122")["id"]
    first = client.post(
        f"/api/sessions/{sid}/vitals/{vid}/correct",
        json={"bp": "128/82", **VITALS, "reason": "typed 182 for 128"},
        headers=nurse,
    )
    assert first.status_code == 200
    frozen.now += timedelta(minutes=3)
    # A psychiatrist still looking at the original corrects it too: refused, nothing saved.
    psych = sign_in(client, "psychiatrist1.aus")
    stale = client.post(
        f"/api/sessions/{sid}/vitals/{vid}/correct",
        json={"bp": "138/88", **VITALS, "reason": "rechecked"},
        headers=psych,
    )
    refused(stale, 409, "reload the page")
    assert staff_name(demo_engine, world.nurse_id) in stale.json()["error"]
    assert world.count(m.VitalSign, session_id=sid) == 2
    assert len(world.audits("vital_sign.correct")) == 1
    # The current version can be corrected again: corrections chain, they never fork.
    again = client.post(
        f"/api/sessions/{sid}/vitals/{first.json()['id']}/correct",
        json={"bp": "138/88", **VITALS, "reason": "rechecked"},
        headers=psych,
    )
    assert again.status_code == 200, again.text
    assert world.get(m.VitalSign, uuid.UUID(again.json()["id"])).amends_id == uuid.UUID(first.json()["id"])
    lines = [
        c
        for c in client.get(f"/api/patients/{world.patient_id}").json()["corrections"]
        if c["kind"] == "vital_sign" and c["session_id"] == str(sid)
    ]
    assert [c["changes"][0]["new"] for c in lines] == ["138/88", "128/82"]  # newest first
    assert [c["changes"][0]["old"] for c in lines] == ["128/82", "204/122"]


def test_two_corrections_of_the_same_reading_at_once_only_one_is_saved(
    app: tuple[TestClient, Clock], world: CorrectionWorld, demo_engine: Engine
) -> None:
    # PostgreSQL: the infusion row lock makes the second wait, then see the first; SQLite: writers queue.
    client, frozen = app
    sid = world.session(T0 + timedelta(days=3), ordered=True, started=True)
    nurse = sign_in(client, "nurse1.aus")
    frozen.now = T0 + timedelta(days=3, minutes=10)
    vid = uuid.UUID(chart_vitals(client, sid, nurse, "204/122")["id"])
    with Session(demo_engine) as db:
        user = db.get(m.StaffUser, world.nurse_id)
        db.expunge_all()
    who = CurrentUser(user, None, {str(world.clinic_id): {Role.NURSE}})  # type: ignore[arg-type]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def correct(bp: str) -> None:
        with Session(demo_engine) as db:
            start.wait()
            try:
                infusion.correct_vitals(
                    db,
                    who,
                    sid,
                    vid,
                    bp=bp,
                    heart_rate=72,
                    spo2=98,
                    respiratory_rate=14,
                    reason="typo",
                    now=frozen.now,
                )
                outcomes.append("saved")
            except Conflict as exc:
                assert "reload the page" in exc.message
                outcomes.append("refused")

    threads = [threading.Thread(target=correct, args=(bp,)) for bp in ("128/82", "126/84")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["refused", "saved"]
    assert len(world.amendments_of(m.VitalSign, vid)) == 1
    assert len(world.audits("vital_sign.correct")) == 1


# ---- dose orders ----------------------------------------------------------------------------------


def test_a_dose_order_is_corrected_before_the_pump_starts_and_checked_against_the_limits_again(
    app: tuple[TestClient, Clock], world: CorrectionWorld
) -> None:
    client, frozen = app
    sid = world.session(T0 + timedelta(days=4))
    frozen.now = T0 + timedelta(days=4, minutes=5)
    psych = sign_in(client, "psychiatrist1.aus")
    ordered = client.post(
        f"/api/sessions/{sid}/order",
        json={"dose_mg_per_kg": 0.7, "bag_mg": 100, "bag_ml": 100, "reason": "titrating up"},
        headers=psych,
    )
    assert ordered.status_code == 200 and ordered.json()["limit_status"] == "soft_limit", ordered.text
    order_id = client.get(f"/api/sessions/{sid}").json()["order"]["id"]
    url = f"/api/sessions/{sid}/order/{order_id}/correct"
    base = {"protocol": "depression-induction", "bag_mg": 100, "bag_ml": 100}

    # Beyond a soft limit without the soft-limit reason, and beyond a hard limit: refused, nothing saved.
    soft = client.post(url, json={**base, "dose_mg_per_kg": 0.6, "reason": "typo"}, headers=psych)
    refused(soft, 400, "beyond a soft limit")
    hard = client.post(
        url, json={**base, "dose_mg_per_kg": 0.9, "override_reason": "x", "reason": "typo"}, headers=psych
    )
    refused(hard, 400, "Refused by the hard limit")
    assert world.count(m.DoseOrder, session_id=sid) == 1

    r = client.post(
        url, json={**base, "dose_mg_per_kg": 0.5, "reason": "typed 0.7 for 0.5 mg/kg"}, headers=psych
    )
    assert r.status_code == 200, r.text
    body = r.json()
    # Independent reference: 0.5 mg/kg x 70 kg = 35 mg; 35 mL of a 1 mg/mL bag over 40 min = 52.5 mL/h.
    assert body["dose_mg_per_kg"] == 0.5 and body["dose_mg"] == pytest.approx(0.5 * WEIGHT_KG, abs=0.1)
    assert body["rate_ml_per_h"] == pytest.approx(35 / (40 / 60), abs=0.1)
    assert body["limit_status"] == "ok" and body["amends_id"] == order_id
    original = world.get(m.DoseOrder, uuid.UUID(order_id))
    assert (original.dose_mg_per_kg, original.limit_status, original.override_reason) == (
        0.7,
        "soft_limit",
        "Outside the protocol's soft limits (dose, rate): titrating up",
    )
    new = world.get(m.DoseOrder, uuid.UUID(body["id"]))
    assert new.override_reason is None and new.amendment_reason == "typed 0.7 for 0.5 mg/kg"
    assert new.recorded_by_id == new.ordered_by_id == world.psychiatrist_id
    view = client.get(f"/api/sessions/{sid}").json()["order"]
    assert (view["id"], view["dose_mg"], view["amends_id"]) == (body["id"], body["dose_mg"], order_id)
    (audit,) = world.audits("dose_order.correct", new.id)
    assert audit.details["changes"]["dose_mg_per_kg"] == [0.7, 0.5]
    assert audit.details["changes"]["limit_status"] == ["soft_limit", "ok"]
    (line,) = [
        c
        for c in client.get(f"/api/patients/{world.patient_id}").json()["corrections"]
        if c["kind"] == "dose_order"
    ]
    assert {"label": "Limits", "old": "soft limit", "new": "ok"} in line["changes"]

    # The pump starts on the corrected order (its rate), and the order can no longer be corrected.
    nurse = sign_in(client, "nurse1.aus")
    assert client.post(f"/api/sessions/{sid}/pump", json={"kind": "start"}, headers=nurse).status_code == 200
    psych = sign_in(client, "psychiatrist1.aus")
    late = client.post(
        f"/api/sessions/{sid}/order/{body['id']}/correct",
        json={**base, "dose_mg_per_kg": 0.5, "minutes": 45, "reason": "longer"},
        headers=psych,
    )
    refused(late, 409, "The pump was started at 10:05, so this order can no longer be corrected")
    assert "pause or stop the pump" in late.json()["error"]
    assert world.count(m.DoseOrder, session_id=sid) == 2


def test_only_a_psychiatrist_corrects_a_dose_order(
    app: tuple[TestClient, Clock], world: CorrectionWorld
) -> None:
    client, frozen = app
    sid = world.session(T0 + timedelta(days=5), ordered=True)
    frozen.now = T0 + timedelta(days=5, minutes=5)
    nurse = sign_in(client, "nurse1.aus")
    order_id = client.get(f"/api/sessions/{sid}").json()["order"]["id"]
    r = client.post(
        f"/api/sessions/{sid}/order/{order_id}/correct",
        json={"protocol": "depression-induction", "bag_mg": 50, "bag_ml": 100, "reason": "bag was 50 mg"},
        headers=nurse,
    )
    refused(r, 403, "does not allow you to correct a dose order")
    assert world.count(m.DoseOrder, session_id=sid) == 1


# ---- side effects ---------------------------------------------------------------------------------


def test_a_side_effect_is_corrected_and_keeps_its_resolution(
    app: tuple[TestClient, Clock], world: CorrectionWorld
) -> None:
    client, frozen = app
    sid = world.session(T0 + timedelta(days=6), ordered=True, started=True)
    frozen.now = T0 + timedelta(days=6, minutes=30)
    nurse = sign_in(client, "nurse1.aus")
    se = client.post(
        f"/api/sessions/{sid}/side-effects",
        json={"kind": "nausea", "severity": "severe", "onset_at": "2035-01-14T10:20:00-06:00"},
        headers=nurse,
    ).json()
    resolved = client.post(
        f"/api/sessions/{sid}/side-effects/{se['id']}/resolve",
        json={"resolved_at": "2035-01-14T10:25:00-06:00"},
        headers=nurse,
    ).json()
    url = f"/api/sessions/{sid}/side-effects"
    # The pre-resolution version is no longer current.
    stale = client.post(
        f"{url}/{se['id']}/correct",
        json={"kind": "nausea", "severity": "mild", "reason": "typo"},
        headers=nurse,
    )
    refused(stale, 409, "reload the page")
    late_onset = client.post(
        f"{url}/{resolved['id']}/correct",
        json={
            "kind": "nausea",
            "severity": "mild",
            "onset_at": "2035-01-14T10:28:00-06:00",
            "reason": "typo",
        },
        headers=nurse,
    )
    refused(late_onset, 400, "after the side effect was marked resolved at 10:25")
    assert world.count(m.SideEffect, session_id=sid) == 2

    frozen.now += timedelta(minutes=2)
    r = client.post(
        f"{url}/{resolved['id']}/correct",
        json={
            "kind": "headache",
            "severity": "mild",
            "notes": "mild frontal",
            "reason": "chose the wrong line",
        },
        headers=nurse,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["kind"], body["severity"], body["notes"]) == ("headache", "mild", "mild frontal")
    for key, was in (("onset_at", se), ("resolved_at", resolved)):
        assert datetime.fromisoformat(body[key]) == datetime.fromisoformat(was[key]), key
    assert body["amends_id"] == resolved["id"] and body["amendment_reason"] == "chose the wrong line"
    assert [
        (e["kind"], e["severity"]) for e in client.get(f"/api/sessions/{sid}").json()["side_effects"]
    ] == [("headache", "mild")]
    original = world.get(m.SideEffect, uuid.UUID(se["id"]))
    assert (original.kind, original.severity, original.resolved_at) == ("nausea", "severe", None)
    lines = [
        c
        for c in client.get(f"/api/patients/{world.patient_id}").json()["corrections"]
        if c["kind"] == "side_effect"
    ]
    assert [c["reason"] for c in lines] == ["chose the wrong line", "resolved"]
    assert {"label": "Side effect", "old": "nausea", "new": "headache"} in lines[0]["changes"]
    assert {"label": "Severity", "old": "severe", "new": "mild"} in lines[0]["changes"]
    assert lines[1]["changes"] == [{"label": "Resolved", "old": "open", "new": "10:25"}]
    assert len(world.audits("side_effect.correct")) == 1


def test_a_side_effect_can_be_corrected_after_discharge(
    app: tuple[TestClient, Clock], world: CorrectionWorld
) -> None:
    client, frozen = app
    sid = world.session(T0 + timedelta(days=7), ordered=True, started=True)
    frozen.now = T0 + timedelta(days=7, minutes=20)
    nurse = sign_in(client, "nurse1.aus")
    se = client.post(
        f"/api/sessions/{sid}/side-effects", json={"kind": "dizziness", "severity": "mild"}, headers=nurse
    )
    with Session(world.engine) as db:
        db.add(
            m.Discharge(
                clinic_id=world.clinic_id,
                session_id=sid,
                discharged_at=T0 + timedelta(days=7, hours=2),
                recovery_score_kind="aldrete",
                recovery_score=10,
                escort_name="Dana Reyes",
                escort_phone="555-0100",
                instructions_given=True,
            )
        )
        db.commit()
    frozen.now = T0 + timedelta(days=8)
    r = client.post(
        f"/api/sessions/{sid}/side-effects/{se.json()['id']}/correct",
        json={
            "kind": "faintness",
            "severity": "mild",
            "reason": "patient described faintness, not dizziness",
        },
        headers=nurse,
    )
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "faintness"


# ---- questionnaire answers ------------------------------------------------------------------------


def test_the_patients_own_answers_are_corrected_by_a_psychiatrist_and_scored_again(
    app: tuple[TestClient, Clock], world: CorrectionWorld
) -> None:
    client, frozen = app
    frozen.now = T0 + timedelta(days=9)
    answered = T0 + timedelta(days=9, hours=-2)
    rid = world.answers(answered, [1, 1, 1, 1, 1, 1, 1, 1, 0])
    url = f"/api/patients/{world.patient_id}/questionnaires/{rid}/correct"
    corrected = [1, 1, 1, 1, 1, 1, 1, 1, 2]  # the patient says they ticked item 9 wrongly: it is 2

    nurse = sign_in(client, "nurse1.aus")
    refused(
        client.post(url, json={"answers": corrected, "reason": "patient says"}, headers=nurse),
        403,
        "correct the answers a patient gave",
    )
    psych = sign_in(client, "psychiatrist1.aus")
    refused(
        client.post(url, json={"answers": corrected[:8], "reason": "x"}, headers=psych),
        400,
        "needs 9 answers",
    )
    refused(client.post(url, json={"answers": [1] * 8 + [5], "reason": "x"}, headers=psych), 400, "item 9")
    refused(client.post(url, json={"answers": corrected, "reason": ""}, headers=psych), 400, "reason")
    assert world.count(m.QuestionnaireResponse, patient_id=world.patient_id) == 1

    r = client.post(
        url, json={"answers": corrected, "reason": "patient ticked item 9 as 0 by mistake"}, headers=psych
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 10 and body["severity"] == "moderate"  # PHQ-9 10-14: moderate (Kroenke 2001)
    assert [a["kind"] for a in body["alerts"]] == ["suicide_risk"]
    original = world.get(m.QuestionnaireResponse, rid)
    assert (original.answers, original.total) == ([1, 1, 1, 1, 1, 1, 1, 1, 0], 8)
    new = world.get(m.QuestionnaireResponse, uuid.UUID(body["id"]))
    assert (new.answered_at, new.respondent, new.recorded_by_id) == (
        answered,
        Respondent.PATIENT,
        world.psychiatrist_id,
    )
    chart = client.get(f"/api/patients/{world.patient_id}").json()
    assert [(s["total"], s["id"]) for s in chart["scores"]] == [(10, body["id"])]
    assert [a["total"] for a in chart["home_alerts"]] == [10], (
        "the chart shows the alert the correction raised"
    )
    assert len(world.audits("questionnaire.suicide_risk_alert", new.id)) == 1
    (line,) = [c for c in chart["corrections"] if c["kind"] == "questionnaire_response"]
    assert line["charted_by"] == "the patient"
    assert line["changes"] == [
        {"label": "Answers", "old": "1 1 1 1 1 1 1 1 0", "new": "1 1 1 1 1 1 1 1 2"},
        {"label": "Total", "old": "8", "new": "10"},
    ]


def test_a_nurse_corrects_a_cadss_she_rated(app: tuple[TestClient, Clock], world: CorrectionWorld) -> None:
    client, frozen = app
    sid = world.session(T0 + timedelta(days=10), ordered=True, started=True)
    frozen.now = T0 + timedelta(days=10, minutes=30)
    nurse = sign_in(client, "nurse1.aus")
    cadss = client.post(f"/api/sessions/{sid}/cadss", json={"answers": [1] * 23}, headers=nurse).json()
    r = client.post(
        f"/api/patients/{world.patient_id}/questionnaires/{cadss['id']}/correct",
        json={"answers": [0] * 22 + [1], "reason": "rated the previous patient's sheet"},
        headers=nurse,
    )
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 1
    assert [q["total"] for q in client.get(f"/api/sessions/{sid}").json()["cadss"]] == [1]


def test_another_patients_answers_are_not_found(
    app: tuple[TestClient, Clock], world: CorrectionWorld
) -> None:
    client, _ = app
    other = CorrectionWorld(world.engine)
    rid = other.answers(T0, [0] * 9)
    psych = sign_in(client, "psychiatrist1.aus")
    r = client.post(
        f"/api/patients/{world.patient_id}/questionnaires/{rid}/correct",
        json={"answers": [1] + [0] * 8, "reason": "x"},
        headers=psych,
    )
    refused(r, 404, "no such questionnaire answer on this patient's chart")
    assert other.count(m.QuestionnaireResponse, patient_id=other.patient_id) == 1


# ---- the pages ------------------------------------------------------------------------------------


def test_the_pages_correct_a_vital_sign_and_show_its_history(
    app: tuple[TestClient, Clock], world: CorrectionWorld, demo_engine: Engine
) -> None:
    client, frozen = app
    sid = world.session(T0 + timedelta(days=11), ordered=True, started=True)
    frozen.now = T0 + timedelta(days=11, minutes=10)
    nurse = sign_in(client, "nurse1.aus")
    vid = chart_vitals(client, sid, nurse, "204/122")["id"]
    session_page = client.get(f"/sessions/{sid}").text
    link = f"/sessions/{sid}/vitals/{vid}/correct"
    assert f'href="{link}"' in session_page

    form = client.get(link)
    assert form.status_code == 200
    assert 'name="bp"' in form.text and 'value="204/122"' in form.text and 'name="reason"' in form.text
    token = csrf_of(form.text)
    typed = {"csrf": token, "bp": "128/82", "heart_rate": "72", "spo2": "98", "respiratory_rate": "14"}

    # Without a reason: the page again, with the message and what was typed; nothing saved.
    bad = client.post(link, data={**typed, "reason": ""}, follow_redirects=False)
    assert bad.status_code == 400 and "Write the reason for the correction" in bad.text
    assert 'value="128/82"' in bad.text and "Traceback" not in bad.text
    bad_hr = client.post(link, data={**typed, "heart_rate": "fast", "reason": "typo"}, follow_redirects=False)
    assert bad_hr.status_code == 400 and "Heart rate must be a number" in bad_hr.text
    assert world.count(m.VitalSign, session_id=sid) == 1

    ok = client.post(link, data={**typed, "reason": "typed 204/122 for 128/82"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == f"/sessions/{sid}#vitals"
    assert world.count(m.VitalSign, session_id=sid) == 2
    page = client.get(f"/sessions/{sid}").text
    assert "128/82" in page and "204/122" not in page and "(corrected)" in page

    # Sending the same form again (the original is no longer current): 409, the page says to reload.
    again = client.post(link, data={**typed, "bp": "126/80", "reason": "again"}, follow_redirects=False)
    assert again.status_code == 409 and "reload the page" in again.text
    assert 'id="correction-superseded"' in again.text
    assert world.count(m.VitalSign, session_id=sid) == 2

    nurse_name = staff_name(demo_engine, world.nurse_id)
    chart = client.get(f"/patients/{world.patient_id}").text
    history = chart[chart.index('id="corrections"') :]
    for words in ("204/122", "128/82", "typed 204/122 for 128/82", nurse_name, "Vital signs of"):
        assert words in history, words
    (new,) = world.amendments_of(m.VitalSign, uuid.UUID(vid))
    entry = client.get(f"/sessions/{sid}/vitals/{new.id}/correct").text
    assert "typed 204/122 for 128/82" in entry[entry.index('id="history"') :]


@pytest.mark.parametrize(
    ("login", "status", "form"), [("director1.aus", 200, False), ("frontdesk1.aus", 403, False)]
)
def test_who_may_open_a_correction_page(
    app: tuple[TestClient, Clock], world: CorrectionWorld, login: str, status: int, form: bool
) -> None:
    client, frozen = app
    sid = world.session(T0 + timedelta(days=12), ordered=True, started=True)
    frozen.now = T0 + timedelta(days=12, minutes=10)
    nurse = sign_in(client, "nurse1.aus")
    vid = chart_vitals(client, sid, nurse, "204/122")["id"]
    sign_in(client, login)
    r = client.get(f"/sessions/{sid}/vitals/{vid}/correct")
    assert r.status_code == status and "Traceback" not in r.text
    assert ('name="reason"' in r.text) is form
    if status == 200:
        assert 'id="correction-not-allowed"' in r.text


def test_the_dose_order_page_refuses_after_the_pump_started_and_the_cadss_page_corrects(
    app: tuple[TestClient, Clock], world: CorrectionWorld
) -> None:
    client, frozen = app
    sid = world.session(T0 + timedelta(days=13), ordered=True, started=True)
    frozen.now = T0 + timedelta(days=13, minutes=10)
    psych = sign_in(client, "psychiatrist1.aus")
    order_id = client.get(f"/api/sessions/{sid}").json()["order"]["id"]
    assert f"/order/{order_id}/correct" not in client.get(f"/sessions/{sid}").text  # no link once started
    page = client.get(f"/sessions/{sid}/order/{order_id}/correct")
    assert page.status_code == 200 and 'id="correction-refused"' in page.text
    assert "can no longer be corrected" in page.text and 'name="reason"' not in page.text

    cadss = client.post(f"/api/sessions/{sid}/cadss", json={"answers": [2] * 23}, headers=psych).json()
    link = f"/patients/{world.patient_id}/questionnaires/{cadss['id']}/correct"
    form = client.get(link)
    assert form.status_code == 200 and 'name="item_23"' in form.text
    data = {f"item_{i}": "1" for i in range(1, 24)} | {"csrf": csrf_of(form.text), "reason": "wrong column"}
    ok = client.post(link, data=data, follow_redirects=False)
    assert ok.status_code == 303, ok.text
    assert ok.headers["location"] == f"/patients/{world.patient_id}#corrections"
    assert [q["total"] for q in client.get(f"/api/sessions/{sid}").json()["cadss"]] == [23]
    missing = client.post(link, data={**data, "item_23": ""}, follow_redirects=False)
    assert missing.status_code == 409  # the CADSS was corrected: this version is no longer current
    assert world.count(m.QuestionnaireResponse, patient_id=world.patient_id, instrument=Instrument.CADSS) == 2


def test_the_front_desk_chart_has_no_corrections(
    app: tuple[TestClient, Clock], world: CorrectionWorld
) -> None:
    client, _ = app
    sign_in(client, "frontdesk1.aus")
    chart = client.get(f"/api/patients/{world.patient_id}").json()
    assert chart["clinical"] is False and "corrections" not in chart
    assert 'id="corrections"' not in client.get(f"/patients/{world.patient_id}").text


def test_the_session_page_links_corrections_only_for_those_who_may_make_them(
    app: tuple[TestClient, Clock], world: CorrectionWorld
) -> None:
    client, frozen = app
    sid = world.session(T0 + timedelta(days=14), ordered=True)
    frozen.now = T0 + timedelta(days=14, minutes=10)
    nurse = sign_in(client, "nurse1.aus")
    chart_vitals(client, sid, nurse, "124/80")
    order_id = client.get(f"/api/sessions/{sid}").json()["order"]["id"]
    nurse_page = client.get(f"/sessions/{sid}").text
    assert "/vitals/" in nurse_page and f"/order/{order_id}/correct" not in nurse_page
    sign_in(client, "psychiatrist1.aus")
    assert f"/order/{order_id}/correct" in client.get(f"/sessions/{sid}").text
    sign_in(client, "director1.aus")
    director_page = client.get(f"/sessions/{sid}").text
    assert 'class="correct-link"' not in director_page
