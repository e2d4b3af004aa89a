"""The chair board's text, written once: the page renders these lines and the board's JSON carries
them, so the live update (static/board.js) writes exactly what a reload would show."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ketaflow.services.attention import Need
from ketaflow.services.board import Board, Slot
from ketaflow.services.infusion import vitals_summary

# Never colour alone: every level also has a mark and its word (WCAG 1.4.1).
LEVEL_MARKS = {"stop": "■ stop", "pause": "▲ pause", "watch": "● watch", "normal": "✓ normal"}


def _line(cls: str, text: str, **extra: str | None) -> dict[str, Any]:
    return {
        "cls": cls,
        "text": text,
        "badge": extra.get("badge"),
        "level": extra.get("level"),
        "after": extra.get("after"),
    }


def slot_lines(s: Slot, zone: ZoneInfo, now: datetime) -> list[dict[str, Any]]:
    """The status of one chair's patient, line by line: state, vitals, alerts, requests, other needs."""
    if s.state == "running" and s.elapsed_min is not None:
        state = f"· {int(s.elapsed_min)} min since start"
    elif s.state == "paused":
        state = f"· {int(s.since_state_min or 0)} min" + (f": {s.paused_reason}" if s.paused_reason else "")
    elif s.state == "stopped":
        state = f"· {int(s.since_state_min or 0)} min since the stop"
    elif s.session_id is None or s.state == "not started":
        state = f"· {s.starts_at.astimezone(zone).strftime('%H:%M')}"
    else:
        state = ""
    lines = [_line("state", state, badge=s.state)]
    v = s.last_vitals
    if v is not None:
        measured = vitals_summary(v, " · ")
        if v.systolic is None:
            measured = " · ".join(["BP –", *([measured] if measured else [])])
        age = f"{int(s.vitals_age_min or 0)} min ago"
        lines.append(_line("vitals", measured, level=v.level, after=age))
        for alert, level in zip(v.alerts, v.alert_levels, strict=False):
            if level != "normal":
                lines.append(_line(f"alert alert-{level}", alert))
    for reason, asked in s.open_requests:
        minutes = round((now - asked).total_seconds() / 60)
        lines.append(_line("request", f"Needs help: {reason} (asked {minutes} min ago)"))
    for n in s.needs:
        if n.need in (Need.HELP, Need.VITALS_STOP, Need.VITALS_PAUSE, Need.VITALS_WATCH):
            continue  # already a line above
        lines.append(_line(f"need need-{n.level}", f"{n.label}: {n.text}"))
    return lines


def triage(board: Board) -> list[dict[str, Any]]:
    """One line per chair whose patient needs a hand, most urgent first."""
    out = []
    for chair, s in board.triage:
        top = s.needs[0]
        more = len(s.needs) - 1
        out.append(
            {
                "chair": chair,
                "patient": s.patient_name,
                "session_id": str(s.session_id) if s.session_id else None,
                "patient_id": str(s.patient_id),
                "level": top.level,
                "mark": LEVEL_MARKS[top.level],
                "text": f"{top.label}: {top.text} ({top.minutes} min)"
                + (f" · {more} more open item{'s' if more > 1 else ''}" if more else ""),
            }
        )
    return out
