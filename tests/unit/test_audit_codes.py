"""The audit event codes against FHIR R4 AuditEvent and IHE BALP (ketaflow.audit_codes)."""

from __future__ import annotations

import pytest

from ketaflow import audit_codes as codes


@pytest.mark.parametrize(
    ("action", "read", "event_type", "subtype", "fhir_action"),
    [
        # BALP Read: type rest, subtype read, action R.
        ("patient.read", True, "rest", "read", "R"),
        ("session.read", True, "rest", "read", "R"),
        # BALP Query: subtype search-type, action E.
        ("appointment.list", True, "rest", "search-type", "E"),
        ("patient.search", True, "rest", "search-type", "E"),
        # BALP Create / Update / Delete.
        ("vitals.create", False, "rest", "create", "C"),
        ("patient.register", False, "rest", "create", "C"),
        ("vital_signs.correct", False, "rest", "update", "U"),
        ("appointment.reschedule", False, "rest", "update", "U"),
        ("session.pause", False, "rest", "update", "U"),
        ("clinic.remove_closure", False, "rest", "delete", "D"),
        # FHIR's login/logout examples: DICOM 110114 User Authentication, 110122 / 110123, action E.
        ("auth.sign_in", False, "110114", "110122", "E"),
        ("auth.sign_in_failed", False, "110114", "110122", "E"),
        ("patient.sign_in", False, "110114", "110122", "E"),
        ("patient_link.refused_used", False, "110114", "110122", "E"),
        ("auth.sign_out", False, "110114", "110123", "E"),
        ("patient.sign_out", False, "110114", "110123", "E"),
    ],
)
def test_actions_map_to_the_balp_type_subtype_and_action(
    action: str, read: bool, event_type: str, subtype: str, fhir_action: str
) -> None:
    code = codes.classify(action, read=read)
    assert (code.event_type, code.event_subtype) == (event_type, subtype)
    assert codes.FHIR_ACTION[subtype] == fhir_action
    assert code.event_type in codes.CODINGS and subtype in codes.CODINGS


def test_outcomes_are_the_fhir_audit_event_outcome_codes() -> None:
    # audit-event-outcome: 0 Success, 4 Minor failure (often an HTTP 400), 8 Serious failure (HTTP 500).
    assert codes.FHIR_OUTCOME == {"success": "0", "refused": "4", "failed": "8"}
    refused = ["auth.sign_in_failed", "auth.sign_in_locked", "auth.sign_in_throttled", "access.refused"]
    refused += ["auth.second_factor_failed", "mfa.enrolment_code_wrong", "patient_link.wrong_birth_date"]
    refused += ["auth.witness_failed", "auth.witness_refused"]  # a witness's own password check
    assert {codes.outcome_of(a) for a in refused} == {codes.REFUSED}
    assert {codes.outcome_of(a) for a in ("auth.sign_in", "patient.read", "vitals.create")} == {codes.SUCCESS}


def test_purpose_of_use_is_treatment_for_patients_operations_otherwise_and_none_for_sign_ins() -> None:
    assert codes.purpose_of_use("rest", "patient.read", staff=True, patient=True) == "TREAT"
    assert codes.purpose_of_use("rest", "board.view", staff=True, patient=False) == "TREAT"
    assert codes.purpose_of_use("rest", "clinic.set_hours", staff=True, patient=False) == "HOPERAT"
    assert codes.purpose_of_use("rest", "questionnaire.submit", staff=False, patient=True) is None
    assert codes.purpose_of_use("110114", "auth.sign_in", staff=True, patient=False) is None


def test_a_refused_request_is_coded_by_what_its_method_tried() -> None:
    assert [codes.subtype_for_method(m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE")] == [
        "read",
        "create",
        "update",
        "update",
        "delete",
    ]


def test_other_credential_checks_are_user_authentication_and_unlocking_is_an_update() -> None:
    assert codes.classify("auth.witness_confirmed", read=False) == codes.EventCode("110114", None)
    assert codes.classify("auth.unlock", read=False) == codes.EventCode("rest", "update")
