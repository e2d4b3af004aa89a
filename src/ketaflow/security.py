"""Password hashing (argon2id) and random tokens."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults are argon2id with the RFC 9106 "low memory" profile.
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    # NFKC first (NIST SP 800-63B 5.1.1.2), so the same password typed on another keyboard matches.
    return _hasher.hash(unicodedata.normalize("NFKC", password))


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, unicodedata.normalize("NFKC", password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Was this hash made with other argon2 parameters than today's (a newer argon2-cffi, or
    parameters raised since)? Then it is made again at the next right password."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return False


def check_password(password_hash: str | None, password: str) -> bool:
    """Check a password against an account's hash, or, when there is no account (None), against a
    dummy hash made by the same hasher with the same parameters: an unknown e-mail address then
    costs the same argon2 work as a wrong password, and its answer comes no sooner."""
    if password_hash is None:
        verify_password(dummy_hash(), password)
        return False
    return verify_password(password_hash, password)


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    # Made on first use (one hash per process), not at import: every CLI command imports this.
    return _hasher.hash(secrets.token_urlsafe(32))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
