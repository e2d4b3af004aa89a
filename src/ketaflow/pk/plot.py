"""Figures for people: headless matplotlib (Agg), never imported by the engine."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ketaflow.errors import InvalidInput
from ketaflow.pk.catalog import concentration_bands, get_model
from ketaflow.pk.population import PopulationResult
from ketaflow.pk.routes import RouteResult
from ketaflow.pk.simulate import PatientSimulation

SUFFIXES = (".png", ".svg")
_BAND_COLOURS = {"analgesic": "#d9f0d3", "antidepressant_subanaesthetic": "#c6dbef"}


def check_path(path: str | Path) -> Path:
    """Return the path if it ends in .png or .svg; raise InvalidInput otherwise."""
    p = Path(path)
    if p.suffix.lower() not in SUFFIXES:
        raise InvalidInput("The plot file must end in .png or .svg.")
    if not p.parent.exists():
        raise InvalidInput(f"The folder '{p.parent}' does not exist.")
    return p


def _new() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(9, 5), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _bands(ax: Axes, top: float) -> None:
    for band in concentration_bands():
        if band.low_ng_per_ml < top and band.name in _BAND_COLOURS:
            ax.axhspan(
                band.low_ng_per_ml,
                min(band.high_ng_per_ml, top),
                color=_BAND_COLOURS[band.name],
                alpha=0.5,
                zorder=0,
                label=f"{band.name.replace('_', ' ')} band "
                f"{band.low_ng_per_ml:g}-{band.high_ng_per_ml:g} ng/mL",
            )


def plot_simulation(sim: PatientSimulation, path: str | Path, regimen_text: str = "") -> Path:
    """Draw Cp and Ce of one patient, the recovery point and literature bands."""
    p = check_path(path)
    fig, ax = _new()
    top = 1.15 * max(float(sim.cp_ng_per_ml.max()), float(sim.ce_ng_per_ml.max()))
    _bands(ax, top)
    ax.plot(sim.t_min, sim.cp_ng_per_ml, color="#08519c", lw=2, label="plasma (Cp)")
    ax.plot(sim.t_min, sim.ce_ng_per_ml, color="#a63603", lw=2, ls="--", label="effect site (Ce)")
    s = sim.summary
    ax.axvline(s.end_of_dosing_min, color="grey", lw=1, ls=":", label="end of infusion")
    ax.plot([s.tmax_min], [s.cmax_ng_per_ml], "o", color="#08519c")
    ax.annotate(
        f"peak {s.cmax_ng_per_ml:.0f} ng/mL at {s.tmax_min:.1f} min",
        (s.tmax_min, s.cmax_ng_per_ml),
        xytext=(10, 5),
        textcoords="offset points",
    )
    if s.minutes_to_half_after_end is not None:
        t_half = s.end_of_dosing_min + s.minutes_to_half_after_end
        ax.plot([t_half], [s.cmax_ng_per_ml / 2], "s", color="black")
        ax.annotate(
            f"Cp below half its peak {s.minutes_to_half_after_end:.1f} min after the end",
            (t_half, s.cmax_ng_per_ml / 2),
            xytext=(10, 5),
            textcoords="offset points",
        )
    ax.set_ylim(0, top)
    ax.set_xlim(0, float(sim.t_min[-1]))
    ax.set_xlabel("time (min)")
    ax.set_ylabel("ketamine concentration (ng/mL)")
    what = f"{regimen_text}, " if regimen_text else ""
    ax.set_title(f"{what}{sim.weight_kg:g} kg, model {sim.model} (ke0 {sim.ke0_per_min:.3f}/min, derived)")
    ax.legend(loc="upper right", fontsize=8)
    fig.savefig(p)
    return p


def plot_routes(results: Sequence[RouteResult], path: str | Path, model: str = "") -> Path:
    """Draw the 5-95 % ribbon and median of Cp for each route."""
    p = check_path(path)
    fig, ax = _new()
    colours = ["#08519c", "#238b45", "#d94801", "#6a51a3", "#737373"]
    top = max(float(r.cp_percentiles[2].max()) for r in results) * 1.1
    for r, colour in zip(results, colours * 2, strict=False):
        ax.fill_between(r.t_min, r.cp_percentiles[0], r.cp_percentiles[2], color=colour, alpha=0.2)
        ax.plot(
            r.t_min,
            r.cp_percentiles[1],
            color=colour,
            lw=2,
            label=f"{r.route} ({r.dose_description}): Cmax CV {100 * r.cmax.cv:.0f}%",
        )
    ax.set_ylim(0, top)
    ax.set_xlim(0, float(results[0].t_min[-1]))
    ax.set_xlabel("time (min)")
    ax.set_ylabel("plasma ketamine (ng/mL): median and 5-95% of patients")
    ax.set_title(f"Routes compared at clinic doses{f' (model {model})' if model else ''}")
    ax.legend(loc="upper right", fontsize=8)
    fig.savefig(p)
    return p


def plot_population(result: PopulationResult, path: str | Path) -> Path:
    """Draw the 5-50-95 % percentiles of Cp over time for a population."""
    p = check_path(path)
    fig, ax = _new()
    t, pct = result.t_sampled_min, result.percentiles()
    _bands(ax, float(pct[2].max()) * 1.1)
    ax.fill_between(t, pct[0], pct[2], color="#08519c", alpha=0.25, label="5-95% of patients")
    ax.plot(t, pct[1], color="#08519c", lw=2, label="median")
    ax.set_ylim(0, float(np.max(pct[2])) * 1.1)
    ax.set_xlim(0, float(t[-1]))
    ax.set_xlabel("time (min)")
    ax.set_ylabel("plasma ketamine (ng/mL)")
    iiv = get_model(result.model).iiv_source
    ax.set_title(
        f"{result.weights_kg.size} virtual patients, model {result.model} "
        f"(between-patient variability: {iiv})"
    )
    ax.legend(loc="upper right", fontsize=8)
    fig.savefig(p)
    return p
