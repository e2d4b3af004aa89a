"""An infusion's state, derived from what was charted (never stored, so never out of step)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ketaflow.errors import Conflict
from ketaflow.vocabulary import AdministrationKind


class InfusionState(StrEnum):
    NOT_STARTED = "not started"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    DISCHARGED = "discharged"


@dataclass(frozen=True)
class PumpRecord:
    kind: AdministrationKind
    at: datetime
    rate_mg_per_min: float | None
    cumulative_mg: float


# Which pump event may follow which state, and the state it leads to.
TRANSITIONS: dict[AdministrationKind, tuple[set[InfusionState], InfusionState]] = {
    AdministrationKind.START: ({InfusionState.NOT_STARTED}, InfusionState.RUNNING),
    AdministrationKind.PAUSE: ({InfusionState.RUNNING}, InfusionState.PAUSED),
    AdministrationKind.RESUME: ({InfusionState.PAUSED}, InfusionState.RUNNING),
    AdministrationKind.RATE_CHANGE: ({InfusionState.RUNNING}, InfusionState.RUNNING),
    AdministrationKind.STOP: ({InfusionState.RUNNING, InfusionState.PAUSED}, InfusionState.STOPPED),
}


def state_of(events: Sequence[PumpRecord], *, discharged: bool) -> InfusionState:
    if discharged:
        return InfusionState.DISCHARGED
    state = InfusionState.NOT_STARTED
    for event in events:
        if event.kind in TRANSITIONS:
            state = TRANSITIONS[event.kind][1]
    return state


def check_transition(state: InfusionState, kind: AdministrationKind) -> InfusionState:
    """The state after `kind`, or a Conflict saying why it cannot happen now."""
    allowed_from, after = TRANSITIONS[kind]
    if state not in allowed_from:
        raise Conflict(f"The infusion is {state.value}; it cannot {kind.value.replace('_', ' ')} now.")
    return after


def given_mg(events: Sequence[PumpRecord], at: datetime, *, vtbi_mg: float) -> float:
    """Drug delivered up to `at`: the last event's total plus what ran since, at its rate.

    Never more than `vtbi_mg`, what the pump was programmed to deliver: a pump stops at
    its volume to be infused, whatever the clock says.
    """
    if not events:
        return 0.0
    last = events[-1]
    running = state_of(events, discharged=False) == InfusionState.RUNNING
    if not running or last.rate_mg_per_min is None:
        return min(vtbi_mg, last.cumulative_mg)
    minutes = max(0.0, (at - last.at).total_seconds() / 60)
    return min(vtbi_mg, last.cumulative_mg + last.rate_mg_per_min * minutes)


def order_complete(events: Sequence[PumpRecord], at: datetime, *, vtbi_mg: float) -> bool:
    """The pump is charted running but has delivered its whole volume: Stop is due."""
    running = state_of(events, discharged=False) == InfusionState.RUNNING
    return running and given_mg(events, at, vtbi_mg=vtbi_mg) >= vtbi_mg - VTBI_TOLERANCE_MG


# What counts as "the bag has run in": pump totals are charted to the microgram (3 decimals).
VTBI_TOLERANCE_MG = 1e-3
