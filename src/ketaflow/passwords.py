"""Password rules for staff accounts, after NIST SP 800-63B section 5.1.1.2 (memorized secrets).

- At least 12 characters for a new password (ketaflow's floor, above NIST's minimum of 8), and
  at most 128 (NIST: permit at least 64). Every printable character and space is allowed;
  Unicode is normalised (NFKC, as NIST recommends) before counting, hashing and comparing.
- Refused when it is a commonly used or breached password (the list shipped in
  ketaflow/data/common-passwords.txt, from SecLists, MIT; plus an operator's own list named by
  KETAFLOW_EXTRA_PASSWORD_LIST), a context-specific word (the user's address or name, the
  service's name) or repetitive or sequential characters ("aaaaaaaaaaaa", "123456789012").
- No composition rules (no "one digit, one symbol") and no periodic expiry: NIST SP 800-63B
  says verifiers SHALL NOT impose them.

Pure: no database or web imports.
"""

from __future__ import annotations

import os
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ketaflow.errors import invalid

MIN_LENGTH = 12
MAX_LENGTH = 128
SERVICE_WORDS = ("ketaflow",)
EXTRA_LIST_ENV = "KETAFLOW_EXTRA_PASSWORD_LIST"


def normalise(password: str) -> str:
    """The form a password is hashed and compared in (NFKC, NIST SP 800-63B 5.1.1.2)."""
    return unicodedata.normalize("NFKC", password)


def _read_list(text: str) -> frozenset[str]:
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


@lru_cache(maxsize=1)
def shipped_list() -> frozenset[str]:
    """The common passwords shipped with the package (casefolded)."""
    text = resources.files("ketaflow").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return _read_list(text)


@lru_cache(maxsize=4)
def _extra_list(path: str) -> frozenset[str]:
    return _read_list(Path(path).read_text(encoding="utf-8", errors="replace"))


def is_common(password: str) -> bool:
    """Is this password (any letter case) in the shipped list or the operator's own list?"""
    folded = normalise(password).casefold()
    if folded in shipped_list():
        return True
    extra = os.environ.get(EXTRA_LIST_ENV, "").strip()
    return bool(extra) and folded in _extra_list(extra)


def _repetitive_or_sequential(password: str) -> bool:
    """One or two characters repeated, or one run up or down the alphabet or the digits."""
    if len(set(password)) <= 2:
        return True
    steps = {ord(b) - ord(a) for a, b in zip(password, password[1:], strict=False)}
    return steps in ({1}, {-1})


def check_new_password(password: str, *, email: str = "", full_name: str = "") -> str:
    """The password as it will be hashed, or an InvalidInput saying which rule it breaks."""
    password = normalise(password or "")
    if len(password) < MIN_LENGTH:
        raise invalid(
            "new_password",
            f"Choose a password of at least {MIN_LENGTH} characters (this one has {len(password)}); "
            "a few unrelated words make a long password that is easy to remember.",
        )
    if len(password) > MAX_LENGTH:
        raise invalid("new_password", f"Keep the password to {MAX_LENGTH} characters or fewer.")
    if any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in password):
        raise invalid("new_password", "The password contains a control character; type it again.")
    folded = password.casefold()
    if is_common(password):
        raise invalid(
            "new_password",
            "That password is on a list of common or leaked passwords that attackers try first; "
            "choose another.",
        )
    if _repetitive_or_sequential(password):
        raise invalid(
            "new_password", "That password is a repeated or sequential run of characters; choose another."
        )
    local = (email or "").split("@", 1)[0].casefold()
    names = [w.casefold() for w in (full_name or "").split() if len(w) >= 4]
    words = [*SERVICE_WORDS, *([local] if len(local) >= 4 else []), *names]
    if any(w in folded for w in words):
        raise invalid(
            "new_password",
            "The password must not contain your name, your e-mail address or the name of this service.",
        )
    return password
