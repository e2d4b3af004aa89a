"""KETAFLOW_SMTP_URL is read into host, port, security and credentials, or refused in a sentence."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ketaflow.errors import InvalidInput
from ketaflow.messaging.smtp import SmtpConfig
from ketaflow.services.outbox import backoff


def test_starttls_url_with_an_escaped_password() -> None:
    c = SmtpConfig.from_url(
        "smtp+starttls://mailer:p%40ss%2Fword@mail.example.org:2525?ca_file=/etc/ca.pem&timeout=5"
    )
    assert (c.host, c.port, c.security, c.username, c.password) == (
        "mail.example.org",
        2525,
        "starttls",
        "mailer",
        "p@ss/word",
    )
    assert (c.ca_file, c.timeout_s) == ("/etc/ca.pem", 5.0)


@pytest.mark.parametrize(
    ("url", "security", "port"),
    [
        ("smtps://u:p@h", "tls", 465),
        ("smtp+starttls://u:p@h", "starttls", 587),
        ("smtp://relay", "plain", 25),
    ],
)
def test_default_ports_follow_rfc_8314_and_5321(url: str, security: str, port: int) -> None:
    c = SmtpConfig.from_url(url)
    assert (c.security, c.port) == (security, port)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://mail.example.org", "must look like"),
        ("smtp+starttls://", "must look like"),
        ("smtp://user:pw@relay", "no TLS"),
        ("smtps://h?timeout=soon", "not a number"),
    ],
)
def test_a_bad_url_is_refused_with_what_to_write(url: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        SmtpConfig.from_url(url)


def test_back_off_doubles_from_a_minute_up_to_an_hour() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=x) for x in (1, 2, 4, 8)]
    assert backoff(7) == timedelta(minutes=60) and backoff(50) == timedelta(hours=1)
