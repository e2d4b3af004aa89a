"""PostgreSQL roles: the owner that migrates, and the application's role that may only do its work.

The append-only triggers (`append_only.py`) stop any connection from rewriting a clinical
fact or the audit trail, but the role that owns a table can disable or drop its triggers,
replace the trigger function, or TRUNCATE around them. So the web app connects as a role of
its own that owns nothing and holds only what the app uses:

- SELECT and INSERT on the append-only tables (read from the database itself: the tables
  carrying a `<table>_append_only` trigger, `append_only.guarded_tables`), so tables added by a
  later migration are covered without editing this list;
- SELECT, INSERT, UPDATE and DELETE on every other table of the schema (sessions, bookings,
  users, ...); SELECT only on `alembic_version`;
- USAGE on the schema and on its sequences; CONNECT on the database.
Nothing else: no TRUNCATE, TRIGGER or REFERENCES, no CREATE in the schema (revoked from PUBLIC
too, as PostgreSQL before 15 grants it), not a superuser, not a member of any owner.

`grant_app_privileges` first revokes everything the role held on the schema's tables and
sequences, then grants the above, in one transaction: run again after each migration it gives
new tables their privileges and takes UPDATE and DELETE off a table that became append-only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ketaflow.errors import InvalidInput
from ketaflow.settings import normalise_database_url
from ketaflow.store.append_only import guarded_tables

# The schema ketaflow's tables live in (the connection's current schema, normally public).
_SCHEMA = "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"

# Tables the app reads but never writes.
READ_ONLY_TABLES = frozenset({"alembic_version"})

# Role attributes the app role must not have (pg_roles column -> the ALTER ROLE word that clears it).
_FORBIDDEN_ATTRIBUTES = {
    "rolcreatedb": "NOCREATEDB",
    "rolcreaterole": "NOCREATEROLE",
    "rolreplication": "NOREPLICATION",
    "rolbypassrls": "NOBYPASSRLS",
}


@dataclass(frozen=True)
class AppRole:
    """The application's role as its URL names it (the password is never shown)."""

    name: str
    password: str | None = field(default=None, repr=False)
    database: str | None = None


@dataclass(frozen=True)
class Grants:
    """What `grant_app_privileges` gave the app role, table by table."""

    role: str
    database: str
    schema: str
    created: bool
    append_only: list[str]
    mutable: list[str]
    read_only: list[str]


def app_role_from_url(url: str) -> AppRole:
    """The role (and password, if the URL carries one) the application connects as."""
    try:
        parsed = make_url(normalise_database_url(url))
    except Exception:  # sqlalchemy.exc.ArgumentError and friends
        raise InvalidInput("The application's database URL is not a valid URL.") from None
    if parsed.get_backend_name() != "postgresql":
        raise InvalidInput(
            "The application's database URL must name a PostgreSQL role, such as "
            "postgresql://ketaflow_app:PASSWORD@host/dbname."
        )
    if not parsed.username:
        raise InvalidInput(
            "The application's database URL names no role: write it as "
            "postgresql://ketaflow_app:PASSWORD@host/dbname."
        )
    return AppRole(name=parsed.username, password=parsed.password, database=parsed.database)


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _require_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        raise InvalidInput(
            "Database roles are a PostgreSQL matter; on SQLite protect the database file with file "
            "permissions instead."
        )


def ensure_app_role(conn: Connection, role: AppRole) -> bool:
    """Create the app role if it is missing (LOGIN, nothing more) and set its password if given;
    refuse a role that could undo the triggers. True when the role was created now."""
    owner = conn.execute(text("SELECT current_user")).scalar_one()
    if role.name == owner:
        raise InvalidInput(
            f"The application's role must not be the role that owns the tables ({owner}); "
            "name a role of its own, such as ketaflow_app."
        )
    row = (
        conn.execute(
            text(
                "SELECT rolsuper, rolcanlogin, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
                "FROM pg_roles WHERE rolname = :r"
            ),
            {"r": role.name},
        )
        .mappings()
        .one_or_none()
    )
    quoted = _quote(conn, role.name)
    created = row is None
    try:
        if row is None:
            conn.exec_driver_sql(f"CREATE ROLE {quoted} LOGIN {' '.join(_FORBIDDEN_ATTRIBUTES.values())}")
        else:
            if row["rolsuper"]:
                raise InvalidInput(
                    f"The role {role.name} is a superuser and could undo every safeguard; "
                    "name a role of its own for the application, such as ketaflow_app."
                )
            fixes = [word for column, word in _FORBIDDEN_ATTRIBUTES.items() if row[column]]
            if not row["rolcanlogin"]:
                fixes.append("LOGIN")
            if fixes:
                conn.exec_driver_sql(f"ALTER ROLE {quoted} {' '.join(fixes)}")
        _refuse_an_owner(conn, role.name)
        if role.password:
            conn.exec_driver_sql(f"ALTER ROLE {quoted} PASSWORD {_literal(_verifier(conn, role))}")
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "42501":  # insufficient_privilege
            raise InvalidInput(
                f"The role {owner} may not create or change roles. Ask a PostgreSQL superuser to run "
                f"`CREATE ROLE {role.name} LOGIN PASSWORD '...'` (or to give {owner} CREATEROLE), then "
                "run `ketaflow db roles` again."
            ) from None
        raise
    return created


def _verifier(conn: Connection, role: AppRole) -> str:
    """The password as the server stores it (SCRAM-SHA-256 where the server uses it), made on
    this side, so the clear password never travels in a statement a server log could keep."""
    assert role.password is not None
    raw = conn.connection.driver_connection
    encrypted: bytes = raw.pgconn.encrypt_password(  # type: ignore[union-attr]
        role.password.encode(), role.name.encode()
    )
    return encrypted.decode()


def _refuse_an_owner(conn: Connection, role: str) -> None:
    """The app role must hold no owner's rights: of the database, the schema or anything in it."""
    owns = conn.execute(
        text(
            f"SELECT EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = {_SCHEMA} "
            "  AND pg_has_role(:r, c.relowner, 'MEMBER')) "
            f"OR EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = {_SCHEMA} "
            "  AND pg_has_role(:r, p.proowner, 'MEMBER')) "
            "OR pg_has_role(:r, (SELECT nspowner FROM pg_namespace WHERE nspname = current_schema()), "
            "  'MEMBER') "
            "OR pg_has_role(:r, (SELECT datdba FROM pg_database WHERE datname = current_database()), "
            "  'MEMBER')"
        ),
        {"r": role},
    ).scalar_one()
    if owns:
        raise InvalidInput(
            f"The role {role} owns (or is a member of the role that owns) this database, its schema "
            "or its tables, so it could undo the safeguards; name a role of its own for the application."
        )


def grant_app_privileges(conn: Connection, role: str) -> Grants:
    """Reset and grant `role`'s privileges on the current schema (see the module doc); the caller commits."""
    database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
    r, s = _quote(conn, role), _quote(conn, schema)
    rows = conn.execute(
        text(
            f"SELECT relname, relkind FROM pg_class WHERE relnamespace = {_SCHEMA} "
            "AND relkind IN ('r', 'p', 'v', 'm')"
        )
    )
    relations: dict[str, str] = {str(name): str(kind) for name, kind in rows}
    append_only = sorted(set(guarded_tables(conn)) & set(relations))
    read_only = sorted(n for n, kind in relations.items() if n in READ_ONLY_TABLES or kind in ("v", "m"))
    mutable = sorted(set(relations) - set(append_only) - set(read_only))
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON SCHEMA {s} FROM {r}",
        f"REVOKE CREATE ON SCHEMA {s} FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {_quote(conn, database)} TO {r}",
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
    ]
    for privileges, names in (
        ("SELECT, INSERT", append_only),
        ("SELECT, INSERT, UPDATE, DELETE", mutable),
        ("SELECT", read_only),
    ):
        if names:
            statements.append(
                f"GRANT {privileges} ON {', '.join(f'{s}.{_quote(conn, n)}' for n in names)} TO {r}"
            )
    for statement in statements:
        conn.exec_driver_sql(statement)
    return Grants(role, database, schema, False, append_only, mutable, read_only)


def apply_app_role(engine: Engine, role: AppRole, *, create: bool = True) -> Grants:
    """Make (with `create`) and grant the app role in one transaction, connected as the owner.

    Without `create` the role must exist already and only its grants are re-applied."""
    _require_postgresql(engine)
    if role.database and engine.url.database and role.database != engine.url.database:
        raise InvalidInput(
            f"The application's URL names the database {role.database}, the owner's URL "
            f"{engine.url.database}; both must name the same database."
        )
    with engine.begin() as conn:
        if create:
            created = ensure_app_role(conn, role)
        else:
            created = False
            if not role_exists(conn, role.name):
                raise InvalidInput(
                    f"The role {role.name} does not exist yet; run `ketaflow db roles` to create it."
                )
            _refuse_an_owner(conn, role.name)
        grants = grant_app_privileges(conn, role.name)
    return dataclasses.replace(grants, created=created)


def role_exists(conn: Connection, name: str) -> bool:
    return bool(
        conn.execute(text("SELECT count(*) FROM pg_roles WHERE rolname = :r"), {"r": name}).scalar_one()
    )


def owner_powers(engine: Engine) -> str | None:
    """Why `engine`'s role could undo the append-only triggers (superuser, or owner of the tables),
    or None when it cannot (or the database is SQLite, where roles do not apply)."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        role, superuser, owner = conn.execute(
            text(
                "SELECT current_user, rolsuper, EXISTS (SELECT 1 FROM pg_class c "
                f"  WHERE c.relnamespace = {_SCHEMA} AND c.relkind IN ('r', 'p') "
                "  AND pg_has_role(current_user, c.relowner, 'MEMBER')) "
                "FROM pg_roles WHERE rolname = current_user"
            )
        ).one()
    if superuser:
        return f"the database role {role} is a superuser"
    if owner:
        return f"the database role {role} owns the tables"
    return None
