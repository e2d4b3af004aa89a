"""Tamper evidence (issue 12): every append-only row is chained when written, `verify` passes on
what ketaflow wrote, and names the table, the row and what is wrong after each tampering a
person with the database's credentials could do with the triggers dropped."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session

from ketaflow.services.audit import Actor, record
from ketaflow.store import models as m
from ketaflow.store.append_only import (
    create_guard_sql,
    create_trigger_sql,
    drop_guard_sql,
    drop_trigger_sql,
    unique_keys,
)
from ketaflow.store.chain import CHAIN_COLUMNS, GENESIS, chained_tables, raw_rows, spec_for
from ketaflow.store.checkpoints import write_checkpoints
from ketaflow.store.engine import begin_write
from ketaflow.store.facts import amend
from ketaflow.store.migrate import upgrade
from ketaflow.store.verify import Report, verify
from tests.factories import make_chart

KEY = b"k" * 40
ACTOR = Actor(None, "test")


def _copy(fact: m.VitalSign, **changes: object) -> m.VitalSign:
    skip = {"id", *CHAIN_COLUMNS}
    values = {c.key: getattr(fact, c.key) for c in m.VitalSign.__table__.columns if c.key not in skip}
    values.update(changes)
    return m.VitalSign(**values)


@pytest.fixture
def charted(migrated_engine: Callable[[], Engine]) -> tuple[Engine, uuid.UUID]:
    """A migrated database with a chart, six vital signs, an amendment, and audit events with and
    without a clinic, written in several transactions and flushes. Returns the engine and clinic id."""
    engine = migrated_engine()
    with Session(engine, expire_on_commit=False) as db:
        chart = make_chart(db)
        db.commit()
        for i in range(5):
            db.add(_copy(chart.vital, systolic_mmhg=120 + i))
            db.flush()  # several flushes in one transaction
            record(db, ACTOR, "vital.charted", "vital_sign", clinic_id=chart.clinic.id)
        db.commit()
        amend(db, chart.vital, reason="typo", by_user_id=None, systolic_mmhg=119)
        record(db, ACTOR, "sign_in", "staff_user")  # no clinic: the network chain
        record(db, ACTOR, "sign_in", "staff_user", details={"n": 1.5, "z": [1, None], "a": {"b": "é"}})
        db.commit()
    return engine, chart.clinic.id


def _problems(report: Report) -> list[tuple[str, str | None, str]]:
    return [(p.table, p.row_id, p.kind) for p in report.problems]


def _rows(engine: Engine, table: str, clinic_id: uuid.UUID | None) -> list[dict[str, object]]:
    where = "clinic_id IS NULL" if clinic_id is None else "clinic_id = :c"
    value = clinic_id.hex if engine.dialect.name == "sqlite" and clinic_id else clinic_id
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT * FROM {table} WHERE {where} ORDER BY chain_seq"), {"c": value})
        return [dict(r._mapping) for r in rows]


def _id(row: dict[str, object]) -> str:
    return str(uuid.UUID(str(row["id"])))


@contextmanager
def _triggers_dropped(engine: Engine, *tables: str) -> Iterator[Connection]:
    """What the owner of the tables can do today: switch the append-only triggers off."""
    dialect = engine.dialect.name
    with engine.begin() as conn:
        for t in tables:
            if dialect == "postgresql":
                conn.exec_driver_sql(f"ALTER TABLE {t} DISABLE TRIGGER USER")
            else:
                for s in drop_trigger_sql(dialect, t) + drop_guard_sql(dialect, t):
                    conn.exec_driver_sql(s)
        yield conn
        for t in tables:
            if dialect == "postgresql":
                conn.exec_driver_sql(f"ALTER TABLE {t} ENABLE TRIGGER USER")
            else:
                for s in create_trigger_sql(dialect, t) + create_guard_sql(dialect, t, unique_keys(conn, t)):
                    conn.exec_driver_sql(s)


def _p(engine: Engine) -> str:
    return "%(v)s" if engine.dialect.name == "postgresql" else "?"


def _exec(conn: Connection, engine: Engine, sql: str, *values: object) -> None:
    if engine.dialect.name == "postgresql":
        conn.exec_driver_sql(sql.replace("?", "%s"), tuple(values))
    else:
        conn.exec_driver_sql(sql, tuple(values))


def _key(engine: Engine, value: object) -> object:
    """A UUID as the driver takes it in a WHERE clause."""
    return uuid.UUID(str(value)).hex if engine.dialect.name == "sqlite" else uuid.UUID(str(value))


def test_everything_ketaflow_writes_is_chained_and_verifies(charted: tuple[Engine, uuid.UUID]) -> None:
    engine, clinic_id = charted
    report = verify(engine, None)
    assert report.intact, _problems(report)
    assert report.rows >= 20 and report.tables["vital_signs"] == 7
    # Every chained table has a row from make_chart, so every spec met real values on this engine.
    assert {t for t, n in report.tables.items() if n} == set(chained_tables())
    vitals = _rows(engine, "vital_signs", clinic_id)
    assert [r["chain_seq"] for r in vitals] == list(range(1, 8))
    assert bytes(vitals[0]["prev_hash"]) == GENESIS  # type: ignore[arg-type]
    for before, after in zip(vitals, vitals[1:], strict=False):
        assert after["prev_hash"] == before["row_hash"]
    network = _rows(engine, "audit_events", None)  # audit events without a clinic: their own chain
    assert len(network) >= 2 and [r["chain_seq"] for r in network] == list(range(1, len(network) + 1))
    assert report.warnings  # no key given: it says the signatures were not checked


def test_a_row_rewritten_with_the_triggers_dropped_is_named(charted: tuple[Engine, uuid.UUID]) -> None:
    engine, clinic_id = charted
    target = _rows(engine, "vital_signs", clinic_id)[2]
    with _triggers_dropped(engine, "vital_signs") as conn:
        _exec(
            conn,
            engine,
            "UPDATE vital_signs SET systolic_mmhg = 118, diastolic_mmhg = 76 WHERE id = ?",
            _key(engine, target["id"]),
        )
    assert _problems(verify(engine, None)) == [("vital_signs", _id(target), "changed")]


def test_a_deleted_audit_row_is_named(charted: tuple[Engine, uuid.UUID]) -> None:
    engine, clinic_id = charted
    audit = _rows(engine, "audit_events", clinic_id)
    gone, after = audit[1], audit[2]
    with _triggers_dropped(engine, "audit_events") as conn:
        _exec(conn, engine, "DELETE FROM audit_events WHERE id = ?", _key(engine, gone["id"]))
    report = verify(engine, None)
    assert _problems(report) == [("audit_events", _id(after), "missing")]
    assert f"place {gone['chain_seq']} of the chain" in report.problems[0].detail
    # The last row deleted: the chain's head still records it.
    with _triggers_dropped(engine, "audit_events") as conn:
        _exec(conn, engine, "DELETE FROM audit_events WHERE id = ?", _key(engine, audit[-1]["id"]))
    assert ("audit_events", None, "missing") in _problems(verify(engine, None))


def test_a_row_inserted_in_the_middle_is_named(charted: tuple[Engine, uuid.UUID]) -> None:
    engine, clinic_id = charted
    vitals = _rows(engine, "vital_signs", clinic_id)

    def insert(conn: Connection, row: dict[str, object]) -> None:
        columns = list(row)
        sql = f"INSERT INTO vital_signs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        _exec(conn, engine, sql, *row.values())

    # A plain INSERT, as a console session would write it: no hash at all.
    plain = {k: v for k, v in vitals[3].items() if k not in CHAIN_COLUMNS}
    plain.update(id=_key(engine, uuid.uuid4()), systolic_mmhg=101)
    with _triggers_dropped(engine, "vital_signs") as conn:
        insert(conn, plain)
    assert _problems(verify(engine, None)) == [("vital_signs", _id(plain), "inserted")]
    # A copy of a row's chain fields at its place (the unique index dropped as well).
    copied = dict(vitals[3], id=_key(engine, uuid.uuid4()), systolic_mmhg=102)
    with _triggers_dropped(engine, "vital_signs") as conn:
        conn.exec_driver_sql("DROP INDEX ix_vital_signs_chain")
        insert(conn, copied)
    problems = _problems(verify(engine, None))
    assert ("vital_signs", _id(copied), "inserted") in problems
    assert ("vital_signs", _id(copied), "changed") in problems


def test_a_row_inserted_and_the_chain_renumbered_and_rehashed_is_named(
    charted: tuple[Engine, uuid.UUID],
) -> None:
    """The forger knows the (public) hash: puts a row at place 4 with a hash that fits, and moves
    the rows after it one place on. The row after it still links to the row before it."""
    engine, clinic_id = charted
    vitals = _rows(engine, "vital_signs", clinic_id)
    spec = spec_for("vital_signs")
    with engine.connect() as conn:
        raw = {_id({"id": r[len(spec.columns)]}): r for r in raw_rows(conn, spec, order="chain_seq")}
    template = raw[_id(vitals[3])]
    canon = spec.raw_canon(engine.dialect.name)
    content = {c: canon[i](template[i]) for i, c in enumerate(spec.columns) if template[i] is not None}
    new_id = uuid.uuid4()
    content["id"], content["systolic_mmhg"] = str(new_id), 101
    prev = bytes(vitals[2]["row_hash"])  # type: ignore[arg-type]
    forged = dict(
        vitals[3],
        id=_key(engine, new_id),
        systolic_mmhg=101,
        prev_hash=prev,
        row_hash=spec.row_hash(prev, content),
    )
    with _triggers_dropped(engine, "vital_signs") as conn:
        for r in reversed(vitals[3:]):
            _exec(
                conn,
                engine,
                "UPDATE vital_signs SET chain_seq = chain_seq + 1 WHERE id = ?",
                _key(engine, r["id"]),
            )
        columns = list(forged)
        _exec(
            conn,
            engine,
            f"INSERT INTO vital_signs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            *forged.values(),
        )
    problems = _problems(verify(engine, None))
    assert ("vital_signs", str(new_id), "inserted") in problems
    assert not [p for p in problems if p[2] == "changed"]


def test_rows_put_out_of_order_are_named(charted: tuple[Engine, uuid.UUID]) -> None:
    engine, clinic_id = charted
    vitals = _rows(engine, "vital_signs", clinic_id)
    a, b = vitals[2], vitals[4]
    with _triggers_dropped(engine, "vital_signs") as conn:
        _exec(conn, engine, "UPDATE vital_signs SET chain_seq = -1 WHERE id = ?", _key(engine, a["id"]))
        _exec(
            conn,
            engine,
            "UPDATE vital_signs SET chain_seq = ? WHERE id = ?",
            a["chain_seq"],
            _key(engine, b["id"]),
        )
        _exec(
            conn,
            engine,
            "UPDATE vital_signs SET chain_seq = ? WHERE id = ?",
            b["chain_seq"],
            _key(engine, a["id"]),
        )
    kinds = {k for t, _r, k in _problems(verify(engine, None)) if t == "vital_signs"}
    assert "out of order" in kinds


def _rebuild_from(engine: Engine, conn: Connection, clinic_id: uuid.UUID, start: int) -> None:
    """Recompute every hash of the clinic's vital-sign chain from place `start` (no key needed)."""
    spec = spec_for("vital_signs")
    canon = spec.raw_canon(engine.dialect.name)
    rows = [
        r
        for r in raw_rows(conn, spec, order="chain_seq")
        if str(uuid.UUID(str(r[spec.columns.index("clinic_id")]))) == str(clinic_id)
    ]
    n = len(spec.columns)
    prev = bytes(rows[start - 2][n + 3]) if start > 1 else GENESIS
    for r in rows[start - 1 :]:
        content = {c: canon[i](r[i]) for i, c in enumerate(spec.columns) if r[i] is not None}
        h = spec.row_hash(prev, content)
        _exec(conn, engine, "UPDATE vital_signs SET prev_hash = ?, row_hash = ? WHERE id = ?", prev, h, r[n])
        prev = h
    _exec(
        conn,
        engine,
        "UPDATE chain_heads SET row_hash = ? WHERE table_name = 'vital_signs' AND scope = ?",
        prev,
        str(clinic_id),
    )


def test_a_chain_rebuilt_without_the_key_is_caught_by_the_checkpoint(
    charted: tuple[Engine, uuid.UUID],
) -> None:
    engine, clinic_id = charted
    assert write_checkpoints(engine, KEY).signed >= len(chained_tables())
    assert verify(engine, KEY).intact
    target = _rows(engine, "vital_signs", clinic_id)[1]
    with _triggers_dropped(engine, "vital_signs") as conn:
        _exec(
            conn,
            engine,
            "UPDATE vital_signs SET systolic_mmhg = 118 WHERE id = ?",
            _key(engine, target["id"]),
        )
        _rebuild_from(engine, conn, clinic_id, int(target["chain_seq"]))  # type: ignore[call-overload]
    report = verify(engine, KEY)
    assert [(p.table, p.kind) for p in report.problems] == [("vital_signs", "checkpoint")]
    assert "rewritten and re-hashed" in report.problems[0].detail
    # ... and rewriting the checkpoint too does not help without the key.
    last = _rows(engine, "vital_signs", clinic_id)[-1]
    with _triggers_dropped(engine, "chain_checkpoints") as conn:
        _exec(
            conn,
            engine,
            "UPDATE chain_checkpoints SET row_hash = ? WHERE table_name = 'vital_signs' AND scope = ?",
            bytes(last["row_hash"]),
            str(clinic_id),
        )  # type: ignore[arg-type]
    problems = verify(engine, KEY).problems
    assert [(p.table, p.kind) for p in problems] == [("vital_signs", "checkpoint")]
    assert "signature does not hold" in problems[0].detail


def test_concurrent_writers_keep_each_chain_whole(charted: tuple[Engine, uuid.UUID]) -> None:
    """Writers of one clinic flushing to the chains in different orders, at once: no fork, no
    gap, no deadlock (PostgreSQL: the per-clinic gate; SQLite: one writer at a time)."""
    engine, clinic_id = charted
    with Session(engine) as db:
        vital = db.scalars(select(m.VitalSign).where(m.VitalSign.amends_id.is_(None))).first()
        assert vital is not None
        db.expunge(vital)
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(k: int) -> None:
        try:
            start.wait()
            for i in range(6):
                with Session(engine) as db:
                    begin_write(db)
                    if (k + i) % 2:
                        db.add(_copy(vital, systolic_mmhg=100 + k))
                        db.flush()
                        record(db, ACTOR, "w", "vital_sign", clinic_id=clinic_id)
                    else:
                        record(db, ACTOR, "w", "vital_sign", clinic_id=clinic_id)
                        db.flush()
                        db.add(_copy(vital, systolic_mmhg=100 + k))
                    if i == 3:
                        record(db, ACTOR, "w", "staff_user")  # the network chain too
                    db.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    report = verify(engine, None)
    assert report.intact, _problems(report)
    assert [r["chain_seq"] for r in _rows(engine, "vital_signs", clinic_id)] == list(range(1, 7 + 36 + 1))


def test_the_demo_network_verifies(demo_engine: Engine) -> None:
    """The demo builder chains its bulk rows in Python (COPY on PostgreSQL, executemany on SQLite)."""
    report = verify(demo_engine, None)
    assert report.intact, _problems(report)[:5]
    assert report.tables["vital_signs"] > 1000 and report.chains >= 2 * 15


def test_read_audits_written_by_the_group_commit_writer_are_chained(tmp_path: Path) -> None:
    from ketaflow.services.audit import record_read
    from ketaflow.store.engine import make_engine, make_sessionmaker
    from ketaflow.store.group_commit import writer_for

    engine = make_engine(f"sqlite:///{tmp_path / 'reads.sqlite'}")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    start = threading.Barrier(8)

    def read(k: int) -> None:
        start.wait()
        for _ in range(5):
            with sessions() as db:
                record_read(db, ACTOR, "patient.read", "patient", details={"k": k})

    threads = [threading.Thread(target=read, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writer_for(engine).batches < 40  # they went through the writer, several to a batch
    report = verify(engine, None)
    assert report.intact, _problems(report)
    assert [r["chain_seq"] for r in _rows(engine, "audit_events", None)] == list(range(1, 41))
    engine.dispose()


def test_the_verify_and_checkpoint_commands(
    charted: tuple[Engine, uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from ketaflow.cli import app
    from ketaflow.settings import get_settings

    engine, clinic_id = charted
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    monkeypatch.delenv("KETAFLOW_AUDIT_KEY", raising=False)
    monkeypatch.setenv("KETAFLOW_DATA_DIR", str(Path(engine.url.database or ".").parent / "no-such-dir"))
    get_settings.cache_clear()
    refused = runner.invoke(app, ["checkpoint", "--database-url", url])
    assert refused.exit_code == 2 and "KETAFLOW_AUDIT_KEY" in refused.output
    monkeypatch.setenv("KETAFLOW_AUDIT_KEY", KEY.decode())
    get_settings.cache_clear()
    try:
        signed = runner.invoke(app, ["checkpoint", "--database-url", url])
        assert signed.exit_code == 0 and "Signed" in signed.output, signed.output
        ok = runner.invoke(app, ["verify", "--json", "--database-url", url])
        assert ok.exit_code == 0, ok.output
        data = json.loads(ok.stdout)
        assert data["intact"] and data["checkpoints"] >= len(chained_tables()) and data["rows_per_second"] > 0
        target = _rows(engine, "vital_signs", clinic_id)[0]
        with _triggers_dropped(engine, "vital_signs") as conn:
            _exec(
                conn,
                engine,
                "UPDATE vital_signs SET heart_rate_bpm = 60 WHERE id = ?",
                _key(engine, target["id"]),
            )
        broken = runner.invoke(app, ["verify", "--database-url", url])
        assert broken.exit_code == 1
        assert f"vital_signs [{clinic_id}] row {_id(target)} (place 1): changed" in broken.output
        assert "NOT intact: 1 problems" in broken.output
    finally:
        get_settings.cache_clear()


def test_the_demo_makes_its_own_key_and_signs_its_network(
    charted: tuple[Engine, uuid.UUID], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ketaflow.cli.system import _sign_demo
    from ketaflow.settings import get_settings

    engine, _clinic = charted
    monkeypatch.delenv("KETAFLOW_AUDIT_KEY", raising=False)
    monkeypatch.delenv("KETAFLOW_AUDIT_KEY_FILE", raising=False)
    monkeypatch.setenv("KETAFLOW_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        _sign_demo(engine)
        key_file = tmp_path / "data" / "audit.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = key_file.read_text().strip().encode()
        assert len(key) == 64 and get_settings().resolved_audit_key() == key
        report = verify(engine, key)
        assert report.intact and report.checkpoints >= len(chained_tables()) and not report.warnings
        _sign_demo(engine)  # again: the same key, nothing new to sign
        assert key_file.read_text().strip().encode() == key
        assert verify(engine, key).checkpoints == report.checkpoints
    finally:
        get_settings.cache_clear()


def test_schema_0015_chains_the_rows_already_there(charted: tuple[Engine, uuid.UUID]) -> None:
    """Down to the revision before the chains (the chain columns go) and up again: the backfill
    chains every row, oldest first per table and clinic, with heads, and the append-only triggers
    are back."""
    from ketaflow.store.migrate import downgrade

    engine, clinic_id = charted
    before = {t: len(_rows(engine, t, clinic_id)) for t in ("vital_signs", "audit_events")}
    downgrade(engine, "0014_controlled_substances")
    with engine.connect() as conn:
        columns = conn.exec_driver_sql("SELECT * FROM vital_signs LIMIT 1").keys()
    assert "chain_seq" not in columns
    upgrade(engine)
    report = verify(engine, None)
    assert report.intact, _problems(report)
    vitals = _rows(engine, "vital_signs", clinic_id)
    assert len(vitals) == before["vital_signs"] and [r["chain_seq"] for r in vitals] == list(
        range(1, len(vitals) + 1)
    )
    recorded = [r["recorded_at"] for r in vitals]
    assert recorded == sorted(recorded)  # oldest first
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM vital_signs")


def test_rows_committed_while_verify_walks_are_not_taken_for_tampering(
    charted: tuple[Engine, uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify reads one snapshot: a write committed after it read the heads is not "past the head"."""
    import ketaflow.store.verify as verifying

    engine, clinic_id = charted
    walk = verifying._walk
    written: list[str] = []

    def walk_then_write(conn: Connection, name: str, *args: Any) -> None:
        walk(conn, name, *args)
        if not written:  # after the first table: a nurse charts a vital sign, audited
            with Session(engine) as db:
                vital = db.scalars(select(m.VitalSign).where(m.VitalSign.clinic_id == clinic_id)).first()
                assert vital is not None
                db.add(_copy(vital, systolic_mmhg=131))
                record(db, ACTOR, "vital.charted", "vital_sign", clinic_id=clinic_id)
                db.commit()
            written.append(name)

    monkeypatch.setattr(verifying, "_walk", walk_then_write)
    report = verify(engine, None)
    assert written and report.intact, _problems(report)
    monkeypatch.setattr(verifying, "_walk", walk)
    assert verify(engine, None).intact


def test_every_append_only_table_but_the_checkpoints_is_chained() -> None:
    """A new append-only model takes the `Chained` columns (ClinicalFact has them already)."""
    from ketaflow.store.models import append_only_tables

    assert set(chained_tables()) == set(append_only_tables()) - {"chain_checkpoints"}
