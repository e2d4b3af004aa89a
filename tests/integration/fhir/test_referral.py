"""A referral round-trips: a patient exported as FHIR from one organization's chart and imported
into another's comes back with the same chart; duplicates ask first; a bad Bundle names each
problem and saves nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaflow.clinical.levels import ScreeningLevel
from ketaflow.errors import Forbidden, InvalidFields
from ketaflow.services.auth import CurrentUser
from ketaflow.services.fhir_record import patient_resources
from ketaflow.services.fhir_referral import import_referral
from ketaflow.services.registration import PossibleDuplicates
from ketaflow.store import models as m
from ketaflow.store.facts import current
from ketaflow.vocabulary import Instrument, Role
from tests.factories import T0, Chart, add_course_details, make_chart, make_clinic, make_staff


def _who(db: Session, user: m.StaffUser) -> CurrentUser:
    roles: dict[str, set[Role]] = {}
    for r in db.scalars(select(m.StaffRole).where(m.StaffRole.user_id == user.id)):
        roles.setdefault(str(r.clinic_id), set()).add(r.role)
    return CurrentUser(user, None, roles)  # type: ignore[arg-type]


def transaction(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The exported record as the referring system sends it: a transaction Bundle."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{r['id']}" if len(r["id"]) == 36 else f"https://a.test/{r['id']}",
                "resource": r,
                "request": {"method": "POST", "url": r["resourceType"]},
            }
            for r in resources
        ],
    }


def chart_of(db: Session, patient_id: Any) -> dict[str, Any]:
    """What the referral carries, as the chart holds it."""
    p = db.get(m.Patient, patient_id)
    assert p is not None
    rows = lambda model: list(db.scalars(current(model).where(model.patient_id == patient_id)))  # noqa: E731
    return {
        "person": (p.given_name, p.family_name, p.date_of_birth, p.sex),
        "medications": sorted(x.as_written for x in rows(m.Medication)),
        "allergies": sorted((x.substance, x.reaction) for x in rows(m.Allergy)),
        "diagnoses": sorted((x.code, x.description) for x in rows(m.Diagnosis)),
        "phq9": sorted(
            (x.answered_at, x.total) for x in rows(m.QuestionnaireResponse) if x.instrument == Instrument.PHQ9
        ),
        "weight": sorted((x.weight_kg, x.height_cm) for x in rows(m.BodyMeasurement)),
    }


@pytest.fixture
def referred(db: Session) -> tuple[Chart, dict[str, Any], m.Clinic, CurrentUser]:
    chart = make_chart(db)
    add_course_details(db, chart)
    bundle = transaction(patient_resources(db, chart.patient.id))
    elsewhere = make_clinic(db)  # another organization: another network's database
    assert elsewhere.organization_id != chart.org.id
    front_desk = make_staff(db, elsewhere, Role.FRONT_DESK)
    return chart, bundle, elsewhere, _who(db, front_desk)


def test_a_referral_round_trips(
    db: Session, referred: tuple[Chart, dict[str, Any], m.Clinic, CurrentUser]
) -> None:
    chart, bundle, elsewhere, front_desk = referred
    done = import_referral(db, front_desk, elsewhere.code, bundle, now=T0 + timedelta(days=30))
    assert done.patient.organization_id == elsewhere.organization_id
    before, after = chart_of(db, chart.patient.id), chart_of(db, done.patient.id)
    assert after == before
    assert after["phq9"] == [(T0 - timedelta(minutes=30), 13)]
    # The medications went through the clinical rules' screening: clonazepam is flagged.
    assert done.screening.level != ScreeningLevel.CLEAR
    assert any(
        "clonazepam" in f.item.lower() or "klonopin" in f.item.lower() for f in done.screening.findings
    )
    # Encounters, vital signs and the like are listed as not imported, not silently dropped.
    assert any(x.startswith("Encounter/") for x in done.not_imported)
    audit = db.scalar(
        select(m.AuditEvent).where(
            m.AuditEvent.action == "patient.referral_import", m.AuditEvent.patient_id == done.patient.id
        )
    )
    assert audit is not None and audit.details["phq9_totals"] == 1


def test_a_second_import_asks_about_the_duplicate(
    db: Session, referred: tuple[Chart, dict[str, Any], m.Clinic, CurrentUser]
) -> None:
    _chart, bundle, elsewhere, front_desk = referred
    first = import_referral(db, front_desk, elsewhere.code, bundle, now=T0)
    with pytest.raises(PossibleDuplicates) as asked:
        import_referral(db, front_desk, elsewhere.code, bundle, now=T0)
    assert [c.patient_id for c in asked.value.candidates] == [first.patient.id]
    again = import_referral(db, front_desk, elsewhere.code, bundle, now=T0, confirm_not_duplicate=True)
    assert again.patient.id != first.patient.id


def test_a_bad_bundle_names_each_problem_and_saves_nothing(
    db: Session, referred: tuple[Chart, dict[str, Any], m.Clinic, CurrentUser]
) -> None:
    _chart, bundle, elsewhere, front_desk = referred
    entries = bundle["entry"]
    index = {e["resource"]["resourceType"]: i for i, e in enumerate(entries)}
    del entries[index["Patient"]]["resource"]["birthDate"]
    phq9 = next(
        i
        for i, e in enumerate(entries)
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "44261-6"
    )
    entries[phq9]["resource"]["valueQuantity"]["value"] = 40
    entries[index["MedicationStatement"]]["resource"]["medicationCodeableConcept"] = {
        "coding": [{"system": "x"}]
    }
    patients_before = db.scalar(select(func.count()).select_from(m.Patient))
    with pytest.raises(InvalidFields) as refused:
        import_referral(db, front_desk, elsewhere.code, bundle, now=T0)
    assert set(refused.value.problems) == {
        f"entry[{index['Patient']}].resource.birthDate",
        f"entry[{phq9}].resource.valueQuantity",
        f"entry[{index['MedicationStatement']}].resource.medicationCodeableConcept",
    }
    assert db.scalar(select(func.count()).select_from(m.Patient)) == patients_before
    with pytest.raises(InvalidFields, match="Bundle"):
        import_referral(db, front_desk, elsewhere.code, {"resourceType": "Patient"}, now=T0)


def test_only_who_may_register_imports(
    db: Session, referred: tuple[Chart, dict[str, Any], m.Clinic, CurrentUser]
) -> None:
    _chart, bundle, elsewhere, _front_desk = referred
    nurse = make_staff(db, elsewhere, Role.NURSE)
    with pytest.raises(Forbidden):
        import_referral(db, _who(db, nurse), elsewhere.code, bundle, now=T0)


def test_a_failure_after_the_patient_is_written_leaves_nothing(
    db: Session,
    referred: tuple[Chart, dict[str, Any], m.Clinic, CurrentUser],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """All or nothing: a fault after the patient, medications and allergies are written (here the
    screening, which runs after the diagnoses and PHQ-9 totals are added) leaves no patient, no
    line of the referral and no audit of a registration."""
    chart, bundle, elsewhere, front_desk = referred
    import ketaflow.services.fhir_referral as service

    def broken(**_: Any) -> Any:
        raise RuntimeError("the screening rules could not be read")

    def counts() -> dict[str, int]:
        return {
            model.__tablename__: db.scalar(
                select(func.count()).select_from(model).where(model.clinic_id == elsewhere.id)
            )
            or 0
            for model in (
                m.Patient,
                m.Medication,
                m.Allergy,
                m.Diagnosis,
                m.QuestionnaireResponse,
                m.BodyMeasurement,
            )
        }

    before = counts()
    audits = db.scalar(
        select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.clinic_id == elsewhere.id)
    )
    monkeypatch.setattr(service, "screen", broken)
    with pytest.raises(RuntimeError, match="screening rules"):
        import_referral(db, front_desk, elsewhere.code, bundle, now=T0)
    db.rollback()
    assert counts() == before
    after = db.scalar(
        select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.clinic_id == elsewhere.id)
    )
    assert after == audits
    assert (
        db.scalar(
            select(func.count())
            .select_from(m.Patient)
            .where(m.Patient.family_name == chart.patient.family_name)
        )
        == 1
    )
    # The same Bundle imports once the fault is gone (nothing half-written stands in its way).
    monkeypatch.undo()
    done = import_referral(db, front_desk, elsewhere.code, bundle, now=T0)
    assert chart_of(db, done.patient.id) == chart_of(db, chart.patient.id)
