"""ketaflow.pk: exact, cited pharmacokinetics of ketamine (NumPy/SciPy only).

The functions the rest of ketaflow calls:

* :func:`simulate` - one patient, Cp and Ce curves plus the read-outs (peak, AUC,
  recovery estimate), for any :class:`Regimen`.
* :func:`regimen_from_events` / :func:`segments_from_events` - the regimen actually
  given, from the pump events the nurse charted (start, rate change, pause, resume,
  stop), so the live chart follows what was given.
* :func:`predict_live` - the live chart of an infusion in progress: the curve of
  what was given up to now, Cp and Ce now, and the forecast and recovery estimate
  if the pump runs to its planned end.
* :func:`patient_modes`, :func:`concentration_now`, :func:`minutes_to_fall_below` -
  the concentration now and the recovery estimate for one patient.
* :func:`protocol_population`, :func:`simulate_population` - virtual populations.
* :func:`compare_routes` - IV versus IM, intranasal, oral and sublingual.
* :func:`list_models`, :func:`get_model`, :func:`list_routes`,
  :func:`concentration_bands` - the cited data behind it all.

Plotting lives in :mod:`ketaflow.pk.plot`, which this package does not import.
"""

from ketaflow.pk.catalog import (
    ConcentrationBand,
    ModelSpec,
    PooledEvidence,
    RouteSpec,
    concentration_bands,
    default_model,
    get_model,
    get_route,
    list_models,
    list_routes,
    pooled_evidence,
)
from ketaflow.pk.grid import concentrations_on_grid
from ketaflow.pk.live import LivePrediction, predict_live
from ketaflow.pk.modes import Absorption, Disposition, ModeSet, build_modes
from ketaflow.pk.parameters import (
    Ke0Derivation,
    OutsideFittedRangeWarning,
    check_fitted_range,
    derive_ke0,
    disposition,
)
from ketaflow.pk.population import (
    PopulationResult,
    protocol_population,
    sample_weights,
    simulate_population,
)
from ketaflow.pk.readouts import (
    Distribution,
    Peak,
    bands_containing,
    concentration_now,
    minutes_to_fall_below,
)
from ketaflow.pk.regimen import (
    Bolus,
    ExtravascularDose,
    Infusion,
    PumpEvent,
    PumpEventKind,
    Regimen,
    cap_segments,
    rate_mg_per_min,
    regimen_from_events,
    segments_from_events,
    weight_based_infusion,
)
from ketaflow.pk.routes import RouteResult, compare_routes
from ketaflow.pk.simulate import PatientSimulation, Summary, patient_modes, simulate
from ketaflow.pk.solve import auc_exact, concentrations

__all__ = [
    "PooledEvidence",
    "default_model",
    "pooled_evidence",
    "Absorption",
    "Bolus",
    "ConcentrationBand",
    "Disposition",
    "Distribution",
    "ExtravascularDose",
    "Infusion",
    "LivePrediction",
    "Ke0Derivation",
    "ModeSet",
    "ModelSpec",
    "OutsideFittedRangeWarning",
    "PatientSimulation",
    "Peak",
    "PopulationResult",
    "PumpEvent",
    "PumpEventKind",
    "Regimen",
    "RouteResult",
    "RouteSpec",
    "Summary",
    "auc_exact",
    "bands_containing",
    "build_modes",
    "check_fitted_range",
    "compare_routes",
    "concentration_bands",
    "concentration_now",
    "concentrations",
    "concentrations_on_grid",
    "derive_ke0",
    "disposition",
    "get_model",
    "get_route",
    "list_models",
    "list_routes",
    "minutes_to_fall_below",
    "patient_modes",
    "predict_live",
    "protocol_population",
    "rate_mg_per_min",
    "regimen_from_events",
    "sample_weights",
    "cap_segments",
    "segments_from_events",
    "simulate",
    "simulate_population",
    "weight_based_infusion",
]
