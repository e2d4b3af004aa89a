"""A patient's chart."""

import uuid
from dataclasses import asdict
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ketaflow.services import patients
from ketaflow.web.deps import Db, Who, page

router = APIRouter()


def _trajectory(chart: patients.Chart, instrument: str = "phq9") -> dict[str, Any] | None:
    """Points for a small inline SVG of one questionnaire's totals over time (27 is the PHQ-9 maximum)."""
    points = [p for p in chart.scores if p.instrument == instrument and p.total is not None]
    if len(points) < 2:
        return None
    t0, t1 = points[0].answered_at, points[-1].answered_at
    span = max((t1 - t0).total_seconds(), 1.0)
    width, height, top = 760, 160, 27
    xy = [
        (
            round(40 + (p.answered_at - t0).total_seconds() / span * (width - 60), 1),
            round(10 + (1 - (p.total or 0) / top) * (height - 30), 1),
        )
        for p in points
    ]
    infusions = [
        round(40 + (i.opened_at - t0).total_seconds() / span * (width - 60), 1)
        for i in chart.infusions
        if t0 <= i.opened_at <= t1
    ]
    return {
        "points": " ".join(f"{x},{y}" for x, y in xy),
        "dots": xy,
        "infusions": infusions,
        "width": width,
        "height": height,
        "first": points[0],
        "last": points[-1],
    }


@router.get("/patients/{patient_id}", include_in_schema=False)
def patient_page(request: Request, patient_id: uuid.UUID, db: Db, who: Who) -> Response:
    chart = patients.chart(db, who, patient_id)
    return page(
        request,
        "patient.html",
        who=who,
        chart=chart,
        zone=ZoneInfo(chart.clinic.timezone),
        phq9=_trajectory(chart),
    )


@router.get("/api/patients/{patient_id}")
def patient_api(patient_id: uuid.UUID, db: Db, who: Who) -> dict[str, Any]:
    """The patient's chart: demographics, weight, medications, allergies; for the clinical staff also
    diagnoses, infusions, questionnaire totals (with the id to correct each) and every correction
    of a charted entry: who, when, why, each value old and new (`clinical` says which)."""
    c = patients.chart(db, who, patient_id)
    p = c.patient
    chart = {
        "id": str(p.id),
        "mrn": p.mrn,
        "name": f"{p.given_name} {p.family_name}",
        "date_of_birth": p.date_of_birth.isoformat(),
        "sex": p.sex,
        "clinic": c.clinic.code,
        "weight_kg": c.weight.weight_kg if c.weight else None,
        "medications": [md.as_written for md in c.medications],
        "allergies": [a.substance for a in c.allergies],
        # False for the front desk: the clinical keys below are then left out, not empty.
        "clinical": c.clinical,
    }
    if not c.clinical:
        return chart
    return chart | {
        "diagnoses": [d.description for d in c.diagnoses],
        "infusions": [{**asdict(i), "session_id": str(i.session_id)} for i in c.infusions],
        "scores": [asdict(s) for s in c.scores],
        "corrections": [asdict(line) for line in c.corrections],
        "home_alerts": [
            {
                "instrument": a.instrument,
                "answered_at": a.answered_at.isoformat(),
                "total": a.total,
                "alerts": [al.message for al in a.alerts],
            }
            for a in c.home_alerts
        ],
        "discharge_alerts": [
            {
                "session_id": str(a.session_id),
                "series_number": a.series_number,
                "screened_at": a.screened_at.isoformat(),
                "message": a.message,
                "source": a.source,
                "discharged_at": a.discharged_at.isoformat() if a.discharged_at else None,
                "assessment": a.assessment,
            }
            for a in c.discharge_alerts
        ],
    }
