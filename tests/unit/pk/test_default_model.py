"""Issue 13, fault 7: the default PK model is the one closest to the pooled evidence.

Domino's clearance is about 1.5 times the meta-analytic value (116 vs 79 L/h, Kamp 2020);
the model data, the `pk models` listing and the CLI help say so, and every place that
picks a model by default (CLI, routes, the live chart) picks the same one.
"""

from __future__ import annotations

import inspect
import json
import math

from typer.testing import CliRunner

from ketaflow import pk
from ketaflow.cli import app
from ketaflow.services import levels

runner = CliRunner()


def _distance(m: pk.ModelSpec, ev: pk.PooledEvidence) -> float:
    scale = 70.0 / m.ref_weight_kg
    cl_l_per_h = m.cl_l_per_min * 60 * scale**m.clearance_exponent
    vss_l = (m.v1_l + m.v2_l + m.v3_l) * scale**m.volume_exponent
    return math.hypot(cl_l_per_h / ev.cl_l_per_h - 1, vss_l / ev.vss_l - 1)


def test_the_pooled_evidence_is_data_with_its_source() -> None:
    ev = pk.pooled_evidence()
    assert ev.cl_l_per_h == 79 and ev.vss_l == 252
    assert "Kamp" in ev.source and "2020" in ev.source


def test_the_default_is_the_adult_model_closest_to_the_pooled_evidence() -> None:
    ev = pk.pooled_evidence()
    adults = [m for m in pk.list_models() if m.fitted_range.age_max_yr is None]
    closest = min(adults, key=lambda m: _distance(m, ev))
    assert pk.default_model() == closest.name == "kamp2020"


def test_domino_says_its_clearance_is_about_one_and_a_half_times_the_pooled_value() -> None:
    domino = pk.get_model("domino")
    assert domino.cl_l_per_min * 60 == __import__("pytest").approx(116, abs=1)
    assert "1.5" in domino.evidence_note and "79" in domino.evidence_note


def test_every_default_picks_the_same_model() -> None:
    default = pk.default_model()
    assert levels.LIVE_MODEL == default
    from ketaflow.cli import pk as pk_cli
    from ketaflow.pk import routes

    assert routes.DEFAULT_MODEL == default
    for command in (pk_cli.simulate, pk_cli.routes, pk_cli.population):
        param = inspect.signature(command).parameters["model"]
        assert param.default == default, command.__name__


def test_the_models_listing_marks_the_default_and_the_comparison() -> None:
    result = runner.invoke(app, ["pk", "models", "--json"])
    rows = {m["name"]: m for m in json.loads(result.stdout)["models"]}
    assert rows["kamp2020"]["default"] is True and rows["domino"]["default"] is False
    assert rows["domino"]["clearance_vs_pooled"] > 1.4
    text = runner.invoke(app, ["pk", "models"]).stdout
    assert "(default)" in text and "1.5" in text


def test_the_cli_help_names_the_default_and_why() -> None:
    help_text = runner.invoke(app, ["pk", "simulate", "--help"]).stdout
    assert "kamp2020" in help_text and "pooled" in help_text


def test_the_live_chart_names_its_model() -> None:
    from pathlib import Path

    template = Path(levels.__file__).parents[1] / "web" / "templates" / "session.html"
    assert "Domino 1982" not in template.read_text(encoding="utf-8")
