"""The medical director's review list: every rule that is clinic policy rather than literature.

A rule is "policy" when its source (or, for a maintenance check, its interval source) says so:
"clinic policy", "source not found", "placeholder" or "to be confirmed". The list is built from
the packaged rule files, so `docs/clinical-review.md` cannot drift from them (a test compares).

    python -m ketaflow.clinical.review --write   # rewrite the generated part of the document
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ketaflow.clinical.rules import RULE_FILES, ClinicalRules, default_rules

GENERATED_START = "<!-- generated: policy rules (python -m ketaflow.clinical.review --write) -->"
GENERATED_END = "<!-- end of generated policy rules -->"
_MARKERS = ("clinic policy", "source not found", "placeholder", "to be confirmed")
_SOURCE_KEYS = ("source", "interval_source")
_VALUE_WORDS = ("level", "policy", "max_level", "routes")
_TEXT_KEYS = {"label", "reason", "advice", "text", "rule", "title", "name", "unit", "direction"}


@dataclass(frozen=True)
class PolicyRule:
    """One table of the rules whose number or choice is clinic policy."""

    file: str  # e.g. src/ketaflow/clinical/rules/vitals.toml
    path: str  # the TOML key, e.g. vitals.thresholds.systolic_high
    value: str  # its current values, e.g. "watch = 140, pause = 180, stop = 200"
    reasoning: str  # the source text, which says why


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


def _value(table: dict[str, Any]) -> str:
    parts = []
    for key, v in table.items():
        if key in _SOURCE_KEYS or key in _TEXT_KEYS or isinstance(v, dict):
            continue
        numeric = isinstance(v, int | float) and not isinstance(v, bool)
        numeric_list = isinstance(v, list) and v and all(isinstance(x, int | float) for x in v)
        if numeric or numeric_list or key in _VALUE_WORDS or isinstance(v, bool):
            parts.append(f"{key} = {_shown(v)}")
    if not parts:
        for key in ("level", "text", "label"):
            if isinstance(table.get(key), str):
                text = table[key]
                parts.append(f"{key} = {text if len(text) <= 90 else text[:87] + '...'}")
                break
    return ", ".join(parts) or "(see the file)"


def _walk(node: Any, path: str, file: str, out: list[PolicyRule]) -> None:
    if isinstance(node, dict):
        reasons = [node[k] for k in _SOURCE_KEYS if isinstance(node.get(k), str)]
        if any(m in r.lower() for r in reasons for m in _MARKERS):
            out.append(PolicyRule(file, path, _value(node), " ".join(reasons)))
        for key, value in node.items():
            _walk(value, f"{path}.{key}" if path else key, file, out)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, dict):
                _walk(item, f"{path}[{i}]", file, out)


def policy_rules(rules: ClinicalRules | None = None) -> list[PolicyRule]:
    """Every policy table in the packaged rule files, in file order.

    ``rules`` is accepted for symmetry with the other readers; the list is read from the
    packaged files (a clinic's override carries its own sources and its own review).
    """
    del rules
    folder = resources.files("ketaflow.clinical").joinpath("rules")
    found: list[PolicyRule] = []
    for name in RULE_FILES:
        data = tomllib.loads(folder.joinpath(name).read_text(encoding="utf-8"))
        _walk(data, "", f"src/ketaflow/clinical/rules/{name}", found)
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_policy_section(rules: ClinicalRules | None = None) -> str:
    """The generated part of docs/clinical-review.md: one row per policy rule."""
    rows = policy_rules(rules or default_rules())
    lines = [
        GENERATED_START,
        "",
        f"{len(rows)} rules are clinic policy. Change one in its file, or per clinic with an override",
        "(`load_rules(toml)` / `--clinic-rules FILE`): the same table path and your own `source`.",
        "",
        "| file | key | current value | reasoning (the rule's source) |",
        "| --- | --- | --- | --- |",
    ]
    for r in rows:
        file = r.file.rsplit("/", 1)[-1]
        lines.append(f"| {file} | `{r.path}` | {_cell(r.value)} | {_cell(r.reasoning)} |")
    lines += ["", GENERATED_END]
    return "\n".join(lines)


def write(doc: Path) -> None:
    """Replace the generated part of ``doc`` with the current list."""
    text = doc.read_text(encoding="utf-8")
    start = text.index(GENERATED_START)
    end = text.index(GENERATED_END) + len(GENERATED_END)
    doc.write_text(text[:start] + render_policy_section() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    target = Path("docs/clinical-review.md")
    if "--write" in sys.argv[1:]:
        write(target)
        print(f"Rewrote the policy list in {target}.")
    else:
        print(render_policy_section())
