"""Text messages (SMS) through a provider: the interface only (issue 17, "SMS through a provider
interface later").

No provider is implemented and none is pretended: the outbox sends e-mail only (every row's
`channel` is "email", and `ketaflow messages send` has no SMS setting). What a provider must do,
so the outbox can use one without other changes:

- `send(message)` hands one `SmsMessage` to the provider, or raises the same failures as the
  SMTP sender (`messaging.smtp`): `TemporaryFailure` (provider down, rate-limited, a 5xx or 429
  from its API: the row waits and is tried again with back-off) or `PermanentFailure` (the
  number cannot receive texts: the row is marked failed).
- `message.message_id` is the outbox row's id, the same on every attempt: a provider whose API
  takes an idempotency key gets it, so a retry after a lost reply does not text twice.
- Numbers are E.164 (`e164`), checked before a row is written, never by the provider.

What a text says follows the e-mails' privacy rules (docs/messages.md): no drug, diagnosis,
questionnaire or score, no patient name to staff; a one-time link on KETAFLOW_PUBLIC_URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from ketaflow.errors import InvalidInput
from ketaflow.messaging.smtp import PermanentFailure, TemporaryFailure

__all__ = ["PermanentFailure", "SmsMessage", "SmsProvider", "TemporaryFailure", "e164"]

# E.164 (ITU-T Recommendation E.164): "+", a country code not starting with 0, at most 15 digits.
_E164 = re.compile(r"\+[1-9]\d{1,14}")


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164, e.g. +15125550100
    text: str
    message_id: str  # the outbox row's id: the same on every attempt


class SmsProvider(Protocol):
    def send(self, message: SmsMessage) -> None:
        """Hand `message` to the provider, or raise TemporaryFailure / PermanentFailure."""


def e164(raw: str) -> str:
    """The number in E.164 form from what a person typed (spaces, dots, dashes and brackets are
    dropped; it must start with + and the country code)."""
    number = re.sub(r"[\s().-]", "", raw or "")
    if not _E164.fullmatch(number):
        raise InvalidInput(
            f"'{(raw or '').strip()}' is not a mobile number texts can go to: write it with + and the "
            "country code, e.g. +1 512 555 0100."
        )
    return number
