"""E-mail through an SMTP server named by one URL (KETAFLOW_SMTP_URL), and how its failures are told apart.

- `smtp+starttls://user:pass@host:587`: STARTTLS is required (a server that does not offer it
  is refused, so a password never crosses in clear), then AUTH if a user is given.
- `smtps://user:pass@host:465`: TLS from the first byte (RFC 8314).
- `smtp://host:25`: no TLS, for a relay on a trusted network; a user here is refused.
- `?ca_file=/path/ca.pem` adds a private CA to the system's; `?timeout=S` (default 20 s).

A failure is `TemporaryFailure` (the server is down or busy, a 4xx reply, a wrong password: the
message waits and is tried again) or `PermanentFailure` (a 5xx reply to the recipient or the
message: trying again cannot help). Sending is behind the `Sender` protocol so another channel
can be added beside it (the SMS provider interface: messaging/sms.py).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from ketaflow.errors import InvalidInput

SCHEMES = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}
DEFAULT_PORTS = {"plain": 25, "starttls": 587, "tls": 465}
DEFAULT_TIMEOUT_S = 20.0


class DeliveryFailure(Exception):
    """A message could not be handed to the server; `str()` says why, for the admin."""


class TemporaryFailure(DeliveryFailure):
    """Try again later: nothing is lost."""


class PermanentFailure(DeliveryFailure):
    """The server refused this message for good (e.g. no such mailbox)."""


class Sender(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand `message` to the server or raise a DeliveryFailure."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # plain, starttls or tls
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        parts = urlsplit(url.strip())
        security = SCHEMES.get(parts.scheme.lower())
        if security is None or not parts.hostname:
            raise InvalidInput(
                "KETAFLOW_SMTP_URL must look like smtp+starttls://user:password@host:587, "
                "smtps://user:password@host:465 or smtp://host:25."
            )
        username = unquote(parts.username) if parts.username else None
        if username and security == "plain":
            raise InvalidInput(
                "KETAFLOW_SMTP_URL gives a password over smtp:// (no TLS); use smtp+starttls:// or smtps://."
            )
        query = parse_qs(parts.query)
        try:
            timeout = float(query.get("timeout", [DEFAULT_TIMEOUT_S])[0])
            port = parts.port or DEFAULT_PORTS[security]
        except ValueError:
            raise InvalidInput("KETAFLOW_SMTP_URL has a port or timeout that is not a number.") from None
        return cls(
            parts.hostname,
            port,
            security,
            username,
            unquote(parts.password) if parts.password else None,
            query.get("ca_file", [None])[0],
            timeout,
        )

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_file:
            context.load_verify_locations(cafile=self.ca_file)
        return context


class SmtpSender:
    """One connection per message: simple, and a dropped connection never strands a batch."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(self, message: EmailMessage) -> None:
        c = self.config
        try:
            if c.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    c.host, c.port, timeout=c.timeout_s, context=c.tls_context()
                )
            else:
                client = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
            with client:
                client.ehlo()
                if c.security == "starttls":
                    if not client.has_extn("starttls"):
                        raise TemporaryFailure(
                            f"The mail server {c.host}:{c.port} does not offer STARTTLS; "
                            "check KETAFLOW_SMTP_URL (smtps:// for port 465)."
                        )
                    client.starttls(context=c.tls_context())
                    client.ehlo()
                if c.username:
                    client.login(c.username, c.password or "")
                client.send_message(message)
        except DeliveryFailure:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            text = "; ".join(f"{code} {reply!r}" for code, reply in exc.recipients.values())
            if all(code >= 500 for code in codes):
                raise PermanentFailure(f"The mail server refused the address: {text}") from None
            raise TemporaryFailure(f"The mail server deferred the address: {text}") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise TemporaryFailure(
                f"The mail server refused the user name or password ({exc.smtp_code}); "
                "fix KETAFLOW_SMTP_URL: the messages wait until then."
            ) from None
        except smtplib.SMTPResponseException as exc:
            text = f"{exc.smtp_code} {exc.smtp_error!r}"
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(f"The mail server refused the message: {text}") from None
            raise TemporaryFailure(f"The mail server deferred the message: {text}") from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, timed out, TLS failed, dropped
            raise TemporaryFailure(
                f"Could not reach the mail server {c.host}:{c.port}: {exc.__class__.__name__}: {exc}"
            ) from None
