"""Text the patient's page shows, as data with a source for every statement (portal.toml; the
preparation statements: clinical/rules/preparation.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ketaflow.clinical.preparation import Statement, preparation


@dataclass(frozen=True)
class Crisis:
    text: str
    source: str
    not_monitored: str
    after_alert: str
    after_alert_source: str


@dataclass(frozen=True)
class PortalContent:
    preparation: tuple[Statement, ...]
    raw_crisis: dict[str, str]

    def crisis(self, country: str | None) -> Crisis:
        c = self.raw_crisis
        us = (country or "US").upper() == "US"
        return Crisis(
            c["us"] if us else c["other"],
            c["us_source"] if us else c["other_source"],
            c["not_monitored"],
            c["after_alert"],
            c["after_alert_source"],
        )


@cache
def portal_content() -> PortalContent:
    data = tomllib.loads((Path(__file__).parent / "portal.toml").read_text(encoding="utf-8"))
    return PortalContent(preparation(), dict(data["crisis"]))
