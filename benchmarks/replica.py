"""A PostgreSQL network N times a built one, for the benchmarks at 10x and 100x (issues 6 and 12).

The generator writes about 17,000 rows a second, so a 100x network (3.5 million infusions)
would take hours. Instead the built 1x network is copied N-1 times: every row of a copied table
gets, in copy k, a new id md5(old id || ':' || k) and the same mapping for every reference to a
copied table (found from the models' foreign keys), so each copy is a faithful clone of the
original patients (same clinics and staff, same dates, new patients with MRN suffix -k).

* Tables without a chain (patients, plans, appointments, sessions) are copied inside
  PostgreSQL (INSERT ... SELECT ... CROSS JOIN generate_series).
* Tables with a hash chain get real chains: copy k of a clinic's chain follows copy k-1, each
  row read from the source database in chain order (a server-side cursor), its id and
  references mapped in SQL, hashed after the row before it with the same code as every
  writer (`ChainSpec.raw_hash`), and written with COPY; then the chain heads move and, given a
  key, every chain gets a signed checkpoint. Memory stays bounded (rows stream through), with
  a progress bar in rows. `ketaflow verify` then walks the replica as it would a real network.
* Not copied: a clinic's drug stock (lots and vials: the copies share the original ledger's
  stock, and lot numbers are unique per clinic) and every other table.

Before it starts it checks that the copy fits on the disk (the source's size times N, with a
margin) and says so plainly if not.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from typing import Any

from psycopg.types.json import Jsonb

# Tables the outcome dashboard reads (its replica copies only these).
DASHBOARD_TABLES = (
    "patients",
    "treatment_plans",
    "appointments",
    "infusion_sessions",
    "questionnaire_responses",
    "side_effects",
    "administration_events",
    "discharges",
)
PATIENT_TABLES = ("patients", "treatment_plans", "appointments", "infusion_sessions")  # not chained
NOT_COPIED = ("drug_lots", "drug_vials")  # a clinic's stock (see the module doc)
DISK_MARGIN = 1.3  # indexes and WAL on top of the tables' share of the source's size


def network_tables() -> tuple[str, ...]:
    """Every table a network N times larger has N times the rows of: the patients' tables and
    every chained table but the stock."""
    from ketaflow.store.chain import chained_tables

    return PATIENT_TABLES + tuple(t for t in chained_tables() if t not in NOT_COPIED)


def _mapped_columns(table: str, copied: Iterable[str]) -> set[str]:
    from ketaflow.store.models.base import Base

    copied = set(copied)
    t = Base.metadata.tables[table]
    return {"id"} | {
        c.name for c in t.columns if any(fk.column.table.name in copied for fk in c.foreign_keys)
    }


def _expression(table: str, column: str, mapped: set[str], alias: str = "src") -> str:
    if column in mapped:
        return f"md5({alias}.{column}::text || ':' || k)::uuid"
    if table == "patients" and column == "mrn":
        return f"{alias}.mrn || '-' || k"
    return f"{alias}.{column}"


def check_disk(admin_url: str, source: str, times: int, share: float = 1.0) -> None:
    """Refuse a copy that would not fit: `share` of the source's size, times N-1, with a margin,
    against the free space of the disk PostgreSQL writes to (this machine's root file system)."""
    from sqlalchemy import create_engine, text

    from ketaflow.settings import normalise_database_url

    engine = create_engine(normalise_database_url(admin_url))
    with engine.connect() as conn:
        size = int(conn.execute(text("SELECT pg_database_size(:d)"), {"d": source}).scalar_one())
    engine.dispose()
    need = size * share * (times - 1) * DISK_MARGIN
    free = shutil.disk_usage("/").free
    if need > free:
        raise SystemExit(
            f"A {times}x copy of {source} needs about {need / 1e9:.0f} GB ({size / 1e9:.2f} GB x "
            f"{times - 1} x {share:.2f} x {DISK_MARGIN}) and the disk has {free / 1e9:.0f} GB free: "
            "choose fewer copies, or free disk space first."
        )


def replicate(
    admin_url: str,
    source: str,
    target: str,
    times: int,
    tables: tuple[str, ...] | None = None,
    key: bytes | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """Create database `target` as `times` copies of `source` (PostgreSQL; see the module doc),
    chain and (with `key`) sign it, ANALYZE it. Returns seconds per step."""
    from sqlalchemy import create_engine, text

    from ketaflow.settings import normalise_database_url
    from ketaflow.store.chain import chained_tables

    tables = tables or network_tables()
    admin_url = normalise_database_url(admin_url)
    base = admin_url.rsplit("/", 1)[0]
    steps: dict[str, float] = {}
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target}"'))
        conn.execute(text(f'CREATE DATABASE "{target}" TEMPLATE "{source}"'))
    admin.dispose()
    engine = create_engine(f"{base}/{target}", isolation_level="AUTOCOMMIT")
    reader = create_engine(f"{base}/{source}")
    chained = [t for t in tables if t in chained_tables()]
    try:
        with engine.connect() as conn:
            conn.execute(text("SET session_replication_role = replica"))  # no triggers: ids map 1:1
            for table in (t for t in tables if t not in chained):
                started = time.perf_counter()
                _copy_in_sql(conn, table, tables, times)
                steps[table] = time.perf_counter() - started
                print(f"{table}: copied in {steps[table]:.0f} s", flush=True)
        with reader.connect() as rconn:
            counts = {
                t: int(rconn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one())  # noqa: S608
                for t in chained
            }
        total, done = sum(counts.values()) * (times - 1), 0
        for table in chained:
            started = time.perf_counter()

            def told(n: int, base_done: int = done) -> None:
                if progress is not None:
                    progress(base_done + n, total)

            _copy_chained(engine, reader, table, tables, times, told)
            done += counts[table] * (times - 1)
            steps[table] = time.perf_counter() - started
            print(
                f"{table}: {counts[table] * (times - 1):,} rows chained in {steps[table]:.0f} s", flush=True
            )
        if key is not None:
            from ketaflow.store.checkpoints import write_checkpoints

            started = time.perf_counter()
            write_checkpoints(engine, key)
            steps["checkpoints"] = time.perf_counter() - started
        started = time.perf_counter()
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
        steps["analyze"] = time.perf_counter() - started
    finally:
        engine.dispose()
        reader.dispose()
    return steps


def _columns(conn: Any, table: str) -> list[str]:
    from sqlalchemy import text

    return [
        r[0]
        for r in conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                "ORDER BY ordinal_position"
            ),
            {"t": table},
        )
    ]


def _copy_in_sql(conn: Any, table: str, tables: tuple[str, ...], times: int) -> None:
    from sqlalchemy import text

    mapped = _mapped_columns(table, tables)
    cols = _columns(conn, table)
    conn.execute(
        text(
            f"INSERT INTO {table} ({', '.join(cols)}) "  # noqa: S608
            f"SELECT {', '.join(_expression(table, c, mapped) for c in cols)} "
            f"FROM {table} AS src CROSS JOIN generate_series(1, {times - 1}) AS k"
        )
    )


def _copy_chained(
    engine: Any, reader: Any, table: str, tables: tuple[str, ...], times: int, told: Callable[[int], None]
) -> None:
    """Copies 1..times-1 of `table`'s rows, each chain's copy k after its copy k-1 (see the doc)."""
    from ketaflow.store.chain import CHAIN_COLUMNS, scope_of, spec_for, stream

    spec = spec_for(table)
    canon = spec.raw_canon("postgresql")
    mapped = _mapped_columns(table, tables)
    n = len(spec.columns)
    clinic_at = spec.columns.index("clinic_id")
    select_list = ", ".join(_expression(table, c, mapped) for c in spec.columns)
    with engine.connect() as conn:
        heads = {
            s: (q, bytes(h))
            for s, q, h in conn.exec_driver_sql(
                "SELECT scope, seq, row_hash FROM chain_heads WHERE table_name = %(t)s", {"t": table}
            )
        }
    done = 0
    with engine.connect() as wconn, reader.connect() as rconn:
        wconn.exec_driver_sql("SET session_replication_role = replica")
        cursor = wconn.connection.driver_connection.cursor()
        columns = ", ".join([*spec.columns, *CHAIN_COLUMNS])
        for k in range(1, times):
            sql = (
                f"SELECT {select_list} FROM {table} AS src, (SELECT {k} AS k) AS this_copy "  # noqa: S608
                "ORDER BY src.clinic_id, src.chain_seq"
            )
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                raw_clinic: Any = object()
                scope = ""
                seq, prev = 0, b""
                for row in stream(rconn, sql):
                    if row[clinic_at] != raw_clinic:
                        if scope:
                            heads[scope] = (seq, prev)
                        raw_clinic = row[clinic_at]
                        scope = scope_of(raw_clinic)
                        seq, prev = heads[scope]
                    digest = spec.raw_hash(prev, row, canon)
                    seq += 1
                    values = (Jsonb(v) if isinstance(v, dict | list) else v for v in row[:n])  # JSON columns
                    copy.write_row((*values, seq, prev, digest))
                    prev = digest
                    done += 1
                    if not done % 20_000:
                        told(done)
                if scope:
                    heads[scope] = (seq, prev)
            rconn.rollback()  # ends the read transaction of this copy's cursor
            told(done)
        wconn.commit()
        for scope, (q, h) in heads.items():
            wconn.exec_driver_sql(
                "UPDATE chain_heads SET seq = %(q)s, row_hash = %(h)s "
                "WHERE table_name = %(t)s AND scope = %(s)s",
                {"q": q, "h": h, "t": table, "s": scope},
            )
        wconn.commit()
