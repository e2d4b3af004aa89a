"""Storage: SQLAlchemy models, engines, migrations and the append-only guard."""

from ketaflow.store import facts as _facts  # noqa: F401  (registers the append-only ORM guard)
