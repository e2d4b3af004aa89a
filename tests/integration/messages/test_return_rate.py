"""The questionnaire return rate and its bounds on the response rate, in `ketaflow outcomes --json`
and on the outcomes page (both engines, demo network)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from ketaflow.cli import app
from tests.integration.web import test_portal
from tests.integration.web.test_portal import World, sign_in

world = test_portal.world
runner = CliRunner()


def test_outcomes_json_carries_the_return_rate_and_the_bounds(demo_engine: Engine) -> None:
    url = demo_engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["outcomes", "--network", "--json", "--database-url", url])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    units = [data["total"], *data["clinics"]]
    for u in units:
        completed, evaluable = u["courses_completed"], u["courses_evaluable"]
        ret = u["questionnaire_return"]
        assert (ret["successes"], ret["n"]) == (evaluable, completed)
        b = u["response_bounds"]
        responders = u["response"]["successes"]
        missing = completed - evaluable
        assert b["missing"] == missing
        # Independent arithmetic: all non-returners non-responders, then all responders.
        assert b["lowest"] == pytest.approx(responders / completed, abs=1e-12)
        assert b["highest"] == pytest.approx((responders + missing) / completed, abs=1e-12)
        assert b["lowest"] <= u["response"]["estimate"] <= b["highest"]
    assert (
        sum(u["questionnaire_return"]["n"] for u in data["clinics"])
        == data["total"]["questionnaire_return"]["n"]
    )
    assert data["total"]["questionnaire_return"]["n"] > 0, "the demo network has no completed course"
    text = runner.invoke(app, ["outcomes", "--network", "--database-url", url]).stdout
    assert "end-of-induction PHQ-9 returned" in text


def test_the_outcomes_page_shows_the_return_rate(world: World) -> None:
    sign_in(world.client, "director1.aus")
    page = world.client.get("/clinics/aus/outcomes")
    assert page.status_code == 200
    assert "End-of-induction PHQ-9 returned" in page.text and 'id="questionnaire-return"' in page.text
    assert "Questionnaire return: courses that completed induction" in page.text
