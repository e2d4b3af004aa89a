"""The heads of the hash chains and their signed checkpoints (see `ketaflow.store.chain`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ketaflow.store.models.base import Base, Identified, utcnow


class ChainHead(Base):
    """The last row of one chain (a table, and a clinic or "network"): its place and hash.

    Mutable: moved in the transaction that inserts the rows, locked while it does (PostgreSQL:
    FOR UPDATE). `ketaflow verify` checks each chain ends where its head says."""

    __tablename__ = "chain_heads"

    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(36), primary_key=True)  # clinic id, or "network"
    seq: Mapped[int] = mapped_column(BigInteger)
    row_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class ChainCheckpoint(Identified, Base):
    """A chain's place and hash at `signed_at`, signed with HMAC-SHA256 under KETAFLOW_AUDIT_KEY
    (kept outside the database): a chain rewritten from the start, hashes recomputed, no longer
    matches. Append-only. `key_id` names the key (the first bytes of its SHA-256), not the key."""

    __tablename__ = "chain_checkpoints"
    __append_only__ = True
    __table_args__ = (Index("ix_chain_checkpoints_chain", "table_name", "scope", "seq"),)

    table_name: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    row_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    key_id: Mapped[str] = mapped_column(String(16))
    mac: Mapped[bytes] = mapped_column(LargeBinary(32))
