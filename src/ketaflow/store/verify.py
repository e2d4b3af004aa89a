"""`ketaflow verify`: walk every hash chain and checkpoint, and name what does not hold.

Each table is read once, in the order of its `(clinic_id, chain_seq)` index, as the driver
gives the values (a server-side cursor on PostgreSQL), and every row's hash is recomputed.
What is named, per row (table, row id, place in its chain):
- changed: the row's content no longer gives its hash (rewritten in place);
- missing: places skipped, a predecessor no row has, rows past the end of the chain that its
  head or a checkpoint recorded;
- inserted: a row without a hash (written behind ketaflow's back), a second row at one place,
  a row the next row links past, rows past the recorded head;
- out of order: a row linking to an earlier row than the one before it;
- checkpoint: a checkpoint whose signature does not hold under the key (forged, altered, or
  signed with another key), or a checkpointed place whose hash differs now (the chain was
  rewritten and re-hashed after it was signed).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import Engine, func, select

from ketaflow.store.chain import CHAIN_COLUMNS, GENESIS, _uuid, chained_tables, raw_rows, scope_of, spec_for
from ketaflow.store.checkpoints import checkpoint_mac, key_id
from ketaflow.store.models import ChainCheckpoint, ChainHead

RECENT = 1024  # rows remembered per chain to tell "out of order" from "missing"
MAX_PER_TABLE = 200  # problems listed per table (the rest are counted)
PROGRESS_EVERY = 10_000  # rows between two calls of the progress callback

Progress = Callable[[int], None]  # told the rows walked since it was last told


@dataclass
class Problem:
    table: str
    chain: str  # the clinic id, or "network"
    row_id: str | None
    seq: int | None
    kind: str  # changed, missing, inserted, out of order, checkpoint
    detail: str


@dataclass
class Report:
    rows: int = 0
    chains: int = 0
    checkpoints: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    unlisted: int = 0  # problems beyond MAX_PER_TABLE in a table
    warnings: list[str] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def intact(self) -> bool:
        return not self.problems and not self.unlisted

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["intact"] = self.intact
        out["rows_per_second"] = round(self.rows / self.seconds) if self.seconds else None
        return out


@dataclass
class _Checkpoint:
    seq: int
    row_hash: bytes
    signed_at: str


@dataclass
class _Chain:
    table: str
    scope: str
    checkpoints: list[_Checkpoint]
    seq: int = 0
    hash: bytes = GENESIS
    before_hash: bytes | None = None  # the hash of the row before the last
    last_id: Any = None  # the last row's id as read (made canonical only to name a problem)
    last_fits: bool = True  # the last row gave its hash and linked to the one before
    recent: dict[bytes, tuple[int, Any]] = field(default_factory=dict)
    next_cp: int = 0

    def remember(self, row_hash: bytes, seq: int, raw_id: Any) -> None:
        """Keep the last RECENT to 2 x RECENT rows (older ones dropped half at a time)."""
        recent = self.recent
        recent[row_hash] = (seq, raw_id)
        if len(recent) >= 2 * RECENT:
            self.recent = dict(islice(recent.items(), RECENT, None))


def verify(engine: Engine, key: bytes | None, progress: Progress | None = None) -> Report:
    """Walk every chain and checkpoint of `engine`'s database (`progress`, if given, is told the
    rows walked as it goes; the total is `count_rows`)."""
    report = Report()
    started = time.perf_counter()
    with engine.connect() as conn:
        # One snapshot for the heads, the checkpoints and every table, so rows committed while
        # the walk runs are not taken for rows past a head (SQLite: one read transaction is one
        # snapshot already).
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        heads = {
            (t, s): (q, bytes(h))
            for t, s, q, h in conn.execute(
                select(ChainHead.table_name, ChainHead.scope, ChainHead.seq, ChainHead.row_hash)
            )
        }
        checkpoints = _checkpoints(conn, key, report)
        for name in chained_tables():
            _walk(conn, name, heads, checkpoints, report, progress)
        for (t, s), (q, _h) in sorted(heads.items()):
            report.problems.append(
                Problem(
                    t,
                    s,
                    None,
                    None,
                    "missing",
                    f"the chain's head records {q} rows and the table has none of them",
                )
            )
    report.seconds = time.perf_counter() - started
    return report


def expected_rows(engine: Engine) -> int:
    """The rows the chains' heads record (what `verify` will walk when nothing is missing or
    added): a progress bar's total, read without counting the tables."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.sum(ChainHead.seq), 0))).scalar_one())


def _checkpoints(conn: Any, key: bytes | None, report: Report) -> dict[tuple[str, str], list[_Checkpoint]]:
    found: dict[tuple[str, str], list[_Checkpoint]] = {}
    kid = key_id(key) if key else None
    if key is None:
        report.warnings.append(
            "KETAFLOW_AUDIT_KEY is not set: the checkpoints' signatures were not checked, so a chain "
            "rewritten from its start by someone who also rewrote its checkpoints would not show."
        )
    table = ChainCheckpoint.__table__
    rows = conn.execute(select(table).order_by(table.c.table_name, table.c.scope, table.c.seq))
    for cp in rows:
        report.checkpoints += 1
        h = bytes(cp.row_hash)
        when = cp.signed_at.isoformat(timespec="seconds")
        if key is not None:
            if cp.key_id != kid:
                report.problems.append(
                    Problem(
                        cp.table_name,
                        cp.scope,
                        str(cp.id),
                        cp.seq,
                        "checkpoint",
                        f"checkpoint of {when} names key {cp.key_id}, not the key given ({kid}): "
                        "signed with another key, or forged",
                    )
                )
                continue
            if not hmac.compare_digest(
                bytes(cp.mac), checkpoint_mac(key, cp.table_name, cp.scope, cp.seq, h, cp.signed_at)
            ):
                report.problems.append(
                    Problem(
                        cp.table_name,
                        cp.scope,
                        str(cp.id),
                        cp.seq,
                        "checkpoint",
                        f"checkpoint of {when}: its signature does not hold (altered or forged)",
                    )
                )
                continue
        found.setdefault((cp.table_name, cp.scope), []).append(_Checkpoint(cp.seq, h, when))
    if key is not None and not report.checkpoints:
        report.warnings.append(
            "There are no checkpoints yet: run `ketaflow checkpoint` (nightly, after verify)."
        )
    return found


class _Listed:
    """A table's problems: the first MAX_PER_TABLE kept, the rest only counted (memory bounded
    when every row of a large table is wrong)."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.left = MAX_PER_TABLE

    def append(self, problem: Problem) -> None:
        if self.left > 0:
            self.left -= 1
            self.report.problems.append(problem)
        else:
            self.report.unlisted += 1


def _walk(
    conn: Any,
    name: str,
    heads: dict[tuple[str, str], tuple[int, bytes]],
    checkpoints: dict[tuple[str, str], list[_Checkpoint]],
    report: Report,
    progress: Progress | None = None,
) -> None:
    spec = spec_for(name)
    canon = spec.raw_canon(conn.dialect.name)
    columns = spec.columns
    raw_hash = spec.raw_hash
    n = len(columns)
    clinic_at = columns.index("clinic_id")
    problems = _Listed(report)
    chain: _Chain | None = None
    count = 0
    raw_clinic: Any = object()  # the clinic of the rows before, as read
    scope = ""
    no_checkpoint = 1 << 62
    next_cp = no_checkpoint  # the place of the chain's next checkpoint
    for row in raw_rows(conn, spec, order="clinic_id, chain_seq"):
        count += 1
        if progress is not None and not count % PROGRESS_EVERY:
            progress(PROGRESS_EVERY)
        if row[clinic_at] != raw_clinic:
            raw_clinic = row[clinic_at]
            scope = scope_of(raw_clinic)
            if chain is not None:
                _finish(chain, heads, report)
            chain = _Chain(name, scope, checkpoints.pop((name, scope), []))
            next_cp = chain.checkpoints[0].seq if chain.checkpoints else no_checkpoint
            report.chains += 1
        assert chain is not None
        raw_id = row[n]
        seq, prev, stored = row[n + 1], row[n + 2], row[n + 3]
        if seq is None or prev is None or stored is None:
            problems.append(
                Problem(
                    name,
                    scope,
                    _uuid(raw_id),
                    seq,
                    "inserted",
                    "the row has no chain hash: written behind ketaflow's back",
                )
            )
            continue
        prev, stored = bytes(prev), bytes(stored)
        content_ok = raw_hash(prev, row, canon) == stored
        if not content_ok:
            problems.append(
                Problem(
                    name,
                    scope,
                    _uuid(raw_id),
                    seq,
                    "changed",
                    "the row's content no longer gives its hash: rewritten in place",
                )
            )
        if seq == chain.seq:  # two rows at one place: the one that does not fit was put in
            fits = content_ok and prev == chain.before_hash
            if fits and not chain.last_fits:
                problems.append(
                    Problem(
                        name,
                        scope,
                        _uuid(chain.last_id),
                        seq,
                        "inserted",
                        f"a second row at place {seq} (the one that fits is {_uuid(raw_id)})",
                    )
                )
                chain.hash, chain.last_id, chain.last_fits = stored, raw_id, True
                chain.remember(stored, seq, raw_id)
            else:
                problems.append(
                    Problem(
                        name,
                        scope,
                        _uuid(raw_id),
                        seq,
                        "inserted",
                        f"a second row at place {seq} (the first is {_uuid(chain.last_id)})",
                    )
                )
            continue
        linked = True
        if seq > chain.seq + 1:
            linked = False
            gap = f"place {chain.seq + 1}" if seq == chain.seq + 2 else f"places {chain.seq + 1} to {seq - 1}"
            problems.append(
                Problem(
                    name,
                    scope,
                    _uuid(raw_id),
                    seq,
                    "missing",
                    f"{gap} of the chain are missing before this row",
                )
            )
        elif prev != chain.hash:
            linked = False
            if chain.before_hash is not None and prev == chain.before_hash:
                problems.append(
                    Problem(
                        name,
                        scope,
                        _uuid(chain.last_id),
                        chain.seq,
                        "inserted",
                        f"the next row ({_uuid(raw_id)}) links past this row: it was put in afterwards",
                    )
                )
            elif prev in chain.recent:
                back_seq, back_id = chain.recent[prev]
                problems.append(
                    Problem(
                        name,
                        scope,
                        _uuid(raw_id),
                        seq,
                        "out of order",
                        f"the row follows row {_uuid(back_id)} (place {back_seq}), not the row before it",
                    )
                )
            else:
                problems.append(
                    Problem(
                        name,
                        scope,
                        _uuid(raw_id),
                        seq,
                        "missing",
                        "the row's predecessor is not in the chain: a row before it was removed or replaced",
                    )
                )
        if seq >= next_cp:
            cps = chain.checkpoints
            while chain.next_cp < len(cps) and cps[chain.next_cp].seq <= seq:
                cp = cps[chain.next_cp]
                chain.next_cp += 1
                if cp.seq < seq:
                    problems.append(
                        Problem(
                            name,
                            scope,
                            None,
                            cp.seq,
                            "missing",
                            f"the row at place {cp.seq}, signed in the checkpoint of {cp.signed_at}, "
                            "is missing",
                        )
                    )
                elif cp.row_hash != stored:
                    problems.append(
                        Problem(
                            name,
                            scope,
                            _uuid(raw_id),
                            seq,
                            "checkpoint",
                            f"the chain differs here from the checkpoint of {cp.signed_at}: "
                            "rewritten and re-hashed since",
                        )
                    )
            next_cp = cps[chain.next_cp].seq if chain.next_cp < len(cps) else no_checkpoint
        chain.before_hash, chain.hash, chain.seq, chain.last_id = chain.hash, stored, seq, raw_id
        chain.last_fits = content_ok and linked
        chain.remember(stored, seq, raw_id)
    if progress is not None:
        progress(count % PROGRESS_EVERY)
    if chain is not None:
        _finish(chain, heads, report)
    for (t, s), cps in sorted(checkpoints.items()):
        if t == name:
            problems.append(
                Problem(
                    t,
                    s,
                    None,
                    cps[-1].seq,
                    "missing",
                    f"the checkpoint of {cps[-1].signed_at} signed {cps[-1].seq} rows; "
                    "the table has none of them",
                )
            )
            del checkpoints[(t, s)]
    report.rows += count
    report.tables[name] = count


def _finish(chain: _Chain, heads: dict[tuple[str, str], tuple[int, bytes]], report: Report) -> None:
    t, s = chain.table, chain.scope
    for cp in chain.checkpoints[chain.next_cp :]:
        report.problems.append(
            Problem(
                t,
                s,
                None,
                cp.seq,
                "missing",
                f"the chain ends at place {chain.seq}; "
                f"the checkpoint of {cp.signed_at} signed place {cp.seq}",
            )
        )
    head = heads.pop((t, s), None)
    if head is None:
        report.problems.append(
            Problem(
                t,
                s,
                _uuid(chain.last_id),
                chain.seq,
                "inserted",
                "the chain has no head: its rows were written behind ketaflow's back",
            )
        )
    elif head[0] > chain.seq:
        report.problems.append(
            Problem(
                t,
                s,
                None,
                head[0],
                "missing",
                f"the chain ends at place {chain.seq}; its head records {head[0]}: "
                "rows at the end are missing",
            )
        )
    elif head[0] < chain.seq:
        report.problems.append(
            Problem(
                t,
                s,
                _uuid(chain.last_id),
                chain.seq,
                "inserted",
                f"the chain runs past its head (place {head[0]}): rows were added behind ketaflow's back",
            )
        )
    elif head[1] != chain.hash:
        report.problems.append(
            Problem(
                t, s, _uuid(chain.last_id), chain.seq, "changed", "the chain's last row differs from its head"
            )
        )


__all__ = ["CHAIN_COLUMNS", "Problem", "Report", "expected_rows", "verify"]
