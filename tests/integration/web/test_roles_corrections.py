"""Every role against the correction endpoints (permissions.CORRECT_*): vital signs and side effects are
corrected by the clinic's nurses and psychiatrists, dose orders by its psychiatrists only, a
clinician-rated CADSS by its nurses and psychiatrists, the patient's own answers by its psychiatrists
only. The admin, the director and the front desk may not; another clinic's nurse is refused, anonymous
callers get 401, and a change without the CSRF header is refused. A refusal writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from ketaflow.store import models as m
from ketaflow.vocabulary import Instrument, Respondent
from tests.integration.web.correction_support import CorrectionWorld
from tests.integration.web.roles import ROLES, Caller, callers, expected

COVERS = {
    ("POST", "/api/sessions/{session_id}/vitals/{vital_id}/correct"),
    ("POST", "/api/sessions/{session_id}/side-effects/{side_effect_id}/correct"),
    ("POST", "/api/sessions/{session_id}/order/{order_id}/correct"),
    ("POST", "/api/patients/{patient_id}/questionnaires/{response_id}/correct"),
}
NOW = datetime(2035, 2, 6, 16, 0, tzinfo=UTC)  # 10:00 in Austin, a day no other test books
OPENED = NOW - timedelta(minutes=20)
LABELS = list(ROLES)
CLINICIANS = {"nurse", "psychiatrist"}
PSYCHIATRISTS = {"psychiatrist"}


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


@pytest.fixture(scope="module")
def world(demo_engine: Engine) -> CorrectionWorld:
    return CorrectionWorld(demo_engine)


def _call(caller: Caller, url: str, body: dict[str, Any], *, csrf: bool = True) -> Any:
    r = caller.client.post(url, json=body, headers=caller.headers if csrf else {})
    assert "Traceback" not in r.text
    if r.status_code >= 400:
        assert r.json()["error"], "every refusal says why"
    return r


def _vital(world: CorrectionWorld, sid: uuid.UUID) -> uuid.UUID:
    return world.vital(sid, OPENED + timedelta(minutes=5), (182, 112))


def _side_effect(who: dict[str, Caller], sid: uuid.UUID) -> str:
    r = _call(who["nurse"], f"/api/sessions/{sid}/side-effects", {"kind": "nausea", "severity": "mild"})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _order(who: dict[str, Caller], sid: uuid.UUID) -> str:
    r = who["nurse"].client.get(f"/api/sessions/{sid}")
    assert r.status_code == 200, r.text
    return str(r.json()["order"]["id"])


VITALS = {"bp": "128/82", "heart_rate": 72, "reason": "typed 182/112 for 128/82"}
SIDE_EFFECT = {"kind": "headache", "severity": "mild", "reason": "wrong line chosen"}
ORDER = {
    "protocol": "depression-induction",
    "bag_mg": 50,
    "bag_ml": 50,
    "reason": "the bag was 50 mg in 50 mL",
}


@pytest.mark.parametrize("label", LABELS)
def test_correcting_a_vital_sign(who: dict[str, Caller], world: CorrectionWorld, label: str) -> None:
    sid = world.session(OPENED, ordered=True, started=True)
    vid = _vital(world, sid)
    r = _call(who[label], f"/api/sessions/{sid}/vitals/{vid}/correct", VITALS)
    assert r.status_code == expected(label, CLINICIANS), r.text
    assert world.count(m.VitalSign, session_id=sid) == (2 if r.status_code == 200 else 1)


@pytest.mark.parametrize("label", LABELS)
def test_correcting_a_side_effect(who: dict[str, Caller], world: CorrectionWorld, label: str) -> None:
    sid = world.session(OPENED, ordered=True, started=True)
    se = _side_effect(who, sid)
    r = _call(who[label], f"/api/sessions/{sid}/side-effects/{se}/correct", SIDE_EFFECT)
    assert r.status_code == expected(label, CLINICIANS), r.text
    assert world.count(m.SideEffect, session_id=sid) == (2 if r.status_code == 200 else 1)


@pytest.mark.parametrize("label", LABELS)
def test_correcting_a_dose_order(who: dict[str, Caller], world: CorrectionWorld, label: str) -> None:
    sid = world.session(OPENED, ordered=True)
    order = _order(who, sid)
    r = _call(who[label], f"/api/sessions/{sid}/order/{order}/correct", ORDER)
    assert r.status_code == expected(label, PSYCHIATRISTS), r.text
    assert world.count(m.DoseOrder, session_id=sid) == (2 if r.status_code == 200 else 1)


@pytest.mark.parametrize(
    ("instrument", "respondent", "answers", "allowed"),
    [
        (Instrument.CADSS, Respondent.CLINICIAN, [1] * 23, CLINICIANS),
        (Instrument.PHQ9, Respondent.PATIENT, [1] * 9, PSYCHIATRISTS),
    ],
    ids=["cadss-rated-by-a-nurse", "phq9-answered-by-the-patient"],
)
@pytest.mark.parametrize("label", LABELS)
def test_correcting_questionnaire_answers(
    who: dict[str, Caller],
    world: CorrectionWorld,
    label: str,
    instrument: Instrument,
    respondent: Respondent,
    answers: list[int],
    allowed: set[str],
) -> None:
    rid = world.answers(OPENED, answers, instrument=instrument, respondent=respondent)
    body = {"answers": [0] * len(answers), "reason": "answers of the previous patient"}
    r = _call(who[label], f"/api/patients/{world.patient_id}/questionnaires/{rid}/correct", body)
    assert r.status_code == expected(label, allowed), r.text
    assert len(world.amendments_of(m.QuestionnaireResponse, rid)) == (1 if r.status_code == 200 else 0)


@pytest.mark.parametrize("kind", ["vitals", "side-effects", "order", "questionnaires"])
def test_a_correction_without_the_csrf_header_is_refused_and_changes_nothing(
    who: dict[str, Caller], world: CorrectionWorld, kind: str
) -> None:
    sid = world.session(OPENED, ordered=True, started=kind != "order")
    if kind == "vitals":
        url, body, model = f"/api/sessions/{sid}/vitals/{_vital(world, sid)}/correct", VITALS, m.VitalSign
    elif kind == "side-effects":
        url, body, model = (
            f"/api/sessions/{sid}/side-effects/{_side_effect(who, sid)}/correct",
            SIDE_EFFECT,
            m.SideEffect,
        )
    elif kind == "order":
        url, body, model = f"/api/sessions/{sid}/order/{_order(who, sid)}/correct", ORDER, m.DoseOrder
    else:
        rid = world.answers(OPENED, [1] * 9, session_id=sid)
        url = f"/api/patients/{world.patient_id}/questionnaires/{rid}/correct"
        body, model = {"answers": [0] * 9, "reason": "x"}, m.QuestionnaireResponse
    before = world.count(model, session_id=sid)
    caller = who["psychiatrist"]
    r = _call(caller, url, body, csrf=False)
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    assert world.count(model, session_id=sid) == before
