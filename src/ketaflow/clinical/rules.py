"""The clinical rules as validated data: packaged defaults plus per-clinic overrides.

The defaults live in TOML files under ``ketaflow/clinical/rules/`` (dosing, screening, scales,
vitals, discharge). Every table that holds a number carries a ``source``. A clinic tunes the
rules without code changes by passing an override mapping (or TOML text) to
:func:`apply_overrides`; the override is deep-merged into the defaults and validated again.

Overrides can never raise the absolute dose ceiling: a ceiling value above the packaged one is
refused, and every protocol's hard maximum must stay at or below the ceiling.

Example clinic override (TOML)::

    [dosing_weight]
    policy = "adjusted"

    [scales.madrs.remission]
    max_total = 12
    source = "Clinic policy 2026-03: esketamine trial definition (MADRS <= 12)"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import ValidationError

from ketaflow.clinical.schema import (
    Ceiling,
    ClinicalRules,
    Instrument,
    Limit,
    Protocol,
    ProtocolLimits,
    RelativeThreshold,
    ScreeningEntry,
    VitalThreshold,
)
from ketaflow.errors import InvalidInput

__all__ = [
    "Ceiling",
    "ClinicalRules",
    "Instrument",
    "Limit",
    "Protocol",
    "ProtocolLimits",
    "RelativeThreshold",
    "ScreeningEntry",
    "VitalThreshold",
    "apply_overrides",
    "default_rules",
    "load_rules",
    "packaged_rules_raw",
    "unconfirmed_rules",
]

RULE_FILES = ("dosing.toml", "screening.toml", "scales.toml", "vitals.toml", "discharge.toml")


def _read_packaged() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    folder = resources.files("ketaflow.clinical").joinpath("rules")
    for name in RULE_FILES:
        data = tomllib.loads(folder.joinpath(name).read_text(encoding="utf-8"))
        merged = _deep_merge(merged, data)
    return merged


def packaged_rules_raw() -> dict[str, Any]:
    """Return the packaged rule files merged into one plain mapping (for audits and tests)."""
    return _read_packaged()


@lru_cache(maxsize=1)
def default_rules() -> ClinicalRules:
    """Return the packaged default rules, validated (cached)."""
    return _validate(_read_packaged())


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _validate(data: Mapping[str, Any]) -> ClinicalRules:
    try:
        return ClinicalRules.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"Clinic rules are not valid at '{where}': {first['msg']}.") from None


def apply_overrides(base: ClinicalRules, override: Mapping[str, Any] | str | None) -> ClinicalRules:
    """Return ``base`` with a clinic's override (mapping or TOML text) merged in and validated.

    Tables merge key by key; any other value (numbers, lists) replaces the default. A ceiling
    value may be lowered but never raised above the packaged default, and every protocol's hard
    maximum must stay at or below the resulting ceiling; otherwise InvalidInput is raised.
    """
    if override is None:
        return base
    if isinstance(override, str):
        try:
            override = tomllib.loads(override)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"Clinic rules file is not valid TOML: {exc}.") from None
    merged = _deep_merge(base.model_dump(mode="json"), override)
    rules = _validate(merged)
    packaged = default_rules().ceiling
    for field in ("dose_mg_per_kg", "rate_mg_per_kg_per_h", "total_mg"):
        new = getattr(rules.ceiling, field).value
        limit = getattr(packaged, field).value
        if new > limit:
            raise InvalidInput(
                f"A clinic override cannot raise the absolute ceiling {field} above {limit:g}."
            )
    return rules


_UNCONFIRMED = ("source not found", "placeholder", "to be confirmed")


def unconfirmed_rules(rules: ClinicalRules | None = None) -> list[tuple[str, str]]:
    """List (path, source) of every rule whose number has no published source yet.

    These are the clinic-policy placeholders a medical director must confirm or replace.
    """
    data = (rules or default_rules()).model_dump(mode="json")
    found: list[tuple[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            src = node.get("source")
            if isinstance(src, str) and any(w in src.lower() for w in _UNCONFIRMED):
                found.append((path, src))
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")

    walk(data, "")
    return found


def load_rules(override: Mapping[str, Any] | str | None = None) -> ClinicalRules:
    """Return the default rules with an optional clinic override applied."""
    return apply_overrides(default_rules(), override)
