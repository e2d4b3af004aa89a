"""TOTP codes against RFC 6238's published test vectors (Appendix B), and the drift/replay rules."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from ketaflow.services.mfa import DIGITS, STEP_SECONDS, code_at, matching_step

# RFC 6238 Appendix B: the seeds are ASCII digits of the hash's block length, the codes 8 digits.
SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
VECTORS = [
    (59, "94287082", "sha1"),
    (59, "46119246", "sha256"),
    (59, "90693936", "sha512"),
    (1111111109, "07081804", "sha1"),
    (1111111109, "68084774", "sha256"),
    (1111111109, "25091201", "sha512"),
    (1111111111, "14050471", "sha1"),
    (1111111111, "67062674", "sha256"),
    (1111111111, "99943326", "sha512"),
    (1234567890, "89005924", "sha1"),
    (1234567890, "91819424", "sha256"),
    (1234567890, "93441116", "sha512"),
    (2000000000, "69279037", "sha1"),
    (2000000000, "90698825", "sha256"),
    (2000000000, "38618901", "sha512"),
    (20000000000, "65353130", "sha1"),
    (20000000000, "77737706", "sha256"),
    (20000000000, "47863826", "sha512"),
]


def _b32(seed: bytes) -> str:
    return base64.b32encode(seed).decode()


@pytest.mark.parametrize(("unix_time", "expected", "digest"), VECTORS)
def test_codes_match_rfc_6238_appendix_b(unix_time: int, expected: str, digest: str) -> None:
    assert code_at(_b32(SEEDS[digest]), unix_time, digits=8, digest=digest) == expected


def test_the_six_digit_code_is_the_last_six_digits_of_the_eight_digit_one() -> None:
    # RFC 4226 section 5.3: the code is the truncated value modulo 10^digits.
    secret = _b32(SEEDS["sha1"])
    assert code_at(secret, 59) == "287082" and len(code_at(secret, 59)) == DIGITS


SECRET = _b32(SEEDS["sha1"])
NOW = datetime(2033, 5, 18, 3, 33, 20, tzinfo=UTC)  # Unix 2000000000, step 66666666
STEP = 2000000000 // STEP_SECONDS


@pytest.mark.parametrize(("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_one_step_of_drift_each_way_is_accepted(offset: int, accepted: bool) -> None:
    code = code_at(SECRET, (STEP + offset) * STEP_SECONDS)
    found = matching_step(SECRET, code, NOW, after_step=None)
    assert (found == STEP + offset) if accepted else found is None


def test_a_step_once_used_is_never_accepted_again() -> None:
    code = code_at(SECRET, STEP * STEP_SECONDS)
    assert matching_step(SECRET, code, NOW, after_step=STEP - 1) == STEP
    assert matching_step(SECRET, code, NOW, after_step=STEP) is None


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "28 70 82x"])
def test_malformed_codes_are_refused(typed: str) -> None:
    assert matching_step(SECRET, typed, NOW, after_step=None) is None


def test_spaces_in_a_typed_code_are_ignored() -> None:
    code = code_at(SECRET, STEP * STEP_SECONDS)
    assert matching_step(SECRET, f"{code[:3]} {code[3:]}", NOW, after_step=None) == STEP
