"""The packaged rule files (TOML under ``ketaflow/clinical/rules/``), read as plain mappings.

No validation here: :mod:`ketaflow.clinical.rules` validates all of them as one
:class:`~ketaflow.clinical.schema.ClinicalRules`; :mod:`ketaflow.clinical.scales` validates the
rating scales alone (``scales.toml``) for callers that need only those.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

RULE_FILES = (
    "dosing.toml",
    "screening.toml",
    "scales.toml",
    "vitals.toml",
    "discharge.toml",
    "maintenance.toml",
)


def read_packaged(names: tuple[str, ...] = RULE_FILES) -> dict[str, Any]:
    """Return the named packaged rule files (all of them by default) merged into one mapping."""
    merged: dict[str, Any] = {}
    folder = resources.files("ketaflow.clinical").joinpath("rules")
    for name in names:
        data = tomllib.loads(folder.joinpath(name).read_text(encoding="utf-8"))
        merged = deep_merge(merged, data)
    return merged


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into ``base`` table by table; any other value replaces the default."""
    out: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
