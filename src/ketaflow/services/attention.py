"""What needs a nurse's hand now, most urgent first: the one ranking for the infusion page and the board.

The order is the chairside triage of the nurse's screens: a vital sign at "stop", then at
"pause", a patient waiting for help, an open adverse event, an infusion whose bag has run in
(Stop is due), vitals overdue by the monitoring schedule, a reading at "watch", then any other
open side effect. Within one kind the oldest comes first. Plain data in, plain data out: the
page and the board render it; nothing here reads the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from ketaflow.services.session_state import InfusionState


class Need(IntEnum):
    """Kinds of attention, in the order they are shown (lower is more urgent)."""

    VITALS_STOP = 0
    VITALS_PAUSE = 1
    HELP = 2
    ADVERSE_EVENT = 3
    ORDER_COMPLETE = 4
    VITALS_DUE = 5
    VITALS_WATCH = 6
    SIDE_EFFECT = 7

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def level(self) -> str:
        """The display level (colour and icon) of this kind: stop, pause or watch."""
        if self in (Need.VITALS_STOP,):
            return "stop"
        if self in (Need.VITALS_PAUSE, Need.HELP, Need.ADVERSE_EVENT):
            return "pause"
        return "watch"


_LABELS = {
    Need.VITALS_STOP: "Vital signs: stop",
    Need.VITALS_PAUSE: "Vital signs: pause",
    Need.HELP: "Help requested",
    Need.ADVERSE_EVENT: "Adverse event",
    Need.ORDER_COMPLETE: "Order complete",
    Need.VITALS_DUE: "Vitals due",
    Need.VITALS_WATCH: "Vital signs: watch",
    Need.SIDE_EFFECT: "Side effect",
}


@dataclass(frozen=True)
class LatestVitals:
    measured_at: datetime
    level: str
    summary: str  # e.g. "BP 184/112, HR 96, SpO2 97%"
    alerts: tuple[str, ...]
    action: str


@dataclass(frozen=True)
class OpenRequest:
    id: uuid.UUID
    reason: str
    asked_at: datetime


@dataclass(frozen=True)
class OpenSideEffect:
    id: uuid.UUID
    kind: str
    severity: str
    onset_at: datetime
    adverse_event: bool


@dataclass(frozen=True)
class Attention:
    need: Need
    since: datetime
    text: str
    action: str
    minutes: int  # how long it has been waiting, whole minutes
    request_id: uuid.UUID | None = None  # a help request's id, for its "helped" button

    @property
    def label(self) -> str:
        return self.need.label

    @property
    def level(self) -> str:
        return self.need.level


def _minutes(since: datetime, now: datetime) -> int:
    return max(0, int((now - since).total_seconds() // 60))


def needs_now(
    *,
    state: InfusionState,
    latest: LatestVitals | None,
    requests: Sequence[OpenRequest],
    side_effects: Sequence[OpenSideEffect],
    order_complete: bool,
    checks_every_min: int,
    started_at: datetime | None,
    now: datetime,
) -> list[Attention]:
    """Every open item of one infusion, most urgent first (see the module's order)."""
    items: list[Attention] = []
    if latest is not None and latest.level in ("stop", "pause", "watch"):
        need = {"stop": Need.VITALS_STOP, "pause": Need.VITALS_PAUSE, "watch": Need.VITALS_WATCH}[
            latest.level
        ]
        items.append(
            Attention(
                need,
                latest.measured_at,
                f"{latest.summary}. " + " ".join(latest.alerts),
                latest.action,
                _minutes(latest.measured_at, now),
            )
        )
    for r in requests:
        items.append(
            Attention(
                Need.HELP,
                r.asked_at,
                f"Asked for help ({r.reason})",
                "Go to the patient; chart when helped.",
                _minutes(r.asked_at, now),
                request_id=r.id,
            )
        )
    for e in side_effects:
        kind = e.kind.replace("_", " ")
        items.append(
            Attention(
                Need.ADVERSE_EVENT if e.adverse_event else Need.SIDE_EFFECT,
                e.onset_at,
                f"Side effect: {kind} ({e.severity})" + (" — adverse event" if e.adverse_event else ""),
                "Assess and chart what was done; mark it resolved when it has passed.",
                _minutes(e.onset_at, now),
            )
        )
    if order_complete:
        items.append(
            Attention(
                Need.ORDER_COMPLETE,
                now,
                "The order is complete: the pump has delivered its whole volume to be infused and has"
                " stopped; chart Stop.",
                "Chart Stop now: recovery is observed from the stop.",
                0,
            )
        )
    if state in (InfusionState.RUNNING, InfusionState.PAUSED) and started_at is not None:
        last = latest.measured_at if latest is not None else started_at
        if _minutes(last, now) >= checks_every_min:
            items.append(
                Attention(
                    Need.VITALS_DUE,
                    last,
                    "No vital signs since the start"
                    if latest is None
                    else f"Last vital signs {_minutes(last, now)} min ago",
                    f"Chart vital signs: the protocol checks every {checks_every_min} min"
                    " during the infusion.",
                    _minutes(last, now),
                )
            )
    return sorted(items, key=lambda a: (a.need, a.since))
