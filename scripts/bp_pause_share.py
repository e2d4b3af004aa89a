"""How many demo infusions would reach "pause" under the blood-pressure rules (issue 13).

Runs the demo generator itself (seeded, in memory, no database) for one clinic of the default
network and applies the clinical rules to every charted reading:

- new rule: during the infusion (all causes, and for a high blood pressure alone, the figure to
  compare with the Yale chart review's severe hypertension in 0.98% of infusions),
  ``assess_infusion_reading`` (pause at >= 180/110 confirmed by a
  second reading within the window; stop at >= 200/120 at once; the relative systolic rise);
- the pre-infusion check: the last baseline reading at the defer level (not startable today);
- old rule, for comparison: one reading at >= 160/100 (JNC 7 stage 2) paused the infusion.

Usage: ``python scripts/bp_pause_share.py`` (prints the figures docs/clinical-review.md quotes).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from ketaflow.clinical import (
    BloodPressure,
    EarlierReading,
    ScreeningLevel,
    VitalLevel,
    VitalSigns,
    assess_infusion_reading,
    pre_infusion_bp,
)
from ketaflow.demo.generate import clinic_rows, network_rows
from ketaflow.demo.settings import DemoSettings

SETTINGS = DemoSettings(clinics=9, patients=3500, seed=7, as_of=date(2026, 11, 25))
CLINIC_INDEX = 0
OLD_PAUSE = (160, 100)  # JNC 7 stage 2, the pause level before issue 13


@dataclass(frozen=True)
class Share:
    infusions: int
    pause: float  # reached pause or stop during the infusion (new rule)
    stop: float  # reached stop during the infusion (new rule)
    unconfirmed_only: float  # had a pause-level reading that was never confirmed (a recheck only)
    deferred: float  # last pre-infusion reading at the defer level or above
    old_pause: float  # one reading at >= 160/100 during the infusion (the rule before issue 13)
    high_pause: float  # reached pause or stop for a HIGH blood pressure (what Yale counts as severe)

    def interval(self, share: float) -> tuple[float, float]:
        """Wilson 95% interval of a share of these infusions (as if independent; see the docs)."""
        return wilson(share * self.infusions, self.infusions)


HIGH = frozenset({"systolic_high", "diastolic_high", "systolic_rise"})
# Severe hypertension in 23 of 2,342 infusions: Yale chart review, Gen Hosp Psychiatry 2024,
# doi:10.1016/j.genhosppsych.2024.07.001.
PUBLISHED = (23, 2342)


def wilson(k: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return centre - half, centre + half


def _signs(v: dict[str, Any]) -> VitalSigns:
    return VitalSigns(bp=BloodPressure(v["systolic_mmhg"], v["diastolic_mmhg"]))


def simulate(settings: DemoSettings = SETTINGS, clinic_index: int = CLINIC_INDEX) -> Share:
    rows = clinic_rows(settings, network_rows(settings, "not-a-real-hash"), clinic_index)
    by_session: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for v in rows["vital_signs"]:
        by_session[v["session_id"]].append(v)
    paused = stopped = unconfirmed = deferred = old = high = 0
    for readings in by_session.values():
        readings.sort(key=lambda v: v["measured_at"])
        baseline_rows = [v for v in readings if v["phase"] == "baseline"]
        during = [v for v in readings if v["phase"] == "infusion"]
        if baseline_rows:
            finding = pre_infusion_bp(_signs(baseline_rows[-1]).bp)  # type: ignore[arg-type]
            deferred += finding is not None and finding.level.rank >= ScreeningLevel.DEFER.rank
        base = _signs(readings[0])
        worst = VitalLevel.NORMAL
        recheck = went_high = False
        for i, v in enumerate(during):
            earlier = [
                EarlierReading((v["measured_at"] - e["measured_at"]).total_seconds() / 60, _signs(e))
                for e in during[:i]
            ]
            a = assess_infusion_reading(_signs(v), baseline=base, earlier=earlier)
            worst = max(worst, a.level, key=lambda lv: lv.rank)
            serious = a.level.rank >= VitalLevel.PAUSE.rank
            went_high = went_high or (
                serious and any(al.parameter in HIGH for al in a.alerts if al.level is a.level)
            )
            recheck = recheck or a.recheck_in_minutes is not None
        paused += worst.rank >= VitalLevel.PAUSE.rank
        stopped += worst is VitalLevel.STOP
        unconfirmed += recheck and worst.rank < VitalLevel.PAUSE.rank
        high += went_high
        old += any(v["systolic_mmhg"] >= OLD_PAUSE[0] or v["diastolic_mmhg"] >= OLD_PAUSE[1] for v in during)
    n = len(by_session)
    return Share(n, paused / n, stopped / n, unconfirmed / n, deferred / n, old / n, high / n)


if __name__ == "__main__":
    s = simulate()
    print(
        f"infusions simulated: {s.infusions} (clinic {CLINIC_INDEX} of the seed-{SETTINGS.seed} demo network)"
    )
    lo, hi = s.interval(s.high_pause)
    plo, phi = wilson(*PUBLISHED)
    print(f"reach pause or stop (new rule, confirmed): {s.pause:.1%}")
    print(f"  for a high blood pressure:               {s.high_pause:.1%} (95% CI {lo:.1%} to {hi:.1%})")
    published = PUBLISHED[0] / PUBLISHED[1]
    print(f"  published (Yale 2024, severe):           {published:.2%} (95% CI {plo:.1%} to {phi:.1%})")
    print(f"reach stop (new rule):                     {s.stop:.1%}")
    print(f"a recheck only, never confirmed:           {s.unconfirmed_only:.1%}")
    print(f"deferred before the start:                 {s.deferred:.1%}")
    print(f"old rule (one reading >= 160/100):         {s.old_pause:.1%}")
