"""Cheap argon2 parameters for the test suite (tests/conftest.py switches them on).

With argon2-cffi's defaults (RFC 9106's low-memory profile: 64 MiB, 3 passes, 4 lanes) one hash
or check costs tens of milliseconds on a quiet machine and far more on a busy CI runner, and the
suite signs in thousands of times. An argon2 hash carries its own parameters, so a password hashed
under these (a demo build's staff, a test's own account, the dummy hash for unknown addresses) is
checked cheaply too, in the test process and in the server threads it starts. It is still argon2id
through the same code (`ketaflow.security`); only the work factors differ.

The production parameters are checked by tests/unit/test_password_hashing.py in a fresh
interpreter, where nothing here runs.
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type

import ketaflow.security as security

# argon2id at its smallest work: one pass over 8 KiB in one lane (argon2's minimum memory is
# 8 KiB per lane); salt and hash lengths as in production.
TEST_HASHER = PasswordHasher(
    time_cost=1, memory_cost=8, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)


def use_cheap_password_hashing() -> None:
    security._hasher = TEST_HASHER
    security.dummy_hash.cache_clear()  # a dummy made earlier would carry the production cost
