"""`ketaflow backup` and `ketaflow restore`, on SQLite and on PostgreSQL.

A backup of the demo test network restored into an empty database holds the same rows: `ketaflow
stats --json` is identical, and so are every table's row count and contents (compared row by row
through a digest). A database that is not empty is refused. A backup taken while a writer commits
(a vital sign and its audit event in each transaction) holds whole transactions only, as of one
moment: the writer is made to commit while the backup is midway (its progress callback waits for
those commits), and the restored copy holds none of them and no vital without its audit event.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ketaflow.cli import app
from ketaflow.errors import KetaflowError
from ketaflow.services.audit import Actor, record
from ketaflow.store import backup as backup_module
from ketaflow.store import models as m
from ketaflow.store.backup import (
    backup_database,
    check_restored,
    integrity_problems,
    restore_database,
    user_tables,
)
from ketaflow.store.migrate import alembic_config, head_revision, upgrade
from ketaflow.store.pg_tools import find_pg_tool
from ketaflow.vocabulary import VitalPhase
from tests.conftest import FreshDatabases
from tests.factories import T0, make_chart
from tests.integration.cli.backup_support import databases_like, needs_pg_tools

runner = CliRunner()
WAIT_S = 60.0  # a bound on waiting for the writer thread's commits, not a timing
MARK_HR = 61  # the heart rate of the writer's vital signs, to find them again
WRITE_ACTION = "test.backup_write"


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def empty_like(demo_engine: Engine, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """New empty databases on the demo network's engine kind (SQLite files, PostgreSQL databases)."""
    needs_pg_tools(demo_engine)
    databases = databases_like(demo_engine, tmp_path)
    yield databases.new
    databases.drop_all()


def stats_of(engine: Engine) -> dict[str, object]:
    shown = runner.invoke(app, ["stats", "--json", "--database-url", url_of(engine)])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    del data["database"]  # the URL, which differs
    return data


def contents(engine: Engine) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of its rows (in a fixed order), by table name."""
    found = {}
    with engine.connect() as conn:
        for table in user_tables(engine):
            rows = sorted(repr(tuple(row)) for row in conn.exec_driver_sql(f'SELECT * FROM "{table}"'))
            found[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return found


def test_backup_then_restore_into_an_empty_database_gives_the_same_rows(
    demo_engine: Engine, empty_like: Callable[[], Engine], tmp_path: Path
) -> None:
    out = tmp_path / "network.backup"
    made = runner.invoke(app, ["backup", "--out", str(out), "--json", "--database-url", url_of(demo_engine)])
    assert made.exit_code == 0, made.output
    said = json.loads(made.stdout)
    assert said["file"] == str(out) and said["size_bytes"] == out.stat().st_size > 0
    assert said["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds every patient's record
    assert not Path(f"{out}.partial").exists()

    target = empty_like()
    restored = runner.invoke(app, ["restore", "--from", str(out), "--database-url", url_of(target)])
    assert restored.exit_code == 0, restored.output
    assert "schema and integrity checks passed" in restored.stdout

    assert stats_of(target) == stats_of(demo_engine)
    source_rows, target_rows = contents(demo_engine), contents(target)
    assert sorted(target_rows) == sorted(source_rows)
    assert "vital_signs" in target_rows and target_rows["vital_signs"][0] > 0
    for table, (count, digest) in source_rows.items():
        assert target_rows[table] == (count, digest), table


def test_restore_refuses_a_database_that_is_not_empty(
    demo_engine: Engine, empty_like: Callable[[], Engine], tmp_path: Path
) -> None:
    out = tmp_path / "network.backup"
    assert (
        runner.invoke(app, ["backup", "--out", str(out), "--database-url", url_of(demo_engine)]).exit_code
        == 0
    )
    migrated = empty_like()
    upgrade(migrated)  # a schema and no rows is not empty either
    for target in (demo_engine, migrated):
        before = contents(target)
        refused = runner.invoke(app, ["restore", "--from", str(out), "--database-url", url_of(target)])
        assert refused.exit_code == 2, refused.output
        assert "is not empty" in refused.output and "nothing was changed" in refused.output
        assert "Traceback" not in refused.output
        assert contents(target) == before


def test_backup_refuses_to_overwrite_a_file(demo_engine: Engine, tmp_path: Path) -> None:
    needs_pg_tools(demo_engine)
    out = tmp_path / "kept.backup"
    out.write_bytes(b"an earlier backup")
    refused = runner.invoke(app, ["backup", "--out", str(out), "--database-url", url_of(demo_engine)])
    assert refused.exit_code == 2 and "already exists" in refused.output
    assert out.read_bytes() == b"an earlier backup"


def test_restore_refuses_a_file_that_is_not_a_backup(
    empty_like: Callable[[], Engine], tmp_path: Path
) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database")
    target = empty_like()
    refused = runner.invoke(app, ["restore", "--from", str(junk), "--database-url", url_of(target)])
    assert refused.exit_code == 2 and "is not a ketaflow backup" in refused.output
    assert user_tables(target) == []


def test_restore_of_a_cut_short_backup_fails_whole_and_leaves_the_target_empty(
    demo_engine: Engine, empty_like: Callable[[], Engine], tmp_path: Path
) -> None:
    whole = tmp_path / "whole.backup"
    backup_database(demo_engine, whole)
    cut = tmp_path / "cut.backup"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # a copy that broke off midway
    target = empty_like()
    refused = runner.invoke(app, ["restore", "--from", str(cut), "--database-url", url_of(target)])
    assert refused.exit_code == 2 and "nothing was restored" in refused.output, refused.output
    assert "Traceback" not in refused.output
    assert user_tables(target) == []


class Writer(threading.Thread):
    """Commits, one after another until stopped, a vital sign and its audit event in one transaction."""

    def __init__(self, engine: Engine, session_id: uuid.UUID) -> None:
        super().__init__(daemon=True)
        self.engine = engine
        self.session_id = session_id
        self.committed = 0
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with Session(self.engine) as db:
                infusion = db.get(m.InfusionSession, self.session_id)
                assert infusion is not None
                clinic_id, patient_id = infusion.clinic_id, infusion.patient_id
            while not self.stopping.is_set():
                with Session(self.engine) as db:
                    vital = m.VitalSign(
                        clinic_id=clinic_id,
                        patient_id=patient_id,
                        session_id=self.session_id,
                        measured_at=T0,
                        recorded_at=T0,
                        phase=VitalPhase.INFUSION,
                        systolic_mmhg=124,
                        diastolic_mmhg=80,
                        heart_rate_bpm=MARK_HR,
                    )
                    db.add(vital)
                    db.flush()
                    record(
                        db, Actor(None, "writer"), WRITE_ACTION, "vital_sign", vital.id, clinic_id=clinic_id
                    )
                    db.commit()
                with self.changed:
                    self.committed += 1
                    self.changed.notify_all()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.failure = exc
            with self.changed:
                self.changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self.changed:
            reached = self.changed.wait_for(lambda: self.committed >= count or self.failure, timeout=WAIT_S)
        assert self.failure is None, self.failure
        assert reached, f"the writer committed {self.committed} of {count} transactions"


def written(engine: Engine, session_id: uuid.UUID) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """The writer's vital signs, and the vital signs its audit events name."""
    with Session(engine) as db:
        vitals = set(
            db.scalars(
                select(m.VitalSign.id).where(
                    m.VitalSign.session_id == session_id, m.VitalSign.heart_rate_bpm == MARK_HR
                )
            )
        )
        audited = set(db.scalars(select(m.AuditEvent.entity_id).where(m.AuditEvent.action == WRITE_ACTION)))
    return vitals, {a for a in audited if a is not None}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_backup_taken_while_writes_go_on_holds_whole_transactions_as_of_one_moment(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    databases = FreshDatabases(kind, tmp_path)
    try:
        source = databases.new()
        needs_pg_tools(source)
        upgrade(source)
        with Session(source) as db:
            session_id = make_chart(db).infusion.id
            db.commit()
        # SQLite: one page a step, so the backup has many steps and the writes fall between them.
        monkeypatch.setattr(backup_module, "SQLITE_STEP_PAGES", 1)
        writer = Writer(source, session_id)
        writer.start()
        writer.wait_for(5)
        midway: list[int] = []

        def progress(done: int, total: int) -> None:
            if not midway and done < total:  # the backup has begun and is not finished
                midway.append(writer.committed)
                writer.wait_for(writer.committed + 20)  # these commits land while the backup runs

        out = tmp_path / "during-writes.backup"
        try:
            backup_database(source, out, progress)
        finally:
            writer.stopping.set()
            writer.join(timeout=WAIT_S)
        assert writer.failure is None, writer.failure
        assert midway, "the backup finished in one step; the writes did not fall inside it"

        target = databases.new()
        restore_database(target, out)
        check_restored(target)
        vitals, audited = written(target, session_id)
        assert vitals == audited  # no vital without its audit event, no audit event without its vital
        assert 5 <= len(vitals) <= midway[0]  # as of one moment before the writes made midway
        assert len(vitals) < writer.committed
        source_vitals, source_audited = written(source, session_id)
        assert vitals <= source_vitals and len(source_vitals) == writer.committed == len(source_audited)
    finally:
        databases.drop_all()


def test_a_missing_or_old_pg_dump_is_named_with_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(KetaflowError, match=r"pg_dump was not found on PATH.*postgresql-client-16"):
        find_pg_tool("pg_dump", 16, search_glob=str(tmp_path / "lib" / "*" / "bin"))
    old = tmp_path / "lib" / "13" / "bin" / "pg_dump"
    old.parent.mkdir(parents=True)
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.9'\n")
    old.chmod(0o755)
    with pytest.raises(
        KetaflowError, match=r"is PostgreSQL 13, older than .*PostgreSQL 16.*postgresql-client-16"
    ):
        find_pg_tool("pg_dump", 16, search_glob=str(tmp_path / "lib" / "*" / "bin"))
    found = find_pg_tool("pg_dump", 13, search_glob=str(tmp_path / "lib" / "*" / "bin"))
    assert (found.path, found.major) == (old, 13)
    assert os.access(found.path, os.X_OK)


def test_a_restored_backup_of_an_older_schema_says_to_upgrade(
    empty_like: Callable[[], Engine], tmp_path: Path
) -> None:
    older = empty_like()
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head_revision()).down_revision
    assert isinstance(previous, str)
    upgrade(older, previous)
    out = tmp_path / "older.backup"
    backup_database(older, out)
    target = empty_like()
    result = runner.invoke(app, ["restore", "--from", str(out), "--database-url", url_of(target)])
    assert result.exit_code == 2
    assert "The backup was restored into" in result.output and "run `ketaflow db upgrade`" in result.output
    upgrade(target)
    check_restored(target)


def test_the_integrity_check_names_an_append_only_table_that_lost_its_guard(
    empty_like: Callable[[], Engine],
) -> None:
    engine = empty_like()
    upgrade(engine)
    assert integrity_problems(engine) == []
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP TRIGGER vital_signs_no_truncate ON vital_signs")
            conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        else:
            conn.exec_driver_sql("DROP TRIGGER vital_signs_no_replace")
    found = integrity_problems(engine)
    assert "vital_signs refuses UPDATE and DELETE but not the ways around them" in found
    if engine.dialect.name == "postgresql":
        assert "the trigger audit_events_append_only of audit_events is disabled" in found
    with pytest.raises(KetaflowError, match="failed its integrity check: .*vital_signs"):
        check_restored(engine)
