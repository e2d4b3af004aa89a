"""CLI reports of the controlled-substance records (issue 14): the ledger and the reconciliation.

Run by the operator with access to the database (like the outcome reports); each run is
audited as `cli:controlled ...`. The same figures are what the director's page shows.
"""

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ketaflow.cli.output import emit_json, fail
from ketaflow.cli.system import DatabaseUrl, _engine
from ketaflow.errors import KetaflowError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ketaflow.store.models import Clinic

controlled_app = typer.Typer(
    help="Controlled-substance records: the ledger, each lot's balance, and the biennial inventory.",
    no_args_is_help=True,
)

ClinicCode = Annotated[str, typer.Option("--clinic", help="The clinic's code, e.g. aus.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]

LEDGER_FIELDS = (
    "kind",
    "at",
    "lot",
    "quantity_mg",
    "quantity_ml",
    "by",
    "witness",
    "patient_id",
    "dose_order_id",
    "reason",
)
RECONCILE_FIELDS = (
    "received_mg",
    "administered_mg",
    "wasted_mg",
    "destroyed_mg",
    "adjusted_mg",
    "on_hand_mg",
    "in_safe_mg",
    "in_bags_mg",
)


def _clinics(db: "Session", code: str | None) -> "list[Clinic]":
    from sqlalchemy import select

    from ketaflow.store.models import Clinic

    query = select(Clinic).order_by(Clinic.code)
    if code is not None:
        query = query.where(Clinic.code == code.strip().lower())
    found = list(db.scalars(query))
    if code is not None and not found:
        fail(f"There is no clinic with the code {code!r}; `ketaflow stats` lists the clinics.")
    return found


def _number(value: "Decimal | None") -> float | None:
    return None if value is None else float(value)


def _cell(value: Any) -> Any:
    """A report value as JSON/CSV carries it: dates as ISO text, milligrams as numbers."""
    if isinstance(value, Decimal):
        return float(value)
    return value.isoformat() if hasattr(value, "isoformat") else value


def _audit(db: "Session", command: str, clinic_id: Any, details: dict[str, Any]) -> None:
    from ketaflow.audit_codes import OPERATOR_ROLE
    from ketaflow.services.audit import Actor, cli_origin, record_read

    origin = cli_origin(f"controlled {command}")
    actor = Actor(
        None, f"cli:controlled {command}", origin.ip_address, origin.user_agent, roles=OPERATOR_ROLE
    )
    record_read(db, actor, f"controlled.{command}", "clinic", clinic_id, clinic_id=clinic_id, details=details)


@controlled_app.command("ledger")
def ledger(
    clinic: ClinicCode,
    start: Annotated[
        str | None, typer.Option("--from", help="First day (YYYY-MM-DD, UTC), inclusive.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD, UTC), inclusive.")] = None,
    as_json: AsJson = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Every ledger entry of a clinic in time order: kind, time, lot, mg, mL, who, witness, patient, order."""
    import csv
    import sys
    from datetime import UTC, datetime, time, timedelta

    from sqlalchemy.orm import Session

    from ketaflow.services.controlled import ledger_entries
    from ketaflow.store.migrate import check_schema

    if as_json == as_csv:
        fail("Choose the format: --json or --csv.")
    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
    except ValueError:
        fail("Give --from and --to as dates like 2026-12-01.")
    if first and last and last < first:
        fail("--to is before --from; swap them.")
    engine = _engine(database_url)
    try:
        check_schema(engine)
        with Session(engine) as db:
            (row,) = _clinics(db, clinic)
            lines = ledger_entries(
                db,
                row.id,
                start=datetime.combine(first, time(), UTC) if first else None,
                end=datetime.combine(last + timedelta(days=1), time(), UTC) if last else None,
            )
            _audit(db, "ledger", row.id, {"entries": len(lines), "from": start, "to": end})
    except KetaflowError as exc:
        fail(str(exc))
    records = [
        {
            "kind": line.kind,
            "at": line.at.isoformat(),
            "lot": line.lot,
            "quantity_mg": _number(line.quantity_mg),
            "quantity_ml": _number(line.quantity_ml),
            "by": line.by,
            "witness": line.witness,
            "patient_id": str(line.patient_id) if line.patient_id else None,
            "dose_order_id": str(line.dose_order_id) if line.dose_order_id else None,
            "reason": line.reason,
        }
        for line in lines
    ]
    if as_json:
        emit_json({"clinic": row.code, "entries": records})
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=LEDGER_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)


@controlled_app.command("reconcile")
def reconcile(
    clinic: Annotated[
        str | None, typer.Option("--clinic", help="One clinic's code (default: every clinic).")
    ] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Each lot's balance (received = given + wasted + destroyed + adjusted + on hand) and any discrepancy."""
    from sqlalchemy.orm import Session

    from ketaflow.services.controlled import lot_reports
    from ketaflow.store.migrate import check_schema

    engine = _engine(database_url)
    out: list[dict[str, Any]] = []
    try:
        check_schema(engine)
        with Session(engine) as db:
            for row in _clinics(db, clinic):
                reports = lot_reports(db, row.id)
                _audit(db, "reconcile", row.id, {"lots": len(reports)})
                for r in reports:
                    b = r.balance
                    out.append(
                        {
                            "clinic": row.code,
                            "lot": r.lot,
                            "product": r.product,
                            "expires_on": r.expires_on.isoformat(),
                            **{f: _number(getattr(b, f)) for f in RECONCILE_FIELDS},
                            "discrepancy_mg": _number(b.discrepancy_mg),
                            "balances": b.balances(),
                        }
                    )
    except KetaflowError as exc:
        fail(str(exc))
    if as_json:
        emit_json({"lots": out})
        return
    if not out:
        typer.echo("No controlled-substance lots are recorded.")
        return
    for lot in out:
        gap = lot["discrepancy_mg"]
        flag = "" if not gap else f"  DISCREPANCY {gap:+.3f} mg at the latest count"
        typer.echo(
            f"{lot['clinic']:<6} lot {lot['lot']:<12} received {lot['received_mg']:.3f} = given "
            f"{lot['administered_mg']:.3f} + wasted {lot['wasted_mg']:.3f} "
            f"+ destroyed {lot['destroyed_mg']:.3f} + adjusted {lot['adjusted_mg']:.3f} "
            f"+ on hand {lot['on_hand_mg']:.3f} mg{flag}"
        )


INVENTORY_FIELDS = (
    "ndc",
    "name",
    "strength",
    "dosage_form",
    "lot",
    "expires_on",
    "unopened_vials",
    "unopened_mg",
    "opened_vials",
    "opened_mg",
    "opened_ml",
    "in_bags_mg",
    "on_hand_mg",
    "counted_at",
    "counted_mg",
    "discrepancy_mg",
)


@controlled_app.command("inventory")
def inventory(
    clinic: ClinicCode,
    day: Annotated[
        str | None,
        typer.Option("--day", help="The clinic's local day (YYYY-MM-DD); default: yesterday."),
    ] = None,
    opening: Annotated[
        bool, typer.Option("--opening", help="Taken at the opening of business (default: the close).")
    ] = False,
    as_json: AsJson = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The biennial inventory (21 CFR 1304.11): every controlled substance on hand, lot by lot."""
    import csv
    import sys
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from sqlalchemy.orm import Session

    from ketaflow.services.controlled_reports import inventory_moment, inventory_of
    from ketaflow.store.migrate import check_schema

    if as_json == as_csv:
        fail("Choose the format: --json or --csv.")
    try:
        chosen = date.fromisoformat(day) if day else None
    except ValueError:
        fail("Give --day as a date like 2026-12-01.")
    engine = _engine(database_url)
    try:
        check_schema(engine)
        with Session(engine) as db:
            (row,) = _clinics(db, clinic)
            now = datetime.now(UTC)
            chosen = chosen or now.astimezone(ZoneInfo(row.timezone)).date() - timedelta(days=1)
            at = inventory_moment(row, chosen, close_of_business=not opening)
            if at > now:
                fail("That inventory's moment has not come yet; choose an earlier day or --opening.")
            report = inventory_of(db, row.id, at=at, close_of_business=not opening)
            registrant = {
                "clinic": row.code,
                "registrant": row.name,
                "dea_registration": row.dea_registration,
            }
            _audit(db, "inventory", row.id, {"at": at.isoformat(), "lines": len(report.lines)})
    except KetaflowError as exc:
        fail(str(exc))
    lines = [{field: _cell(getattr(line, field)) for field in INVENTORY_FIELDS} for line in report.lines]
    if as_json:
        emit_json(
            {
                **registrant,
                "at": at.isoformat(),
                "taken_at": "opening of business" if opening else "close of business",
                "on_hand_mg": _number(report.on_hand_mg),
                "lines": lines,
            }
        )
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=INVENTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(lines)


def register(app: typer.Typer) -> None:
    app.add_typer(controlled_app, name="controlled")
