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


def test_the_inventory_agrees_with_each_lots_own_ledger(demo_engine: Engine) -> None:
    """Two computations of what is on hand: the inventory replays the clinic's whole ledger in
    time order up to a moment; `lot_reports` replays each lot on its own. After the last entry
    they must agree lot by lot, and the inventory's sealed + opened + in-bag milligrams must make
    up each lot's book quantity less what adjustments took from the lot as a whole."""
    from datetime import timedelta

    from ketaflow.services.controlled_reports import inventory_of

    with Session(demo_engine) as db:
        for clinic in db.scalars(select(m.Clinic)):
            last = db.scalar(
                select(func.max(m.LedgerEntry.occurred_at)).where(m.LedgerEntry.clinic_id == clinic.id)
            )
            if last is None:
                continue
            report = inventory_of(db, clinic.id, at=last + timedelta(seconds=1), close_of_business=True)
            books = {r.lot: r.balance for r in lot_reports(db, clinic.id)}
            assert {line.lot for line in report.lines} == {lot for lot, b in books.items() if b.on_hand_mg}
            for line in report.lines:
                book = books[line.lot]
                assert line.on_hand_mg == book.on_hand_mg, line.lot
                assert line.in_bags_mg == book.in_bags_mg
                lot_wide = db.scalar(
                    select(func.coalesce(func.sum(m.LedgerEntry.quantity_mg), 0))
                    .join(m.DrugLot, m.DrugLot.id == m.LedgerEntry.lot_id)
                    .where(
                        m.DrugLot.lot_number == line.lot,
                        m.DrugLot.clinic_id == clinic.id,
                        m.LedgerEntry.kind == EntryKind.ADJUSTMENT,
                        m.LedgerEntry.vial_id.is_(None),
                    )
                )
                # A loss booked on the lot as a whole lowers the book but no vial's content, so the
                # vials and bags hold the book's on-hand less those adjustments' (negative) sum.
                held = line.unopened_mg + line.opened_mg + line.in_bags_mg
                assert held == line.on_hand_mg - Decimal(str(lot_wide)), line.lot


def test_the_inventory_from_the_command_line(demo_engine: Engine) -> None:
    url = demo_engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        app, ["controlled", "inventory", "--clinic", "aus", "--json", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["taken_at"] == "close of business" and report["dea_registration"].startswith("FB")
    assert (
        report["lines"] and abs(report["on_hand_mg"] - sum(x["on_hand_mg"] for x in report["lines"])) < 1e-6
    )
    csv_run = CliRunner().invoke(
        app, ["controlled", "inventory", "--clinic", "aus", "--csv", "--opening", "--database-url", url]
    )
    assert csv_run.exit_code == 0 and csv_run.output.splitlines()[0].startswith("ndc,name,strength")
    bad = CliRunner().invoke(
        app, ["controlled", "inventory", "--clinic", "aus", "--json", "--day", "2026-13-01"]
    )
    assert bad.exit_code != 0 and "Give --day as a date like 2026-12-01" in bad.output
