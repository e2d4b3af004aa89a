"""The one place the tests read `CI`: under CI=true a missing prerequisite fails the run.

Outside CI a test whose prerequisite is missing (PostgreSQL, chromium, opentiva) is skipped
with its reason shown; under CI=true (`.ci/run` sets it) that skip would hide a check that
never ran, so it fails instead, with the same sentence.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NoReturn

import pytest


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when `CI` is "true" (any case, surrounding blanks ignored), as CI services set it."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() == "true"


def missing(message: str, environ: Mapping[str, str] | None = None) -> NoReturn:
    """A prerequisite is missing: fail under CI=true, skip elsewhere; `message` says what and how to fix."""
    if in_ci(environ):
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)
