"""The demo network's controlled-substance records are alive and balance (issue 14, "done when").

On the small demo network (both engines): every lot balances to the milligram, the ledger's
administered total equals what the pumps gave (the last pump total of every stopped infusion,
summed independently from the administration events), every waste has a witness other than
the person who wasted, and the end-of-day counts with a discrepancy were adjusted. Other tests
add lots, infusions and counts of their own to the shared demo network, so the checks read the
generator's own: lots numbered KD..., infusions of patients with demo MRNs (KF...).
"""

from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ketaflow.cli import app
from ketaflow.controlled.ledger import EntryKind
from ketaflow.services.controlled import lot_reports
from ketaflow.store import models as m
from ketaflow.vocabulary import AdministrationKind


def test_every_lot_balances_and_the_pumps_agree_with_the_ledger(demo_engine: Engine) -> None:
    with Session(demo_engine) as db:
        clinics = list(db.scalars(select(m.Clinic)))
        assert clinics
        for clinic in clinics:
            reports = [r for r in lot_reports(db, clinic.id) if r.lot.startswith("KD")]
            assert reports, f"{clinic.code} has no controlled-substance lots"
            assert all(r.balance.balances() for r in reports)
            # Every discrepancy found at a count was booked as an adjustment the same evening.
            assert all(r.balance.discrepancy_mg in (None, 0) for r in reports)
            administered = sum((r.balance.administered_mg for r in reports), Decimal(0))
            # What the pumps gave: the total at each infusion's stop, summed straight from the events.
            pumped = db.scalar(
                select(func.sum(m.AdministrationEvent.cumulative_mg))
                .join(m.InfusionSession, m.InfusionSession.id == m.AdministrationEvent.session_id)
                .join(m.Patient, m.Patient.id == m.InfusionSession.patient_id)
                .where(
                    m.AdministrationEvent.clinic_id == clinic.id,
                    m.AdministrationEvent.kind == AdministrationKind.STOP,
                    m.Patient.mrn.like("KF%"),
                )
            )
            assert abs(float(administered) - float(pumped or 0)) < 0.001 * max(1, len(reports))
        wastes = db.execute(
            select(m.LedgerEntry.recorded_by_id, m.LedgerEntry.witness_id).where(
                m.LedgerEntry.kind == EntryKind.WASTE
            )
        ).all()
        assert wastes and all(w is not None and w != by for by, w in wastes)
        adjustments = db.scalar(select(func.count()).where(m.LedgerEntry.kind == EntryKind.ADJUSTMENT))
        counts = db.scalar(select(func.count()).where(m.LedgerEntry.kind == EntryKind.COUNT))
        assert counts and counts > 100
        assert adjustments is not None


def test_reconcile_from_the_command_line_on_the_demo(demo_engine: Engine) -> None:
    url = demo_engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["controlled", "reconcile", "--json", "--database-url", url])
    assert result.exit_code == 0, result.output
    lots = json.loads(result.output)["lots"]
    assert lots and all(lot["balances"] for lot in lots)  # other tests' lots included: they balance too
    for lot in lots:
        parts = ("administered_mg", "wasted_mg", "destroyed_mg", "adjusted_mg", "on_hand_mg")
        assert abs(lot["received_mg"] - sum(lot[p] for p in parts)) < 1e-6
