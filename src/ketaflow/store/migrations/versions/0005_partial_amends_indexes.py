"""partial amends_id indexes: only amendment rows are indexed

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 05:50:00

Every append-only table had a full index on `amends_id`, almost all NULLs. With sampled
statistics SQLite judged it useless and read "which rows are amended" (the corrected view,
`ketaflow.store.facts.current`) by scanning the whole table: 220 ms on the demo's vital
signs for every chair board. A partial index (`WHERE amends_id IS NOT NULL`) holds only
the amendments; both the set of amended ids and `amends_id = ?` use it, on SQLite and
PostgreSQL. Same names, so code and downgrade need nothing else.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The append-only tables with an amends_id column at this revision (listed here, not read
# from the models, so the migration stays what it was when the models change).
TABLES = (
    "administration_events",
    "allergies",
    "assistance_requests",
    "body_measurements",
    "comfort_settings",
    "consents",
    "consultations",
    "diagnoses",
    "discharges",
    "dose_orders",
    "interventions",
    "medications",
    "patient_questions",
    "questionnaire_responses",
    "side_effects",
    "vital_signs",
)
AMENDMENTS_ONLY = sa.text("amends_id IS NOT NULL")


def upgrade() -> None:
    for table in TABLES:
        name = f"ix_{table}_amends_id"
        op.drop_index(name, table_name=table)
        op.create_index(
            name, table, ["amends_id"], sqlite_where=AMENDMENTS_ONLY, postgresql_where=AMENDMENTS_ONLY
        )
    if op.get_bind().dialect.name == "sqlite":
        # The old statistics describe the old indexes; refresh them (sampled: seconds).
        op.execute("PRAGMA analysis_limit=1000")
        op.execute("ANALYZE")


def downgrade() -> None:
    for table in TABLES:
        name = f"ix_{table}_amends_id"
        op.drop_index(name, table_name=table)
        op.create_index(name, table, ["amends_id"])
