"""Secrets the server must read back (a staff member's TOTP shared secret), sealed at rest under a
key kept outside the database, so a copy of the database alone (a backup, a dump, a lost disk)
gives nobody a second factor.

- Sealing: AES-256-GCM (NIST SP 800-38D) from `cryptography`, a fresh random 96-bit nonce each
  time, and the owning row's identity as associated data (a sealed value copied onto another
  account does not open there). Sealed form: ``k1.<key id>.<base64url(nonce + ciphertext)>``,
  the key id being the first 8 hex digits of the key's SHA-256 (it names the key, reveals nothing).
- The key (32 random bytes, base64url): ``KETAFLOW_SECRET_KEY``, one key or several separated by
  commas: the first seals, every one opens (to rotate, put the new key first; each secret is
  sealed again under it at its next use). Unset, the file ``secret.key`` in the data directory,
  made on first use, readable by its owner only: enough for one server (the laptop set-up, the
  demo). Several servers on one PostgreSQL database must share one key, so set it there.
- A lost key loses only what it sealed: the TOTP secrets. People then set up their second factor
  again (services/mfa.py says so and a director takes the old one off); nothing else is sealed.

No database or web imports.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ketaflow.errors import KetaflowError
from ketaflow.settings import SECRET_KEY_SETTING as SETTING
from ketaflow.settings import get_settings, parse_secret_keys

PREFIX = "k1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
KEY_FILE = "secret.key"


class SealBroken(KetaflowError):
    """A sealed value that none of this server's keys opens (the key was lost or changed)."""


def new_key() -> str:
    """A new key as text (base64url of 32 random bytes), for the setting or the key file."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def keys() -> tuple[bytes, ...]:
    """This server's keys, the sealing one first (the setting, else the data directory's file)."""
    s = get_settings()
    configured = s.secret_key.get_secret_value() if s.secret_key is not None else ""
    return _keys(configured, str(Path(s.data_dir).resolve()))


@lru_cache(maxsize=4)
def _keys(configured: str, data_dir: str) -> tuple[bytes, ...]:
    if configured.strip():
        return parse_secret_keys(configured, SETTING)
    path = Path(data_dir) / KEY_FILE
    try:
        return parse_secret_keys(_key_file(path), str(path))
    except ValueError as exc:  # the file was changed by hand
        raise KetaflowError(str(exc)) from None


def _key_file(path: Path) -> str:
    """The key file's text, made first if there is none (atomically: two processes starting at
    once end up with the same key, whichever wrote it)."""
    try:
        try:
            return path.read_text(encoding="ascii")
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret-key-")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(new_key() + "\n")
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)  # fails if another process made it first: theirs wins
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
        return path.read_text(encoding="ascii")
    except OSError as exc:
        raise KetaflowError(
            f"The key that seals second-factor secrets could not be kept in {path} ({exc.strerror}); "
            f"make the data directory writable or set {SETTING}."
        ) from None


def context(purpose: str, row_id: object) -> str:
    """What a sealed value is bound to: what it is for and the row that owns it."""
    return f"ketaflow {purpose} {row_id}"


def seal(plaintext: str, *, context: str) -> str:
    """`plaintext` sealed under the first key, bound to `context` (e.g. the owning row's id)."""
    key = keys()[0]
    nonce = secrets.token_bytes(NONCE_BYTES)
    body = AESGCM(key).encrypt(nonce, plaintext.encode(), context.encode())
    return f"{PREFIX}.{key_id(key)}.{base64.urlsafe_b64encode(nonce + body).decode().rstrip('=')}"


def open_sealed(sealed: str, *, context: str) -> str:
    """The plaintext of a sealed value; SealBroken if no key of this server opens it."""
    prefix, kid, body = (sealed.split(".", 2) + ["", ""])[:3]
    key = next((k for k in keys() if key_id(k) == kid), None)
    if prefix != PREFIX or key is None:
        raise SealBroken("This secret was sealed with a key this server does not have.")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
    except (InvalidTag, binascii.Error, ValueError):
        raise SealBroken("This sealed secret does not open with this server's key.") from None


def sealed_with_current_key(sealed: str) -> bool:
    """Was this value sealed under the key that seals now (else reseal it at its next use)?"""
    return sealed.split(".", 2)[1:2] == [key_id(keys()[0])]
