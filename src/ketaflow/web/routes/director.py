"""Director: a clinic's day, week of bookings and chair use."""

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ketaflow.errors import InvalidInput
from ketaflow.services import director
from ketaflow.services.controlled import EXPIRING_SOON_DAYS
from ketaflow.web.deps import Db, Now, Who, page

router = APIRouter()

# The bar chart's drawing box (inline SVG, no script).
CHART_W, CHART_H, BAR_TOP = 560, 200, 20


def _week(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"The week must be a date written YYYY-MM-DD; got {text!r}.") from None


def _bars(view: director.DirectorView) -> list[dict[str, Any]]:
    """Bar geometry for chair use per day (0-100 %, taller bars clipped at the top line)."""
    slot = CHART_W / len(view.days)
    span = CHART_H - BAR_TOP - 30
    bars = []
    for i, d in enumerate(view.days):
        pct = d.use_percent
        h = 0.0 if pct is None else span * min(pct, 100.0) / 100
        bars.append(
            {
                "x": round(i * slot + slot * 0.2, 1),
                "w": round(slot * 0.6, 1),
                "y": round(BAR_TOP + span - h, 1),
                "h": round(h, 1),
                "cx": round(i * slot + slot / 2, 1),
                "label": d.day.strftime("%a %d"),
                "value": "closed" if pct is None else f"{pct:g}%",
                "over": pct is not None and pct > 100,
            }
        )
    return bars


@router.get("/clinics/{code}/director", include_in_schema=False)
def director_page(
    request: Request, code: str, db: Db, who: Who, now: Now, week: str | None = None
) -> Response:
    view = director.director_view(db, who, code, now, _week(week))
    return page(
        request,
        "director.html",
        who=who,
        view=view,
        clinic=view.clinic,
        now=now,
        zone=ZoneInfo(view.clinic.timezone),
        bars=_bars(view),
        chart={"w": CHART_W, "h": CHART_H, "top": BAR_TOP, "base": CHART_H - 30},
        prev_week=(view.week_start - timedelta(days=7)).isoformat(),
        next_week=(view.week_start + timedelta(days=7)).isoformat(),
        soon_days=EXPIRING_SOON_DAYS,
    )


@router.get("/api/clinics/{code}/director")
def director_api(code: str, db: Db, who: Who, now: Now, week: str | None = None) -> dict[str, Any]:
    """Today's chairs, alerts, requests and infusions; the week's bookings and chair use per day."""
    v = director.director_view(db, who, code, now, _week(week))
    t = v.today
    return {
        "clinic": v.clinic.code,
        "today": {
            "day": t.day.isoformat(),
            "chairs": t.chairs,
            "busy": t.busy,
            "free": t.free,
            "running": t.running,
            "recovering": t.recovering,
            "alerts": [{"chair": a.chair, "level": a.level, "messages": list(a.messages)} for a in t.alerts],
            "open_requests": t.open_requests,
            "infusions": {
                "done": t.done,
                "in_chair": t.in_chair,
                "checked_in": t.checked_in,
                "booked": t.booked,
                "no_show": t.no_show,
                "cancelled": t.cancelled,
            },
        },
        "controlled": None
        if v.expiring_lots is None
        else {
            "expiring_within_days": EXPIRING_SOON_DAYS,
            "expiring": [
                {
                    "lot": r.lot,
                    "expires_on": r.expires_on.isoformat(),
                    "in_safe_mg": float(r.balance.in_safe_mg),
                }
                for r in v.expiring_lots
            ],
            "discrepant": [
                {"lot": r.lot, "discrepancy_mg": float(r.balance.discrepancy_mg or 0)}
                for r in v.discrepant_lots or []
            ],
        },
        "week": {
            "start": v.week_start.isoformat(),
            "active_chairs": v.active_chairs,
            "opening_hours": v.opening_hours,
            "booked_chair_hours": v.week_booked_hours,
            "available_chair_hours": v.week_available_hours,
            "use_percent": v.week_use_percent,
            "days": [
                {
                    "day": d.day.isoformat(),
                    "open": d.open,
                    "hours": d.hours,
                    "closure": d.closure,
                    "infusions": d.infusions,
                    "other": d.other,
                    "completed": d.completed,
                    "cancelled_or_no_show": d.cancelled_or_no_show,
                    "booked_chair_hours": d.booked_hours,
                    "available_chair_hours": d.available_hours,
                    "use_percent": d.use_percent,
                }
                for d in v.days
            ],
        },
        "outcomes_url": f"/clinics/{v.clinic.code}/outcomes",
        "hours_url": f"/clinics/{v.clinic.code}/hours",
    }
