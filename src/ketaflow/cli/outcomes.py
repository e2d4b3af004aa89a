"""CLI commands for outcomes and network analytics: dashboard, dissociation, one patient, export."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ketaflow.cli.output import emit_json, fail
from ketaflow.cli.system import DatabaseUrl, _engine
from ketaflow.errors import KetaflowError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ketaflow.analytics import MeanSummary, Proportion
    from ketaflow.services.outcomes import UnitOutcomes

outcomes_app = typer.Typer(
    help="Response, remission, side effects and the dissociation question, per clinic or network.",
    invoke_without_command=True,
)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
ClinicOption = Annotated[str | None, typer.Option("--clinic", help="Clinic code or name (default: network).")]


def _checked_engine(database_url: str | None) -> "Engine":
    from ketaflow.store.migrate import check_schema

    engine: Engine = _engine(database_url)
    try:
        check_schema(engine)
    except KetaflowError as exc:
        fail(str(exc))
    return engine


def _pct(p: "Proportion") -> str:
    if p.estimate is None or p.ci_low is None or p.ci_high is None:
        return "n/a (no patients)"
    return f"{p.estimate:6.1%} ({p.ci_low:.1%} to {p.ci_high:.1%}; {p.successes}/{p.n})"


def _mean(s: "MeanSummary", unit: str) -> str:
    if s.mean is None:
        return "n/a"
    ci = "" if s.ci_low is None else f" (95% CI {s.ci_low:.1f} to {s.ci_high:.1f})"
    return f"{s.mean:.1f} {unit}{ci}, n={s.n}"


def _print_unit(u: "UnitOutcomes") -> None:
    typer.echo(f"{u.code} {u.name}")
    per = f"{u.infusions_per_patient:.1f}" if u.infusions_per_patient is not None else "n/a"
    typer.echo(f"  patients treated {u.patients_treated:,}; infusions {u.infusions:,} ({per} per patient)")
    typer.echo(
        f"  depression courses: {u.courses_started:,} started, {u.courses_completed:,} completed induction, "
        f"{u.courses_evaluable:,} with an end-of-induction PHQ-9"
    )
    if u.questionnaire_return is not None:
        typer.echo(f"  end-of-induction PHQ-9 returned {_pct(u.questionnaire_return)}")
    typer.echo(f"  response   {_pct(u.response)}")
    b = u.response_bounds
    if b is not None and b.missing and b.lowest is not None and b.highest is not None:
        typer.echo(
            f"    with {b.missing} questionnaires missing, response lies between {b.lowest:.1%} "
            f"(none of them responded) and {b.highest:.1%} (all did)"
        )
    typer.echo(f"  remission  {_pct(u.remission)}")
    typer.echo(f"  drop-out   {_pct(u.dropout)}")
    median = u.median_infusions_to_first_response
    typer.echo(
        f"  first response: median {median if median is not None else 'n/a'} infusions; "
        f"{_mean(u.days_to_first_response, 'days')} after the first infusion"
    )
    typer.echo(f"  recovery to discharge: {_mean(u.recovery_minutes, 'min')}")
    typer.echo(f"  adverse events        {_pct(u.adverse_events)} of infusions")
    typer.echo(f"  blood-pressure pauses {_pct(u.blood_pressure_pauses)} of infusions")
    for s in u.side_effects:
        typer.echo(f"    {s.kind:<16} {_pct(s.rate)}")


@outcomes_app.callback()
def outcomes(
    ctx: typer.Context,
    clinic: ClinicOption = None,
    network: Annotated[bool, typer.Option("--network", help="The whole network (the default).")] = False,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Outcomes dashboard of one clinic (--clinic) or the network (--network), with 95% intervals."""
    if ctx.invoked_subcommand is not None:
        if clinic or network or as_json or database_url:
            fail("Give --clinic, --network, --json and --database-url after the subcommand's name.")
        return
    if clinic and network:
        fail("Give either --clinic or --network, not both.")
    from ketaflow.services.outcomes import outcomes_dashboard

    engine = _checked_engine(database_url)
    try:
        board = outcomes_dashboard(engine, clinic=clinic)
    except KetaflowError as exc:
        fail(str(exc))
    if as_json:
        emit_json(_plain(board))
        return
    typer.echo(f"Outcomes: {board.scope}")
    _print_unit(board.total)
    if len(board.clinics) > 1:
        typer.echo("By clinic (response, 95% Wilson interval):")
        for u in board.clinics:
            typer.echo(f"  {u.code:<6} {u.name:<28} {_pct(u.response)}")
        h = board.response_between_clinics
        verdict = "more than chance" if h.p_value < 0.05 else "within what chance produces"
        typer.echo(
            f"  Between clinics: chi-square {h.chi_square:.1f} on {h.degrees_of_freedom} df, "
            f"p = {h.p_value:.3f} ({verdict})."
        )
    for note in board.definitions:
        typer.echo(f"Note: {note}")


@outcomes_app.command("refresh")
def refresh(as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Recompute and store the outcome summary the dashboard reads on PostgreSQL (run it on a schedule)."""
    from ketaflow.services.outcomes.summary import refresh_outcome_summaries

    engine = _checked_engine(database_url)
    try:
        r = refresh_outcome_summaries(engine)
    except KetaflowError as exc:
        fail(str(exc))
    if as_json:
        emit_json({"clinics": r.clinics, "computed_at": r.computed_at.isoformat(), "seconds": r.seconds})
        return
    kept = "" if r.stored else " (a newer summary was stored meanwhile and kept)"
    typer.echo(
        f"Outcome summary of {r.clinics} clinics as of {r.computed_at:%Y-%m-%d %H:%M} UTC "
        f"({r.seconds:.1f} s){kept}."
    )


@outcomes_app.command("dissociation")
def dissociation(
    clinic: ClinicOption = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Does stronger dissociation (CADSS) in the first infusions go with response? Effect size and CI."""
    from ketaflow.services.outcomes import dissociation_report

    engine = _checked_engine(database_url)
    try:
        report = dissociation_report(engine, clinic=clinic)
    except KetaflowError as exc:
        fail(str(exc))
    if as_json:
        emit_json(_plain(report))
        return
    a = report.association
    typer.echo(report.statement)
    typer.echo(
        f"Log-odds of response per SD of mean peak CADSS: {a.log_odds_per_sd_cadss:.3f} "
        f"(95% CI {a.ci_low:.3f} to {a.ci_high:.3f}, p = {a.p_value:.2g}); baseline PHQ-9 per SD: "
        f"{a.log_odds_per_sd_baseline_phq9:.3f} ({a.baseline_ci_low:.3f} to {a.baseline_ci_high:.3f})."
    )
    typer.echo(f"Caveat: {a.caveat}")
    t = report.demo_truth
    if t is not None:
        typer.echo(
            f"Demo ground truth: response {t.response_fraction:.3f} "
            f"({'inside' if t.response_rate_in_ci else 'outside'} the interval: "
            f"{_pct(report.response).strip()}); "
            f"log-odds per SD {t.log_odds_response_per_sd_cadss:.3f} "
            f"({'inside' if t.association_in_ci else 'outside'} the interval)."
        )


@outcomes_app.command("patient")
def patient(
    mrn: Annotated[str, typer.Option("--mrn", help="The patient's medical record number.")],
    as_json: AsJson = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the trajectory chart to this PNG.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """One patient's questionnaire trajectories with response and remission, infusions marked."""
    from ketaflow.services.outcomes import patient_trajectory

    engine = _checked_engine(database_url)
    try:
        traj = patient_trajectory(engine, mrn=mrn)
    except KetaflowError as exc:
        fail(str(exc))
    if plot is not None:
        _plot(traj, plot)
    if as_json:
        emit_json(_plain(traj))
        return
    typer.echo(f"Patient {traj.mrn}: {len(traj.infusions)} infusions")
    for t in traj.instruments:
        totals = " ".join(str(p.total) for p in t.points)
        typer.echo(f"  {t.instrument:<8} {totals}")
        if t.response is not None:
            first = (
                f"first response after {t.infusions_to_first_response} infusions "
                f"({t.days_to_first_response:.0f} days)"
                if t.infusions_to_first_response is not None and t.days_to_first_response is not None
                else "no response yet"
            )
            rem = "" if t.remission is None else f", remission {'yes' if t.remission else 'no'}"
            typer.echo(f"           latest: response {'yes' if t.response else 'no'}{rem}; {first}")
    if plot is not None:
        typer.echo(f"Chart written to {plot}")


def _plot(traj: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for t in traj.instruments:
        ax.plot(
            [p.answered_at for p in t.points], [p.total for p in t.points], marker="o", label=t.instrument
        )
    for mark in traj.infusions:
        ax.axvline(mark.at, color="grey", alpha=0.25, linewidth=1)
    ax.set_title(f"Patient {traj.mrn}: questionnaire totals (grey lines: infusions)")
    ax.set_ylabel("total score")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        fail(f"Could not write the chart to {path}: {exc.strerror}.")
    finally:
        plt.close(fig)


@outcomes_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the tables into.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    database_url: DatabaseUrl = None,
) -> None:
    """De-identified outcome tables for research: study ids, dates shifted per patient, no names."""
    from ketaflow.services.outcomes import export_deidentified

    if fmt not in ("csv", "parquet"):
        fail(f"--format must be csv or parquet; got {fmt!r}.")
    engine = _checked_engine(database_url)
    try:
        written = export_deidentified(engine, out, fmt=fmt)
    except KetaflowError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"Could not write to {out}: {exc.strerror}.")
    for path, rows in written.files:
        typer.echo(f"  {path}  {rows:,} rows")


def _plain(value: Any) -> Any:
    from ketaflow.services.outcomes import as_plain

    return as_plain(value)


def register(app: typer.Typer) -> None:
    """Add this topic's commands to the main app."""
    app.add_typer(outcomes_app, name="outcomes")
