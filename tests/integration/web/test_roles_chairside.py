"""Every role against the chairside endpoints: side effects, interventions, comfort, help requests,
CADSS and the vitals check. Writes are for the clinic's nurses and psychiatrists (CHART_INFUSION),
the vitals check is a read for the clinic's staff (READ_CHART); another clinic's nurse is refused,
anonymous callers get 401, a change without the CSRF header is refused and writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from ketaflow.store import models as m
from tests.integration.web.roles import CLINICAL_READERS, ROLES, Caller, callers, expected
from tests.integration.web.test_chairside import ChairWorld

COVERS = {
    ("POST", "/api/sessions/{session_id}/side-effects"),
    ("POST", "/api/sessions/{session_id}/side-effects/{side_effect_id}/resolve"),
    ("POST", "/api/sessions/{session_id}/interventions"),
    ("POST", "/api/sessions/{session_id}/comfort"),
    ("POST", "/api/sessions/{session_id}/assistance"),
    ("POST", "/api/sessions/{session_id}/assistance/{request_id}/answer"),
    ("POST", "/api/sessions/{session_id}/cadss"),
    ("GET", "/api/sessions/{session_id}/vitals/check"),
}
NOW = datetime(2034, 6, 6, 15, 0, tzinfo=UTC)  # a day no other test books
OPENED = NOW - timedelta(minutes=20)
LABELS = list(ROLES)
CHARTING = {"nurse", "psychiatrist"}


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


@pytest.fixture(scope="module")
def world(demo_engine: Engine) -> ChairWorld:
    return ChairWorld(demo_engine)


def _call(caller: Caller, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    r = caller.client.request(method, url, json=body, headers=caller.headers)
    assert "Traceback" not in r.text
    if r.status_code >= 400:
        assert r.json()["error"], "every refusal says why"
    return r


def _side_effect(who: dict[str, Caller], sid: uuid.UUID) -> str:
    r = _call(
        who["nurse"], "POST", f"/api/sessions/{sid}/side-effects", {"kind": "nausea", "severity": "mild"}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _request(who: dict[str, Caller], sid: uuid.UUID) -> str:
    r = _call(who["nurse"], "POST", f"/api/sessions/{sid}/assistance", {"reason": "restroom"})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


# (path under the session, body, table written) for each new write endpoint that needs nothing first
NEW_ENTRIES = [
    ("side-effects", {"kind": "headache", "severity": "mild"}, m.SideEffect),
    ("interventions", {"kind": "drug", "drug_name": "ondansetron", "dose_text": "4 mg IV"}, m.Intervention),
    ("comfort", {"music": True, "eye_mask": True}, m.ComfortSetting),
    ("assistance", {"reason": "anxiety"}, m.AssistanceRequest),
    ("cadss", {"answers": [1] * 23}, m.QuestionnaireResponse),
]


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize(("path", "body", "model"), NEW_ENTRIES, ids=[p for p, _, _ in NEW_ENTRIES])
def test_charting_a_new_entry(
    who: dict[str, Caller], world: ChairWorld, label: str, path: str, body: dict[str, Any], model: Any
) -> None:
    sid = world.session(at=OPENED, started=True)
    r = _call(who[label], "POST", f"/api/sessions/{sid}/{path}", body)
    assert r.status_code == expected(label, CHARTING), r.text
    assert world.count(model, sid) == (1 if r.status_code == 200 else 0)


@pytest.mark.parametrize("label", LABELS)
def test_resolving_a_side_effect(who: dict[str, Caller], world: ChairWorld, label: str) -> None:
    sid = world.session(at=OPENED, started=True)
    se = _side_effect(who, sid)
    r = _call(who[label], "POST", f"/api/sessions/{sid}/side-effects/{se}/resolve", {})
    assert r.status_code == expected(label, CHARTING), r.text
    assert world.count(m.SideEffect, sid) == (2 if r.status_code == 200 else 1)


@pytest.mark.parametrize("label", LABELS)
def test_answering_a_request_for_help(who: dict[str, Caller], world: ChairWorld, label: str) -> None:
    sid = world.session(at=OPENED, started=True)
    req = _request(who, sid)
    r = _call(who[label], "POST", f"/api/sessions/{sid}/assistance/{req}/answer", {})
    assert r.status_code == expected(label, CHARTING), r.text
    assert world.count(m.AssistanceRequest, sid) == (2 if r.status_code == 200 else 1)


@pytest.mark.parametrize("label", LABELS)
def test_checking_vitals_as_typed(who: dict[str, Caller], world: ChairWorld, label: str) -> None:
    sid = world.session(at=OPENED, started=True)
    r = who[label].client.get(f"/api/sessions/{sid}/vitals/check", params={"bp": "128/82", "heart_rate": 72})
    assert r.status_code == expected(label, CLINICAL_READERS), r.text
    if r.status_code == 200:
        assert r.json()["level"] == "normal"
    assert world.count(m.VitalSign, sid) == 0


@pytest.mark.parametrize(
    ("path", "body", "model"),
    [
        *NEW_ENTRIES,
        ("side-effects/{se}/resolve", {}, m.SideEffect),
        ("assistance/{req}/answer", {}, m.AssistanceRequest),
    ],
)
def test_a_change_without_the_csrf_header_is_refused_and_changes_nothing(
    who: dict[str, Caller], world: ChairWorld, path: str, body: dict[str, Any], model: Any
) -> None:
    sid = world.session(at=OPENED, started=True)
    path = path.format(se=_side_effect(who, sid), req=_request(who, sid))
    before = world.count(model, sid)
    nurse = who["nurse"]
    r = nurse.client.post(f"/api/sessions/{sid}/{path}", json=body)  # no X-CSRF-Token header
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    assert world.count(model, sid) == before


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("side-effects", {"kind": "itching", "severity": "mild"}, 400, "must be one of"),
        ("side-effects", {"kind": "nausea", "severity": "mild", "onset_at": "2034-06-06T15:30:00+00:00"}, 400,
         "in the future"),
        ("side-effects", {"kind": "nausea"}, 422, "severity"),
        ("side-effects/{se}/resolve", {"resolved_at": "2034-06-06T14:00:00+00:00"}, 400, "before its onset"),
        ("side-effects/{missing}/resolve", {}, 404, "no such side effect"),
        ("interventions", {"kind": "drug", "drug_name": "ondansetron"}, 400, "Write the dose"),
        ("interventions", {"kind": "action", "description": "x", "side_effect_id": "{missing}"}, 404,
         "no such side effect"),
        ("comfort", {"music": "loud"}, 422, "music"),
        ("assistance", {"reason": "snack"}, 400, "must be one of"),
        ("assistance/{missing}/answer", {}, 404, "no such request"),
        ("cadss", {"answers": [1] * 22 + [None]}, 400, "item 23 is unanswered"),
        ("cadss", {"answers": [4] * 22 + [9]}, 400, "item 23 must be 0 to 4"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_a_sentence_and_nothing_saved(
    who: dict[str, Caller], world: ChairWorld, path: str, body: dict[str, Any], status: int, words: str
) -> None:
    sid = world.session(at=OPENED, started=True)
    missing = str(uuid.uuid4())
    path = path.format(se=_side_effect(who, sid) if "{se}" in path else "", missing=missing)
    body = {k: (missing if v == "{missing}" else v) for k, v in body.items()}
    counts = [world.count(model, sid) for _, _, model in NEW_ENTRIES]
    r = _call(who["nurse"], "POST", f"/api/sessions/{sid}/{path}", body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    assert [world.count(model, sid) for _, _, model in NEW_ENTRIES] == counts


def test_bad_typed_vitals_are_refused_by_the_check(who: dict[str, Caller], world: ChairWorld) -> None:
    sid = world.session(at=OPENED, started=True)
    nurse = who["nurse"].client
    r = nurse.get(f"/api/sessions/{sid}/vitals/check", params={"bp": "400/20"})
    assert r.status_code == 400 and "outside the range" in r.json()["error"]
    assert nurse.get(f"/api/sessions/{sid}/vitals/check", params={"spo2": "abc"}).status_code == 422
    assert nurse.get(f"/api/sessions/{uuid.uuid4()}/vitals/check").status_code == 404
