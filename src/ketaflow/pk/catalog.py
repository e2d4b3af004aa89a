"""The packaged data: pharmacokinetic models, routes, concentration bands, weights.

Everything clinical lives in ``ketaflow/pk/data/*.toml``; this module reads and
validates it into frozen dataclasses. Adding a model or a route means adding a table
to the data file, not code.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from ketaflow.errors import InvalidInput

_MODELS_FILE = "models.toml"
_ROUTES_FILE = "routes.toml"

#: Parameters that carry between-patient variability, in clearance form.
IIV_PARAMETERS = ("v1", "v2", "v3", "cl", "q2", "q3")


@dataclass(frozen=True)
class Citation:
    """The published source of a model."""

    authors: str
    year: int
    journal: str
    pmid: str
    doi: str


@dataclass(frozen=True)
class FittedRange:
    """The population a model was fitted on; ``None`` means not reported."""

    population: str
    age_min_yr: float | None
    age_max_yr: float | None
    weight_min_kg: float | None
    weight_max_kg: float | None
    note: str

    def violations(self, weight_kg: float, age_yr: float | None) -> list[str]:
        """Return one sentence for each way the patient lies outside the range."""
        out: list[str] = []
        if self.weight_min_kg is not None and weight_kg < self.weight_min_kg:
            out.append(f"weight {weight_kg:g} kg is below the fitted {self.weight_min_kg:g} kg")
        if self.weight_max_kg is not None and weight_kg > self.weight_max_kg:
            out.append(f"weight {weight_kg:g} kg is above the fitted {self.weight_max_kg:g} kg")
        if age_yr is not None:
            if self.age_min_yr is not None and age_yr < self.age_min_yr:
                out.append(f"age {age_yr:g} y is below the fitted {self.age_min_yr:g} y")
            if self.age_max_yr is not None and age_yr > self.age_max_yr:
                out.append(f"age {age_yr:g} y is above the fitted {self.age_max_yr:g} y")
        return out


@dataclass(frozen=True)
class ModelSpec:
    """A compartmental model in clearance form at its reference weight.

    Volumes in L and clearances in L/min at ``ref_weight_kg``; each scales with
    ``(weight / ref_weight_kg) ** exponent``. Compartments 2 and 3 are optional.
    """

    name: str
    title: str
    compartments: int
    citation: Citation
    fitted_range: FittedRange
    ref_weight_kg: float
    volume_exponent: float
    clearance_exponent: float
    v1_l: float
    v2_l: float
    v3_l: float
    cl_l_per_min: float
    q2_l_per_min: float
    q3_l_per_min: float
    omega: dict[str, float]
    parameter_source: str
    iiv_source: str
    ke0_rule: str
    ke0_tpeak_min: float
    published_form: dict[str, float] = field(default_factory=dict)
    evidence_note: str = ""

    def clearance_l_per_h(self, weight_kg: float) -> float:
        """Total clearance at ``weight_kg``, in L/h."""
        scale = weight_kg / self.ref_weight_kg
        return float(self.cl_l_per_min * 60 * scale**self.clearance_exponent)

    def vss_l(self, weight_kg: float) -> float:
        """Volume of distribution at steady state at ``weight_kg``, in L."""
        scale = weight_kg / self.ref_weight_kg
        return float((self.v1_l + self.v2_l + self.v3_l) * scale**self.volume_exponent)


@dataclass(frozen=True)
class PooledEvidence:
    """The meta-analytic clearance and volume the models are compared with, and the default model."""

    default_model: str
    cl_l_per_h: float
    vss_l: float
    weight_kg: float
    source: str


@dataclass(frozen=True)
class RouteSpec:
    """A route of administration with its bioavailability and absorption rate."""

    name: str
    title: str
    extravascular: bool
    f_typ: float
    omega_f: float
    ka_typ_per_min: float
    omega_ka: float
    reported_tmax_min: tuple[float, float] | None
    target_tmax_min: float | None
    clinic_dose_mg_per_kg: float | None
    clinic_dose_mg: float | None
    clinic_infusion_min: float | None
    clinic_dose_source: str
    source: str


@dataclass(frozen=True)
class ConcentrationBand:
    """A plasma concentration range from the literature."""

    name: str
    low_ng_per_ml: float
    high_ng_per_ml: float
    source: str


@dataclass(frozen=True)
class WeightDistribution:
    """Adult body weight: equal mix of two log-normals, truncated."""

    mean_men_kg: float
    mean_women_kg: float
    sd_men_kg: float
    sd_women_kg: float
    min_kg: float
    max_kg: float
    source: str


def _read(name: str) -> dict[str, Any]:
    text = resources.files("ketaflow.pk").joinpath("data", name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def _positive(table: dict[str, Any], key: str, where: str) -> float:
    value = table.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise InvalidInput(f"{where}: '{key}' must be a positive number.")
    return float(value)


def _optional(table: dict[str, Any], key: str) -> float | None:
    value = table.get(key)
    return None if value is None else float(value)


def _model_from_table(t: dict[str, Any], tpeak_min: float, rule: str) -> ModelSpec:
    name = str(t.get("name", ""))
    where = f"model '{name}'"
    n = int(t.get("compartments", 0))
    if n not in (1, 2, 3):
        raise InvalidInput(f"{where}: compartments must be 1, 2 or 3.")
    ref = _positive(t, "ref_weight_kg", where)
    published: dict[str, float] = {}
    if t.get("form") == "rate_constants":
        v1 = _positive(t, "v1_l_per_kg", where) * ref
        k10 = _positive(t, "k10_per_min", where)
        published = {"v1_l_per_kg": float(t["v1_l_per_kg"]), "k10_per_min": k10}
        cl = v1 * k10
        v2 = v3 = q2 = q3 = 0.0
        if n >= 2:
            k12, k21 = _positive(t, "k12_per_min", where), _positive(t, "k21_per_min", where)
            q2, v2 = v1 * k12, v1 * k12 / k21
            published |= {"k12_per_min": k12, "k21_per_min": k21}
        if n == 3:
            k13, k31 = _positive(t, "k13_per_min", where), _positive(t, "k31_per_min", where)
            q3, v3 = v1 * k13, v1 * k13 / k31
            published |= {"k13_per_min": k13, "k31_per_min": k31}
        v_exp = cl_exp = 1.0
    elif t.get("form") == "clearances":
        v1, cl = _positive(t, "v1_l", where), _positive(t, "cl_l_per_min", where)
        v2 = _positive(t, "v2_l", where) if n >= 2 else 0.0
        q2 = _positive(t, "q2_l_per_min", where) if n >= 2 else 0.0
        v3 = _positive(t, "v3_l", where) if n == 3 else 0.0
        q3 = _positive(t, "q3_l_per_min", where) if n == 3 else 0.0
        v_exp = float(t.get("volume_exponent", 1.0))
        cl_exp = float(t.get("clearance_exponent", 1.0))
    else:
        raise InvalidInput(f"{where}: form must be 'rate_constants' or 'clearances'.")
    wanted = {1: ("v1", "cl"), 2: ("v1", "v2", "cl", "q2"), 3: IIV_PARAMETERS}[n]
    omega = {p: float(t.get(f"omega_{p}", 0.0)) for p in wanted}
    if any(w < 0 for w in omega.values()):
        raise InvalidInput(f"{where}: omega values must not be negative.")
    return ModelSpec(
        name=name,
        title=str(t["title"]),
        compartments=n,
        citation=Citation(
            authors=str(t["authors"]),
            year=int(t["year"]),
            journal=str(t["journal"]),
            pmid=str(t.get("pmid", "")),
            doi=str(t.get("doi", "")),
        ),
        fitted_range=FittedRange(
            population=str(t["population"]),
            age_min_yr=_optional(t, "age_min_yr"),
            age_max_yr=_optional(t, "age_max_yr"),
            weight_min_kg=_optional(t, "weight_min_kg"),
            weight_max_kg=_optional(t, "weight_max_kg"),
            note=str(t.get("fitted_range_note", "")),
        ),
        ref_weight_kg=ref,
        volume_exponent=v_exp,
        clearance_exponent=cl_exp,
        v1_l=v1,
        v2_l=v2,
        v3_l=v3,
        cl_l_per_min=cl,
        q2_l_per_min=q2,
        q3_l_per_min=q3,
        omega=omega,
        parameter_source=str(t["parameter_source"]),
        iiv_source=str(t.get("iiv_source", "")),
        ke0_rule=rule,
        ke0_tpeak_min=tpeak_min,
        published_form=published,
        evidence_note=str(t.get("evidence_note", "")),
    )


@cache
def _models() -> dict[str, ModelSpec]:
    data = _read(_MODELS_FILE)
    rule = data["ke0_rule"]
    tpeak = _positive(rule, "tpeak_min", "ke0_rule")
    out: dict[str, ModelSpec] = {}
    for table in data["model"]:
        spec = _model_from_table(table, tpeak, str(rule["description"]))
        if spec.name in out:
            raise InvalidInput(f"Model '{spec.name}' is defined twice.")
        out[spec.name] = spec
    return out


@cache
def pooled_evidence() -> PooledEvidence:
    """The pooled evidence (Kamp 2020 meta-analysis) and the default model chosen by it."""
    e = _read(_MODELS_FILE)["evidence"]
    evidence = PooledEvidence(
        default_model=str(e["default_model"]),
        cl_l_per_h=_positive(e, "cl_l_per_h", "evidence"),
        vss_l=_positive(e, "vss_l", "evidence"),
        weight_kg=_positive(e, "weight_kg", "evidence"),
        source=str(e["source"]),
    )
    if evidence.default_model not in _models():
        raise InvalidInput(f"The default model '{evidence.default_model}' is not in the model data.")
    return evidence


def default_model() -> str:
    """The model used wherever none is named: the one closest to the pooled evidence."""
    return pooled_evidence().default_model


def list_models() -> tuple[ModelSpec, ...]:
    """Return every packaged model, in file order."""
    return tuple(_models().values())


def get_model(name: str) -> ModelSpec:
    """Return the model called ``name``; raise InvalidInput if there is none."""
    models = _models()
    key = name.strip().lower()
    if key not in models:
        known = ", ".join(models)
        raise InvalidInput(f"Unknown pharmacokinetic model '{name}'; known models: {known}.")
    return models[key]


@cache
def _routes_data() -> dict[str, Any]:
    return _read(_ROUTES_FILE)


@cache
def _routes() -> dict[str, RouteSpec]:
    out: dict[str, RouteSpec] = {}
    for t in _routes_data()["route"]:
        where = f"route '{t.get('name')}'"
        f_typ = _positive(t, "f_typ", where)
        if f_typ > 1:
            raise InvalidInput(f"{where}: f_typ must not exceed 1.")
        ev = bool(t["extravascular"])
        tmax = t.get("reported_tmax_min")
        out[str(t["name"])] = RouteSpec(
            name=str(t["name"]),
            title=str(t["title"]),
            extravascular=ev,
            f_typ=f_typ,
            omega_f=float(t.get("omega_f", 0.0)),
            ka_typ_per_min=_positive(t, "ka_typ_per_min", where) if ev else 0.0,
            omega_ka=float(t.get("omega_ka", 0.0)),
            reported_tmax_min=(float(tmax[0]), float(tmax[1])) if tmax else None,
            target_tmax_min=_optional(t, "target_tmax_min"),
            clinic_dose_mg_per_kg=_optional(t, "clinic_dose_mg_per_kg"),
            clinic_dose_mg=_optional(t, "clinic_dose_mg"),
            clinic_infusion_min=_optional(t, "clinic_infusion_min"),
            clinic_dose_source=str(t.get("clinic_dose_source", "")),
            source=str(t["source"]),
        )
    return out


def list_routes() -> tuple[RouteSpec, ...]:
    """Return every packaged route, in file order."""
    return tuple(_routes().values())


def get_route(name: str) -> RouteSpec:
    """Return the route called ``name``; raise InvalidInput if there is none."""
    routes = _routes()
    key = name.strip().lower()
    if key not in routes:
        raise InvalidInput(f"Unknown route '{name}'; known routes: {', '.join(routes)}.")
    return routes[key]


def concentration_bands() -> tuple[ConcentrationBand, ...]:
    """Return the literature concentration bands, each with its source."""
    return tuple(
        ConcentrationBand(
            name=str(b["name"]),
            low_ng_per_ml=float(b["low_ng_per_ml"]),
            high_ng_per_ml=float(b["high_ng_per_ml"]),
            source=str(b["source"]),
        )
        for b in _routes_data()["band"]
    )


def adult_weights() -> WeightDistribution:
    """Return the adult body-weight distribution used for virtual populations."""
    w = _routes_data()["weights"]
    return WeightDistribution(
        mean_men_kg=float(w["mean_men_kg"]),
        mean_women_kg=float(w["mean_women_kg"]),
        sd_men_kg=float(w["sd_men_kg"]),
        sd_women_kg=float(w["sd_women_kg"]),
        min_kg=float(w["min_kg"]),
        max_kg=float(w["max_kg"]),
        source=str(w["source"]),
    )
