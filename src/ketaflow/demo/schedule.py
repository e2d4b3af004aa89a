"""Chair booking for the demo: no chair is double-booked, appointments fall on weekdays the
clinic is open (never on its holiday closures, `ketaflow.demo.hours`), inside its hours."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

# Local start times of the chair slots. A depression infusion holds its chair for one
# slot (3.5 h: check-in, 40-minute infusion, at least two hours' observation); a 4-hour
# pain infusion holds it from the first slot to the end of the second (7 h).
SLOT_STARTS = [time(8, 0), time(11, 30), time(15, 0)]
SLOT_HOURS = 3.5


class Charting(Protocol):
    """What booking needs of the clinic being generated (``ketaflow.demo.context.ClinicContext``).

    Stated here as a protocol rather than imported, so that this module imports nothing of the
    generator's and the context (which holds a :class:`ChairBook`) can import it.
    """

    rng: random.Random

    def add(self, table: str, **values: Any) -> uuid.UUID: ...


def appointment_length(whole_day: bool) -> timedelta:
    return timedelta(hours=SLOT_HOURS * (2 if whole_day else 1))


class ChairBook:
    def __init__(self, chair_ids: list[uuid.UUID], zone: ZoneInfo, closed: set[date] | None = None) -> None:
        self.chair_ids = chair_ids
        self.zone = zone
        self.closed = closed or set()
        self.taken: set[tuple[date, int, int]] = set()

    def local_to_utc(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, self.zone).astimezone(UTC)

    def reserve(
        self, day: date, rng_pick: int, *, whole_day: bool = False
    ) -> tuple[date, uuid.UUID, datetime]:
        """The first free (chair, slot) on `day` or the next open weekday; `rng_pick` rotates the order.

        A whole-day booking takes the first two slots of one chair.
        """
        chairs = len(self.chair_ids)
        while True:
            while day.weekday() >= 5 or day in self.closed:
                day += timedelta(days=1)
            if whole_day:
                for k in range(chairs):
                    chair = (rng_pick + k) % chairs
                    keys = [(day, chair, 0), (day, chair, 1)]
                    if not any(key in self.taken for key in keys):
                        self.taken.update(keys)
                        return day, self.chair_ids[chair], self.local_to_utc(day, SLOT_STARTS[0])
            else:
                n_slots = len(SLOT_STARTS) * chairs
                for k in range(n_slots):
                    slot, chair = divmod((rng_pick + k) % n_slots, chairs)
                    key = (day, chair, slot)
                    if key not in self.taken:
                        self.taken.add(key)
                        return day, self.chair_ids[chair], self.local_to_utc(day, SLOT_STARTS[slot])
            day += timedelta(days=1)

    def book(
        self,
        ctx: Charting,
        *,
        pid: uuid.UUID,
        plan_id: uuid.UUID,
        day: date,
        escort: dict[str, str],
        transport: bool,
        whole_day: bool = False,
        charted: bool,
    ) -> tuple[uuid.UUID, date, uuid.UUID, datetime]:
        """Book an infusion: a completed (charted) visit, or a future one still only booked.

        Returns the appointment id, the day it fell on, the chair and the start time.
        """
        rng = ctx.rng
        day, chair_id, starts = self.reserve(day, rng.randrange(1000), whole_day=whole_day)
        created = starts - timedelta(days=rng.randint(2, 14))
        appt_id = ctx.add(
            "appointments",
            patient_id=pid,
            chair_id=chair_id,
            treatment_plan_id=plan_id,
            kind="infusion",
            starts_at=starts,
            ends_at=starts + appointment_length(whole_day),
            status="completed" if charted else "booked",
            escort_name=None if transport else escort["name"],
            escort_phone=None if transport else escort["phone"],
            escort_relationship=None if transport else escort["relationship"],
            transport_arranged="rideshare booked by clinic" if transport else None,
            checked_in_at=starts - timedelta(minutes=rng.randint(5, 20)) if charted else None,
            notes=None,
            created_at=created,
            updated_at=starts if charted else created,
            version=3 if charted else 1,  # booked, checked in, completed
        )
        return appt_id, day, chair_id, starts
