"""Settings from the environment (prefix KETAFLOW_), read once through `get_settings()`."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ketaflow.errors import InvalidInput
from ketaflow.vocabulary import Role

AUDIT_KEY_MIN = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KETAFLOW_", extra="ignore")

    # Where the embedded SQLite database and other local files live.
    data_dir: Path = Field(default=Path("data"))
    # One URL picks the engine: sqlite:///path (default, embedded) or
    # postgresql+psycopg://user@host/db (a network on PostgreSQL).
    database_url: str | None = None
    # The URL the web app (`serve`) connects by, when it differs from the one above: on
    # PostgreSQL the application's own role, which owns nothing and may not change a charted
    # fact (`ketaflow db roles` makes it; store/db_roles.py). KETAFLOW_DATABASE_URL then names
    # the owner, used by `db upgrade`, `db roles` and the other commands. Unset: serve uses
    # KETAFLOW_DATABASE_URL (as on SQLite, where roles do not apply).
    app_database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # The address patients reach this server by (e.g. https://care.example.org): the
    # one-time links given to patients are built on it. Unset, a link is built on the
    # address the staff member's own request came to, which behind a proxy may be an
    # internal one, so set it in production.
    public_url: str | None = None
    # Roles whose members must use a second factor (TOTP) to sign in, comma-separated:
    # KETAFLOW_REQUIRE_MFA=admin,director. Empty (the default, and the demo): nobody must,
    # anyone may. A member of a listed role who has not set one up is sent to set it up at
    # their next sign-in, before any other page (services/mfa.py).
    require_mfa: str = ""
    # Where the clinic's HL7 v2 messages (ADT on registration and discharge, RAS for the ketamine
    # given) go, HOST:PORT of an MLLP listener (issue 16). Set, they are written to the outbox in
    # the same transaction as the change and `ketaflow hl7 send` delivers them; unset, none is made.
    hl7_destination: str | None = None

    @field_validator("require_mfa")
    @classmethod
    def _mfa_roles(cls, value: str) -> str:
        names = [n.strip().lower().replace("-", "_").replace(" ", "_") for n in (value or "").split(",")]
        known = {r.value for r in Role}
        unknown = [n for n in names if n and n not in known]
        if unknown:
            raise ValueError(
                f"KETAFLOW_REQUIRE_MFA lists roles separated by commas, from {', '.join(sorted(known))}; "
                f"{', '.join(repr(n) for n in unknown)} is not one of them."
            )
        return ",".join(n for n in names if n)

    def mfa_roles(self) -> frozenset[Role]:
        """The roles KETAFLOW_REQUIRE_MFA names."""
        return frozenset(Role(n) for n in self.require_mfa.split(",") if n)

    # ---- sign-in and sessions (services/auth.py, services/sign_in_throttle.py) ------------
    # Failed sign-ins are counted before the password is checked. Three budgets:
    # - one account from one address: 10 failures per 15 minutes, then that pair waits for the
    #   window to end (a soft lockout that leaves the account open from everywhere else);
    # - one address across all accounts (password spraying): 30 failures per 15 minutes;
    # - one account from anywhere: 100 consecutive failures, then it stays locked until an
    #   administrator unlocks it (`ketaflow user unlock`). NIST SP 800-63B §5.2.2: "the verifier
    #   SHALL effectively limit the number of consecutive failed authentication attempts on a
    #   single subscriber account to no more than 100", hence the ceiling of 100 on the setting.
    # OWASP ASVS 4.0.3 V2.2.1: "no more than 100 failed attempts per hour is possible on a
    # single account": with the defaults one address gets at most 40 an hour on one account
    # (4 windows x 10), and all addresses together at most 100 before the account locks. The
    # 10, 30 and 15 minutes are this project's choice inside those limits (no published source
    # gives them).
    sign_in_pair_failures: int = Field(default=10, ge=1, le=100)
    sign_in_pair_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    sign_in_address_failures: int = Field(default=30, ge=1, le=100_000)
    sign_in_address_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    sign_in_account_failures: int = Field(default=100, ge=1, le=100)
    # Days the sign-in log (`sign_in_attempts`) keeps a row beyond the longest throttle window;
    # older rows are removed after each sign-in. The audit trail keeps every sign-in event for
    # good, so this log is only a quick recent view; 30 days is this project's choice (a month of
    # sign-ins to look through beside the audit), not a published figure.
    sign_in_log_days: int = Field(default=30, ge=1, le=3650)
    # NIST SP 800-63B §4.2.3 (AAL2): reauthentication at least once per 12 hours of use, and
    # after any period of inactivity lasting 30 minutes or longer; hence the ceilings.
    session_hours: int = Field(default=12, ge=1, le=12)
    session_idle_minutes: int = Field(default=30, ge=1, le=30)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed, as IP addresses or
    # CIDR networks separated by commas (e.g. "127.0.0.1, 10.0.0.0/8"). Empty (the default):
    # no header is believed and the client address is the connection's own.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: object) -> tuple[str, ...]:
        """Each entry an IP address or CIDR network, kept in its normal written form."""
        items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
        networks = []
        for item in (str(i).strip() for i in items):
            if not item:
                continue
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ValueError(
                    "KETAFLOW_TRUSTED_PROXIES must list the reverse proxies' IP addresses or networks, "
                    f"separated by commas (e.g. 127.0.0.1, 10.0.0.0/8); {item!r} is neither."
                ) from None
        return tuple(networks)

    # The key that seals TOTP secrets at rest (ketaflow/secret_box.py): 32 random bytes in
    # base64url; several, comma-separated, while rotating (the first seals, all open). Unset: the
    # file secret.key in data_dir, made on first use (one server only). Kept out of the database
    # and out of its backups; losing it means people set their second factor up again.
    secret_key: SecretStr | None = None

    @field_validator("secret_key")
    @classmethod
    def _sealing_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parse_secret_keys(value.get_secret_value(), SECRET_KEY_SETTING)
        return value

    # This installation's name in the audit trail (each event's source_observer, FHIR
    # AuditEvent.source.observer). Empty (the default): "ketaflow@" and the machine's host name.
    audit_source: str = Field(default="", max_length=120)
    # Where the server writes its access log (one JSON line per request, logger ketaflow.access):
    # a file path, or empty (the default) for standard error.
    access_log: str = ""
    # The key that signs the hash chains' checkpoints (store/checkpoints.py), kept OUTSIDE the
    # database: at least 32 characters, e.g. `python -c "import secrets; print(secrets.token_hex(32))"`.
    # Or KETAFLOW_AUDIT_KEY_FILE naming a file that holds it; unset, `<data_dir>/audit.key` if that
    # file exists (`ketaflow demo` writes one). Without a key no checkpoint is signed and
    # `ketaflow verify` warns that a chain rewritten from its start would not show.
    audit_key: SecretStr | None = None
    audit_key_file: Path | None = None

    @field_validator("audit_key")
    @classmethod
    def _long_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < AUDIT_KEY_MIN:
            raise ValueError(
                f"KETAFLOW_AUDIT_KEY must be at least {AUDIT_KEY_MIN} characters; make one with "
                '`python -c "import secrets; print(secrets.token_hex(32))"`.'
            )
        return value

    def resolved_audit_key(self) -> bytes | None:
        """The checkpoint key: the setting, else the key file's content, else None."""
        if self.audit_key is not None:
            return self.audit_key.get_secret_value().strip().encode("utf-8")
        path = self.audit_key_file or self.data_dir / "audit.key"
        if self.audit_key_file is None and not path.exists():
            return None
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InvalidInput(f"KETAFLOW_AUDIT_KEY_FILE {path} cannot be read: {exc.strerror}.") from None
        if len(text) < AUDIT_KEY_MIN:
            raise InvalidInput(f"The audit key in {path} is shorter than {AUDIT_KEY_MIN} characters.")
        return text.encode("utf-8")

    # ---- messages (issue 17; services/outbox.py, messaging/smtp.py) -----------------------
    # The mail server e-mails go out through, as a URL:
    #   smtp+starttls://user:password@mail.example.org:587   STARTTLS required, then AUTH
    #   smtps://user:password@mail.example.org:465           TLS from the first byte
    #   smtp://relay.internal:25                             no TLS (a relay on a trusted network)
    # `?ca_file=/path/ca.pem` trusts a private CA as well. Unset: messages wait in the outbox.
    smtp_url: SecretStr | None = None
    # The From address of every e-mail (e.g. "Blue Heron Clinics <care@example.org>").
    mail_from: str = "ketaflow <no-reply@localhost>"
    # Minutes an on-call psychiatrist has to acknowledge a suicide-risk alert before it is re-sent
    # to the clinic's director. Source: none; a clinic policy placeholder to be confirmed by the
    # medical director (no published standard gives a figure for this).
    alert_escalate_minutes: int = Field(default=15, ge=1, le=24 * 60)

    # The largest request body taken, in bytes (1 MiB); a larger one gets 413 before it is read.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=1024 * 1024 * 1024)

    @field_validator("public_url")
    @classmethod
    def _public_address(cls, value: str | None) -> str | None:
        """An http(s) address with a host and nothing after the path; kept without the last slash."""
        if value is None or not value.strip():
            return None
        address = value.strip()
        parts = urlsplit(address)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(
                f"KETAFLOW_PUBLIC_URL must be the address patients reach this server by, such as "
                f"https://care.example.org (http:// or https://, a host, no ? or #); got {address!r}."
            )
        return address.rstrip("/")

    def resolved_database_url(self) -> str:
        """The database URL to use: the setting, or the SQLite file under `data_dir`."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'ketaflow.sqlite').resolve()}"

    def resolved_app_database_url(self) -> str:
        """The database URL the web app serves from: KETAFLOW_APP_DATABASE_URL, else the owner's."""
        if self.app_database_url:
            return normalise_database_url(self.app_database_url)
        return self.resolved_database_url()


SECRET_KEY_SETTING = "KETAFLOW_SECRET_KEY"
_SECRET_KEY_BYTES = 32


def parse_secret_keys(text: str, source: str) -> tuple[bytes, ...]:
    """Keys from text (comma- or line-separated); refuses anything but 32 bytes in base64url."""
    keys = []
    for item in (i.strip() for i in text.replace("\n", ",").split(",")):
        if not item:
            continue
        try:
            key = base64.urlsafe_b64decode(item + "=" * (-len(item) % 4))
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != _SECRET_KEY_BYTES:
            raise ValueError(
                f"{source} must hold keys of 32 random bytes in base64url (44 characters, e.g. from "
                '`python -c "import secrets,base64; print(base64.urlsafe_b64encode(secrets.token_bytes(32))'
                '.decode())"`), separated by commas; one of its entries is not such a key.'
            )
        keys.append(key)
    if not keys:
        raise ValueError(f"{source} holds no key.")
    return tuple(keys)


def normalise_database_url(url: str) -> str:
    """Accept the common spellings of a PostgreSQL URL and point them at psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings; a bad value is an `InvalidInput` naming the variable and what to set."""
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidInput(" ".join(_sentence(e) for e in exc.errors())) from None


def _sentence(error: ErrorDetails) -> str:
    """One line for one bad setting: our own message where we wrote one, else pydantic's, named."""
    own = error.get("ctx", {}).get("error")
    if isinstance(own, ValueError):
        return str(own)
    name = "KETAFLOW_" + "_".join(str(part) for part in error.get("loc", ())).upper()
    return f"{name}: {error.get('msg', 'not a valid value')} (got {error.get('input')!r})."
