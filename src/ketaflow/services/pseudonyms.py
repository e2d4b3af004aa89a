"""Study ids and per-patient date shifts for de-identified exports (HIPAA Safe Harbor, 45 CFR
164.514(b)(2)): the outcome tables (services/outcomes/export.py) and the de-identified FHIR
bulk export (services/fhir_export.py) draw them here, so both shift dates the same way.

Each patient of one export gets a random study id and a random whole-day date shift, drawn from
the operating system's random source (not seedable: nothing links one export to the next); the
next export draws new ones.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime, timedelta

# Dates are shifted per patient by a whole number of days drawn uniformly from this range, so
# intervals within a patient stay exact while calendar dates no longer point at a visit.
DATE_SHIFT_MAX_DAYS = 365
# HIPAA Safe Harbor (45 CFR 164.514(b)(2)(i)(C)): ages over 89 are reported as one category.
AGE_TOP_CODE_YEARS = 90


class Pseudonyms:
    """A random study id and date offset per patient, consistent across one export's tables."""

    def __init__(self) -> None:
        self._rng = secrets.SystemRandom()
        self._ids: dict[uuid.UUID, tuple[str, int]] = {}

    def get(self, patient_id: uuid.UUID) -> tuple[str, int]:
        """(study id, shift in days) of the patient, drawn the first time it is asked for."""
        if patient_id not in self._ids:
            study_id = "S" + secrets.token_hex(6)
            shift = self._rng.randint(-DATE_SHIFT_MAX_DAYS, DATE_SHIFT_MAX_DAYS)
            self._ids[patient_id] = (study_id, shift)
        return self._ids[patient_id]

    def day(self, patient_id: uuid.UUID, at: datetime | None) -> date | None:
        """The shifted calendar day of `at` (None stays None)."""
        if at is None:
            return None
        return (at + timedelta(days=self.get(patient_id)[1])).date()

    def shuffled(self, items: list[uuid.UUID]) -> list[uuid.UUID]:
        """`items` in a random order (an order by internal id would link one export to the next)."""
        out = list(items)
        self._rng.shuffle(out)
        return out
