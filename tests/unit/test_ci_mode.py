"""CI=true turns a missing prerequisite from a skip into a failure (tests/ci_mode.py).

The opentiva cross-check is the only test of the PK engine against another implementation:
under CI=true it must run or fail the run saying how to install opentiva.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci_mode import in_ci, missing

ROOT = Path(__file__).resolve().parents[2]
OPENTIVA_TESTS = ROOT / "tests" / "unit" / "pk" / "test_opentiva.py"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), (" True\n", True), ("", False), ("false", False), ("1", False)],
)
def test_ci_is_read_one_way(value: str, expected: bool) -> None:
    assert in_ci({"CI": value}) is expected


def test_without_ci_set_it_is_not_ci() -> None:
    assert in_ci({}) is False


def test_a_missing_prerequisite_fails_under_ci_and_skips_elsewhere() -> None:
    with pytest.raises(pytest.fail.Exception, match="^CI=true but chromium is not installed"):
        missing("chromium is not installed", {"CI": "true"})
    with pytest.raises(pytest.skip.Exception, match="^chromium is not installed"):
        missing("chromium is not installed", {"CI": "false"})


def run_opentiva_tests(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    """pytest on the opentiva cross-check in a new process, with opentiva hidden by a stand-in
    package earlier on the path whose import fails, as it does where opentiva is not installed."""
    hidden = tmp_path / "hide"
    (hidden / "opentiva").mkdir(parents=True)
    (hidden / "opentiva" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'opentiva'\", name='opentiva')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(hidden)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(OPENTIVA_TESTS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


INSTALL = "pip install --no-build-isolation opentiva==1.1.2"


def test_under_ci_the_opentiva_cross_check_fails_when_opentiva_is_missing(tmp_path: Path) -> None:
    done = run_opentiva_tests(tmp_path, ci="true")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "CI=true but opentiva is not installed" in out
    assert INSTALL in out
    assert " passed" not in out and " skipped" not in out


def test_outside_ci_it_is_skipped_with_its_reason_shown(tmp_path: Path) -> None:
    done = run_opentiva_tests(tmp_path, ci=None)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "skipped" in out and "opentiva is not installed" in out and INSTALL in out
    assert "failed" not in out and "error" not in out.lower()
