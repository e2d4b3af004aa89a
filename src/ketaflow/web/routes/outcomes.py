"""Outcomes: network dashboard, clinic comparison, dissociation report, patient trajectory."""

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ketaflow.services.outcomes import Dashboard, as_plain
from ketaflow.services.outcomes import access as outcomes
from ketaflow.web.deps import Db, Who, page
from ketaflow.web.outcome_charts import forest, percent, trajectory_chart

router = APIRouter()


def _forests(d: Dashboard) -> list[Any]:
    """Response, remission and drop-out per clinic with their intervals, the pooled figure last."""
    rows = [(u.name, u) for u in d.clinics]
    pooled = (f"{d.total.name} (pooled)", d.total) if len(d.clinics) > 1 else None
    return [
        forest(
            title,
            [(label, getattr(u, attr)) for label, u in rows],
            None if pooled is None else (pooled[0], getattr(pooled[1], attr)),
        )
        for title, attr in (
            ("Response at the end of induction", "response"),
            ("Remission at the end of induction", "remission"),
            ("Drop-out before the end of induction", "dropout"),
        )
    ]


def _dashboard_page(request: Request, who: Any, d: Dashboard, clinic: Any, codes: list[Any]) -> Response:
    return page(
        request,
        "outcomes_dashboard.html",
        who=who,
        d=d,
        clinic=clinic,
        clinics=codes,
        forests=_forests(d),
        percent=percent,
    )


@router.get("/outcomes", include_in_schema=False)
def network_page(request: Request, db: Db, who: Who) -> Response:
    d, visible = outcomes.network_dashboard(db, who)
    return _dashboard_page(request, who, d, None, list(visible.clinics))


@router.get("/clinics/{code}/outcomes", include_in_schema=False)
def clinic_page(request: Request, code: str, db: Db, who: Who) -> Response:
    d, clinic = outcomes.clinic_dashboard(db, who, code)
    return _dashboard_page(request, who, d, clinic, [clinic])


@router.get("/outcomes/dissociation", include_in_schema=False)
def dissociation_page(request: Request, db: Db, who: Who) -> Response:
    view = outcomes.dissociation(db, who)
    return page(request, "outcomes_dissociation.html", who=who, view=view, percent=percent)


@router.get("/patients/{patient_id}/outcomes", include_in_schema=False)
def patient_page(request: Request, patient_id: uuid.UUID, db: Db, who: Who) -> Response:
    po = outcomes.patient_outcomes(db, who, patient_id)
    zone = ZoneInfo(po.clinic.timezone)
    charts = {
        inst.instrument: trajectory_chart(inst, po.trajectory.infusions, zone=zone)
        for inst in po.trajectory.instruments
    }
    return page(request, "outcomes_patient.html", who=who, po=po, charts=charts, zone=zone)


@router.get("/api/outcomes")
def network_api(db: Db, who: Who) -> dict[str, Any]:
    """Outcomes of every clinic the user may see (directors, psychiatrists, admins) and their total."""
    d, visible = outcomes.network_dashboard(db, who)
    return {"clinics_visible": [c.code for c in visible.clinics], **as_plain(d)}


@router.get("/api/clinics/{code}/outcomes")
def clinic_api(code: str, db: Db, who: Who) -> dict[str, Any]:
    """One clinic's outcomes: counts, response and remission with 95% intervals, safety rates."""
    d, _ = outcomes.clinic_dashboard(db, who, code)
    return dict(as_plain(d))


@router.get("/api/outcomes/dissociation")
def dissociation_api(db: Db, who: Who) -> dict[str, Any]:
    """Peak CADSS (first infusions) and response at the end of induction: odds ratio, 95% CI, N, caveat."""
    view = outcomes.dissociation(db, who)
    return {
        "clinics": [c.code for c in view.visible.clinics],
        "report": None if view.report is None else as_plain(view.report),
        "too_few": view.too_few,
    }


@router.get("/api/patients/{patient_id}/outcomes")
def patient_api(patient_id: uuid.UUID, db: Db, who: Who) -> dict[str, Any]:
    """The patient's questionnaires across the series, infusions, response and remission per instrument."""
    po = outcomes.patient_outcomes(db, who, patient_id)
    return dict(as_plain(po.trajectory))
