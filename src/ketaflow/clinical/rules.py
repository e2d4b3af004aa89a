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
from typing import Any

from ketaflow.clinical.rule_files import RULE_FILES, deep_merge, read_packaged
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
from ketaflow.clinical.schema_base import validated
from ketaflow.errors import InvalidInput

__all__ = [
    "RULE_FILES",
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


def packaged_rules_raw() -> dict[str, Any]:
    """Return the packaged rule files merged into one plain mapping (for audits and tests)."""
    return read_packaged()


@lru_cache(maxsize=1)
def default_rules() -> ClinicalRules:
    """Return the packaged default rules, validated (cached)."""
    rules = _validate(read_packaged())
    _check_protocols_below(rules, rules.ceiling)
    return rules


def _check_protocols_below(rules: ClinicalRules, ceiling: Ceiling) -> None:
    """Refuse any protocol whose hard maximum lies above the packaged absolute ceiling.

    A clinic may lower the ceiling itself; orders between the clinic's ceiling and a protocol's
    hard maximum are then refused at order time by the ceiling check.
    """
    for key, p in rules.protocols.items():
        pairs = (
            (p.limits.dose_mg_per_kg.hard_max, ceiling.dose_mg_per_kg.value, "dose_mg_per_kg"),
            (p.limits.rate_mg_per_kg_per_h.hard_max, ceiling.rate_mg_per_kg_per_h.value, "rate"),
            (p.limits.total_mg.hard_max, ceiling.total_mg.value, "total_mg"),
        )
        for hard_max, bound, what in pairs:
            if not hard_max <= bound:
                raise InvalidInput(
                    f"Protocol {key}: the hard maximum {what} {hard_max:g} is above the "
                    f"absolute ceiling {bound:g}; no clinic setting can allow that."
                )


def _validate(data: Mapping[str, Any]) -> ClinicalRules:
    return validated(ClinicalRules, data)


def apply_overrides(base: ClinicalRules, override: Mapping[str, Any] | str | None) -> ClinicalRules:
    """Return ``base`` with a clinic's override (mapping or TOML text) merged in and validated.

    Tables merge key by key; any other value (numbers, lists) replaces the default. A table that
    sets a number must give its own ``source``. A ceiling value may be lowered but never raised
    above the packaged default, and every protocol's hard maximum must stay at or below the
    resulting ceiling; otherwise InvalidInput is raised.
    """
    if override is None:
        return base
    if isinstance(override, str):
        try:
            override = tomllib.loads(override)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"Clinic rules file is not valid TOML: {exc}.") from None
    missing = _numbers_without_source(override, "")
    if missing:
        raise InvalidInput(
            f"The clinic override at '{missing[0]}' changes a number without giving its source; "
            "add a source line (author and year, label, or clinic policy with a date)."
        )
    merged = deep_merge(base.model_dump(mode="json"), override)
    rules = _validate(merged)
    packaged = default_rules().ceiling
    _check_protocols_below(rules, packaged)
    for field in ("dose_mg_per_kg", "rate_mg_per_kg_per_h", "total_mg"):
        new = getattr(rules.ceiling, field).value
        limit = getattr(packaged, field).value
        if not new <= limit:
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


def _holds_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, list):
        return any(_holds_number(v) or (isinstance(v, Mapping) and "source" not in v) for v in value)
    return False


def _numbers_without_source(node: Mapping[str, Any], path: str) -> list[str]:
    """Return the override tables that set a number but carry no source of their own."""
    found: list[str] = []
    if any(_holds_number(v) for v in node.values()) and not node.get("source"):
        found.append(path or "(top level)")
    for key, value in node.items():
        if isinstance(value, Mapping):
            found += _numbers_without_source(value, f"{path}.{key}" if path else str(key))
    return found


def load_rules(override: Mapping[str, Any] | str | None = None) -> ClinicalRules:
    """Return the default rules with an optional clinic override applied."""
    return apply_overrides(default_rules(), override)
