"""The psychiatrist's consultation, consent, treatment plan and course review, pages and API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from ketaflow.services.consent import consent_texts
from ketaflow.store import models as m
from ketaflow.vocabulary import (
    AppointmentKind,
    AppointmentStatus,
    ConsentKind,
    Instrument,
    Respondent,
    Severity,
    SideEffectKind,
    TreatmentPhase,
    VitalPhase,
)
from tests.integration.web.consult_support import count, new_patient, psychiatrist_id, ready_for_plan
from tests.integration.web.roles import Caller, callers

NOW = datetime(2032, 3, 10, 16, 0, tzinfo=UTC)  # a day no other test uses
VERSION = consent_texts()[ConsentKind.KETAMINE_TREATMENT].version


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


def _form(caller: Caller, url: str, data: dict[str, str]) -> object:
    return caller.client.post(
        url, data={**data, "csrf": caller.headers["X-CSRF-Token"]}, follow_redirects=False
    )


# ---------------------------------------------------------------------------------- screening
def test_a_brand_name_benzodiazepine_and_alcohol_are_found_with_advice_and_source(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine, NOW)
    psych = who["psychiatrist"]
    r = psych.client.post(
        f"/api/patients/{pid}/screen",
        json={"medications": ["Xanax 0.5 mg"], "drinks_per_week": 10, "alcohol_on_infusion_day": True},
        headers=psych.headers,
    )
    assert r.status_code == 200, r.text
    found = {f["matched"]: f for f in r.json()["findings"]}
    benzo = found["Benzodiazepine"]
    assert benzo["item"] == "Xanax 0.5 mg" and benzo["level"] == "psychiatrist_review"
    assert benzo["advice"] and benzo["source"]
    alcohol = [f for f in r.json()["findings"] if f["matched"] == "Alcohol"]
    assert {f["item"] for f in alcohol} == {
        "Alcohol: 10 drinks per week",
        "Alcohol expected on the infusion day",
    }
    assert all(f["level"] == "caution" and "SPRAVATO" in f["source"] for f in alcohol)
    assert r.json()["level"] == "psychiatrist_review"
    assert count(demo_engine, m.Consultation, pid) == 0  # a preview saves nothing


def test_the_consultation_page_shows_the_file_and_the_patients_questions(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine, NOW, questions=("Can I drive the next day?", "Will it hurt?"))
    page = who["psychiatrist"].client.get(f"/patients/{pid}/consultation")
    assert page.status_code == 200
    for text in (
        "Can I drive the next day?",
        "Will it hurt?",
        "Xanax 0.5 mg at night",
        "penicillin",
        "70.0 kg",
        "Record a consultation",
        "Record consent",
        "New plan from a protocol",
        VERSION,
        f"/patients/{pid}/course",
    ):
        assert text in page.text, text
    # A nurse reads it, without the psychiatrist's forms.
    nurse_page = who["nurse"].client.get(f"/patients/{pid}/consultation")
    assert nurse_page.status_code == 200 and "Will it hurt?" in nurse_page.text
    assert "Record a consultation" not in nurse_page.text and "Set the plan" not in nurse_page.text


def test_recording_a_consultation_stores_findings_eligibility_and_open_questions(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine, NOW, questions=("Can I drive the next day?",))
    psych = who["psychiatrist"]
    r = _form(
        psych,
        f"/patients/{pid}/consultation",
        {
            "indication": "Treatment-resistant depression",
            "medications": "Xanax 0.5 mg at night\nsertraline 100 mg",
            "conditions": "Hypertension",
            "drinks_per_week": "4",
            "bp": "132/84",
            "notes": "Discussed driving.",
        },
    )
    assert r.status_code == 303  # type: ignore[attr-defined]
    with Session(demo_engine) as db:
        row = db.scalars(select(m.Consultation).where(m.Consultation.patient_id == pid)).one()
        assert row.eligible and row.screening_level == "psychiatrist_review"
        assert row.patient_questions == "Can I drive the next day?"
        assert {f["matched"] for f in row.screening_findings} >= {"Benzodiazepine", "Alcohol"}
        assert row.screening_input is not None and row.screening_input["bp"] == "132/84"
        assert db.scalar(
            select(m.AuditEvent).where(
                m.AuditEvent.patient_id == pid, m.AuditEvent.action == "consultation.record"
            )
        )
    page = psych.client.get(f"/patients/{pid}/consultation")
    assert "Benzodiazepine" in page.text and "eligible" in page.text
    # The question was brought to this consultation: it is no longer open.
    api = psych.client.get(f"/api/patients/{pid}/consultation").json()
    assert [q["open"] for q in api["questions"]] == [False]

    # A contraindication makes the patient not eligible.
    r2 = psych.client.post(
        f"/api/patients/{pid}/consultation",
        json={"indication": "Treatment-resistant depression", "conditions": ["pregnant"]},
        headers=psych.headers,
    )
    assert r2.status_code == 200 and r2.json()["eligible"] is False
    assert r2.json()["screening_level"] == "contraindicated"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("bp", "400/20", "outside the range"),
        ("drinks_per_week", "-2", "from 0 up"),
        ("drinks_per_week", "lots", "must be a number"),
        ("indication", "", "Write the indication"),
    ],
)
def test_a_bad_consultation_comes_back_with_the_message_and_nothing_saved(
    who: dict[str, Caller], demo_engine: Engine, field: str, value: str, message: str
) -> None:
    pid = new_patient(demo_engine, NOW)
    typed = {"indication": "CRPS", "medications": "gabapentin 300 mg", "bp": "128/82", "notes": "kept"}
    typed[field] = value
    r = _form(who["psychiatrist"], f"/patients/{pid}/consultation", typed)
    assert r.status_code == 400  # type: ignore[attr-defined]
    text = r.text  # type: ignore[attr-defined]
    assert message in text and "field-error" in text and "Traceback" not in text
    assert "gabapentin 300 mg" in text and "kept" in text  # what was typed is kept
    assert count(demo_engine, m.Consultation, pid) == 0


# ---------------------------------------------------------------------------------- consent and plan
def test_a_plan_needs_an_eligible_consultation_and_a_consent_in_force(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine, NOW)
    psych = who["psychiatrist"]
    api = f"/api/patients/{pid}"

    none = psych.client.post(f"{api}/plan", json={}, headers=psych.headers)
    assert none.status_code == 409
    assert "a consultation" in none.json()["error"] and "consent" in none.json()["error"]

    refused = psych.client.post(
        f"{api}/consultation",
        json={"indication": "Treatment-resistant depression", "conditions": ["schizophrenia"]},
        headers=psych.headers,
    )
    assert refused.json()["eligible"] is False
    ineligible = psych.client.post(f"{api}/plan", json={}, headers=psych.headers)
    assert ineligible.status_code == 409 and "eligible consultation" in ineligible.json()["error"]

    ok = psych.client.post(
        f"{api}/consultation", json={"indication": "Treatment-resistant depression"}, headers=psych.headers
    )
    assert ok.json()["eligible"] is True
    no_consent = psych.client.post(f"{api}/plan", json={}, headers=psych.headers)
    assert no_consent.status_code == 409
    assert "consent" in no_consent.json()["error"] and "consultation" not in no_consent.json()["error"]

    future = psych.client.post(
        f"{api}/consent",
        json={"signed_at": (NOW + timedelta(hours=1)).isoformat()},
        headers=psych.headers,
    )
    assert future.status_code == 400 and "future" in future.json()["error"]
    given = psych.client.post(
        f"{api}/consent", json={"signed_at": (NOW - timedelta(minutes=5)).isoformat()}, headers=psych.headers
    )
    assert given.status_code == 200 and given.json()["text_version"] == VERSION
    plan = psych.client.post(f"{api}/plan", json={"protocol": "depression-induction"}, headers=psych.headers)
    assert plan.status_code == 200, plan.text
    assert plan.json()["planned_infusions"] == 6 and plan.json()["target_dose_mg_per_kg"] == 0.5

    # Withdrawal is a new row; the plan that follows is refused and says why.
    stop = psych.client.post(
        f"/api/plans/{plan.json()['id']}", json={"version": 1, "status": "stopped"}, headers=psych.headers
    )
    assert stop.status_code == 200 and stop.json()["version"] == 2
    withdrawn = psych.client.post(
        f"{api}/consent",
        json={"status": "withdrawn", "signed_at": (NOW - timedelta(minutes=1)).isoformat()},
        headers=psych.headers,
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert count(demo_engine, m.Consent, pid) == 2
    again = psych.client.post(f"{api}/plan", json={}, headers=psych.headers)
    assert again.status_code == 409 and "withdrawn" in again.json()["error"]
    twice = psych.client.post(
        f"{api}/consent",
        json={"status": "withdrawn", "signed_at": NOW.isoformat()},
        headers=psych.headers,
    )
    assert twice.status_code == 409
    page = psych.client.get(f"/patients/{pid}/consultation")
    assert "withdrawn" in page.text


def test_plan_limits_follow_the_dose_limit_rules(who: dict[str, Caller], demo_engine: Engine) -> None:
    pid = new_patient(demo_engine, NOW)
    ready_for_plan(demo_engine, pid, NOW)
    psych = who["psychiatrist"]
    url = f"/api/patients/{pid}/plan"
    before = count(demo_engine, m.TreatmentPlan, pid)
    hard = psych.client.post(url, json={"dose_mg_per_kg": 2.0, "reason": "x"}, headers=psych.headers)
    assert hard.status_code == 400 and "hard" in hard.json()["error"]
    soft = psych.client.post(url, json={"dose_mg_per_kg": 0.6}, headers=psych.headers)
    assert soft.status_code == 400 and "soft limit" in soft.json()["error"]
    longer = psych.client.post(url, json={"planned_infusions": 9}, headers=psych.headers)
    assert longer.status_code == 400 and "reason" in longer.json()["error"]
    zero = psych.client.post(url, json={"planned_infusions": 0}, headers=psych.headers)
    assert zero.status_code == 400
    assert count(demo_engine, m.TreatmentPlan, pid) == before
    ok = psych.client.post(
        url, json={"dose_mg_per_kg": 0.6, "reason": "partial response at 0.5"}, headers=psych.headers
    )
    assert ok.status_code == 200 and "partial response at 0.5" in ok.json()["override_reason"]
    second = psych.client.post(url, json={}, headers=psych.headers)
    assert second.status_code == 409 and "already has an active plan" in second.json()["error"]


def test_a_stale_plan_edit_is_refused(who: dict[str, Caller], demo_engine: Engine) -> None:
    pid = new_patient(demo_engine, NOW)
    ready_for_plan(demo_engine, pid, NOW)
    psych = who["psychiatrist"]
    plan = psych.client.post(f"/api/patients/{pid}/plan", json={}, headers=psych.headers).json()
    url = f"/api/plans/{plan['id']}"
    first = psych.client.post(url, json={"version": 1, "planned_infusions": 4}, headers=psych.headers)
    assert first.status_code == 200 and first.json()["planned_infusions"] == 4
    stale = psych.client.post(url, json={"version": 1, "status": "completed"}, headers=psych.headers)
    assert stale.status_code == 409 and "reload" in stale.json()["error"]
    # The page's form says the same, beside the plan, and keeps the plan unchanged.
    page = _form(
        psych, f"/plans/{plan['id']}", {"version": "1", "status": "completed", "planned_infusions": "4"}
    )
    assert page.status_code == 409 and "changed by someone else" in page.text  # type: ignore[attr-defined]
    with Session(demo_engine) as db:
        row = db.get(m.TreatmentPlan, uuid.UUID(plan["id"]))
        assert row is not None and row.status == "active" and row.version == 2
    bad = psych.client.post(url, json={"version": 2, "status": "paused"}, headers=psych.headers)
    assert bad.status_code == 400 and "active, completed, stopped" in bad.json()["error"]


def test_the_pages_forms_for_consent_and_plan(who: dict[str, Caller], demo_engine: Engine) -> None:
    pid = new_patient(demo_engine, NOW)
    psych = who["psychiatrist"]
    no_plan = _form(psych, f"/patients/{pid}/plan", {"protocol": "depression-induction"})
    assert no_plan.status_code == 400 and "needs a consultation" in no_plan.text  # type: ignore[attr-defined]
    future = _form(
        psych,
        f"/patients/{pid}/consent",
        {"kind": "ketamine_treatment", "status": "given", "signed_at": "2032-03-11T09:00"},
    )
    assert future.status_code == 400 and "in the future" in future.text  # type: ignore[attr-defined]
    assert count(demo_engine, m.Consent, pid) == 0
    given = _form(
        psych,
        f"/patients/{pid}/consent",
        {"kind": "ketamine_treatment", "status": "given", "signed_at": "2032-03-10T09:30"},
    )
    assert given.status_code == 303  # type: ignore[attr-defined]
    ready_for_plan(demo_engine, pid, NOW)
    bad_dose = _form(
        psych, f"/patients/{pid}/plan", {"protocol": "depression-induction", "dose_mg_per_kg": "abc"}
    )
    assert bad_dose.status_code == 400 and "must be a number" in bad_dose.text  # type: ignore[attr-defined]
    ok = _form(psych, f"/patients/{pid}/plan", {"protocol": "chronic-pain-crps"})
    assert ok.status_code == 303  # type: ignore[attr-defined]
    page = psych.client.get(f"/patients/{pid}/consultation")
    assert "chronic-pain-crps" in page.text


# ---------------------------------------------------------------------------------- course
def _chart_infusions(engine: Engine, patient_id: uuid.UUID, n: int) -> list[uuid.UUID]:
    """Chart `n` infusions with an order, pump stop, vitals, a side effect, CADSS and PHQ-9."""
    by = psychiatrist_id(engine)
    made = []
    with Session(engine) as db:
        patient = db.get(m.Patient, patient_id)
        assert patient is not None
        clinic_id = patient.clinic_id
        for i in range(n):
            at = NOW - timedelta(days=3 * (n - i))
            appt = m.Appointment(
                clinic_id=clinic_id,
                patient_id=patient_id,
                kind=AppointmentKind.INFUSION,
                starts_at=at,
                ends_at=at + timedelta(hours=2),
                status=AppointmentStatus.COMPLETED,
            )
            db.add(appt)
            db.flush()
            s = m.InfusionSession(
                clinic_id=clinic_id,
                patient_id=patient_id,
                appointment_id=appt.id,
                series_number=i + 1,
                phase=TreatmentPhase.INDUCTION,
                opened_at=at,
            )
            db.add(s)
            db.flush()
            sid = {"clinic_id": clinic_id, "session_id": s.id}
            db.add_all(
                [
                    m.DoseOrder(
                        **sid,
                        ordered_by_id=by,
                        ordered_at=at,
                        protocol_code="depression-induction",
                        dosing_weight_kg=70,
                        dose_mg_per_kg=0.6 if i == 0 else 0.5,
                        dose_mg=42 if i == 0 else 35,
                        duration_min=40,
                        bag_drug_mg=100,
                        bag_volume_ml=100,
                        rate_ml_per_h=52.5,
                        volume_ml=35,
                        limit_status="soft_limit" if i == 0 else "ok",
                        override_reason="partial response" if i == 0 else None,
                    ),
                    m.AdministrationEvent(
                        **sid,
                        kind="stop",
                        occurred_at=at + timedelta(minutes=40),
                        cumulative_mg=34.5,
                    ),
                    m.VitalSign(
                        **sid,
                        patient_id=patient_id,
                        measured_at=at + timedelta(minutes=20),
                        phase=VitalPhase.INFUSION,
                        systolic_mmhg=150 + i,
                        diastolic_mmhg=92,
                    ),
                    m.VitalSign(
                        **sid,
                        patient_id=patient_id,
                        measured_at=at + timedelta(minutes=30),
                        phase=VitalPhase.INFUSION,
                        systolic_mmhg=130,
                        diastolic_mmhg=80,
                    ),
                    m.SideEffect(
                        **sid,
                        kind=SideEffectKind.NAUSEA,
                        severity=Severity.MILD,
                        onset_at=at + timedelta(minutes=15),
                    ),
                    m.QuestionnaireResponse(
                        **sid,
                        patient_id=patient_id,
                        instrument=Instrument.CADSS,
                        answers=[1] * 23,
                        total=23 + i,
                        respondent=Respondent.CLINICIAN,
                        answered_at=at + timedelta(minutes=45),
                        for_date=at.date(),
                    ),
                    m.QuestionnaireResponse(
                        **sid,
                        patient_id=patient_id,
                        instrument=Instrument.PHQ9,
                        answers=[2] * 9,
                        total=18 - 2 * i,
                        respondent=Respondent.PATIENT,
                        answered_at=at - timedelta(minutes=30),
                        for_date=at.date(),
                    ),
                ]
            )
            made.append(s.id)
        db.commit()
    return made


def test_the_course_page_shows_every_infusion_and_the_questionnaires(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine, NOW)
    ready_for_plan(demo_engine, pid, NOW)
    psych = who["psychiatrist"]
    assert psych.client.post(f"/api/patients/{pid}/plan", json={}, headers=psych.headers).status_code == 200
    _chart_infusions(demo_engine, pid, 3)
    page = who["nurse"].client.get(f"/patients/{pid}/course")
    assert page.status_code == 200
    for text in (
        "depression-induction",
        "42.0 mg (0.6 mg/kg)",
        "soft limit",
        "partial response",
        "152/92",
        "PHQ-9",
        "response: <strong>no",
        "22% reduction",
    ):
        assert text in page.text, text
    assert "<svg" in page.text and "<polyline" in page.text
    data = who["director"].client.get(f"/api/patients/{pid}/course").json()
    first = data["infusions"][0]
    assert (first["dose_mg"], first["limit_status"], first["given_mg"], first["side_effects"]) == (
        42,
        "soft_limit",
        34.5,
        1,
    )
    assert [i["peak_cadss"] for i in data["infusions"]] == [23, 24, 25]
    assert [i["max_systolic"] for i in data["infusions"]] == [150, 151, 152]
    assert [s["total"] for s in data["scores"] if s["instrument"] == "phq9"] == [18, 16, 14]
    with Session(demo_engine) as db:
        assert db.scalar(
            select(m.AuditEvent).where(m.AuditEvent.patient_id == pid, m.AuditEvent.action == "course.read")
        )


def test_the_course_takes_the_same_number_of_queries_for_one_or_many_infusions(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    def queries(n: int) -> int:
        pid = new_patient(demo_engine, NOW)
        _chart_infusions(demo_engine, pid, n)
        seen: list[str] = []

        def on_execute(*args: object) -> None:
            seen.append("q")

        event.listen(demo_engine, "before_cursor_execute", on_execute)
        try:
            assert who["psychiatrist"].client.get(f"/api/patients/{pid}/course").status_code == 200
        finally:
            event.remove(demo_engine, "before_cursor_execute", on_execute)
        return len(seen)

    assert queries(1) == queries(6)


def test_another_clinics_nurse_cannot_open_the_pages(who: dict[str, Caller], demo_engine: Engine) -> None:
    pid = new_patient(demo_engine, NOW)
    other = who["other_clinic_nurse"].client
    for url in (f"/patients/{pid}/consultation", f"/patients/{pid}/course"):
        r = other.get(url)
        assert r.status_code == 403 and "Traceback" not in r.text
    assert who["anonymous"].client.get(f"/patients/{pid}/course", follow_redirects=False).status_code == 303


def test_a_stopped_plan_cannot_be_reopened_beside_an_active_one(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    pid = new_patient(demo_engine, NOW)
    ready_for_plan(demo_engine, pid, NOW)
    psych = who["psychiatrist"]
    first = psych.client.post(f"/api/patients/{pid}/plan", json={}, headers=psych.headers).json()
    stopped = _form(psych, f"/plans/{first['id']}", {"version": "1", "status": "stopped"})
    assert stopped.status_code == 303  # type: ignore[attr-defined]
    second = psych.client.post(
        f"/api/patients/{pid}/plan", json={"protocol": "depression-maintenance"}, headers=psych.headers
    )
    assert second.status_code == 200
    reopen = psych.client.post(
        f"/api/plans/{first['id']}", json={"version": 2, "status": "active"}, headers=psych.headers
    )
    assert reopen.status_code == 409 and "already has an active plan" in reopen.json()["error"]


def test_the_total_dose_limit_uses_the_weight_on_file(who: dict[str, Caller], demo_engine: Engine) -> None:
    pid = new_patient(demo_engine, NOW)
    with Session(demo_engine) as db:
        patient = db.get(m.Patient, pid)
        assert patient is not None
        db.add(
            m.BodyMeasurement(
                clinic_id=patient.clinic_id, patient_id=pid, measured_at=NOW, weight_kg=130.0, height_cm=180
            )
        )
        db.commit()
    ready_for_plan(demo_engine, pid, NOW)
    psych = who["psychiatrist"]
    url = f"/api/patients/{pid}/plan"
    heavy = psych.client.post(url, json={}, headers=psych.headers)
    assert heavy.status_code == 400 and "total dose 65 mg" in heavy.json()["error"]
    ok = psych.client.post(url, json={"reason": "reviewed weight and BP"}, headers=psych.headers)
    assert ok.status_code == 200 and "total dose" in ok.json()["override_reason"]


def test_consent_to_data_sharing_is_separate(who: dict[str, Caller], demo_engine: Engine) -> None:
    pid = new_patient(demo_engine, NOW)
    psych = who["psychiatrist"]
    r = psych.client.post(
        f"/api/patients/{pid}/consent",
        json={"kind": "data_sharing", "signed_at": (NOW - timedelta(minutes=3)).isoformat()},
        headers=psych.headers,
    )
    assert r.status_code == 200 and r.json()["kind"] == "data_sharing"
    consents = psych.client.get(f"/api/patients/{pid}/consultation").json()["consents"]
    assert consents["data_sharing"]["status"] == "given" and consents["ketamine_treatment"] is None
    plan = psych.client.post(f"/api/patients/{pid}/plan", json={}, headers=psych.headers)
    assert plan.status_code == 409 and "consent to ketamine treatment" in plan.json()["error"]


@pytest.mark.parametrize("label", ["admin", "director", "nurse", "front_desk", "other_clinic_nurse"])
def test_only_the_psychiatrist_may_post_the_forms(
    who: dict[str, Caller], demo_engine: Engine, label: str
) -> None:
    pid = new_patient(demo_engine, NOW)
    ready_for_plan(demo_engine, pid, NOW)
    forms = {
        "consultation": {"indication": "Treatment-resistant depression"},
        "consent": {"kind": "data_sharing", "status": "given", "signed_at": "2032-03-10T09:00"},
        "plan": {"protocol": "depression-induction"},
    }
    for path, data in forms.items():
        r = _form(who[label], f"/patients/{pid}/{path}", data)
        assert r.status_code == 403 and "Traceback" not in r.text, path  # type: ignore[attr-defined]
    assert count(demo_engine, m.Consultation, pid) == 1  # only the one charted by ready_for_plan
    assert count(demo_engine, m.Consent, pid) == 1
    assert count(demo_engine, m.TreatmentPlan, pid) == 0
