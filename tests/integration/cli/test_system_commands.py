"""The database, demo and stats commands, as a person at a terminal would use them."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from ketaflow.cli import app, main
from ketaflow.store.migrate import head_revision

runner = CliRunner()


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_it_builds_demo_data_then_reports_stats(fresh_engine: Callable[[], Engine]) -> None:
    url = url_of(fresh_engine())
    built = runner.invoke(
        app,
        [
            "demo-data",
            "--clinics",
            "2",
            "--patients",
            "40",
            "--seed",
            "5",
            "--as-of",
            "2026-05-01",
            "--database-url",
            url,
        ],
    )
    assert built.exit_code == 0, built.output
    assert "Demo network built: 2 clinics, 40 patients" in built.output
    shown = runner.invoke(app, ["stats", "--json", "--database-url", url])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["tables"]["clinics"] == 2
    assert data["tables"]["patients"] == 40
    assert sum(c["counts"]["patients"] for c in data["clinics"]) == 40
    again = runner.invoke(
        app, ["demo-data", "--clinics", "2", "--patients", "40", "--seed", "5", "--database-url", url]
    )
    assert again.exit_code == 0 and "already built" in again.output


def test_it_refuses_a_bad_date_in_one_sentence(fresh_engine: Callable[[], Engine]) -> None:
    result = runner.invoke(
        app, ["demo-data", "--as-of", "yesterday", "--database-url", url_of(fresh_engine())]
    )
    assert result.exit_code == 2
    assert "--as-of must be a date written YYYY-MM-DD" in result.output
    assert "Traceback" not in result.output


def test_it_refuses_to_serve_an_unmigrated_database(fresh_engine: Callable[[], Engine]) -> None:
    result = runner.invoke(app, ["serve", "--database-url", url_of(fresh_engine())])
    assert result.exit_code == 2
    assert "run `ketaflow db upgrade`" in result.output


def test_it_upgrades_and_reports_status(fresh_engine: Callable[[], Engine]) -> None:
    url = url_of(fresh_engine())
    assert runner.invoke(app, ["db", "status", "--database-url", url]).exit_code == 2
    up = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert up.exit_code == 0 and f"empty -> {head_revision()}" in up.output
    status = runner.invoke(app, ["db", "status", "--database-url", url])
    assert status.exit_code == 0 and "up to date" in status.output


def test_it_refuses_an_unsupported_database() -> None:
    result = runner.invoke(app, ["stats", "--database-url", "mysql://root@localhost/x"])
    assert result.exit_code == 2
    assert "supports SQLite and PostgreSQL" in result.output


def test_every_command_has_help() -> None:
    for args in (
        ["--help"],
        ["db", "--help"],
        ["demo-data", "--help"],
        ["stats", "--help"],
        ["demo", "--help"],
        ["serve", "--help"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, args


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (["dose", "--weight-kg", "abc"], "Invalid value for '--weight-kg'"),
        (["no-such-command"], "No such command 'no-such-command' (see `ketaflow --help`)."),
        (["stats", "--database-url", "mysql://x@y/z"], "supports SQLite and PostgreSQL"),
    ],
)
def test_it_answers_bad_input_with_one_sentence_and_exit_2(
    argv: list[str], sentence: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["ketaflow", *argv])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert sentence in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_serve_refuses_a_bad_public_address_before_it_starts(
    fresh_engine: Callable[[], Engine], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ketaflow.settings import get_settings

    monkeypatch.setenv("KETAFLOW_PUBLIC_URL", "care.example.org")
    monkeypatch.setattr("sys.argv", ["ketaflow", "serve", "--database-url", url_of(fresh_engine())])
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as stopped:
            main()
    finally:
        get_settings.cache_clear()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "KETAFLOW_PUBLIC_URL must be the address patients reach this server by" in err
    assert "Traceback" not in err


def test_reset_link_prints_a_one_time_link_for_someone_locked_out(demo_engine: Engine) -> None:
    from fastapi.testclient import TestClient

    from ketaflow.web.app import create_app
    from tests.integration.web.sign_in_support import post_login

    url = url_of(demo_engine)
    unknown = runner.invoke(app, ["reset-link", "nobody@demo.ketaflow.org", "--database-url", url])
    assert unknown.exit_code == 2 and "No staff member" in unknown.output
    made = runner.invoke(app, ["reset-link", "frontdesk2.den@demo.ketaflow.org", "--database-url", url])
    assert made.exit_code == 0, made.output
    link = next(line.strip() for line in made.output.splitlines() if "/reset/" in line)
    path = link[link.index("/reset/") :]
    with TestClient(create_app(demo_engine)) as client:
        assert client.get(path).status_code == 200
        done = client.post(
            path, data={"new_password": "amber comet 73 lakes", "confirm_password": "amber comet 73 lakes"}
        )
        assert done.status_code == 200 and "Password set" in done.text
        signed = post_login(client, "frontdesk2.den@demo.ketaflow.org", "amber comet 73 lakes")
        assert signed.status_code == 303
