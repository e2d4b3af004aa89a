"""`ketaflow outcomes` as a director or researcher would use it, on the small demo network."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from ketaflow.cli import app
from ketaflow.store import models as m

runner = CliRunner()


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_it_shows_the_network_dashboard(demo_engine: Engine) -> None:
    result = runner.invoke(app, ["outcomes", "--network", "--database-url", url_of(demo_engine)])
    assert result.exit_code == 0, result.output
    assert "Outcomes: network" in result.output
    assert "response" in result.output and "Between clinics" in result.output


def test_it_gives_json_for_one_clinic(demo_engine: Engine) -> None:
    with demo_engine.connect() as conn:
        code = conn.execute(select(m.Clinic.code).order_by(m.Clinic.code)).scalars().first()
    result = runner.invoke(
        app, ["outcomes", "--clinic", code, "--json", "--database-url", url_of(demo_engine)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"]["code"] == code
    assert data["total"]["response"]["method"] == "wilson"


def test_it_refuses_an_unknown_clinic_in_one_sentence(demo_engine: Engine) -> None:
    result = runner.invoke(app, ["outcomes", "--clinic", "atlantis", "--database-url", url_of(demo_engine)])
    assert result.exit_code == 2
    assert "No clinic has the code or name 'atlantis'" in result.output


def test_it_refuses_clinic_and_network_together(demo_engine: Engine) -> None:
    result = runner.invoke(
        app, ["outcomes", "--clinic", "x", "--network", "--database-url", url_of(demo_engine)]
    )
    assert result.exit_code == 2


def test_it_answers_the_dissociation_question_or_says_why_not(demo_engine: Engine) -> None:
    result = runner.invoke(app, ["outcomes", "dissociation", "--json", "--database-url", url_of(demo_engine)])
    # 40 patients may be too few: then one sentence and exit 2, never a traceback.
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 0:
        assert "log_odds_per_sd_cadss" in json.loads(result.output)["association"]
    else:
        assert "too few" in result.output


def test_it_draws_a_patients_trajectory(demo_engine: Engine, tmp_path: Path) -> None:
    with demo_engine.connect() as conn:
        mrn = conn.execute(
            select(m.Patient.mrn)
            .join(m.InfusionSession, m.InfusionSession.patient_id == m.Patient.id)
            .limit(1)
        ).scalar_one()
    png = tmp_path / "trajectory.png"
    result = runner.invoke(
        app, ["outcomes", "patient", "--mrn", mrn, "--plot", str(png), "--database-url", url_of(demo_engine)]
    )
    assert result.exit_code == 0, result.output
    assert "phq9" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_it_exports_parquet(demo_engine: Engine, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "outcomes",
            "export",
            "--format",
            "parquet",
            "--out",
            str(tmp_path),
            "--database-url",
            url_of(demo_engine),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "courses.parquet").exists()


def test_it_refuses_an_unknown_export_format(demo_engine: Engine, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "outcomes",
            "export",
            "--format",
            "xls",
            "--out",
            str(tmp_path),
            "--database-url",
            url_of(demo_engine),
        ],
    )
    assert result.exit_code == 2
    assert "--format must be csv or parquet" in result.output


def test_it_refreshes_the_stored_summary(fresh_engine: object) -> None:
    # A database of its own: a stored summary changes what the dashboard reads on PostgreSQL.
    from ketaflow.store.migrate import upgrade

    engine = fresh_engine()  # type: ignore[operator]
    upgrade(engine)
    result = runner.invoke(app, ["outcomes", "refresh", "--database-url", url_of(engine)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Outcome summary of 0 clinics as of ")
    data = json.loads(
        runner.invoke(app, ["outcomes", "refresh", "--json", "--database-url", url_of(engine)]).output
    )
    assert data["clinics"] == 0 and data["seconds"] >= 0
