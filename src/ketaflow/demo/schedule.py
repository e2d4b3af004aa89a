"""Chair booking for the demo: no chair is double-booked, appointments fall on weekdays."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from ketaflow.demo.generate import ClinicContext

# Local start times of the infusion slots; each appointment holds its chair two hours.
SLOT_STARTS = [time(8, 0), time(10, 0), time(12, 0), time(14, 0), time(16, 0)]
APPOINTMENT_HOURS = 2


class ChairBook:
    def __init__(self, chair_ids: list[uuid.UUID], zone: ZoneInfo) -> None:
        self.chair_ids = chair_ids
        self.zone = zone
        self.taken: set[tuple[date, int, int]] = set()

    def local_to_utc(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, self.zone).astimezone(UTC)

    def reserve(self, day: date, rng_pick: int) -> tuple[date, uuid.UUID, datetime]:
        """The first free (chair, slot) on `day` or the next weekday; `rng_pick` rotates the order."""
        while True:
            while day.weekday() >= 5:
                day += timedelta(days=1)
            n_slots = len(SLOT_STARTS) * len(self.chair_ids)
            for k in range(n_slots):
                idx = (rng_pick + k) % n_slots
                slot, chair = divmod(idx, len(self.chair_ids))
                key = (day, chair, slot)
                if key not in self.taken:
                    self.taken.add(key)
                    return day, self.chair_ids[chair], self.local_to_utc(day, SLOT_STARTS[slot])
            day += timedelta(days=1)

    def book_future(
        self,
        ctx: ClinicContext,
        pid: uuid.UUID,
        plan_id: uuid.UUID,
        day: date,
        escort: dict[str, str],
        transport: bool,
    ) -> None:
        """A booked (not yet charted) infusion appointment on or after the as-of day."""
        day, chair_id, starts = self.reserve(day, ctx.rng.randrange(1000))
        ctx.add(
            "appointments",
            patient_id=pid,
            chair_id=chair_id,
            treatment_plan_id=plan_id,
            kind="infusion",
            starts_at=starts,
            ends_at=starts + timedelta(hours=APPOINTMENT_HOURS),
            status="booked",
            escort_name=None if transport else escort["name"],
            escort_phone=None if transport else escort["phone"],
            escort_relationship=None if transport else escort["relationship"],
            transport_arranged=None,
            checked_in_at=None,
            notes=None,
            created_at=starts - timedelta(days=7),
            updated_at=starts - timedelta(days=7),
            version=1,
        )
