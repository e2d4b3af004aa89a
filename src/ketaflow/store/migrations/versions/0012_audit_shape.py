"""audit events in the shape of FHIR AuditEvent / IHE BALP

Revision ID: 0012_audit_shape
Revises: 0011_append_only_holes
Create Date: 2026-12-06 10:30:00

Issue 12: each audit event says how it went (outcome), what kind of event it is (event_type,
event_subtype), the actor's role, the purpose of use and which installation saw it (the codes
and their mapping to FHIR are in `ketaflow.audit_codes`).

The columns are added in place (ADD COLUMN, no table rebuild, so no trigger is lost). Rows
written before are then filled in from what they already say: the type, subtype and outcome
from the action's name (a failed, throttled or locked sign-in was refused), the purpose from
who acted on what, "patient" as the role of a patient's own actions. What was not recorded at
the time stays empty: a staff member's role then (roles change) and the server that wrote the
row. audit_events refuses UPDATE, so its UPDATE trigger is dropped for the fill and made again
at once, in the same transaction (PostgreSQL) or the migration's own (SQLite); the guards
against REPLACE and TRUNCATE (schema 0011) do not fire on UPDATE and stay as they are.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ketaflow import audit_codes as codes
from ketaflow.store.append_only import create_trigger_sql, drop_trigger_sql

revision: str = "0012_audit_shape"
down_revision: str | None = "0011_append_only_holes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "audit_events"
COLUMNS = (
    sa.Column("outcome", sa.String(12), nullable=False, server_default="success"),
    sa.Column("event_type", sa.String(16), nullable=False, server_default="rest"),
    sa.Column("event_subtype", sa.String(16), nullable=True),
    sa.Column("agent_role", sa.String(64), nullable=True),
    sa.Column("purpose_of_use", sa.String(16), nullable=True),
    sa.Column("source_observer", sa.String(120), nullable=True),
)


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    for column in COLUMNS:
        op.add_column(TABLE, column._copy())
    for statement in drop_trigger_sql(dialect, TABLE):
        op.execute(statement)
    _fill(bind)
    for statement in create_trigger_sql(dialect, TABLE):
        op.execute(statement)


def _fill(bind: sa.Connection) -> None:
    """Each group of old rows (same action, staff or not, about a patient or not) in one UPDATE."""
    table = sa.table(
        TABLE,
        *(sa.column(n) for n in ("action", "actor_user_id", "actor_label", "patient_id")),
        *(sa.column(c.name) for c in COLUMNS),
    )
    staff = table.c.actor_user_id.isnot(None)
    about_patient = table.c.patient_id.isnot(None)
    groups = bind.execute(
        sa.select(table.c.action, staff.label("staff"), about_patient.label("patient")).distinct()
    ).all()
    for action, is_staff, is_patient in groups:
        code = codes.classify(action, read=_was_read(action))
        bind.execute(
            table.update()
            .where(
                table.c.action == action,
                staff if is_staff else ~staff,
                about_patient if is_patient else ~about_patient,
            )
            .values(
                outcome=codes.outcome_of(action),
                event_type=code.event_type,
                event_subtype=code.event_subtype,
                purpose_of_use=codes.purpose_of_use(
                    code.event_type, action, staff=bool(is_staff), patient=bool(is_patient)
                ),
            )
        )
    bind.execute(table.update().where(table.c.actor_label == "patient").values(agent_role=codes.PATIENT_ROLE))


# The reads audited before this schema, by their verb (record_read's actions); the rest were writes.
_READ_VERBS = frozenset(
    {
        "read",
        "list",
        "view",
        "search",
        "duplicate_check",
        "week",
        "hours",
        "home",
        "session",
        "levels",
        "readiness",
        "aftercare",
        "check",
    }
)


def _was_read(action: str) -> bool:
    verb = action.split(".", 1)[-1]
    return verb in _READ_VERBS or action.endswith(".read")


def downgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table(TABLE) as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column.name)
    if bind.dialect.name == "sqlite":
        # A batch drop rebuilds the SQLite table, which loses its triggers: make them again.
        from ketaflow.store.append_only import create_guard_sql, unique_keys

        for statement in drop_trigger_sql("sqlite", TABLE):
            op.execute(statement)
        for statement in create_trigger_sql("sqlite", TABLE) + create_guard_sql(
            "sqlite", TABLE, unique_keys(bind, TABLE)
        ):
            op.execute(statement)
