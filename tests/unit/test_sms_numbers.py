"""The SMS interface's number check (messaging/sms.py): E.164, from what a person typed."""

from __future__ import annotations

import pytest

from ketaflow.errors import InvalidInput
from ketaflow.messaging.sms import e164


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("+1 512 555 0100", "+15125550100"),
        ("+1 (512) 555-0100", "+15125550100"),
        ("+44 20.7946.0000", "+442079460000"),
        ("+123456789012345", "+123456789012345"),  # 15 digits, the most E.164 allows
    ],
)
def test_a_typed_number_becomes_e164(typed: str, number: str) -> None:
    assert e164(typed) == number


@pytest.mark.parametrize(
    "typed", ["512 555 0100", "+0 512 555 0100", "+1234567890123456", "+1 512 555 01OO", "", "+"]
)
def test_a_number_without_its_country_code_or_too_long_is_refused_by_name(typed: str) -> None:
    with pytest.raises(InvalidInput, match="with \\+ and the country code"):
        e164(typed)
