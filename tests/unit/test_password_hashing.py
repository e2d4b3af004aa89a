"""Passwords are hashed with argon2id at RFC 9106's low-memory parameters in production.

The rest of the suite hashes with cheap parameters (tests/cheap_password_hashing.py), so this
checks the shipped parameters in a fresh interpreter, where the test switch is not applied.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from argon2 import extract_parameters, profiles

import ketaflow.security as security
from tests.cheap_password_hashing import TEST_HASHER

PRODUCTION = """
import json
from ketaflow.security import check_password, dummy_hash, hash_password
h = hash_password("tide lanterns north")
print(json.dumps({"hash": h, "dummy": dummy_hash(), "right": check_password(h, "tide lanterns north"),
                  "wrong": check_password(h, "tide lanterns south"), "unknown": check_password(None, "x")}))
"""


def test_production_hashes_are_argon2id_with_rfc_9106_low_memory_parameters() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PRODUCTION], capture_output=True, text=True, check=True, env=os.environ.copy()
    )
    got = json.loads(out.stdout)
    # RFC 9106 section 4, second recommended option: argon2id, t=3, p=4, m=2^16 KiB (64 MiB).
    assert extract_parameters(got["hash"]) == profiles.RFC_9106_LOW_MEMORY
    assert got["hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    # The dummy hash an unknown address is checked against costs the same work.
    assert extract_parameters(got["dummy"]) == profiles.RFC_9106_LOW_MEMORY
    assert (got["right"], got["wrong"], got["unknown"]) == (True, False, False)


def test_the_suite_hashes_cheaply_with_argon2id_and_still_tells_passwords_apart() -> None:
    h = security.hash_password("tide lanterns north")
    assert extract_parameters(h) == extract_parameters(TEST_HASHER.hash("x"))
    assert h.startswith("$argon2id$")
    assert security.check_password(h, "tide lanterns north")
    assert not security.check_password(h, "tide lanterns south")
    assert extract_parameters(security.dummy_hash()) == extract_parameters(h)
