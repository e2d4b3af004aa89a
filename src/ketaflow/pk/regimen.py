"""Dosing regimens: boluses, zero-order infusions and extravascular doses.

A regimen describes what was (or will be) given, in minutes from a common origin.
The live chart of an infusion is built from the pump events the nurse charted
(start, rate change, pause, resume, stop) with :func:`segments_from_events`, so the
prediction follows what was actually given rather than what was planned.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ketaflow.errors import InvalidInput


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise InvalidInput(f"The {what} must be a finite number.")
    return float(value)


@dataclass(frozen=True)
class Bolus:
    """An instantaneous intravenous dose of ``dose_mg`` at ``t_min``."""

    t_min: float
    dose_mg: float

    def __post_init__(self) -> None:
        _finite(self.t_min, "bolus time")
        if not _finite(self.dose_mg, "bolus dose") > 0:
            raise InvalidInput("A bolus dose must be greater than zero.")


@dataclass(frozen=True)
class Infusion:
    """A zero-order intravenous infusion at ``rate_mg_per_min`` from start to end."""

    start_min: float
    end_min: float
    rate_mg_per_min: float

    def __post_init__(self) -> None:
        _finite(self.start_min, "infusion start")
        _finite(self.end_min, "infusion end")
        if not _finite(self.rate_mg_per_min, "infusion rate") > 0:
            raise InvalidInput("An infusion rate must be greater than zero.")
        if not self.end_min > self.start_min:
            raise InvalidInput("An infusion must end after it starts.")

    @property
    def dose_mg(self) -> float:
        """Total amount given by this infusion."""
        return self.rate_mg_per_min * (self.end_min - self.start_min)


@dataclass(frozen=True)
class ExtravascularDose:
    """A dose given by an extravascular route (``im``, ``intranasal``, ``oral``, ...)."""

    t_min: float
    dose_mg: float
    route: str

    def __post_init__(self) -> None:
        _finite(self.t_min, "dose time")
        if not _finite(self.dose_mg, "dose") > 0:
            raise InvalidInput("A dose must be greater than zero.")
        if not self.route or self.route == "iv":
            raise InvalidInput("An extravascular dose needs a route other than 'iv'.")


@dataclass(frozen=True)
class Regimen:
    """Everything given to one patient; doses superpose linearly."""

    boluses: tuple[Bolus, ...] = ()
    infusions: tuple[Infusion, ...] = ()
    extravascular: tuple[ExtravascularDose, ...] = ()

    def __post_init__(self) -> None:
        if not (self.boluses or self.infusions or self.extravascular):
            raise InvalidInput("The regimen contains no dose.")

    @property
    def routes(self) -> tuple[str, ...]:
        """Extravascular routes used, each once, in order of first use."""
        return tuple(dict.fromkeys(d.route for d in self.extravascular))

    @property
    def total_dose_mg(self) -> float:
        """Total amount administered (before bioavailability)."""
        return (
            sum(b.dose_mg for b in self.boluses)
            + sum(i.dose_mg for i in self.infusions)
            + sum(e.dose_mg for e in self.extravascular)
        )

    @property
    def end_of_dosing_min(self) -> float:
        """Time of the last dose or the end of the last infusion."""
        times = [b.t_min for b in self.boluses] + [e.t_min for e in self.extravascular]
        times += [i.end_min for i in self.infusions]
        return max(times)

    @property
    def start_min(self) -> float:
        """Time of the first dose."""
        times = [b.t_min for b in self.boluses] + [e.t_min for e in self.extravascular]
        times += [i.start_min for i in self.infusions]
        return min(times)

    def scaled(self, factor: float) -> Regimen:
        """Return the same regimen with every amount multiplied by ``factor``."""
        return Regimen(
            boluses=tuple(Bolus(b.t_min, b.dose_mg * factor) for b in self.boluses),
            infusions=tuple(
                Infusion(i.start_min, i.end_min, i.rate_mg_per_min * factor) for i in self.infusions
            ),
            extravascular=tuple(
                ExtravascularDose(e.t_min, e.dose_mg * factor, e.route) for e in self.extravascular
            ),
        )


def weight_based_infusion(
    weight_kg: float, dose_mg_per_kg: float, duration_min: float, start_min: float = 0.0
) -> Regimen:
    """Return the protocol regimen: ``dose_mg_per_kg`` over ``duration_min``."""
    if not _finite(weight_kg, "weight") > 0:
        raise InvalidInput("The weight must be greater than zero.")
    if not _finite(dose_mg_per_kg, "dose") > 0:
        raise InvalidInput("The dose must be greater than zero.")
    if not _finite(duration_min, "infusion duration") > 0:
        raise InvalidInput("The infusion duration must be greater than zero.")
    rate = weight_kg * dose_mg_per_kg / duration_min
    return Regimen(infusions=(Infusion(start_min, start_min + duration_min, rate),))


def rate_mg_per_min(rate_ml_per_h: float, concentration_mg_per_ml: float) -> float:
    """Convert a pump rate in mL/h of a solution in mg/mL to mg/min."""
    if not (_finite(rate_ml_per_h, "pump rate") > 0 and concentration_mg_per_ml > 0):
        raise InvalidInput("The pump rate and the drug concentration must be positive.")
    return rate_ml_per_h * concentration_mg_per_ml / 60.0


class PumpEventKind(StrEnum):
    """What the nurse charted on the pump."""

    START = "start"
    RATE_CHANGE = "rate_change"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


@dataclass(frozen=True)
class PumpEvent:
    """One charted pump event; ``rate_mg_per_min`` is needed for start and rate change."""

    t_min: float
    kind: PumpEventKind
    rate_mg_per_min: float | None = None


def segments_from_events(events: Iterable[PumpEvent], now_min: float | None = None) -> tuple[Infusion, ...]:
    """Turn charted pump events into the infusion segments actually given.

    Parameters
    ----------
    events : iterable of PumpEvent
        In charted order; times must not decrease.
    now_min : float, optional
        The present time. An infusion still running after the last event runs until
        ``now_min``; without it, a running infusion is an error.

    Returns
    -------
    tuple of Infusion
        One segment per stretch of constant, non-zero rate.

    Raises
    ------
    InvalidInput
        On events out of order, a resume without a pause, a rate missing, and the like.
    """
    segments: list[Infusion] = []
    running_since: float | None = None
    rate: float | None = None
    started = paused = stopped = False
    last_t = -math.inf

    def close(t: float) -> None:
        nonlocal running_since
        if running_since is not None and rate is not None and t > running_since:
            segments.append(Infusion(running_since, t, rate))
        running_since = None

    for ev in events:
        kind = PumpEventKind(ev.kind)
        t = _finite(ev.t_min, "event time")
        if t < last_t:
            raise InvalidInput("Pump events must be in time order.")
        last_t = t
        if stopped:
            raise InvalidInput("No pump event can follow a stop; chart a new start instead.")
        if kind is PumpEventKind.START:
            if started:
                raise InvalidInput("The infusion was started twice.")
            rate = _event_rate(ev)
            started, running_since = True, t
        elif not started:
            raise InvalidInput(f"A '{kind.value}' event came before the infusion started.")
        elif kind is PumpEventKind.RATE_CHANGE:
            new_rate = _event_rate(ev)
            if not paused:
                close(t)
                running_since = t
            rate = new_rate
        elif kind is PumpEventKind.PAUSE:
            if paused:
                raise InvalidInput("The infusion was paused twice without a resume.")
            close(t)
            paused = True
        elif kind is PumpEventKind.RESUME:
            if not paused:
                raise InvalidInput("A resume came without a pause.")
            paused, running_since = False, t
        else:  # stop
            close(t)
            stopped = True
    if running_since is not None:
        if now_min is None:
            raise InvalidInput("The infusion is still running: give the present time.")
        if now_min < last_t:
            raise InvalidInput("The present time is before the last charted event.")
        close(now_min)
    return tuple(segments)


def cap_segments(segments: Sequence[Infusion], total_mg: float) -> tuple[Infusion, ...]:
    """Cut infusion segments where ``total_mg`` has been given, as a pump stops at its VTBI.

    A pump programmed with a volume to be infused (VTBI) stops when that volume has run in,
    whatever the clock says; a segment is shortened at that moment and any later
    segment is dropped.
    """
    if not _finite(total_mg, "volume to be infused") >= 0:
        raise InvalidInput("The amount in the bag cannot be negative.")
    capped: list[Infusion] = []
    left = float(total_mg)
    for seg in segments:
        if left <= 0:
            break
        if seg.dose_mg <= left:
            capped.append(seg)
            left -= seg.dose_mg
            continue
        end = seg.start_min + left / seg.rate_mg_per_min
        if end > seg.start_min:
            capped.append(Infusion(seg.start_min, end, seg.rate_mg_per_min))
        left = 0.0
    return tuple(capped)


def _event_rate(ev: PumpEvent) -> float:
    if ev.rate_mg_per_min is None or not ev.rate_mg_per_min > 0:
        raise InvalidInput(f"A '{PumpEventKind(ev.kind).value}' event needs a positive rate.")
    return float(ev.rate_mg_per_min)


def regimen_from_events(
    events: Sequence[PumpEvent],
    now_min: float | None = None,
    boluses: Sequence[Bolus] = (),
) -> Regimen:
    """Return the regimen actually given: charted infusion segments plus boluses."""
    return Regimen(boluses=tuple(boluses), infusions=segments_from_events(events, now_min))
