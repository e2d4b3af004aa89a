"""What a bedside monitor would measure in a chair, for the monitor simulator (`ketaflow hl7
simulate`): the patient's resting blood pressure, the infusion's rise and its fading after the pump
stops (the demo's own model, demo/blood_pressure.py, with its sources), heart rate, SpO2 and
respiratory rate as the demo charts them (demo/sessions.py), and now and then an artefact (a probe
slipping: SpO2 falls and the pulse reads high), as monitors do.

Pure: seeded random streams, no database. The artefact rate is our choice (no source: how often
probes slip depends on the patient and the clinic)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from ketaflow.demo.blood_pressure import InfusionBP, faded, infusion_bp, resting_bp, rise_shape
from ketaflow.demo.settings import DemoSettings

ARTEFACT_RATE = 0.03  # share of readings disturbed (our choice, no source)


@dataclass(frozen=True)
class PumpSpan:
    """The pump as charted: started at `started_at` (None: not yet), for `minutes` of infusion,
    stopped at `stopped_at` (None: running)."""

    started_at: datetime | None
    minutes: float
    stopped_at: datetime | None = None


@dataclass
class ChairSignal:
    """One patient's signals in one chair, drawn from a stream seeded by `key`."""

    key: str
    seed: int = 0
    settings: DemoSettings = field(default_factory=DemoSettings)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"monitor:{self.seed}:{self.key}")
        self.bp: InfusionBP = infusion_bp(self.settings, resting_bp(self.settings, self.rng), self.rng)
        self.base_hr = self.rng.gauss(74, 9)  # adult resting heart rate, as the demo draws it around

    def shape(self, pump: PumpSpan, at: datetime) -> float:
        """The share of the peak blood-pressure rise at `at`."""
        if pump.started_at is None or at < pump.started_at:
            return 0.0
        end = pump.stopped_at or at
        given = (min(at, end) - pump.started_at).total_seconds() / 60
        reached = rise_shape(given, pump.minutes)
        if pump.stopped_at is not None and at > pump.stopped_at:
            return faded(reached, (at - pump.stopped_at).total_seconds() / 60)
        return reached

    def reading(self, pump: PumpSpan, at: datetime) -> tuple[dict[str, float], bool]:
        """The values a monitor sends at `at`, and whether this one is an artefact."""
        shape = self.shape(pump, at)
        systolic, diastolic = self.bp.reading(shape, self.settings)
        values: dict[str, float] = {
            "systolic": systolic,
            "diastolic": diastolic,
            "heart_rate": round(self.base_hr + 6 * shape + self.rng.gauss(0, 3)),
            "spo2": min(100, round(self.rng.gauss(97.5, 1.0))),
            "respiratory_rate": round(self.rng.gauss(15, 1.5)),
        }
        artefact = self.rng.random() < ARTEFACT_RATE
        if artefact:  # the probe slipped: a low saturation and a jumpy pulse
            values["spo2"] = self.rng.randint(72, 86)
            values["heart_rate"] = round(values["heart_rate"] + self.rng.uniform(25, 45))
        return values, artefact
