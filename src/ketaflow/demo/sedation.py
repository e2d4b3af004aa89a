"""The demo's sedation level (MOAA/S) for each charted set of vitals, and the discharge screen.

Kept apart from the demo's other draws: each infusion's sedation comes from its own random
stream, seeded by the session id, so adding it changed none of the generator's other rows.

Sedation follows the same shape as the blood-pressure rise (rising through the infusion,
falling with a 15-minute time constant after the stop). Most patients stay alert; about a
quarter are mildly sedated (MOAA/S 4) near the end of the infusion and in the first minutes
after it. That fraction is our choice for realistic synthetic data, inside the range reported
for esketamine in real-world series (sedation in 14.6%-31.7% of patients, with mild sedation,
MOAA/S 4, the most frequent level in the trials: Janssen Medical Information, "Adverse event of
SPRAVATO - sedation and somnolence", updated 2025-05-15); no rate for 0.5 mg/kg IV racemic
ketamine was found. Nobody in the demo is moderately or deeply sedated, so the demo's pause and
stop events stay the blood-pressure ones it already models.
"""

from __future__ import annotations

import random
import uuid

MILD_SEDATION_FRACTION = 0.25  # demo choice inside the esketamine range above; not a clinical rule
SEDATED_WHILE_SHAPE_AT_LEAST = 0.6  # the part of the curve near its peak where MOAA/S is 4
ALERT, MILD = 5, 4

# What the nurse found at the discharge check of every demo infusion (all discharges go through).
DISCHARGE_SCREEN = {"mental_status": "baseline", "suicidal_ideation": "none"}


def peak_sedation(session_id: uuid.UUID) -> int:
    """The infusion's deepest MOAA/S level, from a stream of its own (the session id seeds it)."""
    return MILD if random.Random(f"{session_id}:sedation").random() < MILD_SEDATION_FRACTION else ALERT


def sedation_at(peak: int, shape: float) -> int:
    """The MOAA/S level charted at a point of the infusion whose effect curve is at `shape` (0-1)."""
    return peak if shape >= SEDATED_WHILE_SHAPE_AT_LEAST else ALERT
