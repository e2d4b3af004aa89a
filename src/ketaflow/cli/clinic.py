"""CLI commands for a clinic's opening hours, closures and booking horizon (admin and director)."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ketaflow.cli.output import emit_json, fail
from ketaflow.cli.system import DatabaseUrl, _engine
from ketaflow.errors import KetaflowError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ketaflow.services.auth import CurrentUser
    from ketaflow.services.clinic_hours import ClinicHoursView, ClosureEntry, Unfit

clinic_app = typer.Typer(help="A clinic's opening hours, closures and booking horizon.", no_args_is_help=True)
hours_app = typer.Typer(
    help="Show or set the weekly opening hours and the booking horizon.", no_args_is_help=True
)
closures_app = typer.Typer(help="List, add or remove days a clinic is closed.", no_args_is_help=True)
clinic_app.add_typer(hours_app, name="hours")
clinic_app.add_typer(closures_app, name="closures")

Code = Annotated[str, typer.Argument(help="The clinic's code, e.g. aus.")]
As = Annotated[
    str,
    typer.Option(
        "--as",
        help="Your staff e-mail address: the change is recorded under your name and checked against your "
        "role (setting needs admin or director).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
DayOption = Annotated[
    str | None, typer.Option(help='Hours that day: "08:00-18:30", "08:00-12:00, 13:00-18:30" or "closed".')
]
T = TypeVar("T")


def _run(
    command: str, database_url: str | None, email: str, action: "Callable[[Session, CurrentUser], T]"
) -> T:
    """Run one use case (`ketaflow <command>`) as the named staff member; a refusal is one sentence
    and exit code 2. Its audit events carry the command and the OS user as their origin."""
    from sqlalchemy.orm import Session

    from ketaflow.services.audit import cli_origin
    from ketaflow.services.operators import acting_staff
    from ketaflow.store.migrate import check_schema

    engine = _engine(database_url)
    try:
        check_schema(engine)
        with Session(engine, expire_on_commit=False) as db:
            return action(db, acting_staff(db, email, cli_origin(command)))
    except KetaflowError as exc:
        fail(str(exc))


def _now() -> Any:
    from ketaflow.store.models import utcnow

    return utcnow()


def _hours_data(v: "ClinicHoursView") -> dict[str, Any]:
    return {
        "clinic": v.clinic.code,
        "name": v.clinic.name,
        "timezone": v.clinic.timezone,
        "version": v.clinic.version,
        "week": v.week.data(),
        "summary": v.week.summary(),
        "booking_horizon_days": v.clinic.booking_horizon_days,
        "bookable_until": v.bookable_until.isoformat(),
        "closures": [_closure_data(c) for c in v.closures],
    }


def _closure_data(c: "ClosureEntry") -> dict[str, Any]:
    return {"id": str(c.id), "first_day": c.first_day, "last_day": c.last_day, "reason": c.reason}


def _unfit_data(u: "Unfit") -> dict[str, Any]:
    return {
        "appointment_id": str(u.appointment_id),
        "patient_name": u.patient_name,
        "kind": u.kind,
        "starts_at": u.starts_at,
        "chair": u.chair_label,
        "problem": u.problem,
    }


def _print_hours(v: "ClinicHoursView") -> None:
    from ketaflow.hours import WEEKDAYS

    typer.echo(
        f"{v.clinic.name} ({v.clinic.code}), local time {v.clinic.timezone}, version {v.clinic.version}"
    )
    for i, day in enumerate(WEEKDAYS):
        typer.echo(f"  {day.capitalize():<10} {v.week.day_text(i)}")
    typer.echo(
        f"Bookings are taken {v.clinic.booking_horizon_days} days ahead (today: until "
        f"{v.bookable_until:%a %d %b %Y})."
    )
    if v.closures:
        typer.echo("Closures to come:")
        for c in v.closures:
            typer.echo(f"  {c.closure.when()}: {c.reason}  [{c.id}]")
    else:
        typer.echo("No closures to come.")
    typer.echo("Opening hours, closures and the booking horizon are clinic settings, not clinical figures.")


def _print_unfit(unfit: "list[Unfit]", zone: str) -> None:
    from zoneinfo import ZoneInfo

    if not unfit:
        typer.echo("Every booking still to come fits.")
        return
    typer.echo(f"{len(unfit)} booking(s) still to come no longer fit; nothing was moved or cancelled:")
    for u in unfit:
        at = u.starts_at.astimezone(ZoneInfo(zone))
        where = u.chair_label or "no chair"
        typer.echo(f"  {at:%a %d %b %Y %H:%M} {u.patient_name} ({u.kind}, {where}): {u.problem}")


@hours_app.command("show")
def show(code: Code, as_: As, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """The clinic's weekly hours, closures to come and booking horizon."""
    from ketaflow.services import clinic_hours

    view = _run(
        "clinic hours show", database_url, as_, lambda db, who: clinic_hours.hours_view(db, who, code, _now())
    )
    if as_json:
        emit_json(_hours_data(view))
    else:
        _print_hours(view)


@hours_app.command("set")
def set_hours(
    code: Code,
    as_: As,
    monday: DayOption = None,
    tuesday: DayOption = None,
    wednesday: DayOption = None,
    thursday: DayOption = None,
    friday: DayOption = None,
    saturday: DayOption = None,
    sunday: DayOption = None,
    horizon_days: Annotated[
        int | None, typer.Option(help="How many days ahead bookings are taken (clinic policy; default 365).")
    ] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Change the hours of the days given (the others keep theirs) and/or the booking horizon."""
    from ketaflow.hours import WEEKDAYS, parse_day
    from ketaflow.services import clinic_hours

    given = dict(zip(WEEKDAYS, (monday, tuesday, wednesday, thursday, friday, saturday, sunday), strict=True))
    changes = {name: text for name, text in given.items() if text is not None}
    if not changes and horizon_days is None:
        fail("Give the hours of at least one day (e.g. --saturday 09:00-13:00) or --horizon-days.")

    def act(db: "Session", who: "CurrentUser") -> "tuple[ClinicHoursView, list[Unfit]]":
        current = clinic_hours.hours_view(db, who, code, _now())
        week = current.week.with_days(
            {WEEKDAYS.index(d): parse_day(t, WEEKDAYS.index(d)) for d, t in changes.items()}
        )
        return clinic_hours.set_hours(
            db,
            who,
            code,
            week=week,
            expected_version=current.clinic.version,
            booking_horizon_days=horizon_days,
            now=_now(),
        )

    view, unfit = _run("clinic hours set", database_url, as_, act)
    if as_json:
        emit_json({**_hours_data(view), "bookings_outside": [_unfit_data(u) for u in unfit]})
        return
    _print_hours(view)
    _print_unfit(unfit, view.clinic.timezone)


@closures_app.command("list")
def list_closures(code: Code, as_: As, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """The clinic's closures to come."""
    from ketaflow.services import clinic_hours

    view = _run(
        "clinic closures list",
        database_url,
        as_,
        lambda db, who: clinic_hours.hours_view(db, who, code, _now()),
    )
    if as_json:
        emit_json([_closure_data(c) for c in view.closures])
        return
    for c in view.closures:
        typer.echo(f"{c.id}  {c.closure.when()}: {c.reason}")
    if not view.closures:
        typer.echo(f"{view.clinic.name} has no closures to come.")


@closures_app.command("add")
def add_closure(
    code: Code,
    as_: As,
    first_day: Annotated[str, typer.Option("--from", help="First closed day, YYYY-MM-DD.")],
    reason: Annotated[str, typer.Option(help='Why, e.g. "Thanksgiving".')],
    last_day: Annotated[
        str | None, typer.Option("--to", help="Last closed day (default: the first).")
    ] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Close the clinic for a day or a range of days; bookings already made then are listed."""
    from ketaflow.services import clinic_hours

    entry, unfit = _run(
        "clinic closures add",
        database_url,
        as_,
        lambda db, who: clinic_hours.add_closure(
            db, who, code, first_day=first_day, last_day=last_day, reason=reason, now=_now()
        ),
    )
    if as_json:
        emit_json({**_closure_data(entry), "bookings_inside": [_unfit_data(u) for u in unfit]})
        return
    typer.echo(f"Closed {entry.closure.when()} ({entry.reason}). [{entry.id}]")
    if unfit:
        typer.echo(f"{len(unfit)} booking(s) on those days still stand; move or cancel them:")
        for u in unfit:
            typer.echo(
                f"  {u.starts_at.isoformat()} {u.patient_name} ({u.kind}, {u.chair_label or 'no chair'})"
            )


@closures_app.command("remove")
def remove_closure(
    code: Code,
    closure_id: Annotated[
        str, typer.Argument(help="The closure's id (see `ketaflow clinic closures list`).")
    ],
    as_: As,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Take a closure away."""
    import uuid

    from ketaflow.services import clinic_hours

    try:
        ident = uuid.UUID(closure_id.strip())
    except ValueError:
        fail(f"{closure_id!r} is not a closure id; copy it from `ketaflow clinic closures list {code}`.")
    gone = _run(
        "clinic closures remove",
        database_url,
        as_,
        lambda db, who: clinic_hours.remove_closure(db, who, code, ident, now=_now()),
    )
    if as_json:
        emit_json({"removed": _closure_data(gone)})
    else:
        typer.echo(f"Removed the closure {gone.closure.when()} ({gone.reason}).")


def register(app: typer.Typer) -> None:
    app.add_typer(clinic_app, name="clinic")
