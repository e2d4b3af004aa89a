"""What every part of one clinic's generation shares: the rows so far, the chair book, the draws.

Kept apart from ``generate`` (which drives the generation), ``sessions`` (which charts one
infusion) and ``schedule`` (which books chairs), so that each of those imports this module
and none of them imports another in a circle.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from ketaflow.demo.outcomes import PatientCourse
from ketaflow.demo.schedule import ChairBook
from ketaflow.demo.settings import DemoSettings

Rows = dict[str, list[dict[str, Any]]]


def make_id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


@dataclass
class Network:
    """The organization-level rows plus what clinic generation needs to refer to."""

    rows: Rows
    org_id: uuid.UUID
    clinic_ids: list[uuid.UUID]
    chair_ids: dict[int, list[uuid.UUID]]
    staff: dict[int, dict[str, list[uuid.UUID]]]
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (email, role, clinic)


@dataclass
class ClinicContext:
    settings: DemoSettings
    network: Network
    index: int
    rng: random.Random
    rows: Rows
    book: ChairBook
    zone: ZoneInfo
    intercept: float
    cache: dict[Any, Any] = field(default_factory=dict)
    # When given, every treated patient's outcome draws (the generator's own truth), by patient id.
    courses: dict[uuid.UUID, PatientCourse] | None = None

    @property
    def clinic_id(self) -> uuid.UUID:
        return self.network.clinic_ids[self.index]

    def staff_of(self, role: str) -> uuid.UUID:
        return self.rng.choice(self.network.staff[self.index][role])

    def add(self, table: str, **values: Any) -> uuid.UUID:
        # Draws an id from the generator even when `values` has one (the default is evaluated
        # first). Kept as it is: every demo network so far was generated with that draw, and the
        # tests compare against their figures. A new kind of row that must not shift the rows
        # after it appends to `rows` itself (see the message settings in generate.py).
        row_id = values.setdefault("id", make_id(self.rng))
        values.setdefault("clinic_id", self.clinic_id)
        self.rows[table].append(values)
        return row_id  # type: ignore[no-any-return]
