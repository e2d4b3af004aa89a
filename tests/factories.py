"""Plain factory functions for storage tests: a small clinic with one charted infusion."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from ketaflow.clinical.levels import ScreeningLevel
from ketaflow.controlled.ledger import EntryKind
from ketaflow.store import models as m
from ketaflow.vocabulary import (
    AdministrationKind,
    AppointmentKind,
    AppointmentStatus,
    AssistanceReason,
    ConsentKind,
    ConsentStatus,
    Instrument,
    InterventionKind,
    RecordStatus,
    Respondent,
    Role,
    Severity,
    Sex,
    SideEffectKind,
    TreatmentPhase,
    VitalPhase,
)

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
_counter = itertools.count(1)


@dataclass
class Chart:
    org: m.Organization
    clinic: m.Clinic
    chair: m.Chair
    nurse: m.StaffUser
    psychiatrist: m.StaffUser
    patient: m.Patient
    appointment: m.Appointment
    infusion: m.InfusionSession
    vital: m.VitalSign


def make_clinic(db: Session, org: m.Organization | None = None, code: str | None = None) -> m.Clinic:
    org = org or m.Organization(name="Test Network")
    n = next(_counter)
    clinic = m.Clinic(
        organization=org,
        code=code or f"c{n}",
        name=f"Test Clinic {n}",
        address_line="1 Main St",
        city="Springfield",
        region="IL",
        postal_code="62701",
        timezone="America/Chicago",
    )
    db.add(clinic)
    db.flush()
    return clinic


def make_staff(db: Session, clinic: m.Clinic, role: Role) -> m.StaffUser:
    n = next(_counter)
    user = m.StaffUser(
        organization_id=clinic.organization_id,
        email=f"{role.value}{n}@test.example",
        full_name=f"{role.value.title()} {n}",
        password_hash="not-a-real-hash",
    )
    db.add(user)
    db.flush()
    db.add(m.StaffRole(user_id=user.id, clinic_id=clinic.id, role=role))
    db.flush()
    return user


def make_patient(db: Session, clinic: m.Clinic, mrn: str | None = None) -> m.Patient:
    patient = m.Patient(
        organization_id=clinic.organization_id,
        clinic_id=clinic.id,
        mrn=mrn or f"T{next(_counter):07d}",
        given_name="Alex",
        family_name="Rivera",
        date_of_birth=date(1980, 5, 17),
        sex=Sex.FEMALE,
    )
    db.add(patient)
    db.flush()
    return patient


def make_chart(db: Session) -> Chart:
    """One clinic, one patient, one infusion with one of every charted fact."""
    clinic = make_clinic(db)
    org = clinic.organization
    chair = m.Chair(clinic_id=clinic.id, label="Chair 1")
    db.add(chair)
    nurse = make_staff(db, clinic, Role.NURSE)
    psych = make_staff(db, clinic, Role.PSYCHIATRIST)
    patient = make_patient(db, clinic)
    ids = {"clinic_id": clinic.id}
    appt = m.Appointment(
        **ids,
        patient_id=patient.id,
        chair_id=chair.id,
        kind=AppointmentKind.INFUSION,
        starts_at=T0,
        ends_at=T0 + timedelta(hours=2),
        status=AppointmentStatus.COMPLETED,
        escort_name="Dana Reyes",
        escort_phone="555-0100",
    )
    db.add(appt)
    db.flush()
    infusion = m.InfusionSession(
        **ids,
        patient_id=patient.id,
        appointment_id=appt.id,
        chair_id=chair.id,
        nurse_id=nurse.id,
        series_number=1,
        phase=TreatmentPhase.INDUCTION,
    )
    db.add(infusion)
    db.flush()
    sid = {"clinic_id": clinic.id, "session_id": infusion.id, "recorded_by_id": nurse.id}
    consult = m.Consultation(
        **ids,
        patient_id=patient.id,
        psychiatrist_id=psych.id,
        held_at=T0 - timedelta(days=7),
        indication="Treatment-resistant depression",
        screening_level=ScreeningLevel.CLEAR,
        eligible=True,
    )
    db.add(consult)
    db.flush()
    vital = m.VitalSign(
        **sid,
        patient_id=patient.id,
        measured_at=T0,
        phase=VitalPhase.BASELINE,
        systolic_mmhg=124,
        diastolic_mmhg=80,
        heart_rate_bpm=72,
        spo2_percent=98,
        respiratory_rate_per_min=14,
    )
    side_effect = m.SideEffect(
        **sid, kind=SideEffectKind.NAUSEA, severity=Severity.MILD, onset_at=T0 + timedelta(minutes=20)
    )
    db.add_all([vital, side_effect])
    db.flush()
    db.add_all(
        [
            m.BodyMeasurement(**ids, patient_id=patient.id, measured_at=T0, weight_kg=70.0, height_cm=170.0),
            m.Diagnosis(**ids, patient_id=patient.id, code="F33.2", description="MDD, recurrent, severe"),
            m.Medication(
                **ids, patient_id=patient.id, as_written="Klonopin 1mg", normalized_name="clonazepam"
            ),
            m.Allergy(**ids, patient_id=patient.id, substance="penicillin", status=RecordStatus.ACTIVE),
            m.Consent(
                **ids,
                patient_id=patient.id,
                consultation_id=consult.id,
                kind=ConsentKind.KETAMINE_TREATMENT,
                status=ConsentStatus.GIVEN,
                text_version="2026-01",
                signed_at=T0 - timedelta(days=7),
                obtained_by_id=psych.id,
            ),
            m.DoseOrder(
                **sid,
                ordered_by_id=psych.id,
                ordered_at=T0,
                protocol_code="depression-induction",
                dosing_weight_kg=70,
                dose_mg_per_kg=0.5,
                dose_mg=35,
                duration_min=40,
                bag_drug_mg=50,
                bag_volume_ml=100,
                rate_ml_per_h=105,
                volume_ml=70,
            ),
            m.AdministrationEvent(
                **sid, kind=AdministrationKind.START, occurred_at=T0, rate_ml_per_h=105, cumulative_mg=0
            ),
            m.Intervention(
                **sid,
                side_effect_id=side_effect.id,
                kind=InterventionKind.DRUG,
                description="antiemetic",
                drug_name="ondansetron",
                dose_text="4 mg IV",
                given_at=T0 + timedelta(minutes=22),
            ),
            m.ComfortSetting(**sid, set_at=T0, music=True, eye_mask=True),
            m.AssistanceRequest(**sid, reason=AssistanceReason.RESTROOM, asked_at=T0 + timedelta(minutes=50)),
            m.Discharge(
                **sid,
                discharged_at=T0 + timedelta(minutes=110),
                recovery_score_kind="modified_aldrete",
                recovery_score=10,
                escort_name="Dana Reyes",
                escort_phone="555-0100",
                instructions_given=True,
            ),
            m.DischargeScreen(
                **sid,
                screened_at=T0 + timedelta(minutes=100),
                suicidal_ideation="present",
                mental_status="baseline",
            ),
            m.QuestionnaireResponse(
                **sid,
                patient_id=patient.id,
                instrument=Instrument.PHQ9,
                answers=[2, 2, 1, 3, 1, 2, 1, 1, 0],
                total=13,
                respondent=Respondent.PATIENT,
                answered_at=T0 - timedelta(minutes=30),
                for_date=T0.date(),
            ),
            m.AuditEvent(
                actor_user_id=nurse.id, actor_label=nurse.email, action="create", entity_type="vital_sign"
            ),
            m.PatientQuestion(
                **ids,
                patient_id=patient.id,
                asked_at=T0 - timedelta(days=3),
                text="Can I drive the next day?",
            ),
            m.MonitoringCheck(
                **ids,
                patient_id=patient.id,
                kind="liver_tests",
                done_on=(T0 - timedelta(days=10)).date(),
                result="normal",
            ),
        ]
    )
    db.flush()
    stock_the_safe(db, clinic, nurse, psych, infusion)
    return Chart(org, clinic, chair, nurse, psych, patient, appt, infusion, vital)


def stock_the_safe(
    db: Session, clinic: m.Clinic, nurse: m.StaffUser, witness: m.StaffUser, infusion: m.InfusionSession
) -> m.DrugLot:
    """A ketamine product, a safe, one lot of two 500 mg vials received, and the infusion's draw
    (35 mg, 0.7 mL at 50 mg/mL), given and the rest wasted before a witness."""
    ids = {"clinic_id": clinic.id}
    product = m.DrugProduct(
        **ids,
        ndc="00000-0000-00",  # a placeholder NDC for tests; not a real product
        name="Ketamine HCl 50 mg/mL, 10 mL multi-dose vial",
        mg_per_ml=Decimal(50),
        vial_ml=Decimal(10),
        multi_dose=True,
    )
    safe = m.StorageLocation(**ids, name="Safe A")
    db.add_all([product, safe])
    db.flush()
    lot = m.DrugLot(
        **ids, product_id=product.id, location_id=safe.id, lot_number="T0001", expires_on=date(2030, 1, 31)
    )
    db.add(lot)
    db.flush()
    vials = [m.DrugVial(**ids, lot_id=lot.id, number=n, content_mg=Decimal(500)) for n in (1, 2)]
    db.add_all(vials)
    db.flush()
    by = {"clinic_id": clinic.id, "lot_id": lot.id, "recorded_by_id": nurse.id}
    db.add(
        m.LedgerEntry(
            **by, kind=EntryKind.RECEIPT, occurred_at=T0 - timedelta(days=2), quantity_mg=Decimal(1000)
        )
    )
    draw = m.LedgerEntry(
        **by,
        kind=EntryKind.DRAW,
        occurred_at=T0 - timedelta(minutes=10),
        vial_id=vials[0].id,
        quantity_mg=Decimal(35),
        quantity_ml=Decimal("0.7"),
        session_id=infusion.id,
        patient_id=infusion.patient_id,
    )
    db.add(draw)
    db.flush()
    closing = {**by, "draw_id": draw.id, "session_id": infusion.id, "patient_id": infusion.patient_id}
    db.add_all(
        [
            m.LedgerEntry(
                **closing,
                kind=EntryKind.ADMINISTERED,
                occurred_at=T0 + timedelta(minutes=40),
                quantity_mg=Decimal(34),
            ),
            m.LedgerEntry(
                **closing,
                kind=EntryKind.WASTE,
                occurred_at=T0 + timedelta(minutes=45),
                quantity_mg=Decimal(1),
                witness_id=witness.id,
            ),
        ]
    )
    db.flush()
    return lot


def make_checkpoint(db: Session) -> m.ChainCheckpoint:
    """A signed-checkpoint row (its signature is not checked here), for tests of every append-only table."""
    checkpoint = m.ChainCheckpoint(
        table_name="vital_signs", scope="network", seq=1, row_hash=bytes(32), key_id="0" * 16, mac=bytes(32)
    )
    db.add(checkpoint)
    db.flush()
    return checkpoint


def make_infusion_that_ran(
    db: Session,
    *,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    nurse_id: uuid.UUID,
    psychiatrist_id: uuid.UUID,
    ordered_at: datetime,
    bag_drug_mg: float,
    chair_id: uuid.UUID | None = None,
    series_number: int = 1,
) -> uuid.UUID:
    """An infusion whose order gave 0.5 mg/kg to 70 kg (35 mg) over 40 minutes from a 100 mL bag of
    `bag_drug_mg`, started at `ordered_at` and stopped 40 minutes later with 35 mg given; nothing
    drawn for it in the controlled-substance ledger. Returns the session id."""
    dose_mg, bag_ml, minutes = 35.0, 100.0, 40
    volume_ml = dose_mg * bag_ml / bag_drug_mg
    rate_ml_per_h = volume_ml * 60 / minutes
    ids = {"clinic_id": clinic_id}
    appt = m.Appointment(
        **ids,
        patient_id=patient_id,
        chair_id=chair_id,
        kind=AppointmentKind.INFUSION,
        starts_at=ordered_at,
        ends_at=ordered_at + timedelta(hours=2),
        status=AppointmentStatus.IN_CHAIR,
    )
    db.add(appt)
    db.flush()
    infusion = m.InfusionSession(
        **ids,
        patient_id=patient_id,
        appointment_id=appt.id,
        chair_id=chair_id,
        nurse_id=nurse_id,
        series_number=series_number,
        phase=TreatmentPhase.INDUCTION,
    )
    db.add(infusion)
    db.flush()
    sid = {**ids, "session_id": infusion.id, "recorded_by_id": nurse_id}
    db.add_all(
        [
            m.DoseOrder(
                **sid,
                ordered_by_id=psychiatrist_id,
                ordered_at=ordered_at,
                protocol_code="depression-induction",
                dosing_weight_kg=70,
                dose_mg_per_kg=0.5,
                dose_mg=dose_mg,
                duration_min=minutes,
                bag_drug_mg=bag_drug_mg,
                bag_volume_ml=bag_ml,
                rate_ml_per_h=rate_ml_per_h,
                volume_ml=volume_ml,
            ),
            m.AdministrationEvent(
                **sid,
                kind=AdministrationKind.START,
                occurred_at=ordered_at,
                rate_ml_per_h=rate_ml_per_h,
                cumulative_mg=0,
            ),
            m.AdministrationEvent(
                **sid,
                kind=AdministrationKind.STOP,
                occurred_at=ordered_at + timedelta(minutes=minutes),
                cumulative_mg=dose_mg,
            ),
        ]
    )
    db.flush()
    return infusion.id


def add_course_details(db: Session, chart: Chart) -> m.TreatmentPlan:
    """To `make_chart`'s infusion: the treatment plan it belongs to, a side effect flagged as an
    adverse event, and the pump's pause (with its reason), resume and stop: 35 mg given in all."""
    sid = {"clinic_id": chart.clinic.id, "session_id": chart.infusion.id, "recorded_by_id": chart.nurse.id}
    plan = m.TreatmentPlan(
        clinic_id=chart.clinic.id,
        patient_id=chart.patient.id,
        protocol_code="depression-induction",
        planned_infusions=6,
        target_dose_mg_per_kg=0.5,
        infusion_minutes=40,
        created_by_id=chart.psychiatrist.id,
    )
    db.add(plan)
    db.add_all(
        [
            m.SideEffect(
                **sid,
                kind=SideEffectKind.HYPERTENSION,
                severity=Severity.MODERATE,
                onset_at=T0 + timedelta(minutes=15),
                is_adverse_event=True,
                notes="BP 182/110",
            ),
            m.AdministrationEvent(
                **sid,
                kind=AdministrationKind.PAUSE,
                occurred_at=T0 + timedelta(minutes=15),
                cumulative_mg=13.125,
                reason="blood pressure 182/110",
            ),
            m.AdministrationEvent(
                **sid,
                kind=AdministrationKind.RESUME,
                occurred_at=T0 + timedelta(minutes=25),
                rate_ml_per_h=105,
                cumulative_mg=13.125,
            ),
            m.AdministrationEvent(
                **sid, kind=AdministrationKind.STOP, occurred_at=T0 + timedelta(minutes=50), cumulative_mg=35
            ),
        ]
    )
    db.flush()
    return plan
