"""Outcomes for a signed-in user: who may see which clinics' figures, and the audit of each look.

The figures themselves come from :mod:`.dashboard`, :mod:`.dissociation` and :mod:`.trajectory`;
this module only decides the scope (``permissions``: ``Action.VIEW_OUTCOMES`` per clinic,
``Action.READ_CLINICAL`` for one patient) and writes the audit event. The dashboard and the
dissociation report are aggregates, but they are computed from patient records, so each
view is audited like a read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.errors import Forbidden, InvalidInput, NotFound
from ketaflow.services.audit import record_read
from ketaflow.services.auth import CurrentUser
from ketaflow.services.clinics import clinic_for
from ketaflow.services.outcomes.dashboard import Dashboard, outcomes_dashboard
from ketaflow.services.outcomes.dissociation import DissociationReport, dissociation_report
from ketaflow.services.outcomes.trajectory import PatientTrajectory, patient_trajectory
from ketaflow.services.permissions import Action, allowed, require
from ketaflow.store import models as m


@dataclass(frozen=True)
class ClinicRef:
    id: uuid.UUID
    code: str
    name: str


@dataclass(frozen=True)
class Visible:
    """The clinics whose outcomes the user may see, and whether that is the whole network."""

    clinics: tuple[ClinicRef, ...]
    whole_network: bool

    @property
    def label(self) -> str:
        if self.whole_network:
            return "All clinics"
        if len(self.clinics) == 1:
            return self.clinics[0].name
        return "Your clinics"


def visible_clinics(db: Session, who: CurrentUser) -> Visible:
    """Every clinic where the user holds a role allowed to see outcomes; refused when there is none."""
    rows = db.execute(select(m.Clinic.id, m.Clinic.code, m.Clinic.name).order_by(m.Clinic.code)).all()
    mine = tuple(ClinicRef(r[0], r[1], r[2]) for r in rows if allowed(who, Action.VIEW_OUTCOMES, r[0]))
    if not mine:
        raise Forbidden(
            "Your roles do not allow you to see outcomes at any clinic; outcomes are for directors, "
            "psychiatrists and administrators."
        )
    return Visible(mine, len(mine) == len(rows))


def clinic_by_code(db: Session, who: CurrentUser, code: str) -> ClinicRef:
    """The clinic with this code, if the user may see its outcomes (403 otherwise, 404 when none)."""
    clinic = clinic_for(db, who, code, Action.VIEW_OUTCOMES)
    return ClinicRef(clinic.id, clinic.code, clinic.name)


def _engine(db: Session) -> Engine:
    """The session's engine: the dashboard reads on a connection of its own (and may reuse figures)."""
    bind = db.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _audit(db: Session, who: CurrentUser, what: str, clinics: tuple[ClinicRef, ...]) -> None:
    record_read(
        db,
        who.actor(),
        what,
        "outcomes",
        clinic_id=clinics[0].id if len(clinics) == 1 else None,
        details={"clinics": [c.code for c in clinics]},
    )


def network_dashboard(db: Session, who: CurrentUser) -> tuple[Dashboard, Visible]:
    """The outcomes of every clinic the user may see, side by side, and their total."""
    visible = visible_clinics(db, who)
    dashboard = outcomes_dashboard(
        _engine(db), clinic_ids=[c.id for c in visible.clinics], label=visible.label
    )
    _audit(db, who, "outcomes.read", visible.clinics)
    return dashboard, visible


def clinic_dashboard(db: Session, who: CurrentUser, code: str) -> tuple[Dashboard, ClinicRef]:
    """One clinic's outcomes (the user must be allowed to see outcomes there)."""
    clinic = clinic_by_code(db, who, code)
    dashboard = outcomes_dashboard(_engine(db), clinic_ids=[clinic.id], label=clinic.name)
    _audit(db, who, "outcomes.read", (clinic,))
    return dashboard, clinic


@dataclass(frozen=True)
class DissociationView:
    """The report, or (with too few patients to estimate it) the sentence that says so."""

    visible: Visible
    report: DissociationReport | None
    too_few: str | None


def dissociation(db: Session, who: CurrentUser) -> DissociationView:
    """The dissociation question over the clinics the user may see."""
    visible = visible_clinics(db, who)
    try:
        report = dissociation_report(db, clinic_ids=[c.id for c in visible.clinics], label=visible.label)
        too_few = None
    except InvalidInput as exc:  # too few evaluable patients: say so on the page, not as an error
        report, too_few = None, exc.message
    _audit(db, who, "outcomes.dissociation.read", visible.clinics)
    return DissociationView(visible, report, too_few)


@dataclass(frozen=True)
class PatientOutcomes:
    patient: m.Patient
    clinic: m.Clinic
    trajectory: PatientTrajectory


def patient_outcomes(db: Session, who: CurrentUser, patient_id: uuid.UUID) -> PatientOutcomes:
    """The patient's trajectory, for those who may read the chart; audited as a chart read."""
    patient = db.get(m.Patient, patient_id)
    if patient is None:
        raise NotFound("There is no such patient.")
    require(who, Action.READ_CLINICAL, patient.clinic_id)
    clinic = db.get(m.Clinic, patient.clinic_id)
    assert clinic is not None
    trajectory = patient_trajectory(db, patient_id=patient_id)
    record_read(
        db,
        who.actor(),
        "patient.read",
        "patient",
        patient_id,
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
        details={"page": "outcomes"},
    )
    return PatientOutcomes(patient, clinic, trajectory)
