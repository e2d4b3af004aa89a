"""Settings from the environment (prefix KETAFLOW_), read once through `get_settings()`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    return Settings()
