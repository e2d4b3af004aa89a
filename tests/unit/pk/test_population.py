"""Virtual populations: seeded, vectorised, with percentiles and distributions."""

from __future__ import annotations

import numpy as np
import pytest

import ketaflow.pk as pk
from ketaflow.pk.population import population_modes, sample_absorption
from ketaflow.pk.readouts import Distribution


@pytest.fixture(scope="module")
def pop() -> pk.PopulationResult:
    return pk.protocol_population("domino", 500, 0.5, 40.0, until_min=240, step_s=1, seed=1, keep_curves=True)


def test_it_is_reproducible_with_a_seed(pop: pk.PopulationResult) -> None:
    again = pk.protocol_population("domino", 500, 0.5, 40.0, until_min=240, step_s=1, seed=1)
    np.testing.assert_array_equal(pop.cmax_ng_per_ml, again.cmax_ng_per_ml)
    other = pk.protocol_population("domino", 500, 0.5, 40.0, until_min=240, step_s=1, seed=2)
    assert not np.array_equal(pop.cmax_ng_per_ml, other.cmax_ng_per_ml)


def test_it_simulates_every_patient_on_the_full_grid(pop: pk.PopulationResult) -> None:
    assert pop.cp_ng_per_ml is not None and pop.ce_ng_per_ml is not None
    assert pop.cp_ng_per_ml.shape == (500, 14401)
    assert pop.ce_ng_per_ml.shape == (500, 14401)
    # each patient agrees with the direct closed form for the same parameters
    modes, w = population_modes("domino", 500, 1)
    reg = pk.weight_based_infusion(1.0, 0.5, 40.0)
    t = pop.t_min[::600]
    direct = pk.concentrations(modes, reg, t, dose_scale=w)
    np.testing.assert_allclose(pop.cp_ng_per_ml[:, ::600], direct["cp"], rtol=1e-9)


def test_it_gives_ordered_percentiles_every_minute(pop: pk.PopulationResult) -> None:
    t, pct = pop.t_sampled_min, pop.percentiles()
    assert t.size == 241 and pct.shape == (3, 241)
    assert np.all(pct[0] <= pct[1]) and np.all(pct[1] <= pct[2])
    # the typical patient sits near the median
    assert pct[1, 40] == pytest.approx(240.33, rel=0.05)


def test_it_summarises_cmax_auc_and_time_above(pop: pk.PopulationResult) -> None:
    d = pop.distributions()
    assert d["cmax_ng_per_ml"].p5 < d["cmax_ng_per_ml"].p50 < d["cmax_ng_per_ml"].p95
    assert 0.05 < d["cmax_ng_per_ml"].cv < 0.5
    assert pop.cp_ng_per_ml is not None
    trapezoid = np.trapezoid(pop.cp_ng_per_ml[:5], pop.t_min, axis=1)
    np.testing.assert_allclose(pop.auc_ng_min_per_ml[:5], trapezoid, rtol=1e-6)
    expected = (pop.cp_ng_per_ml >= pop.threshold_ng_per_ml).sum(axis=1) / 60.0
    np.testing.assert_allclose(pop.time_above_min, expected)


def test_adult_weights_are_realistic() -> None:
    w = pk.sample_weights(20000, np.random.default_rng(0))
    assert 40.0 <= w.min() and w.max() <= 200.0
    assert w.mean() == pytest.approx((90.6 + 77.5) / 2, rel=0.03)


def test_absorption_spread_follows_the_data() -> None:
    spec = pk.get_route("intranasal")
    ab = sample_absorption(spec, 20000, np.random.default_rng(0))
    assert np.all((ab.f > 0) & (ab.f < 1))
    lo, hi = np.percentile(ab.f, [5, 95])
    assert lo == pytest.approx(0.11, abs=0.02) and hi == pytest.approx(0.45, abs=0.03)
    assert np.median(ab.ka_per_min) == pytest.approx(spec.ka_typ_per_min, rel=0.05)


def test_distribution_reports_the_coefficient_of_variation() -> None:
    d = Distribution.of(np.array([1.0, 2.0, 3.0, 4.0]))
    assert d.mean == 2.5 and d.cv == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2.5)


def test_it_rejects_an_empty_population() -> None:
    with pytest.raises(ValueError, match="at least one"):
        pk.protocol_population("domino", 0, 0.5, 40.0, until_min=240)


def test_streaming_gives_the_same_read_outs_as_keeping_curves(pop: pk.PopulationResult) -> None:
    streamed = pk.protocol_population("domino", 500, 0.5, 40.0, until_min=240, step_s=1, seed=1)
    assert streamed.cp_ng_per_ml is None
    np.testing.assert_array_equal(streamed.cmax_ng_per_ml, pop.cmax_ng_per_ml)
    np.testing.assert_array_equal(streamed.ce_max_ng_per_ml, pop.ce_max_ng_per_ml)
    np.testing.assert_array_equal(streamed.time_above_min, pop.time_above_min)
    np.testing.assert_array_equal(streamed.cp_sampled, pop.cp_sampled)
    assert pop.cp_ng_per_ml is not None
    np.testing.assert_array_equal(pop.cp_sampled, pop.cp_ng_per_ml[:, ::60])


def test_it_warns_when_virtual_patients_lie_outside_the_fitted_range() -> None:
    with pytest.warns(pk.OutsideFittedRangeWarning, match="outside the fitted weight range"):
        population_modes("hornik2018", 10, 1, weights_kg=np.array([1.0] * 5 + [70.0] * 5))
