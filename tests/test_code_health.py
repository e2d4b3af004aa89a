"""Lint, format and types as the README's "Lint and types" line runs them, in the suite so CI keeps them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]],
    ids=["ruff check", "ruff format", "mypy"],
)
def test_the_code_passes(command: list[str], tmp_path: Path) -> None:
    tool = BIN / command[0]
    if not tool.exists():
        pytest.fail(f"{command[0]} is not installed beside {sys.executable}; install requirements-dev.lock")
    extra = ["--cache-dir", str(tmp_path / "mypy")] if command[0] == "mypy" else []
    done = subprocess.run([str(tool), *command[1:], *extra], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"`{' '.join(command)}` found problems:\n{done.stdout}{done.stderr}"
