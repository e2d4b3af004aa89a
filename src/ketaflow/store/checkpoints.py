"""Signed checkpoints of the hash chains: HMAC-SHA256 under KETAFLOW_AUDIT_KEY, kept outside
the database. A chain anyone rewrote from its start and re-hashed still links, but no longer
matches a checkpoint signed before, and a checkpoint cannot be re-signed without the key.

`ketaflow checkpoint` (cron, e.g. nightly after `ketaflow verify`) signs every chain that grew
since its last checkpoint; `ketaflow demo` signs its network once built.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, Table, func, select

from ketaflow.store.chain import FORMAT, _datetime
from ketaflow.store.models import ChainCheckpoint, ChainHead, utcnow


def key_id(key: bytes) -> str:
    """Names a key without revealing it (the first 16 hex digits of a SHA-256 of it)."""
    return hashlib.sha256(b"ketaflow-audit-key-id:" + key).hexdigest()[:16]


def checkpoint_mac(
    key: bytes, table: str, scope: str, seq: int, row_hash: bytes, signed_at: datetime
) -> bytes:
    message = f"{FORMAT}|checkpoint|{table}|{scope}|{seq}|{row_hash.hex()}|{_datetime(signed_at)}"
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


@dataclass(frozen=True)
class CheckpointResult:
    signed: int  # chains signed now
    chains: int  # chains in the database
    key_id: str


def write_checkpoints(engine: Engine, key: bytes) -> CheckpointResult:
    """Sign each chain head that moved since its last checkpoint, in one transaction."""
    now = utcnow()
    kid = key_id(key)
    cp: Table = ChainCheckpoint.__table__  # type: ignore[assignment]
    with engine.begin() as conn:
        heads = conn.execute(
            select(ChainHead.table_name, ChainHead.scope, ChainHead.seq, ChainHead.row_hash)
        ).all()
        signed = select(cp.c.table_name, cp.c.scope, func.max(cp.c.seq)).group_by(cp.c.table_name, cp.c.scope)
        last = {(t, s): q for t, s, q in conn.execute(signed)}
        rows = [
            {
                "table_name": t,
                "scope": s,
                "seq": q,
                "row_hash": bytes(h),
                "signed_at": now,
                "key_id": kid,
                "mac": checkpoint_mac(key, t, s, q, bytes(h), now),
            }
            for t, s, q, h in heads
            if last.get((t, s), 0) < q
        ]
        if rows:
            import uuid

            for r in rows:
                r["id"] = uuid.uuid4()
            conn.execute(cp.insert(), rows)
    return CheckpointResult(signed=len(rows), chains=len(heads), key_id=kid)


def make_key_file(path: Path) -> None:
    """Write a new random key (64 hex digits) to `path`, readable by its owner only; never
    overwrites one (the demo's key, `<data_dir>/audit.key`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_hex(32) + "\n")
