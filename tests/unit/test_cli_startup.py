"""The command line imports only what the command needs (checked by imports, not by time).

Each case starts `python -X importtime -m ketaflow ...` in a new process and reads the modules
it imported from the importtime lines on stderr. A quick command such as `ketaflow score` or
`ketaflow --help` must not load storage, the web app or the numerical stack; `ketaflow score` loads
of the clinical rules only the rating scales (not the dosing, screening, vitals or discharge rules,
nor the schema of the whole rules), and `ketaflow --help` loads no Rich. The timings themselves are
measured by benchmarks/cli_startup.py, not asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from ketaflow.cli import app, main

# Libraries and layers no quick command needs; any of them costs tens to hundreds of ms.
STORAGE_AND_WEB = {
    "sqlalchemy",
    "alembic",
    "psycopg",
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "pydantic_settings",
    "ketaflow.store",
    "ketaflow.services",
    "ketaflow.web",
    "ketaflow.demo",
    "ketaflow.settings",
}
NUMERICAL = {"numpy", "scipy", "pandas", "matplotlib", "pyarrow", "statsmodels", "ketaflow.pk"}
# Of ketaflow.clinical, scoring a questionnaire needs the scales, their schema and their rule file:
# not the whole rules model (ketaflow.clinical.schema builds some forty Pydantic models), nor
# dosing, screening, vitals, discharge or the rest, which the package would import eagerly.
SCORING = {
    "ketaflow.clinical",
    "ketaflow.clinical.levels",
    "ketaflow.clinical.rule_files",
    "ketaflow.clinical.scale_schema",
    "ketaflow.clinical.scales",
    "ketaflow.clinical.schema_base",
}
# Rich draws Typer's boxed help; plain help needs none of it (it costs more than Typer itself).
RICH = {"rich"}


def imported_by(*args: str) -> tuple[set[str], str]:
    """Run `ketaflow ARGS` in a new interpreter; return the modules it imported and its stdout."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ketaflow", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line: "self [us] | cumulative | imported package"
                modules.add(name)
    assert "ketaflow.cli" in modules, "the importtime lines were not found on stderr"
    return modules, done.stdout


def loaded(modules: set[str], names: set[str]) -> list[str]:
    """Which of `names` (a package covers its submodules) were imported."""
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def test_score_loads_only_the_scale_rules_and_no_storage_web_numerical_code_or_rich() -> None:
    modules, out = imported_by("score", "phq9", "1", "2", "0", "3", "1", "0", "2", "1", "0")
    assert out.startswith("PHQ-9: 10/27 (moderate)")
    assert "ketaflow.clinical.scales" in modules
    assert loaded(modules, STORAGE_AND_WEB | NUMERICAL | RICH) == []
    clinical = {m for m in modules if m == "ketaflow.clinical" or m.startswith("ketaflow.clinical.")}
    assert clinical <= SCORING, f"scoring loaded more of the rules: {sorted(clinical - SCORING)}"


def test_score_with_a_clinic_rules_file_applies_it(tmp_path: Path) -> None:
    override = tmp_path / "clinic.toml"
    override.write_text(
        "[scales.phq9.remission]\nmax_total = 10\n"
        'source = "Clinic policy 2026-12: PHQ-9 remission at 10 or less (test)"\n',
        encoding="utf-8",
    )
    args = ["score", "phq9", "1", "2", "0", "3", "1", "0", "2", "1", "0", "--json"]
    _, plain = imported_by(*args)
    modules, tuned = imported_by(*args, "--clinic-rules", str(override))
    assert json.loads(plain)["remission"] is False  # 10 > 4, the packaged cut-off
    assert json.loads(tuned)["remission"] is True  # 10 <= 10, the clinic's
    assert "ketaflow.clinical.rules" in modules  # an override is checked against all the rules


def test_help_loads_no_domain_storage_web_or_numerical_code() -> None:
    modules, out = imported_by("--help")
    assert "score" in out and "pk" in out
    assert loaded(modules, STORAGE_AND_WEB | NUMERICAL | RICH | {"ketaflow.clinical", "pydantic"}) == []


def test_a_group_help_and_a_command_help_load_no_rich() -> None:
    for args in (("pk", "--help"), ("score", "--help"), ("pk",)):
        modules, out = imported_by(*args)
        assert "Usage:" in out
        assert loaded(modules, RICH | {"ketaflow.clinical", "ketaflow.pk"}) == [], args


def test_pk_models_loads_the_pk_engine_but_no_storage_web_or_clinical_rules() -> None:
    modules, out = imported_by("pk", "models")
    assert "\ndomino:" in out and "\nkamp2020 (default):" in out
    assert "ketaflow.pk.catalog" in modules
    assert loaded(modules, STORAGE_AND_WEB | RICH | {"ketaflow.clinical", "pandas", "matplotlib"}) == []


def every_command(group: Any = None, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the CLI, groups and their subcommands included."""
    root = group if group is not None else typer.main.get_command(app)
    found: list[tuple[str, ...]] = []
    for name, command in root.commands.items():
        found.append((*path, name))
        if hasattr(command, "commands"):
            found += every_command(command, (*path, name))
    return found


def test_help_lists_every_command_with_its_help_text() -> None:
    _, out = imported_by("--help")
    root = typer.main.get_command(app)
    commands: dict[str, Any] = root.commands  # type: ignore[attr-defined]
    assert {"demo", "serve", "db", "score", "dose", "pk", "outcomes"} <= set(commands)
    for name, command in commands.items():
        first_words = " ".join((command.help or "").split()[:4])
        assert first_words, f"`ketaflow {name}` has no help text"
        line = next((ln for ln in out.splitlines() if ln.strip("│ ").startswith(f"{name} ")), "")
        assert first_words in line, f"`ketaflow --help` does not show {name!r} with its help"


@pytest.mark.parametrize("path", every_command(), ids=" ".join)
def test_every_command_answers_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_a_bad_sex_is_one_sentence_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["dose", "--protocol", "depression-induction", "--weight-kg", "120", "--height-cm", "170",
            "--sex", "x", "--bag-mg", "100", "--bag-ml", "100"]  # fmt: skip
    monkeypatch.setattr("sys.argv", ["ketaflow", *argv])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == "Error: --sex must be male or female; got 'x'."


def every_callback(group: typer.Typer) -> list[Any]:
    """The functions behind every command and group callback of a Typer app, sub-apps included."""
    found = [info.callback for info in group.registered_commands]
    if group.registered_callback is not None:
        found.append(group.registered_callback.callback)
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        found += every_callback(sub.typer_instance)
    return [f for f in found if f is not None]


def test_command_signatures_hold_objects_not_strings() -> None:
    # Typer reads each command's signature on every start; annotations left as strings (the
    # effect of `from __future__ import annotations`) are compiled and evaluated again each
    # time, for every command, which took longer than building all the commands themselves.
    callbacks = every_callback(app)
    assert len(callbacks) >= 20
    for f in callbacks:
        strings = {k: v for k, v in f.__annotations__.items() if isinstance(v, str)}
        assert not strings, f"{f.__module__}.{f.__qualname__} has string annotations: {strings}"
