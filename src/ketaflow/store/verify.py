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
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from ketaflow.store.chain import CHAIN_COLUMNS, GENESIS, _uuid, chained_tables, raw_rows, scope_of, spec_for
from ketaflow.store.checkpoints import checkpoint_mac, key_id
from ketaflow.store.models import ChainCheckpoint, ChainHead

RECENT = 1024  # rows remembered per chain to tell "out of order" from "missing"
MAX_PER_TABLE = 200  # problems listed per table (the rest are counted)


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
    last_id: str | None = None
    last_fits: bool = True  # the last row gave its hash and linked to the one before
    recent: OrderedDict[bytes, tuple[int, str]] = field(default_factory=OrderedDict)
    next_cp: int = 0


def verify(engine: Engine, key: bytes | None) -> Report:
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
            listed = len(report.problems)
            _walk(conn, name, heads, checkpoints, report)
            extra = len(report.problems) - listed - MAX_PER_TABLE
            if extra > 0:
                report.unlisted += extra
                del report.problems[listed + MAX_PER_TABLE :]
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


def _walk(
    conn: Any,
    name: str,
    heads: dict[tuple[str, str], tuple[int, bytes]],
    checkpoints: dict[tuple[str, str], list[_Checkpoint]],
    report: Report,
) -> None:
    spec = spec_for(name)
    canon = spec.raw_canon(conn.dialect.name)
    columns = spec.columns
    n = len(columns)
    clinic_at = columns.index("clinic_id")
    problems = report.problems
    chain: _Chain | None = None
    count = 0
    for row in raw_rows(conn, spec, order="clinic_id, chain_seq"):
        count += 1
        scope = scope_of(row[clinic_at])
        if chain is None or scope != chain.scope:
            if chain is not None:
                _finish(chain, heads, report)
            chain = _Chain(name, scope, checkpoints.pop((name, scope), []))
            report.chains += 1
        rid = _uuid(row[n])
        seq, prev, stored = row[n + 1], row[n + 2], row[n + 3]
        if seq is None or prev is None or stored is None:
            problems.append(
                Problem(
                    name,
                    scope,
                    rid,
                    seq,
                    "inserted",
                    "the row has no chain hash: written behind ketaflow's back",
                )
            )
            continue
        prev, stored = bytes(prev), bytes(stored)
        content = {}
        for i in range(n):
            v = row[i]
            if v is not None:
                content[columns[i]] = canon[i](v)
        content_ok = spec.row_hash(prev, content) == stored
        if not content_ok:
            problems.append(
                Problem(
                    name,
                    scope,
                    rid,
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
                        chain.last_id,
                        seq,
                        "inserted",
                        f"a second row at place {seq} (the one that fits is {rid})",
                    )
                )
                chain.hash, chain.last_id, chain.last_fits = stored, rid, True
                chain.recent[stored] = (seq, rid)
            else:
                problems.append(
                    Problem(
                        name,
                        scope,
                        rid,
                        seq,
                        "inserted",
                        f"a second row at place {seq} (the first is {chain.last_id})",
                    )
                )
            continue
        linked = True
        if seq > chain.seq + 1:
            linked = False
            gap = f"place {chain.seq + 1}" if seq == chain.seq + 2 else f"places {chain.seq + 1} to {seq - 1}"
            problems.append(
                Problem(name, scope, rid, seq, "missing", f"{gap} of the chain are missing before this row")
            )
        elif prev != chain.hash:
            linked = False
            if chain.before_hash is not None and prev == chain.before_hash:
                problems.append(
                    Problem(
                        name,
                        scope,
                        chain.last_id,
                        chain.seq,
                        "inserted",
                        f"the next row ({rid}) links past this row: it was put in afterwards",
                    )
                )
            elif prev in chain.recent:
                back_seq, back_id = chain.recent[prev]
                problems.append(
                    Problem(
                        name,
                        scope,
                        rid,
                        seq,
                        "out of order",
                        f"the row follows row {back_id} (place {back_seq}), not the row before it",
                    )
                )
            else:
                problems.append(
                    Problem(
                        name,
                        scope,
                        rid,
                        seq,
                        "missing",
                        "the row's predecessor is not in the chain: a row before it was removed or replaced",
                    )
                )
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
                        f"the row at place {cp.seq}, signed in the checkpoint of {cp.signed_at}, is missing",
                    )
                )
            elif cp.row_hash != stored:
                problems.append(
                    Problem(
                        name,
                        scope,
                        rid,
                        seq,
                        "checkpoint",
                        f"the chain differs here from the checkpoint of {cp.signed_at}: "
                        "rewritten and re-hashed since",
                    )
                )
        chain.before_hash, chain.hash, chain.seq, chain.last_id = chain.hash, stored, seq, rid
        chain.last_fits = content_ok and linked
        chain.recent[stored] = (seq, rid)
        if len(chain.recent) > RECENT:
            chain.recent.popitem(last=False)
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
                chain.last_id,
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
                chain.last_id,
                chain.seq,
                "inserted",
                f"the chain runs past its head (place {head[0]}): rows were added behind ketaflow's back",
            )
        )
    elif head[1] != chain.hash:
        report.problems.append(
            Problem(t, s, chain.last_id, chain.seq, "changed", "the chain's last row differs from its head")
        )


__all__ = ["CHAIN_COLUMNS", "Problem", "Report", "verify"]
