"""Settings from the environment (prefix KETAFLOW_), read once through `get_settings()`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from ketaflow.errors import InvalidInput


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KETAFLOW_", extra="ignore")

    # Where the embedded SQLite database and other local files live.
    data_dir: Path = Field(default=Path("data"))
    # One URL picks the engine: sqlite:///path (default, embedded) or
    # postgresql+psycopg://user@host/db (a network on PostgreSQL).
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # The address patients reach this server by (e.g. https://care.example.org): the
    # one-time links given to patients are built on it. Unset, a link is built on the
    # address the staff member's own request came to, which behind a proxy may be an
    # internal one, so set it in production.
    public_url: str | None = None
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
