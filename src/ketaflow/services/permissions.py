"""Who may do what, in one place: actions by role, checked against clinic membership."""

from __future__ import annotations

import uuid
from enum import StrEnum

from ketaflow.errors import Forbidden
from ketaflow.services.auth import CurrentUser
from ketaflow.vocabulary import Role


class Action(StrEnum):
    VIEW_BOARD = "view the chair board"
    READ_CHART = "open a patient's chart"
    READ_CLINICAL = "read clinical records (consultations, infusions, questionnaires)"
    REGISTER_PATIENT = "register a patient"
    BOOK = "book appointments"
    CHECK_IN = "check patients in"
    CONSULT = "record a consultation"
    ORDER_DOSE = "order a dose"
    CHART_INFUSION = "chart an infusion"
    DISCHARGE = "discharge a patient"
    ASSESS_SUICIDE_RISK = "assess suicidal ideation found at discharge and discharge the patient home"
    VIEW_CLINIC_DASHBOARD = "see the clinic dashboard"
    VIEW_SCHEDULE = "see the clinic's bookings"
    RECORD_CONSENT = "record consent"
    PLAN_TREATMENT = "set a treatment plan"
    ISSUE_PATIENT_LINK = "give a patient a link to their own page"
    VIEW_OUTCOMES = "see outcomes"
    CORRECT_VITALS = "correct a charted vital sign"
    CORRECT_SIDE_EFFECT = "correct a charted side effect"
    CORRECT_DOSE_ORDER = "correct a dose order"
    CORRECT_CLINICIAN_RATING = "correct a clinician-rated questionnaire (e.g. CADSS)"
    CORRECT_PATIENT_ANSWERS = "correct the answers a patient gave to a questionnaire"
    SET_CLINIC_HOURS = "set the clinic's opening hours, closures and booking horizon"
    RECORD_MONITORING = "record a maintenance check (liver tests, bladder screening)"
    MANAGE_STAFF = "manage the clinic's staff accounts and their roles"
    VIEW_CONTROLLED = "see the controlled-substance stock and ledger"
    HANDLE_CONTROLLED = "draw up, waste and count controlled substances"
    MANAGE_CONTROLLED = "receive, destroy and adjust controlled-substance stock"
    MANAGE_MONITORS = (
        "register bedside monitors and see and replay the monitor messages that could not be charted"
    )
    BULK_EXPORT = "export the records of all the clinic's patients in bulk (FHIR $export)"


_ALL = set(Role)
ALLOWED: dict[Action, set[Role]] = {
    Action.VIEW_BOARD: _ALL,
    # The chart's administrative part (who the patient is, contact, weight, medications and
    # allergies as registered, bookings) is open to the front desk, who register and book;
    # clinical records only to the clinical staff and the director (minimum necessary: the
    # front desk registers, books, checks in and confirms the driver, BRIEF.md).
    Action.READ_CHART: {Role.ADMIN, Role.DIRECTOR, Role.PSYCHIATRIST, Role.NURSE, Role.FRONT_DESK},
    Action.READ_CLINICAL: {Role.ADMIN, Role.DIRECTOR, Role.PSYCHIATRIST, Role.NURSE},
    Action.REGISTER_PATIENT: {Role.ADMIN, Role.FRONT_DESK},
    Action.BOOK: {Role.ADMIN, Role.FRONT_DESK},
    Action.CHECK_IN: {Role.ADMIN, Role.FRONT_DESK, Role.NURSE},
    Action.CONSULT: {Role.PSYCHIATRIST},
    Action.ORDER_DOSE: {Role.PSYCHIATRIST},
    Action.CHART_INFUSION: {Role.NURSE, Role.PSYCHIATRIST},
    Action.DISCHARGE: {Role.NURSE, Role.PSYCHIATRIST},
    # Suicidal ideation at the discharge check stops the discharge until the psychiatrist has
    # assessed the patient; only the psychiatrist's written assessment lets them go home.
    Action.ASSESS_SUICIDE_RISK: {Role.PSYCHIATRIST},
    Action.VIEW_CLINIC_DASHBOARD: {Role.ADMIN, Role.DIRECTOR},
    Action.VIEW_SCHEDULE: _ALL,
    Action.RECORD_CONSENT: {Role.PSYCHIATRIST},
    Action.PLAN_TREATMENT: {Role.PSYCHIATRIST},
    Action.ISSUE_PATIENT_LINK: {Role.ADMIN, Role.FRONT_DESK, Role.PSYCHIATRIST, Role.NURSE},
    Action.VIEW_OUTCOMES: {Role.ADMIN, Role.DIRECTOR, Role.PSYCHIATRIST},
    # Corrections (services/corrections.py). A correction is a new row amending the charted one,
    # with a written reason, and is audited. The rule: whoever may chart an entry of that kind
    # at the entry's clinic may correct it, so the author may correct their own entry, and a
    # colleague of the same clinic with the same clinical role may correct it too; authorship
    # alone grants nothing (an author who no longer holds the role at that clinic cannot).
    # Vital signs and side effects: the nurses and psychiatrists who chart them.
    Action.CORRECT_VITALS: {Role.NURSE, Role.PSYCHIATRIST},
    Action.CORRECT_SIDE_EFFECT: {Role.NURSE, Role.PSYCHIATRIST},
    # Dose orders: psychiatrists only, as only they order (and only before the pump starts).
    Action.CORRECT_DOSE_ORDER: {Role.PSYCHIATRIST},
    # Clinician-rated scales (CADSS): the nurses and psychiatrists who rate them.
    Action.CORRECT_CLINICIAN_RATING: {Role.NURSE, Role.PSYCHIATRIST},
    # What the patient answered (PHQ-9, GAD-7 from home or before an infusion): the patient's own
    # report feeds the suicide-risk review and the outcome figures, so only the psychiatrist
    # responsible for that review may correct it (e.g. the patient says a box was ticked in
    # error), always with the reason. Clinic policy, not from a published source.
    Action.CORRECT_PATIENT_ANSWERS: {Role.PSYCHIATRIST},
    # Opening hours are read by everyone at the clinic (VIEW_SCHEDULE); the director runs the
    # clinic's days and the administrator the network, so they set them.
    Action.SET_CLINIC_HOURS: {Role.ADMIN, Role.DIRECTOR},
    Action.RECORD_MONITORING: {Role.PSYCHIATRIST, Role.NURSE},
    # Staff accounts (services/staff_accounts.py, issue 11): the administrator and the clinic's
    # director create, switch off and on, and give roles at that clinic; only an administrator
    # grants or takes the administrator role, and nobody changes their own roles.
    Action.MANAGE_STAFF: {Role.ADMIN, Role.DIRECTOR},
    # Controlled substances (services/controlled.py, issue 14): the front desk and the network's
    # administrator see none of it; nurses draw, waste and count; the director receives,
    # destroys and signs off adjustments. Psychiatrists order doses and may read the ledger.
    Action.VIEW_CONTROLLED: {Role.DIRECTOR, Role.NURSE, Role.PSYCHIATRIST},
    Action.HANDLE_CONTROLLED: {Role.NURSE},
    Action.MANAGE_CONTROLLED: {Role.DIRECTOR},
    # Bedside monitors (services/monitors.py, issue 16): the administrator registers the devices
    # and sees the messages that could not be charted (they carry patients' identities and values).
    Action.MANAGE_MONITORS: {Role.ADMIN},
    # FHIR bulk export (services/fhir_bulk.py, issue 15): whole records of every patient, for
    # registries, payers and research: the network's administrator and the clinic's director.
    # Clinic policy, not from a published source.
    Action.BULK_EXPORT: {Role.ADMIN, Role.DIRECTOR},
}


def allowed(who: CurrentUser, action: Action, clinic_id: uuid.UUID) -> bool:
    return bool(who.roles.get(str(clinic_id), set()) & ALLOWED[action])


def require(who: CurrentUser, action: Action, clinic_id: uuid.UUID) -> None:
    """Refuse unless `who` holds a role at `clinic_id` that allows `action`."""
    roles = who.roles.get(str(clinic_id))
    if not roles:
        raise Forbidden("That record belongs to a clinic you are not a member of.", clinic_id=clinic_id)
    if not roles & ALLOWED[action]:
        held = ", ".join(sorted(r.value.replace("_", " ") for r in roles))
        raise Forbidden(f"Your role here ({held}) does not allow you to {action.value}.", clinic_id=clinic_id)
