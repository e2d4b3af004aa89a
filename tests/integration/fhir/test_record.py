"""A patient's record as FHIR: what it holds matches the chart, every reference resolves, and
only clinical staff of the patient's clinic get it, audited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaflow.errors import Forbidden
from ketaflow.fhir.mapping import references
from ketaflow.services.auth import CurrentUser
from ketaflow.services.fhir_record import patient_record, patient_resources
from ketaflow.store import models as m
from ketaflow.vocabulary import Role
from tests.factories import T0, Chart, add_course_details, make_chart, make_clinic, make_staff

LOINC = "http://loinc.org"


def _who(db: Session, user: m.StaffUser) -> CurrentUser:
    roles: dict[str, set[Role]] = {}
    for r in db.scalars(select(m.StaffRole).where(m.StaffRole.user_id == user.id)):
        roles.setdefault(str(r.clinic_id), set()).add(r.role)
    return CurrentUser(user, None, roles)  # type: ignore[arg-type]


def _coded(resources: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    return [
        r
        for r in resources
        if r["resourceType"] == "Observation" and any(c["code"] == code for c in r["code"].get("coding", []))
    ]


@pytest.fixture
def chart(db: Session) -> Chart:
    chart = make_chart(db)
    add_course_details(db, chart)
    return chart


def test_the_record_holds_the_chart(db: Session, chart: Chart) -> None:
    resources = patient_resources(db, chart.patient.id)
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    assert [p["id"] for p in patients] == [str(chart.patient.id)]
    assert patients[0]["identifier"][0]["value"] == chart.patient.mrn
    assert patients[0]["birthDate"] == "1980-05-17"

    # PHQ-9 total as 44261-6, the charted total; its panel 44249-1 holds it.
    [total] = _coded(resources, "44261-6")
    assert total["valueQuantity"]["value"] == 13
    [panel] = _coded(resources, "44249-1")
    assert panel["hasMember"] == [{"reference": f"Observation/{total['id']}"}]

    # Blood pressure as the 85354-9 panel, 124/80 in mm[Hg].
    [bp] = _coded(resources, "85354-9")
    values = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in bp["component"]}
    assert values["8480-6"]["value"] == 124 and values["8462-4"]["value"] == 80
    assert {q["code"] for q in values.values()} == {"mm[Hg]"}
    assert bp["effectiveDateTime"] == T0.isoformat().replace("+00:00", "Z")

    # Heart rate, respiratory rate, SpO2 (both codes), weight, height: the charted values.
    assert [o["valueQuantity"]["value"] for o in _coded(resources, "8867-4")] == [72]
    assert [o["valueQuantity"]["value"] for o in _coded(resources, "9279-1")] == [14]
    [spo2] = _coded(resources, "59408-5")
    assert spo2["valueQuantity"] == {
        "value": 98,
        "unit": "%",
        "system": "http://unitsofmeasure.org",
        "code": "%",
    }
    assert [o["valueQuantity"]["value"] for o in _coded(resources, "29463-7")] == [70]


def test_the_administration_gives_what_the_pump_gave(db: Session, chart: Chart) -> None:
    resources = patient_resources(db, chart.patient.id)
    [given] = [r for r in resources if r["resourceType"] == "MedicationAdministration"]
    pump_total = db.scalar(
        select(func.max(m.AdministrationEvent.cumulative_mg)).where(
            m.AdministrationEvent.session_id == chart.infusion.id
        )
    )
    assert given["dosage"]["dose"] == {
        "value": pump_total,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    assert pump_total == 35
    assert given["status"] == "completed"
    assert given["effectivePeriod"]["start"] == T0.isoformat().replace("+00:00", "Z")
    # Its history: start, pause (with the reason charted), resume, stop.
    history = {ref["reference"].split("/")[1] for ref in given["eventHistory"]}
    events = [r for r in resources if r["resourceType"] == "Provenance" and r["id"] in history]
    assert sorted(e["activity"]["coding"][0]["code"] for e in events) == [
        "pump-pause",
        "pump-resume",
        "pump-start",
        "pump-stop",
    ]
    [pause] = [e for e in events if e["activity"]["coding"][0]["code"] == "pump-pause"]
    assert pause["reason"] == [{"text": "blood pressure 182/110"}]
    [order] = [r for r in resources if r["resourceType"] == "MedicationRequest"]
    assert given["request"] == {"reference": f"MedicationRequest/{order['id']}"}
    amounts = {
        d["type"]["coding"][0]["code"]: d["doseQuantity"]
        for d in order["dosageInstruction"][0]["doseAndRate"]
    }
    assert amounts["ordered"]["value"] == 0.5 and amounts["ordered"]["code"] == "mg/kg"
    assert amounts["calculated"]["value"] == 35
    # The encounter: the nurse, the escort who drove the patient home, discharged home.
    [visit] = [r for r in resources if r["resourceType"] == "Encounter" and r["id"] == str(chart.infusion.id)]
    assert visit["status"] == "finished"
    escort = [p for p in visit["participant"] if p["type"][0]["coding"][0]["code"] == "ESC"]
    [driver] = [r for r in resources if r["resourceType"] == "RelatedPerson"]
    assert escort[0]["individual"] == {"reference": f"RelatedPerson/{driver['id']}"}
    assert driver["name"] == [{"text": "Dana Reyes"}]
    [adverse] = [r for r in resources if r["resourceType"] == "AdverseEvent"]
    assert adverse["suspectEntity"] == [
        {"instance": {"reference": f"MedicationAdministration/{given['id']}"}}
    ]


def test_every_reference_resolves_and_ids_are_unique(db: Session, chart: Chart) -> None:
    resources = patient_resources(db, chart.patient.id)
    present = {f"{r['resourceType']}/{r['id']}" for r in resources}
    assert len(present) == len(resources)
    dangling = {target for r in resources for target in references(r)} - present
    assert dangling == set()
    assert patient_resources(db, chart.patient.id) == resources  # stable ids, same order


def test_clinical_staff_of_the_clinic_get_the_bundle_audited(db: Session, chart: Chart) -> None:
    before = db.scalar(
        select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.patient_id == chart.patient.id)
    )
    bundle = patient_record(
        db, _who(db, chart.nurse), chart.patient.id, base_url="https://x.test/fhir", now=T0
    )
    assert bundle["type"] == "collection"
    assert bundle["entry"][0]["fullUrl"] == f"https://x.test/fhir/Patient/{chart.patient.id}"
    audits = list(
        db.scalars(
            select(m.AuditEvent).where(
                m.AuditEvent.patient_id == chart.patient.id, m.AuditEvent.action == "fhir.patient_everything"
            )
        )
    )
    assert len(audits) == 1 and audits[0].actor_user_id == chart.nurse.id
    assert (
        db.scalar(
            select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.patient_id == chart.patient.id)
        )
        == before + 1
    )


def test_front_desk_and_other_clinics_are_refused(db: Session, chart: Chart) -> None:
    front_desk = make_staff(db, chart.clinic, Role.FRONT_DESK)
    with pytest.raises(Forbidden, match="does not allow"):
        patient_record(db, _who(db, front_desk), chart.patient.id, base_url="https://x.test/fhir", now=T0)
    elsewhere = make_staff(db, make_clinic(db, chart.org), Role.NURSE)
    with pytest.raises(Forbidden, match="not a member"):
        patient_record(db, _who(db, elsewhere), chart.patient.id, base_url="https://x.test/fhir", now=T0)
