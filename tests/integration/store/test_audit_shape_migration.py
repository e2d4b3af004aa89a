"""Schema 0013 on a database with an audit trail: old events get the FHIR AuditEvent shape from what
they already say (type, subtype, outcome, purpose), and audit_events still refuses UPDATE, DELETE
and REPLACE afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from ketaflow.store.append_only import REFUSAL_MARKER
from ketaflow.store.migrate import upgrade

OLD = "0011_append_only_holes"
NEW = "0012_audit_shape"

# (action, staff?, about a patient?, actor label) -> (outcome, event_type, event_subtype, purpose)
OLD_ROWS = {
    ("patient.read", True, True, "nurse@x.org"): ("success", "rest", "read", "TREAT"),
    ("appointment.list", True, True, "desk@x.org"): ("success", "rest", "search-type", "TREAT"),
    ("vitals.create", True, True, "nurse@x.org"): ("success", "rest", "create", "TREAT"),
    ("appointment.reschedule", True, True, "desk@x.org"): ("success", "rest", "update", "TREAT"),
    ("clinic.set_hours", True, False, "director@x.org"): ("success", "rest", "update", "HOPERAT"),
    ("board.view", True, False, "nurse@x.org"): ("success", "rest", "read", "TREAT"),
    ("auth.sign_in", True, False, "nurse@x.org"): ("success", "110114", "110122", None),
    ("auth.sign_in_failed", False, False, "nobody@x.org"): ("refused", "110114", "110122", None),
    ("auth.sign_in_throttled", False, False, "nobody@x.org"): ("refused", "110114", "110122", None),
    ("auth.sign_out", True, False, "nurse@x.org"): ("success", "110114", "110123", None),
    ("questionnaire.submit", False, True, "patient"): ("success", "rest", "create", None),
    ("patient_link.refused_used", False, True, "patient"): ("refused", "110114", "110122", None),
    ("demo.generate_clinic", False, False, "cli:demo-data"): ("success", "110100", None, None),
}


def _id(engine: Engine, value: uuid.UUID) -> object:
    return value.hex if engine.dialect.name == "sqlite" else value


def test_old_audit_events_get_the_fhir_shape_and_stay_append_only(fresh_engine: Callable[[], Engine]) -> None:
    engine = fresh_engine()
    upgrade(engine, OLD)
    org, clinic, patient, user = (uuid.uuid4() for _ in range(4))
    ids: dict[uuid.UUID, tuple[str, bool, bool, str]] = {}
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO organizations (id, name, created_at) VALUES (:id, 'Net', CURRENT_TIMESTAMP)"),
            {"id": _id(engine, org)},
        )
        conn.execute(
            text(
                "INSERT INTO clinics (id, organization_id, code, name, address_line, city, region, "
                "postal_code, country, timezone, created_at, version, booking_horizon_days) VALUES (:id, "
                ":org, 'old', 'Old', '1 Main St', 'Austin', 'TX', '78701', 'US', 'America/Chicago', "
                "CURRENT_TIMESTAMP, 1, 365)"
            ),
            {"id": _id(engine, clinic), "org": _id(engine, org)},
        )
        conn.execute(
            text(
                "INSERT INTO staff_users (id, organization_id, email, full_name, password_hash, active, "
                "created_at, session_epoch, version) VALUES (:id, :org, 'nurse@x.org', 'N', 'x', true, "
                "CURRENT_TIMESTAMP, 0, 1)"
            ),
            {"id": _id(engine, user), "org": _id(engine, org)},
        )
        conn.execute(
            text(
                "INSERT INTO patients (id, organization_id, clinic_id, mrn, given_name, family_name, "
                "date_of_birth, sex, created_at, version) VALUES (:id, :org, :clinic, 'KF1', 'A', 'B', "
                "'1980-01-01', 'female', CURRENT_TIMESTAMP, 1)"
            ),
            {"id": _id(engine, patient), "org": _id(engine, org), "clinic": _id(engine, clinic)},
        )
        for key in OLD_ROWS:
            action, staff, about_patient, label = key
            row_id = uuid.uuid4()
            ids[row_id] = key
            conn.execute(
                text(
                    "INSERT INTO audit_events (id, occurred_at, actor_user_id, actor_label, action, "
                    "entity_type, clinic_id, patient_id, details) VALUES (:id, CURRENT_TIMESTAMP, :user, "
                    ":label, :action, 'x', :clinic, :patient, '{}')"
                ),
                {
                    "id": _id(engine, row_id),
                    "user": _id(engine, user) if staff else None,
                    "label": label,
                    "action": action,
                    "clinic": _id(engine, clinic),
                    "patient": _id(engine, patient) if about_patient else None,
                },
            )
    upgrade(engine, NEW)
    with engine.connect() as conn:
        got = {
            r.action: (r.outcome, r.event_type, r.event_subtype, r.purpose_of_use, r.agent_role)
            for r in conn.execute(
                text(
                    "SELECT action, outcome, event_type, event_subtype, purpose_of_use, agent_role "
                    "FROM audit_events"
                )
            )
        }
    for (action, _staff, _patient, label), want in OLD_ROWS.items():
        role = "patient" if label == "patient" else None  # a staff member's role then was not kept
        assert got[action] == (*want, role), action
    # Still append-only: the UPDATE trigger was made again, the REPLACE guard never left.
    for statement in (
        "UPDATE audit_events SET outcome = 'refused'",
        "DELETE FROM audit_events",
    ):
        with pytest.raises(DBAPIError, match=REFUSAL_MARKER), engine.begin() as conn:
            conn.execute(text(statement))
    if engine.dialect.name == "sqlite":
        with pytest.raises(DBAPIError, match=REFUSAL_MARKER), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT OR REPLACE INTO audit_events (id, occurred_at, actor_label, action, "
                    "entity_type, details) SELECT id, occurred_at, 'system', 'clinic.list', 'clinic', '{}' "
                    "FROM audit_events"
                )
            )
    else:
        with pytest.raises(DBAPIError, match=REFUSAL_MARKER), engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_events"))
