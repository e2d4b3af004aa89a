"""CLI commands for ketaflow.pk: simulate, routes, population, models.

NumPy, SciPy and the PK engine are imported inside the commands: every `ketaflow` command
loads this module to list its commands, and only these need them.
"""

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from ketaflow.cli.output import emit_json, fail
from ketaflow.errors import KetaflowError


def _default_model_name() -> str:
    """The `[evidence] default_model` of pk/data/models.toml, read without importing the PK engine
    (importing ketaflow.pk loads NumPy and SciPy, which `ketaflow --help` must not pay for); the
    engine itself checks the name against its models (`ketaflow.pk.catalog.pooled_evidence`)."""
    import tomllib
    from importlib import resources

    text = (resources.files("ketaflow") / "pk" / "data" / "models.toml").read_text(encoding="utf-8")
    return str(tomllib.loads(text)["evidence"]["default_model"])


# Wherever no model is named, the one closest to the pooled evidence (pk/data/models.toml).
DEFAULT_MODEL = _default_model_name()
MODEL_HELP = (
    f"Model name (see `ketaflow pk models`). Default {DEFAULT_MODEL}: the adult model closest to the "
    "pooled evidence (Kamp 2020 meta-analysis, clearance 79 L/h); domino clears about 1.5x faster."
)

pk_app = typer.Typer(
    name="pk",
    help="Pharmacokinetics: predicted ketamine levels, routes and populations.",
    no_args_is_help=True,
    add_completion=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Write a figure to FILE.png or FILE.svg.")]


@contextmanager
def _domain_errors() -> Iterator[list[str]]:
    """Turn domain errors into one sentence and exit 2; collect range warnings."""
    from ketaflow.pk import OutsideFittedRangeWarning

    collected: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", OutsideFittedRangeWarning)
            yield collected
        for w in caught:
            if issubclass(w.category, OutsideFittedRangeWarning):
                collected.append(str(w.message))
    except (KetaflowError, ValueError) as exc:
        fail(str(exc))


def _warn(messages: list[str] | tuple[str, ...]) -> None:
    for m in messages:
        typer.echo(f"Warning: {m}", err=True)


def _check_plot(path: Path | None) -> None:
    """Refuse a bad plot path before any simulation runs (one sentence, exit 2)."""
    if path is not None:
        from ketaflow.pk.plot import check_path

        check_path(path)


def _plot(path: Path | None, draw: Callable[[Path], Path]) -> None:
    if path is not None:
        written = draw(path)
        typer.echo(f"Plot written to {written}", err=True)


@pk_app.command()
def simulate(
    weight_kg: Annotated[float, typer.Option(help="Body weight in kg.")],
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = DEFAULT_MODEL,
    dose_mg_per_kg: Annotated[float, typer.Option(help="Dose in mg/kg.")] = 0.5,
    minutes: Annotated[float, typer.Option(help="Infusion duration in minutes.")] = 40.0,
    until_min: Annotated[float, typer.Option(help="Simulate from 0 to this minute.")] = 240.0,
    step_s: Annotated[float, typer.Option(help="Grid step in seconds.")] = 1.0,
    age_yr: Annotated[float | None, typer.Option(help="Age, to check the model's range.")] = None,
    recovery_ng_per_ml: Annotated[
        float | None, typer.Option(help="Also report when Cp falls below this level.")
    ] = None,
    json_out: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Simulate one patient's infusion: Cp and Ce curves, peak, AUC, recovery."""
    from ketaflow import pk

    with _domain_errors() as range_warnings:
        _check_plot(plot)
        regimen = pk.weight_based_infusion(weight_kg, dose_mg_per_kg, minutes)
        sim = pk.simulate(
            model,
            weight_kg,
            regimen,
            until_min=until_min,
            step_s=step_s,
            age_yr=age_yr,
            recovery_level_ng_per_ml=recovery_ng_per_ml,
        )
        spec = pk.get_model(sim.model)
        if plot is not None:
            from ketaflow.pk.plot import plot_simulation

            text = f"{dose_mg_per_kg:g} mg/kg over {minutes:g} min"
            _plot(plot, lambda p: plot_simulation(sim, p, text))
    _warn(range_warnings)
    s = sim.summary
    if json_out:
        emit_json(
            {
                "model": sim.model,
                "model_title": spec.title,
                "citation": asdict(spec.citation),
                "ke0_per_min": sim.ke0_per_min,
                "ke0_rule": spec.ke0_rule,
                "weight_kg": sim.weight_kg,
                "dose_mg": regimen.total_dose_mg,
                "infusion_min": minutes,
                "t_min": sim.t_min,
                "cp_ng_per_ml": sim.cp_ng_per_ml,
                "ce_ng_per_ml": sim.ce_ng_per_ml,
                "summary": asdict(s),
                "bands": [asdict(b) for b in pk.concentration_bands()],
                "peak_in_bands": [b.name for b in pk.bands_containing(s.cmax_ng_per_ml)],
                "warnings": list(range_warnings),
            }
        )
        return
    typer.echo(f"Model {sim.model}: {spec.title}")
    typer.echo(f"  {regimen.total_dose_mg:g} mg over {minutes:g} min to a {weight_kg:g} kg patient")
    typer.echo(f"  peak Cp   {s.cmax_ng_per_ml:8.1f} ng/mL at {s.tmax_min:.2f} min")
    typer.echo(f"  peak Ce   {s.ce_max_ng_per_ml:8.1f} ng/mL at {s.ce_tmax_min:.2f} min")
    typer.echo(f"  AUC 0-{until_min:g} min  {s.auc_ng_min_per_ml:.0f} ng*min/mL")
    half = s.minutes_to_half_after_end
    typer.echo(
        "  Cp below half its peak "
        + (f"{half:.2f} min after the end" if half is not None else "not within 24 h")
    )
    if recovery_ng_per_ml is not None:
        rec = s.minutes_to_recovery_after_end
        typer.echo(
            f"  Cp below {recovery_ng_per_ml:g} ng/mL "
            + (f"{rec:.1f} min after the end" if rec is not None else "not within 24 h")
        )


def _dist(d: Any) -> dict[str, float]:
    return {k: float(v) for k, v in asdict(d).items()}


@pk_app.command()
def routes(
    weight_kg: Annotated[float, typer.Option(help="Body weight in kg.")],
    patients: Annotated[int, typer.Option(help="Virtual patients per route.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = DEFAULT_MODEL,
    route: Annotated[
        list[str] | None,
        typer.Option(help="Route to include (repeatable); default iv, im, intranasal, oral."),
    ] = None,  # fmt: skip
    until_min: Annotated[float, typer.Option(help="Simulate from 0 to this minute.")] = 240.0,
    step_s: Annotated[float, typer.Option(help="Grid step in seconds.")] = 10.0,
    json_out: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Compare routes at clinic doses across a population: median, 5-95 %, CV."""
    from ketaflow import pk
    from ketaflow.pk.routes import DEFAULT_ROUTES

    with _domain_errors():
        _check_plot(plot)
        chosen = tuple(route) if route else DEFAULT_ROUTES
        results = pk.compare_routes(
            weight_kg,
            patients,
            seed=seed,
            routes=chosen,
            model=model,
            until_min=until_min,
            step_s=step_s,
        )
        if plot is not None:
            from ketaflow.pk.plot import plot_routes

            _plot(plot, lambda p: plot_routes(results, p, model))
    if json_out:
        t = results[0].t_min
        stride = max(1, round(1.0 / float(t[1] - t[0]))) if t.size > 1 else 1
        emit_json(
            {
                "model": model,
                "weight_kg": weight_kg,
                "patients": patients,
                "seed": seed,
                "t_min": t[::stride],
                "routes": [
                    {
                        "route": r.route,
                        "title": r.title,
                        "dose_mg": r.dose_mg,
                        "dose": r.dose_description,
                        "dose_source": r.dose_source,
                        "route_source": r.route_source,
                        "cmax_ng_per_ml": _dist(r.cmax),
                        "auc_ng_min_per_ml": _dist(r.auc),
                        "tmax_min": _dist(r.tmax),
                        "cp_p5_ng_per_ml": r.cp_percentiles[0, ::stride],
                        "cp_p50_ng_per_ml": r.cp_percentiles[1, ::stride],
                        "cp_p95_ng_per_ml": r.cp_percentiles[2, ::stride],
                    }
                    for r in results
                ],
            }
        )
        return
    typer.echo(f"{patients} virtual patients of {weight_kg:g} kg, model {model}, seed {seed}")
    typer.echo(
        f"{'route':<11} {'dose':<24} {'Cmax median (5-95%) ng/mL':<30} {'CV':>5}  "
        f"{'AUC median (5-95%) ng*min/mL':<32} {'CV':>5}"
    )
    for r in results:
        c, a = r.cmax, r.auc
        typer.echo(
            f"{r.route:<11} {r.dose_description:<24} "
            f"{f'{c.p50:.0f} ({c.p5:.0f}-{c.p95:.0f})':<30} {100 * c.cv:4.0f}%  "
            f"{f'{a.p50:.0f} ({a.p5:.0f}-{a.p95:.0f})':<32} {100 * a.cv:4.0f}%"
        )


@pk_app.command()
def population(
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = DEFAULT_MODEL,
    patients: Annotated[int, typer.Option(help="Number of virtual patients.")] = 10000,
    dose_mg_per_kg: Annotated[float, typer.Option(help="Dose in mg/kg.")] = 0.5,
    minutes: Annotated[float, typer.Option(help="Infusion duration in minutes.")] = 40.0,
    until_min: Annotated[float, typer.Option(help="Simulate from 0 to this minute.")] = 240.0,
    step_s: Annotated[float, typer.Option(help="Grid step in seconds.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    threshold_ng_per_ml: Annotated[
        float, typer.Option(help="Level for the time-above distribution.")
    ] = 100.0,
    json_out: JsonOpt = False,
    plot: PlotOpt = None,
) -> None:
    """Simulate a virtual adult population: percentiles of Cp, Cmax and AUC spread."""
    from ketaflow import pk

    with _domain_errors():
        _check_plot(plot)
        started = time.perf_counter()
        result = pk.protocol_population(
            model,
            patients,
            dose_mg_per_kg,
            minutes,
            until_min=until_min,
            step_s=step_s,
            seed=seed,
            threshold_ng_per_ml=threshold_ng_per_ml,
        )
        elapsed = time.perf_counter() - started
        t, pct = result.t_sampled_min, result.percentiles()
        dists = {k: _dist(v) for k, v in result.distributions().items()}
        if plot is not None:
            from ketaflow.pk.plot import plot_population

            _plot(plot, lambda p: plot_population(result, p))
    if json_out:
        emit_json(
            {
                "model": model,
                "patients": patients,
                "seed": seed,
                "dose_mg_per_kg": dose_mg_per_kg,
                "infusion_min": minutes,
                "step_s": step_s,
                "grid_points": int(result.t_min.size),
                "simulation_s": elapsed,
                "weights_kg": _dist(pk.Distribution.of(result.weights_kg)),
                "threshold_ng_per_ml": threshold_ng_per_ml,
                "t_min": t,
                "cp_p5_ng_per_ml": pct[0],
                "cp_p50_ng_per_ml": pct[1],
                "cp_p95_ng_per_ml": pct[2],
                **dists,
            }
        )
        return
    import numpy as np

    typer.echo(
        f"{patients} virtual patients, model {model}, {dose_mg_per_kg:g} mg/kg over "
        f"{minutes:g} min, {result.t_min.size} points each, simulated in {elapsed:.2f} s"
    )
    for name, d in dists.items():
        typer.echo(
            f"  {name:<26} median {d['p50']:10.1f}  5-95% {d['p5']:.1f}-{d['p95']:.1f}  "
            f"CV {100 * d['cv']:.0f}%"
        )
    for minute in (10, 40, 60, 120, 240):
        i = int(np.searchsorted(t, minute))
        if i < t.size and t[i] == minute:
            typer.echo(
                f"  Cp at {minute:>3} min: median {pct[1, i]:.1f} ng/mL "
                f"(5-95% {pct[0, i]:.1f}-{pct[2, i]:.1f})"
            )


@pk_app.command()
def models(json_out: JsonOpt = False) -> None:
    """List the pharmacokinetic models with their citations and fitted ranges."""
    from ketaflow import pk

    with _domain_errors():
        rows: list[dict[str, Any]] = []
        evidence = pk.pooled_evidence()
        for m in pk.list_models():
            ke0 = pk.derive_ke0(m.name)
            at = evidence.weight_kg
            rows.append(
                {
                    "name": m.name,
                    "default": m.name == evidence.default_model,
                    "clearance_l_per_h_at_70_kg": round(m.clearance_l_per_h(at), 1),
                    "vss_l_at_70_kg": round(m.vss_l(at), 1),
                    "clearance_vs_pooled": round(m.clearance_l_per_h(at) / evidence.cl_l_per_h, 2),
                    "evidence_note": m.evidence_note,
                    "title": m.title,
                    "compartments": m.compartments,
                    "citation": asdict(m.citation),
                    "fitted_range": asdict(m.fitted_range),
                    "parameters_at_ref_weight": {
                        "ref_weight_kg": m.ref_weight_kg,
                        "v1_l": m.v1_l,
                        "v2_l": m.v2_l,
                        "v3_l": m.v3_l,
                        "cl_l_per_min": m.cl_l_per_min,
                        "q2_l_per_min": m.q2_l_per_min,
                        "q3_l_per_min": m.q3_l_per_min,
                        "volume_exponent": m.volume_exponent,
                        "clearance_exponent": m.clearance_exponent,
                    },
                    "published_form": m.published_form,
                    "parameter_source": m.parameter_source,
                    "ke0_per_min": ke0.ke0_per_min,
                    "ke0_rule": ke0.rule,
                    "iiv_omega": m.omega,
                    "iiv_source": m.iiv_source,
                }
            )
    if json_out:
        emit_json({"models": rows, "pooled_evidence": asdict(evidence)})
        return
    typer.echo(
        f"Pooled evidence: clearance {evidence.cl_l_per_h:g} L/h, volume {evidence.vss_l:g} L at "
        f"{evidence.weight_kg:g} kg ({evidence.source})."
    )
    for r in rows:
        c, f = r["citation"], r["fitted_range"]
        mark = " (default)" if r["default"] else ""
        typer.echo(f"{r['name']}{mark}: {r['title']}")
        typer.echo(
            f"  clearance {r['clearance_l_per_h_at_70_kg']:g} L/h at 70 kg, "
            f"{r['clearance_vs_pooled']:g}x the pooled value"
        )
        if r["evidence_note"]:
            typer.echo(f"  {r['evidence_note']}")
        typer.echo(f"  {c['authors']} ({c['year']}). {c['journal']}.")
        typer.echo(f"  PMID {c['pmid'] or '-'}  DOI {c['doi'] or 'not recorded'}")
        ages = f"{f['age_min_yr'] or '-'} to {f['age_max_yr'] or '-'} y"
        weights = f"{f['weight_min_kg'] or '-'} to {f['weight_max_kg'] or '-'} kg"
        typer.echo(f"  fitted on: {f['population']}; age {ages}; weight {weights}")
        if f["note"]:
            typer.echo(f"  note: {f['note']}")
        typer.echo(f"  ke0 {r['ke0_per_min']:.4f}/min, derived: {r['ke0_rule']}")


def register(app: typer.Typer) -> None:
    """Add this topic's commands to the main app."""
    app.add_typer(pk_app, name="pk")
