"""`ketaflow pk ...`: JSON for machines, plots for people, one sentence on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketaflow.cli import app

runner = CliRunner()


def run_json(*args: str) -> dict:
    result = runner.invoke(app, ["pk", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_simulate_gives_the_curves_and_summary() -> None:
    d = run_json("simulate", "--model", "domino", "--weight-kg", "70", "--dose-mg-per-kg", "0.5",
                 "--minutes", "40", "--until-min", "240", "--step-s", "1")  # fmt: skip
    assert d["model"] == "domino"
    assert len(d["t_min"]) == len(d["cp_ng_per_ml"]) == len(d["ce_ng_per_ml"]) == 14401
    s = d["summary"]
    assert s["cmax_ng_per_ml"] == pytest.approx(240.33, abs=0.01)
    assert s["tmax_min"] == pytest.approx(40.0)
    assert s["auc_ng_min_per_ml"] > 0
    assert s["minutes_to_half_after_end"] == pytest.approx(1.743, abs=0.001)
    assert d["citation"]["pmid"] == "7198883"
    assert d["warnings"] == []


def test_simulate_reports_range_warnings() -> None:
    result = runner.invoke(app, ["pk", "simulate", "--model", "hornik2018", "--weight-kg", "70",
                                 "--age-yr", "40", "--step-s", "60", "--json"])  # fmt: skip
    assert result.exit_code == 0
    assert "outside the fitted range" in json.loads(result.stdout)["warnings"][0]


def test_routes_gives_spread_per_route() -> None:
    d = run_json("routes", "--weight-kg", "70", "--patients", "200", "--seed", "1")
    names = [r["route"] for r in d["routes"]]
    assert names == ["iv", "im", "intranasal", "oral"]
    for r in d["routes"]:
        for key in ("cmax_ng_per_ml", "auc_ng_min_per_ml"):
            dist = r[key]
            assert dist["p5"] <= dist["p50"] <= dist["p95"] and dist["cv"] > 0
        assert len(r["cp_p50_ng_per_ml"]) == len(d["t_min"]) == 241


def test_population_gives_minute_percentiles() -> None:
    d = run_json("population", "--model", "domino", "--patients", "200", "--dose-mg-per-kg",
                 "0.5", "--minutes", "40", "--until-min", "240", "--step-s", "1", "--seed", "1")  # fmt: skip
    assert len(d["t_min"]) == len(d["cp_p50_ng_per_ml"]) == 241
    assert d["grid_points"] == 14401
    assert d["cmax_ng_per_ml"]["p5"] < d["cmax_ng_per_ml"]["p95"]
    assert "cv" in d["auc_ng_min_per_ml"]


def test_models_lists_citations() -> None:
    d = run_json("models")
    names = {m["name"] for m in d["models"]}
    assert {"domino", "kamp2020", "clements1981"} <= names
    assert all(m["ke0_rule"] and m["citation"]["year"] for m in d["models"])
    text = runner.invoke(app, ["pk", "models"]).stdout
    assert "10.1097/ALN.0000000000003577" in text


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plots_are_written(tmp_path: Path, suffix: str) -> None:
    sim_plot = tmp_path / f"sim{suffix}"
    routes_plot = tmp_path / f"routes{suffix}"
    pop_plot = tmp_path / f"pop{suffix}"
    assert runner.invoke(app, ["pk", "simulate", "--weight-kg", "70", "--step-s", "10",
                               "--plot", str(sim_plot)]).exit_code == 0  # fmt: skip
    assert runner.invoke(app, ["pk", "routes", "--weight-kg", "70", "--patients", "50",
                               "--step-s", "60", "--plot", str(routes_plot)]).exit_code == 0  # fmt: skip
    assert runner.invoke(app, ["pk", "population", "--patients", "50", "--step-s", "60",
                               "--plot", str(pop_plot)]).exit_code == 0  # fmt: skip
    for p in (sim_plot, routes_plot, pop_plot):
        assert p.stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--weight-kg", "0"], "weight must be greater than zero"),
        (["simulate", "--weight-kg", "70", "--dose-mg-per-kg", "-1"], "dose must be greater"),
        (["simulate", "--weight-kg", "70", "--minutes", "0"], "duration must be greater"),
        (["simulate", "--weight-kg", "70", "--model", "nope"], "Unknown pharmacokinetic model"),
        (["simulate", "--weight-kg", "70", "--step-s", "0"], "time step must be greater"),
        (["simulate", "--weight-kg", "70", "--plot", "x.pdf"], ".png or .svg"),
        (["routes", "--weight-kg", "70", "--route", "rectalish"], "Unknown route"),
        (["population", "--patients", "0"], "at least one"),
        (["population", "--patients", "10", "--threshold-ng-per-ml", "-1"], "threshold must be greater"),
        (["simulate", "--weight-kg", "70", "--age-yr", "-3"], "Age must be a number of years"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["pk", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
