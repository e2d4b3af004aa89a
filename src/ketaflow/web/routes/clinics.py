"""The clinic list and each clinic's chair board."""

from dataclasses import asdict
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ketaflow.services import board, clinics
from ketaflow.services.permissions import Action, allowed
from ketaflow.web.board_lines import LEVEL_MARKS, slot_lines, triage
from ketaflow.web.deps import Db, Now, Who, page

router = APIRouter()


@router.get("/clinics", include_in_schema=False)
def clinics_page(request: Request, db: Db, who: Who) -> Response:
    listed = clinics.list_clinics(db, who)
    outcomes = any(allowed(who, Action.VIEW_OUTCOMES, c.id) for c in listed)
    return page(request, "clinics.html", who=who, clinics=listed, outcomes=outcomes)


@router.get("/api/clinics")
def clinics_api(db: Db, who: Who) -> list[dict[str, Any]]:
    """The clinics the signed-in user belongs to, with their counts."""
    return [{**asdict(c), "id": str(c.id)} for c in clinics.list_clinics(db, who)]


@router.get("/clinics/{code}/board", include_in_schema=False)
def board_page(request: Request, code: str, db: Db, who: Who, now: Now) -> Response:
    b = board.chair_board(db, who, code, now)
    zone = ZoneInfo(b.clinic.timezone)
    return page(
        request,
        "board.html",
        who=who,
        board=b,
        now=now,
        zone=zone,
        lines=lambda s: slot_lines(s, zone, now),
        triage=triage(b),
        marks=LEVEL_MARKS,
    )


@router.get("/api/clinics/{code}/board")
def board_api(code: str, db: Db, who: Who, now: Now) -> dict[str, Any]:
    """Every chair of the clinic today: who is in it, the infusion's state, last vitals, open requests."""
    b = board.chair_board(db, who, code, now)
    zone = ZoneInfo(b.clinic.timezone)

    def slot(s: board.Slot | None) -> dict[str, Any] | None:
        if s is None:
            return None
        data = asdict(s)
        data["open_requests"] = [{"reason": r, "asked_at": t.isoformat()} for r, t in s.open_requests]
        data["needs"] = [
            {
                "need": n.need.name.lower(),
                "label": n.label,
                "level": n.level,
                "text": n.text,
                "action": n.action,
                "since": n.since.isoformat(),
                "minutes": n.minutes,
                "request_id": str(n.request_id) if n.request_id else None,
            }
            for n in s.needs
        ]
        data["lines"] = slot_lines(s, zone, now)
        return data

    return {
        "clinic": b.clinic.code,
        "day": b.day.isoformat(),
        "chairs": [
            {"chair": c.label, "now": slot(c.now), "later": [slot(s) for s in c.later]} for c in b.chairs
        ],
        "unassigned": [slot(s) for s in b.unassigned],
        # Chairs whose patient needs a hand, most urgent first (stop > pause > help > ...).
        "triage": triage(b),
        # False for the front desk: `last_vitals` is then null because it is withheld.
        "clinical": b.clinical,
    }
