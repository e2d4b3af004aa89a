"""Every role against the consultation API: consultation, screening preview, consent, plan, course.

Only the psychiatrist consults, records consent and sets plans; every role of the clinic reads
the consultation and the course; another clinic's nurse is refused; anonymous gets 401; a change
without the CSRF header is refused with nothing written. Bad inputs answer 4xx with one sentence
and save nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from ketaflow.store import models as m
from tests.integration.web.consult_support import count, new_patient, ready_for_plan
from tests.integration.web.roles import CLINICAL_READERS, ROLES, Caller, callers, expected

COVERS = {
    ("GET", "/api/patients/{patient_id}/consultation"),
    ("POST", "/api/patients/{patient_id}/consultation"),
    ("POST", "/api/patients/{patient_id}/screen"),
    ("POST", "/api/patients/{patient_id}/consent"),
    ("POST", "/api/patients/{patient_id}/plan"),
    ("POST", "/api/plans/{plan_id}"),
    ("GET", "/api/patients/{patient_id}/course"),
}
NOW = datetime(2032, 4, 14, 15, 0, tzinfo=UTC)  # a day no other test uses
LABELS = list(ROLES)
PSYCHIATRIST = {"psychiatrist"}


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


def _call(caller: Caller, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    r = caller.client.request(method, url, json=body, headers=caller.headers)
    assert "Traceback" not in r.text
    if r.status_code >= 400:
        assert r.json()["error"], "every refusal says why"
    return r


def _planned(engine: Engine, who: dict[str, Caller]) -> tuple[uuid.UUID, str]:
    pid = new_patient(engine, NOW)
    ready_for_plan(engine, pid, NOW)
    psych = who["psychiatrist"]
    r = psych.client.post(f"/api/patients/{pid}/plan", json={}, headers=psych.headers)
    assert r.status_code == 200, r.text
    return pid, r.json()["id"]


@pytest.mark.parametrize("label", LABELS)
def test_reading_the_consultation_and_the_course(
    who: dict[str, Caller], demo_engine: Engine, label: str
) -> None:
    pid = new_patient(demo_engine, NOW, questions=("Is it safe with my Xanax?",))
    for url in (f"/api/patients/{pid}/consultation", f"/api/patients/{pid}/course"):
        r = _call(who[label], "GET", url)
        assert r.status_code == expected(label, CLINICAL_READERS), url
    if label in CLINICAL_READERS:
        body = _call(who[label], "GET", f"/api/patients/{pid}/consultation").json()
        assert body["questions"][0]["text"] == "Is it safe with my Xanax?"


@pytest.mark.parametrize("label", LABELS)
def test_screening_preview(who: dict[str, Caller], demo_engine: Engine, label: str) -> None:
    pid = new_patient(demo_engine, NOW)
    r = _call(who[label], "POST", f"/api/patients/{pid}/screen", {"medications": ["Ativan 1 mg"]})
    assert r.status_code == expected(label, PSYCHIATRIST)


@pytest.mark.parametrize("label", LABELS)
def test_recording_a_consultation(who: dict[str, Caller], demo_engine: Engine, label: str) -> None:
    pid = new_patient(demo_engine, NOW)
    body = {"indication": "Treatment-resistant depression", "medications": ["sertraline 50 mg"]}
    r = _call(who[label], "POST", f"/api/patients/{pid}/consultation", body)
    assert r.status_code == expected(label, PSYCHIATRIST)
    assert count(demo_engine, m.Consultation, pid) == (1 if r.status_code == 200 else 0)


@pytest.mark.parametrize("label", LABELS)
def test_recording_consent(who: dict[str, Caller], demo_engine: Engine, label: str) -> None:
    pid = new_patient(demo_engine, NOW)
    body = {"kind": "ketamine_treatment", "signed_at": (NOW - timedelta(minutes=10)).isoformat()}
    r = _call(who[label], "POST", f"/api/patients/{pid}/consent", body)
    assert r.status_code == expected(label, PSYCHIATRIST)
    assert count(demo_engine, m.Consent, pid) == (1 if r.status_code == 200 else 0)


@pytest.mark.parametrize("label", LABELS)
def test_setting_a_plan(who: dict[str, Caller], demo_engine: Engine, label: str) -> None:
    pid = new_patient(demo_engine, NOW)
    ready_for_plan(demo_engine, pid, NOW)
    r = _call(who[label], "POST", f"/api/patients/{pid}/plan", {"protocol": "depression-induction"})
    assert r.status_code == expected(label, PSYCHIATRIST)
    assert count(demo_engine, m.TreatmentPlan, pid) == (1 if r.status_code == 200 else 0)


@pytest.mark.parametrize("label", LABELS)
def test_editing_a_plan(who: dict[str, Caller], demo_engine: Engine, label: str) -> None:
    _pid, plan_id = _planned(demo_engine, who)
    r = _call(who[label], "POST", f"/api/plans/{plan_id}", {"version": 1, "status": "completed"})
    assert r.status_code == expected(label, PSYCHIATRIST)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/patients/{pid}/screen", {"medications": ["Xanax"]}),
        ("POST", "/api/patients/{pid}/consultation", {"indication": "Treatment-resistant depression"}),
        ("POST", "/api/patients/{pid}/consent", {"signed_at": "2032-04-14T14:00:00+00:00"}),
        ("POST", "/api/patients/{pid}/plan", {}),
        ("POST", "/api/plans/{plan}", {"version": 1, "status": "stopped"}),
    ],
)
def test_a_change_without_the_csrf_header_is_refused_and_changes_nothing(
    who: dict[str, Caller], demo_engine: Engine, method: str, path: str, body: dict[str, Any]
) -> None:
    pid, plan_id = _planned(demo_engine, who)
    done = select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.outcome == "success")
    refused = select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.outcome == "refused")
    with demo_engine.connect() as conn:
        before, refused_before = conn.scalar(done), conn.scalar(refused)
    r = who["psychiatrist"].client.request(method, path.format(pid=pid, plan=plan_id), json=body)
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    with demo_engine.connect() as conn:  # nothing done: only the refusal is audited (issue 12)
        assert (conn.scalar(done), conn.scalar(refused)) == (before, (refused_before or 0) + 1)


# ---------------------------------------------------------------------------------- bad inputs
BAD_CONSULTATIONS = [
    ({"indication": "TRD", "bp": "400/20"}, 400, "outside the range"),
    ({"indication": "TRD", "bp": "120"}, 400, "systolic/diastolic"),
    ({"indication": "TRD", "drinks_per_week": -1}, 400, "from 0 up"),
    ({"indication": "TRD", "drinks_per_week": 5000}, 400, "typing error"),
    ({"indication": "  "}, 400, "Write the indication"),
    ({"indication": "TRD", "medications": "Xanax"}, 422, "medications"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_CONSULTATIONS)
def test_a_bad_consultation_is_refused_and_nothing_saved(
    who: dict[str, Caller], demo_engine: Engine, body: dict[str, Any], status: int, message: str
) -> None:
    pid = new_patient(demo_engine, NOW)
    psych = who["psychiatrist"]
    for path in ("consultation", "screen"):
        if path == "screen" and message == "Write the indication":
            continue  # the preview runs before an indication is written
        r = _call(psych, "POST", f"/api/patients/{pid}/{path}", body)
        assert r.status_code == status and message in r.json()["error"], (path, r.text)
    assert count(demo_engine, m.Consultation, pid) == 0


BAD_CONSENTS = [
    ({"signed_at": (NOW + timedelta(days=1)).isoformat()}, 400, "in the future"),
    ({"signed_at": "1950-01-01T10:00:00+00:00"}, 400, "before the patient's date of birth"),
    ({}, 400, "Give the date and time"),
    ({"signed_at": "2032-04-14T10:00:00"}, 400, "time zone"),
    ({"signed_at": "yesterday"}, 422, "signed_at"),
    ({"kind": "tattoo", "signed_at": NOW.isoformat()}, 400, "Choose what the consent is for"),
    ({"status": "maybe", "signed_at": NOW.isoformat()}, 400, "given or withdrawn"),
    ({"text_version": "v0", "signed_at": NOW.isoformat()}, 400, "version"),
    ({"status": "withdrawn", "signed_at": NOW.isoformat()}, 409, "no ketamine treatment consent"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_CONSENTS)
def test_a_bad_consent_is_refused_and_nothing_saved(
    who: dict[str, Caller], demo_engine: Engine, body: dict[str, Any], status: int, message: str
) -> None:
    pid = new_patient(demo_engine, NOW)
    r = _call(who["psychiatrist"], "POST", f"/api/patients/{pid}/consent", body)
    assert r.status_code == status and message in r.json()["error"], r.text
    assert count(demo_engine, m.Consent, pid) == 0


BAD_PLANS = [
    ({"protocol": "nonsense"}, 400, "Unknown protocol"),
    ({"dose_mg_per_kg": 4.0, "reason": "x"}, 400, "hard"),
    ({"dose_mg_per_kg": 0}, 400, "above 0"),
    ({"dose_mg_per_kg": -0.5}, 400, "above 0"),
    ({"minutes": 5, "reason": "x"}, 400, "hard"),
    ({"minutes": 60}, 400, "soft limit"),
    ({"planned_infusions": 0}, 400, "Planned infusions"),
    ({"planned_infusions": 100000}, 400, "Planned infusions"),
    ({"planned_infusions": "six"}, 422, "planned_infusions"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_PLANS)
def test_a_bad_plan_is_refused_and_nothing_saved(
    who: dict[str, Caller], demo_engine: Engine, body: dict[str, Any], status: int, message: str
) -> None:
    pid = new_patient(demo_engine, NOW)
    ready_for_plan(demo_engine, pid, NOW)
    r = _call(who["psychiatrist"], "POST", f"/api/patients/{pid}/plan", body)
    assert r.status_code == status and message in r.json()["error"], r.text
    assert count(demo_engine, m.TreatmentPlan, pid) == 0


BAD_EDITS = [
    ({"version": 7, "status": "completed"}, 409, "changed by someone else"),
    ({"version": 1, "status": "paused"}, 400, "active, completed, stopped"),
    ({"version": 1}, 400, "Nothing to change"),
    ({"version": 1, "planned_infusions": 12}, 400, "reason"),
    ({"version": 1, "planned_infusions": -3}, 400, "Planned infusions"),
    ({"status": "completed"}, 422, "version"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_EDITS)
def test_a_bad_plan_edit_is_refused_and_the_plan_unchanged(
    who: dict[str, Caller], demo_engine: Engine, body: dict[str, Any], status: int, message: str
) -> None:
    _pid, plan_id = _planned(demo_engine, who)
    r = _call(who["psychiatrist"], "POST", f"/api/plans/{plan_id}", body)
    assert r.status_code == status and message in r.json()["error"], r.text
    with demo_engine.connect() as conn:
        version = conn.scalar(select(m.TreatmentPlan.version).where(m.TreatmentPlan.id == uuid.UUID(plan_id)))
    assert version == 1


def test_unknown_patient_and_plan_are_404(who: dict[str, Caller]) -> None:
    psych = who["psychiatrist"]
    missing = uuid.uuid4()
    assert _call(psych, "GET", f"/api/patients/{missing}/consultation").status_code == 404
    assert _call(psych, "GET", f"/api/patients/{missing}/course").status_code == 404
    assert _call(psych, "POST", f"/api/patients/{missing}/plan", {}).status_code == 404
    assert (
        _call(psych, "POST", f"/api/plans/{missing}", {"version": 1, "status": "stopped"}).status_code == 404
    )
