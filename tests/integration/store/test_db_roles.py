"""The application's own PostgreSQL role (issue 12): it can do the app's work and nothing that
would let it rewrite a clinical fact or the audit trail unseen.

The rest of the PostgreSQL suite runs as such a role too (tests/conftest.py): `engine`, `db` and
`demo_engine` connect as it, so every page and API test shows its privileges suffice.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, exc, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ketaflow.cli import app
from ketaflow.store import models as m
from ketaflow.store.append_only import create_guard_sql, create_trigger_sql, guarded_tables
from ketaflow.store.db_roles import app_role_from_url, grant_app_privileges, owner_powers
from ketaflow.store.engine import make_engine
from ketaflow.store.migrate import head_revision
from tests.conftest import postgres_url_or_skip
from tests.factories import make_chart

runner = CliRunner()

ON_POSTGRES = pytest.mark.parametrize(
    "migrated", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

# What the attacker tried as the application's database user, and more of the same kind.
REFUSED = [
    "TRUNCATE audit_events",
    "TRUNCATE vital_signs CASCADE",
    "UPDATE vital_signs SET systolic_mmhg = 118, diastolic_mmhg = 76",
    "DELETE FROM vital_signs",
    "UPDATE audit_events SET actor_label = 'system', action = 'clinic.list'",
    "DELETE FROM audit_events",
    "ALTER TABLE vital_signs DISABLE TRIGGER ALL",
    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    "DROP TRIGGER vital_signs_append_only ON vital_signs",
    "DROP TRIGGER audit_events_no_truncate ON audit_events",
    "CREATE OR REPLACE FUNCTION ketaflow_refuse_change() RETURNS trigger AS $$ BEGIN RETURN NEW; END; $$ "
    "LANGUAGE plpgsql",
    "CREATE TRIGGER sneaky BEFORE INSERT ON vital_signs FOR EACH ROW "
    "EXECUTE FUNCTION ketaflow_refuse_change()",
    "CREATE TABLE vital_signs_copy (id uuid)",
    "CREATE TABLE public.scratch AS SELECT * FROM vital_signs",
    "ALTER TABLE vital_signs ADD COLUMN note text",
    "DROP TABLE vital_signs CASCADE",
    "ALTER TABLE staff_users OWNER TO CURRENT_USER",
    "SET session_replication_role = replica",
]


def _snapshot(db: Session, table: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in db.execute(text(f"SELECT * FROM {table} ORDER BY id"))]


@ON_POSTGRES
@pytest.mark.parametrize("statement", REFUSED)
def test_the_app_role_is_refused_what_would_rewrite_a_fact(db: Session, statement: str) -> None:
    make_chart(db)
    db.add(m.AuditEvent(actor_label="director", action="patient.read", entity_type="patient"))
    db.flush()
    before = {t: _snapshot(db, t) for t in ("vital_signs", "audit_events")}
    assert all(before.values())
    with pytest.raises(exc.DBAPIError) as refused, db.begin_nested():
        db.execute(text(statement))
    # Refused by its privileges (42501), before any trigger could be asked.
    assert isinstance(refused.value.orig, psycopg.errors.InsufficientPrivilege), refused.value
    assert {t: _snapshot(db, t) for t in before} == before


@ON_POSTGRES
def test_the_app_role_has_exactly_the_privileges_the_app_needs(engine: Engine, owner_engine: Engine) -> None:
    role = engine.url.username
    with owner_engine.connect() as conn:
        facts = guarded_tables(conn)
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
        others = sorted(set(tables) - set(facts) - {"alembic_version"})

        def held(table: str) -> set[str]:
            return {
                p
                for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES")
                if conn.execute(
                    text("SELECT has_table_privilege(:r, :t, :p)"), {"r": role, "t": table, "p": p}
                ).scalar_one()
            }

        assert set(m.append_only_tables()) == set(facts)  # the models and the database agree
        assert {"audit_events", "vital_signs", "administration_events"} <= set(facts)
        assert {"staff_users", "web_sessions", "appointments", "infusion_sessions"} <= set(others)
        for table in facts:
            assert held(table) == {"SELECT", "INSERT"}, table
        for table in others:
            assert held(table) == {"SELECT", "INSERT", "UPDATE", "DELETE"}, table
        assert held("alembic_version") == {"SELECT"}
        attributes = conn.execute(
            text(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, "
                "has_schema_privilege(:r, current_schema(), 'CREATE'), "
                "has_schema_privilege('public', current_schema(), 'CREATE'), "
                "has_database_privilege(:r, current_database(), 'CREATE') "
                "FROM pg_roles WHERE rolname = :r"
            ),
            {"r": role},
        ).one()
        assert not any(attributes), attributes
        owned = conn.execute(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = :r"
            ),
            {"r": role},
        ).scalar_one()
        assert owned == 0


@ON_POSTGRES
def test_grants_follow_the_tables_a_later_migration_adds(owner_db: Session, engine: Engine) -> None:
    """A new append-only table (known by its trigger) gets SELECT and INSERT only; a new mutable
    table gets all four; a table that becomes append-only loses UPDATE and DELETE."""
    role = engine.url.username
    assert role
    conn = owner_db.connection()
    conn.exec_driver_sql("CREATE TABLE roles_probe_fact (id integer PRIMARY KEY)")
    conn.exec_driver_sql("CREATE TABLE roles_probe_state (id serial PRIMARY KEY, n integer)")
    for statement in create_trigger_sql("postgresql", "roles_probe_fact") + create_guard_sql(
        "postgresql", "roles_probe_fact"
    ):
        conn.exec_driver_sql(statement)
    grants = grant_app_privileges(conn, role)
    assert "roles_probe_fact" in grants.append_only and "roles_probe_state" in grants.mutable

    def can(table: str, privilege: str) -> bool:
        return bool(
            conn.execute(
                text("SELECT has_table_privilege(:r, :t, :p)"), {"r": role, "t": table, "p": privilege}
            ).scalar_one()
        )

    assert can("roles_probe_fact", "INSERT") and not can("roles_probe_fact", "UPDATE")
    assert can("roles_probe_state", "UPDATE") and can("roles_probe_state", "DELETE")
    sequence = "SELECT has_sequence_privilege(:r, 'roles_probe_state_id_seq', 'USAGE')"
    assert conn.execute(text(sequence), {"r": role}).scalar_one()
    for statement in create_trigger_sql("postgresql", "roles_probe_state"):
        conn.exec_driver_sql(statement)
    grant_app_privileges(conn, role)
    assert not can("roles_probe_state", "UPDATE") and not can("roles_probe_state", "DELETE")
    assert can("roles_probe_state", "SELECT") and can("roles_probe_state", "INSERT")
    # owner_db rolls all of this back


def test_only_an_owner_or_superuser_is_flagged_when_serving(engine: Engine, owner_engine: Engine) -> None:
    assert owner_powers(engine) is None  # the app's own role (or SQLite, where roles do not apply)
    if owner_engine.dialect.name == "postgresql":
        assert "superuser" in (owner_powers(owner_engine) or "")  # the test server's user
    else:
        assert owner_powers(owner_engine) is None


def test_on_sqlite_the_command_says_roles_do_not_apply(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "roles", "--database-url", f"sqlite:///{tmp_path / 'k.sqlite'}"])
    assert result.exit_code == 0, result.output
    assert "SQLite has no database roles" in result.output and "file permissions" in result.output


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        ("sqlite:///x.sqlite", "must name a PostgreSQL role"),
        ("postgresql://127.0.0.1/db", "names no role"),
        ("::not a url::", "not a valid URL"),
    ],
)
def test_the_app_url_must_name_a_postgresql_role(url: str, sentence: str) -> None:
    from ketaflow.errors import InvalidInput

    with pytest.raises(InvalidInput, match=sentence):
        app_role_from_url(url)


@pytest.fixture
def cluster() -> Iterator[Callable[[str], str]]:
    """Names made unique per test (a new database and roles named after it; roles are
    cluster-wide), all dropped afterwards. Yields a function: suffix -> name."""
    admin = make_engine(postgres_url_or_skip(), isolation_level="AUTOCOMMIT")
    base = f"ketaflow_t_{secrets.token_hex(6)}"
    made: list[str] = []

    def name(suffix: str) -> str:
        made.append(f"{base}{suffix}")
        return made[-1]

    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {base} WITH (FORCE)")
        for role in made:
            if role != base:
                conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
    admin.dispose()


@pytest.mark.postgres
def test_an_operator_sets_up_owner_and_app_role_and_serves_as_the_app(
    cluster: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's steps: an owner role (not a superuser) owns the database and migrates it;
    `db roles` makes the app's role from its URL; `db upgrade` (and a demo rebuild) with that URL
    set re-grants; the app's role can chart, and cannot rewrite what it charted."""
    from ketaflow.settings import get_settings

    admin = make_engine(postgres_url_or_skip(), isolation_level="AUTOCOMMIT")
    database, owner, app_role = cluster(""), cluster("_owner"), cluster("_app")
    owner_password, app_password = secrets.token_hex(12), secrets.token_hex(12)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {owner} LOGIN CREATEROLE PASSWORD '{owner_password}'")
        conn.exec_driver_sql(f"CREATE DATABASE {database} OWNER {owner}")
    admin.dispose()
    server = make_engine(postgres_url_or_skip()).url
    owner_url = server.set(username=owner, password=owner_password, database=database)
    app_url = server.set(username=app_role, password=app_password, database=database)
    owner_arg = owner_url.render_as_string(hide_password=False)
    app_arg = app_url.render_as_string(hide_password=False)

    up = runner.invoke(app, ["db", "upgrade", "--database-url", owner_arg])
    assert up.exit_code == 0, up.output
    assert "run `ketaflow db roles`" in up.output
    for attempt in range(2):  # idempotent: the second run re-applies the same grants
        made = runner.invoke(app, ["db", "roles", "--database-url", owner_arg, "--app-database-url", app_arg])
        assert made.exit_code == 0, made.output
        assert (f"Created the role {app_role}" in made.output) == (attempt == 0)
        assert f"App role {app_role} on {database}: SELECT, INSERT on " in made.output
        assert app_password not in made.output and owner_password not in made.output

    monkeypatch.setenv("KETAFLOW_APP_DATABASE_URL", app_arg)
    get_settings.cache_clear()
    try:
        again = runner.invoke(app, ["db", "upgrade", "--database-url", owner_arg])
        status = runner.invoke(app, ["db", "status", "--database-url", app_arg])
        # A demo network rebuilt by the owner (tables dropped and made anew) is granted again.
        demo = ["demo-data", "--clinics", "1", "--patients", "3", "--as-of", "2026-05-01", "--rebuild"]
        rebuilt = runner.invoke(app, [*demo, "--database-url", owner_arg])
        stats = runner.invoke(app, ["stats", "--json", "--database-url", app_arg])
    finally:
        get_settings.cache_clear()
    assert rebuilt.exit_code == 0 and f"App role {app_role}" in rebuilt.output, rebuilt.output
    assert stats.exit_code == 0 and '"patients": 3' in stats.output, stats.output
    assert again.exit_code == 0, again.output
    assert f"{head_revision()} -> {head_revision()}" in again.output
    assert f"App role {app_role} on {database}" in again.output and app_password not in again.output
    assert status.exit_code == 0, status.output

    served = make_engine(app_arg)
    try:
        assert owner_powers(served) is None
        assert owner_powers(make_engine(owner_arg)) == f"the database role {owner} owns the tables"
        with Session(served) as db:
            make_chart(db)
            db.commit()
        with psycopg.connect(
            app_url.set(drivername="postgresql").render_as_string(hide_password=False)
        ) as raw:
            raw.autocommit = True
            count = "SELECT (SELECT count(*) FROM vital_signs), (SELECT count(*) FROM audit_events)"
            before = raw.execute(count).fetchone()
            for attempt_sql in ("TRUNCATE audit_events", "ALTER TABLE vital_signs DISABLE TRIGGER ALL"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    raw.execute(attempt_sql)
            assert before is not None and before[0] > 0 and raw.execute(count).fetchone() == before
    finally:
        served.dispose()

    # Neither the owner nor a superuser is taken as the app's role.
    for bad, sentence in (
        (owner_url, "must not be the role that owns the tables"),
        (server.set(database=database), "superuser"),
    ):
        refused = runner.invoke(
            app,
            [
                "db",
                "roles",
                "--database-url",
                owner_arg,
                "--app-database-url",
                bad.render_as_string(hide_password=False),
            ],
        )
        assert refused.exit_code == 2 and sentence in refused.output, refused.output


def test_serve_connects_by_the_app_url_and_warns_when_it_holds_owner_powers(
    engine: Engine, owner_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ketaflow.settings import get_settings

    served: list[str | None] = []
    monkeypatch.setattr(
        "ketaflow.web.app.create_app", lambda eng: served.append(eng.url.username) or object()
    )
    monkeypatch.setattr("ketaflow.web.asgi.tune_gc", lambda: None)
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: None)
    monkeypatch.setenv("KETAFLOW_APP_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        as_app = runner.invoke(app, ["serve", "--workers", "1"])
        owner_url = owner_engine.url.render_as_string(hide_password=False)
        as_owner = runner.invoke(app, ["serve", "--workers", "1", "--database-url", owner_url])
    finally:
        get_settings.cache_clear()
    assert as_app.exit_code == 0 and as_owner.exit_code == 0, as_app.output + as_owner.output
    assert served == [engine.url.username, owner_engine.url.username]
    assert "Warning" not in as_app.output
    if owner_engine.dialect.name == "postgresql":
        assert "is a superuser, so the app could disable the triggers" in as_owner.output
        assert "KETAFLOW_APP_DATABASE_URL" in as_owner.output
    else:
        assert "Warning" not in as_owner.output


@ON_POSTGRES
def test_the_app_role_locks_an_append_only_row_without_update_rights(engine: Engine) -> None:
    """FOR UPDATE needs UPDATE rights, which the app role has not on facts: `lock_row` takes an
    advisory lock on the row's table and id there, and a second taker is kept out until commit."""
    from ketaflow.store.engine import lock_row

    key = "SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 0))"
    with Session(engine) as first, Session(engine) as second:
        chart = make_chart(first)
        first.flush()
        lock_row(first, m.VitalSign, chart.vital.id)
        lock_row(first, m.InfusionSession, chart.infusion.id)  # a mutable row: FOR UPDATE as before
        taken = second.execute(text(key), {"k": f"ketaflow.row:vital_signs:{chart.vital.id}"}).scalar_one()
        other = second.execute(text(key), {"k": f"ketaflow.row:vital_signs:{uuid.uuid4()}"}).scalar_one()
        assert (taken, other) == (False, True)
        first.rollback()
        second.rollback()
        again = second.execute(text(key), {"k": f"ketaflow.row:vital_signs:{chart.vital.id}"}).scalar_one()
        assert again is True
        second.rollback()


@pytest.mark.postgres
def test_an_owner_that_may_not_create_roles_is_told_what_to_ask_for(cluster: Callable[[str], str]) -> None:
    admin = make_engine(postgres_url_or_skip(), isolation_level="AUTOCOMMIT")
    database, owner, app_role = cluster(""), cluster("_owner"), cluster("_app")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {owner} LOGIN")  # no CREATEROLE
        conn.exec_driver_sql(f"CREATE DATABASE {database} OWNER {owner}")
    admin.dispose()
    server = make_engine(postgres_url_or_skip()).url
    owner_arg = server.set(username=owner, database=database).render_as_string(hide_password=False)
    app_arg = server.set(username=app_role, password="pw-never-shown", database=database)
    assert runner.invoke(app, ["db", "upgrade", "--database-url", owner_arg]).exit_code == 0
    args = ["db", "roles", "--database-url", owner_arg]
    refused = runner.invoke(app, [*args, "--app-database-url", app_arg.render_as_string(hide_password=False)])
    assert refused.exit_code == 2, refused.output
    assert f"The role {owner} may not create or change roles" in refused.output
    assert f"CREATE ROLE {app_role} LOGIN" in refused.output and "pw-never-shown" not in refused.output
    assert "Traceback" not in refused.output
