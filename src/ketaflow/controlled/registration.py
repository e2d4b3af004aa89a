"""DEA registration numbers: the shape and check digit every registrant's number has.

A DEA registration number is two letters and seven digits. The first letter is the
registrant type (e.g. A, B, F, G for practitioners and hospitals/clinics; M for mid-level
practitioners; P, R for distributors and reverse distributors); the second is the first
letter of the registrant's last name or business name (or 9 for some mid-level numbers).
The seventh digit is a check digit: add the 1st, 3rd and 5th digits; add the 2nd, 4th and
6th digits and double that sum; the last digit of the total is the check digit.

Source: the check-digit rule as published in pharmacy-practice references (e.g. the
verification steps taught for prescription checking) and by DEA's Diversion Control
Division; the primary DEA text was not retrieved in this workplace. Listed in
docs/clinical-review.md. The rule only catches a mistyped number; whether the number is
a live registration is checked on DEA's own registration validation service, outside
ketaflow.
"""

from __future__ import annotations

import re

_SHAPE = re.compile(r"^[A-Z][A-Z9][0-9]{7}$")


def check_digit(digits: str) -> int:
    """The check digit of the first six digits (see the module docstring)."""
    d = [int(c) for c in digits[:6]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10


def with_check_digit(letters: str, six_digits: str) -> str:
    """A number of the right shape: two letters, six digits and their check digit."""
    return f"{letters}{six_digits}{check_digit(six_digits)}"


def dea_number_problem(text: str) -> str | None:
    """Why `text` is not a DEA registration number, as a sentence; None when it is one."""
    value = text.strip().upper()
    if not _SHAPE.match(value):
        return (
            "A DEA registration number is two letters and seven digits (e.g. AB1234563); "
            "copy it from the registration certificate or the paperwork."
        )
    if check_digit(value[2:]) != int(value[8]):
        return (
            "That DEA registration number's check digit does not match; one of its digits is "
            "probably mistyped. Copy it again from the certificate or the paperwork."
        )
    return None


def normal_dea_number(text: str) -> str:
    """The number as stored: upper case, no spaces (call `dea_number_problem` first)."""
    return text.strip().upper()
