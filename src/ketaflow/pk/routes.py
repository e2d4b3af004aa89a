"""Route comparison: why IV? The same virtual patients dosed by each route."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketaflow.errors import InvalidInput
from ketaflow.pk.catalog import RouteSpec, default_model, get_route
from ketaflow.pk.grid import grid_simulation
from ketaflow.pk.modes import FloatArray
from ketaflow.pk.parameters import as_weights
from ketaflow.pk.population import PERCENTILES, population_modes
from ketaflow.pk.readouts import Distribution
from ketaflow.pk.regimen import Bolus, ExtravascularDose, Infusion, Regimen
from ketaflow.pk.simulate import time_grid
from ketaflow.pk.solve import auc_exact

DEFAULT_ROUTES = ("iv", "im", "intranasal", "oral")
DEFAULT_MODEL = default_model()  # the model closest to the pooled evidence (pk/data/models.toml)


@dataclass(frozen=True)
class RouteResult:
    """Population outcome of one route at its clinic dose."""

    route: str
    title: str
    dose_mg: float
    dose_description: str
    dose_source: str
    route_source: str
    cmax: Distribution
    auc: Distribution
    tmax: Distribution
    t_min: FloatArray
    cp_percentiles: FloatArray  # shape (3, n_times): 5th, 50th, 95th


def clinic_regimen(route: RouteSpec, weight_kg: float) -> tuple[Regimen, str]:
    """Return the regimen a clinic would give by this route, and a description."""
    if route.clinic_dose_mg_per_kg is not None:
        dose = route.clinic_dose_mg_per_kg * weight_kg
        text = f"{route.clinic_dose_mg_per_kg:g} mg/kg"
    elif route.clinic_dose_mg is not None:
        dose, text = route.clinic_dose_mg, f"{route.clinic_dose_mg:g} mg"
    else:
        raise InvalidInput(f"Route '{route.name}' has no clinic dose in the data file.")
    if not route.extravascular:
        if route.clinic_infusion_min:
            minutes = route.clinic_infusion_min
            infusion = Infusion(0.0, minutes, dose / minutes)
            return Regimen(infusions=(infusion,)), f"{text} over {minutes:g} min"
        return Regimen(boluses=(Bolus(0.0, dose),)), f"{text} bolus"
    return Regimen(extravascular=(ExtravascularDose(0.0, dose, route.name),)), text


def compare_routes(
    weight_kg: float,
    n_patients: int,
    *,
    seed: int = 1,
    routes: tuple[str, ...] = DEFAULT_ROUTES,
    model: str = DEFAULT_MODEL,
    until_min: float = 240.0,
    step_s: float = 10.0,
) -> list[RouteResult]:
    """Simulate the same virtual patients dosed by each route at its clinic dose.

    All patients have the given weight; between-patient variability comes from the
    model's IIV and, for extravascular routes, from F and ka.
    """
    if n_patients < 2:
        raise InvalidInput("Compare routes on at least two virtual patients.")
    w0 = float(as_weights(weight_kg)[0])
    specs = [get_route(r) for r in routes]
    ev_routes = tuple(s.name for s in specs if s.extravascular)
    weights = np.full(n_patients, w0)
    modes, _ = population_modes(model, n_patients, seed, ev_routes, weights)
    dt_min, n = time_grid(until_min, step_s)
    t = np.arange(n) * dt_min
    results = []
    for spec in specs:
        regimen, text = clinic_regimen(spec, w0)
        g = grid_simulation(modes, regimen, dt_min, n, outputs=("cp",))
        cp, i_max, cmax = g.conc["cp"], g.peak_index["cp"], g.peak["cp"]
        auc = auc_exact(modes, regimen, float(t[-1]))
        results.append(
            RouteResult(
                route=spec.name,
                title=spec.title,
                dose_mg=regimen.total_dose_mg,
                dose_description=text,
                dose_source=spec.clinic_dose_source,
                route_source=spec.source,
                cmax=Distribution.of(cmax),
                auc=Distribution.of(auc),
                tmax=Distribution.of(t[i_max]),
                t_min=t,
                cp_percentiles=np.percentile(cp, PERCENTILES, axis=0),
            )
        )
    return results
