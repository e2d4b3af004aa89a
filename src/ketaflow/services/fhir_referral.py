"""Referrals in: a referring clinician's FHIR Bundle becomes a registered patient (issue 15).

The Bundle is read first (ketaflow.fhir.referral: every problem at once, nothing saved); then the
patient is registered by the front desk's own path (services/registration.py: its checks, the
duplicate check that asks for a confirmation, the medications and allergies as lines), the
diagnoses and PHQ-9 totals are added, and the medications and conditions are screened by the
clinical rules (clinical/screening.py), whose findings come back with the answer for the clinic to
act on. Only staff who may register patients at the clinic may import.

One transaction: the registration, the diagnoses, the PHQ-9 totals and the audit are committed
together at the end; any failure on the way rolls all of it back (nothing half-imported). A
possible duplicate is refused before anything is written (only the audit of the check is kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ketaflow.clinical.screening import ScreeningResult, screen
from ketaflow.fhir.referral import Referral, read_referral
from ketaflow.services.audit import record
from ketaflow.services.auth import CurrentUser
from ketaflow.services.registration import NewPatient, register
from ketaflow.store import models as m
from ketaflow.vocabulary import Instrument, RecordStatus, Respondent


@dataclass(frozen=True)
class Imported:
    patient: m.Patient
    screening: ScreeningResult
    not_imported: list[str]


def import_referral(
    db: Session,
    who: CurrentUser,
    clinic_code: str,
    bundle: Any,
    *,
    now: datetime,
    confirm_not_duplicate: bool = False,
) -> Imported:
    referral = read_referral(bundle)
    try:
        return _import(db, who, clinic_code, referral, now, confirm_not_duplicate)
    except BaseException:
        db.rollback()
        raise


def _import(
    db: Session,
    who: CurrentUser,
    clinic_code: str,
    referral: Referral,
    now: datetime,
    confirm_not_duplicate: bool,
) -> Imported:
    patient = register(
        db,
        who,
        clinic_code,
        NewPatient(
            given_name=referral.given_name,
            family_name=referral.family_name,
            date_of_birth=referral.birth_date,
            sex=referral.sex,
            phone=referral.phone,
            email=referral.email,
            address=referral.address,
            weight_kg=referral.weight_kg,
            height_cm=referral.height_cm,
            medications=referral.medications,
            allergies=referral.allergies,
        ),
        confirm_not_duplicate=confirm_not_duplicate,
        now=now,
        commit=False,
    )
    fact = {
        "clinic_id": patient.clinic_id,
        "patient_id": patient.id,
        "recorded_by_id": who.user.id,
        "recorded_at": now,
    }
    for code, text, noted in referral.conditions:
        db.add(m.Diagnosis(**fact, code=code, description=text, noted_on=noted, status=RecordStatus.ACTIVE))
    for when, total in referral.phq9:
        db.add(
            m.QuestionnaireResponse(
                **fact,
                instrument=Instrument.PHQ9,
                answers=[None] * 9,  # the referral sends the total only
                total=total,
                respondent=Respondent.PATIENT,
                answered_at=when,
                for_date=when.date(),
            )
        )
    result = screen(conditions=[text for _, text, _ in referral.conditions], medications=referral.medications)
    record(
        db,
        who.actor(),
        "patient.referral_import",
        "patient",
        patient.id,
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        details={
            "conditions": len(referral.conditions),
            "medications": len(referral.medications),
            "allergies": len(referral.allergies),
            "phq9_totals": len(referral.phq9),
            "screening_level": str(result.level),
            "not_imported": referral.not_imported[:50],
        },
    )
    db.commit()
    return Imported(patient, result, referral.not_imported)
