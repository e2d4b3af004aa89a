"""What a patient does to prepare for a visit (rules/preparation.toml), each statement with its source.

One list, read by the patient's page and by the booking confirmation and reminder messages.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Statement:
    heading: str
    text: str
    source: str
    clinic_specific: bool  # no published source: the clinic's own practice, to be confirmed
    in_messages: bool = True  # sent in the messages too (False: about the page itself)


@cache
def preparation() -> tuple[Statement, ...]:
    """The preparation statements, in the order the patient reads them."""
    data = tomllib.loads((Path(__file__).parent / "rules" / "preparation.toml").read_text(encoding="utf-8"))
    return tuple(
        Statement(
            s["heading"],
            s["text"],
            s["source"],
            bool(s.get("clinic_specific", False)),
            bool(s.get("in_messages", True)),
        )
        for s in data["preparation"]
    )
