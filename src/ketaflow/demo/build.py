"""Write the demo network into a database: batched, one transaction per clinic, resumable.

The organization, clinics and staff are written in a first transaction together with a
`demo_builds` marker; then each clinic's patients and records in one transaction that
also advances the marker. An interrupted build therefore leaves whole clinics only, and
a rerun with the same settings finishes it (generation is deterministic). A rerun with
other settings, or on a database holding other data, is refused unless `rebuild=True`,
which drops and recreates the schema.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, func, insert, select, update
from sqlalchemy.engine import make_url

from ketaflow.demo.context import Rows
from ketaflow.demo.generate import TABLE_ORDER, clinic_rows, network_rows, patients_per_clinic
from ketaflow.demo.settings import DemoSettings
from ketaflow.errors import Conflict
from ketaflow.security import hash_password
from ketaflow.store import models as m
from ketaflow.store.chain import chained_tables, link_fresh
from ketaflow.store.migrate import upgrade
from ketaflow.store.models.base import utcnow
from ketaflow.store.stats import table_counts

BATCH_ROWS = 5000
SMALL_NETWORK = 500  # patients; below this a build runs in one process

Progress = Callable[[int], None]  # called with the number of patients just written


@dataclass(frozen=True)
class BuildResult:
    status: str  # "built", "finished", "already built"
    logins: list[tuple[str, str, str]]
    counts: dict[str, int]


def build_network(
    engine: Engine,
    settings: DemoSettings,
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
    on_clinic_done: Callable[[int], None] | None = None,
) -> BuildResult:
    """Build (or finish) the demo network described by `settings` in `engine`'s database."""
    if rebuild:
        drop_everything(engine)
    upgrade(engine)
    password_hash = hash_password(_demo_password())
    network = network_rows(settings, password_hash)
    per_clinic = patients_per_clinic(settings)

    with engine.begin() as conn:
        build = _existing_build(conn)
        if build is None:
            _refuse_if_not_empty(conn)
            build_id = conn.execute(
                insert(m.DemoBuild)
                .values(
                    settings=settings.identity(),
                    clinics_total=settings.clinics,
                    clinics_done=0,
                    completed_at=None,
                    notes=None,
                )
                .returning(m.DemoBuild.id)
            ).scalar_one()
            _write(conn, prepare_rows(network.rows, conn.dialect))
            done = 0
            status = "built"
        else:
            if build.settings != settings.identity():
                raise Conflict(
                    "This database already holds a demo network built with other settings "
                    f"(seed {build.settings.get('seed')}, {build.settings.get('patients')} patients, as of "
                    f"{build.settings.get('as_of')}); run again with --rebuild to replace it."
                )
            build_id, done = build.id, build.clinics_done
            status = "already built" if build.completed_at else "finished"
    if progress and done:
        progress(sum(per_clinic[:done]))

    url = engine.url.render_as_string(hide_password=False)
    tasks = [(settings, password_hash, index, url) for index in range(done, settings.clinics)]
    for index, prepared in zip(range(done, settings.clinics), _prepared_in_order(tasks), strict=True):
        with _bulk_transaction(engine) as conn:
            _write(conn, prepared)
            values: dict[str, Any] = {"clinics_done": index + 1}
            if index + 1 == settings.clinics:
                values["completed_at"] = utcnow()
            conn.execute(update(m.DemoBuild).where(m.DemoBuild.id == build_id).values(**values))
        if progress:
            progress(per_clinic[index])
        if on_clinic_done:
            on_clinic_done(index)
    if status != "already built":
        analyze(engine)
    return BuildResult(status=status, logins=network.logins, counts=table_counts(engine))


def analyze(engine: Engine) -> None:
    """Refresh the query planner's statistics after a bulk load.

    Without them SQLite may scan a whole table through the `amends_id` index (every
    original row has it NULL) instead of using the `session_id` index a chart asks for.
    SQLite samples (analysis_limit) so this takes seconds, not minutes.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def _prepared_in_order(tasks: list[tuple[DemoSettings, str, int, str]]) -> Iterator[Prepared]:
    """Prepare clinics in worker processes, at most two ahead of the writer, in order.

    Generation and value conversion are CPU-bound Python; writing is mostly the
    database's own work. Overlapping them uses both cores of a small machine.
    """
    if not tasks:
        return
    if tasks[0][0].patients <= SMALL_NETWORK:  # not worth starting worker processes
        for task in tasks:
            yield _prepare_clinic(task)
        return
    workers = max(1, min(2, os.cpu_count() or 1))
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending = [pool.submit(_prepare_clinic, t) for t in tasks[: workers + 1]]
        next_task = len(pending)
        while pending:
            prepared = pending.pop(0).result()
            if next_task < len(tasks):
                pending.append(pool.submit(_prepare_clinic, tasks[next_task]))
                next_task += 1
            yield prepared


@contextmanager
def _bulk_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction for a bulk load, with SQLite's foreign keys checked once at the end.

    SQLite checks every foreign key of every inserted row as it goes, which doubles the
    time of a demo build. Here the checks are switched off for the load and the whole
    database is checked with `PRAGMA foreign_key_check` before commit: any orphan rolls
    the clinic back, so integrity is the same, verified in one pass. PostgreSQL keeps
    its per-row checks.
    """
    with engine.connect() as conn:
        raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")  # outside any transaction, where it takes effect
        try:
            with conn.begin():
                yield conn
                if raw is not None:
                    orphans = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if orphans:
                        raise Conflict(
                            f"The demo build wrote rows that point at nothing ({orphans[:3]}); rolled back."
                        )
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def _demo_password() -> str:
    from ketaflow.demo.catalog import DEMO_PASSWORD

    return DEMO_PASSWORD


def _existing_build(conn: Connection) -> Any:
    return conn.execute(select(m.DemoBuild).order_by(m.DemoBuild.started_at.desc()).limit(1)).first()


def _refuse_if_not_empty(conn: Connection) -> None:
    if conn.execute(select(func.count()).select_from(m.Organization)).scalar_one():
        raise Conflict(
            "This database already holds clinic data that is not a demo network; "
            "choose another --database-url (the demo never overwrites real records)."
        )


Prepared = list[tuple[str, list[str], list[tuple[Any, ...]]]]  # (table, columns, value rows)


def prepare_rows(rows: Rows, dialect: Dialect) -> Prepared:
    """Turn generated rows into database values, table by table, in foreign-key order.

    Values go through each column type's own bind processor (UTC times, UUIDs, JSON,
    enums), exactly as an ORM insert would, so there is one definition of how a value
    is stored. This is the CPU-heavy half of a build and runs in worker processes.
    """
    tables = m.Base.metadata.tables
    prepared: Prepared = []
    heads: dict[tuple[str, str], tuple[int, bytes]] = {}
    for name in TABLE_ORDER:
        batch = rows.get(name)
        if not batch:
            continue
        if name in chained_tables():
            # Each clinic's chains are new and written whole in one transaction, with their heads.
            link_fresh(name, batch, heads)
        columns = [c for c in tables[name].columns if c.key in batch[0]]
        keys = [c.key for c in columns]
        processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
        convert = [(i, p) for i, p in enumerate(processors) if p is not None]
        getter = itemgetter(*keys)
        values: list[tuple[Any, ...]] = []
        for row in batch:
            got = getter(row)
            record = list(got) if len(keys) > 1 else [got]
            for i, process in convert:
                record[i] = process(record[i])
            values.append(tuple(record))
        prepared.append((name, keys, values))
    if heads:
        prepared.append(
            (
                "chain_heads",
                ["table_name", "scope", "seq", "row_hash"],
                [(t, s, q, h) for (t, s), (q, h) in heads.items()],
            )
        )
    return prepared


def _prepare_clinic(task: tuple[DemoSettings, str, int, str]) -> Prepared:
    settings, password_hash, index, url = task
    dialect = make_url(url).get_dialect()()
    network = network_rows(settings, password_hash)
    return prepare_rows(clinic_rows(settings, network, index), dialect)


def _write(conn: Connection, prepared: Prepared) -> None:
    """Insert prepared rows: COPY on PostgreSQL, batched executemany on SQLite."""
    dialect = conn.dialect
    for name, keys, values in prepared:
        if dialect.name == "postgresql":
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY {name} ({', '.join(keys)}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
            continue
        compiled = insert(m.Base.metadata.tables[name]).compile(dialect=dialect, column_keys=keys)
        order = [keys.index(k) for k in compiled.positiontup or []]
        for chunk in _chunks(values, BATCH_ROWS):
            conn.exec_driver_sql(str(compiled), [tuple(row[i] for i in order) for row in chunk])


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def drop_everything(engine: Engine) -> None:
    """Drop every ketaflow table (triggers go with them) so the schema can be rebuilt."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
            return
        # Children first, so foreign keys never see an orphan; dropping fires no triggers.
        for table in reversed(m.Base.metadata.sorted_tables):
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table.name}"')
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


def existing_settings(engine: Engine) -> DemoSettings | None:
    """The settings of the demo network already in this database, if there is one."""
    from sqlalchemy import inspect

    if "demo_builds" not in inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        build = _existing_build(conn)
    return None if build is None else DemoSettings.from_json(build.settings)


def is_complete(engine: Engine) -> bool:
    from sqlalchemy import inspect

    if "demo_builds" not in inspect(engine).get_table_names():
        return False
    with engine.connect() as conn:
        build = _existing_build(conn)
    return build is not None and build.completed_at is not None
