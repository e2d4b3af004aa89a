"""The observation-code table (observation_codes.toml): which OBX-3 identifiers and OBX-6 units
ketaflow charts from a monitor, and as which vital-sign column. The data and its sources live in
the TOML file; this module only reads it."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Parameter:
    """One vital sign a monitor may send: its name, the VitalSign column, label and unit."""

    name: str
    column: str
    label: str
    unit: str


@dataclass(frozen=True)
class Match:
    """An observation identifier that names `parameter`; `priority` breaks ties (lower wins)."""

    parameter: Parameter
    priority: int


@dataclass(frozen=True)
class CodeTable:
    by_code: dict[tuple[str, str], Match]  # (coding system, code) -> parameter
    by_name: dict[str, Match]  # an IEEE 11073 reference id (MDC_...) -> parameter
    units: dict[str, dict[str, float]]  # ketaflow's unit -> accepted unit code or name -> factor

    def lookup(self, system: str, code: str, text: str) -> Match | None:
        """The parameter an OBX-3 coded element names, or None if ketaflow does not chart it."""
        system = _system(system)
        hit = self.by_code.get((system, code.strip()))
        if hit is None and (system == "MDC" or text.strip().startswith("MDC_")):
            hit = self.by_name.get(text.strip()) or self.by_name.get(code.strip())
        return hit

    def factor(self, unit: str, sent: tuple[str, ...]) -> float | None:
        """The factor turning a value in the unit sent (OBX-6's identifier or text; any of them)
        into `unit`; None when the unit sent is not one ketaflow knows for it. No unit sent: 1."""
        accepted = self.units[unit]
        given = [s.strip() for s in sent if s.strip()]
        if not given:
            return 1.0
        for s in given:
            if s in accepted:
                return accepted[s]
        return None


# Coding-system names as monitors send them (HL7 table 0396): LOINC is "LN"; IEEE 11073 is "MDC".
_SYSTEM_ALIASES = {"LN": "LN", "LOINC": "LN", "MDC": "MDC", "ISO11073": "MDC"}


def _system(s: str) -> str:
    s = s.strip().upper()
    return _SYSTEM_ALIASES.get(s, s)


@cache
def code_table() -> CodeTable:
    """The packaged table, read once."""
    text = resources.files("ketaflow.interop.hl7").joinpath("observation_codes.toml").read_text("utf-8")
    return parse_table(tomllib.loads(text))


def parse_table(data: dict[str, object]) -> CodeTable:
    """A CodeTable from the TOML's data; a code listed twice is an error in the table."""
    by_code: dict[tuple[str, str], Match] = {}
    by_name: dict[str, Match] = {}
    params = data["parameters"]
    assert isinstance(params, dict)
    for name, spec in params.items():
        parameter = Parameter(name, spec["column"], spec["label"], spec["unit"])
        for c in spec["codes"]:
            match = Match(parameter, int(c["priority"]))
            key = (_system(c["system"]), str(c["code"]))
            if key in by_code:
                raise ValueError(f"observation_codes.toml lists {key} twice")
            by_code[key] = match
            if "name" in c:
                by_name[c["name"]] = match
    units: dict[str, dict[str, float]] = {}
    raw_units = data["units"]
    assert isinstance(raw_units, dict)
    for unit, spec in raw_units.items():
        accepted: dict[str, float] = {}
        for u in spec["accept"]:
            accepted[str(u["code"])] = float(u["factor"])
            if "name" in u:
                accepted[u["name"]] = float(u["factor"])
        units[unit] = accepted
    return CodeTable(by_code, by_name, units)
