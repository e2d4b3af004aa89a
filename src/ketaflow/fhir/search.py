"""FHIR search parameters applied to resources already mapped: `code` and `date` (pure).

The server reads one patient's record (services/fhir_api.py) and narrows it here, so the rules
of the two common parameters live in one place:

- ``code``: a token, ``system|code``, ``code`` (any system) or ``|code`` (no system), matched
  against the type's main coded element (Observation.code, Condition.code, the medication of a
  MedicationRequest/MedicationAdministration, Encounter.type, ...); a comma means "or".
- ``date``: a date or date-time with an optional prefix ``eq ne lt le gt ge`` (FHIR R4 search,
  section 3.1.1.4.2: the parameter's value and the resource's value are both ranges, a day is
  the whole day; ``gt`` matches when the resource's range reaches past the parameter's, ``lt``
  when it starts before it; ``ge``/``le`` are ``gt``/``lt`` or ``eq``). Repeated, every one must
  match.
- ``_lastUpdated``: the same rules on meta.lastUpdated (when the record was charted).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ketaflow.errors import InvalidInput

Resource = dict[str, Any]

# Resource type -> where its main code is (a CodeableConcept or a list of them).
CODE_PATH = {
    "Observation": "code",
    "Condition": "code",
    "MedicationRequest": "medicationCodeableConcept",
    "MedicationAdministration": "medicationCodeableConcept",
    "Encounter": "type",
    "CarePlan": "category",
    "Consent": "category",
    "Provenance": "activity",
}
# Resource type -> the element its `date` searches (a dateTime/date or a Period).
DATE_PATH = {
    "Observation": "effectiveDateTime",
    "Condition": "recordedDate",
    "MedicationRequest": "authoredOn",
    "MedicationAdministration": "effectivePeriod",
    "Encounter": "period",
    "QuestionnaireResponse": "authored",
    "Consent": "dateTime",
    "AdverseEvent": "date",
    "CarePlan": "created",
    "Provenance": "recorded",
}
PREFIXES = ("eq", "ne", "lt", "le", "gt", "ge")
_FAR_PAST = datetime(1, 1, 1, tzinfo=UTC)
_FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def _codings(value: Any) -> list[dict[str, Any]]:
    concepts = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    return [coding for concept in concepts for coding in concept.get("coding", [])]


def matches_code(resource: Resource, token: str) -> bool:
    """Does the resource's main code match the token (``system|code``, ``code``, ``|code``; a comma: or)?"""
    path = CODE_PATH.get(resource["resourceType"])
    if path is None:
        raise InvalidInput(f"{resource['resourceType']} cannot be searched by code.", field="code")
    codings = _codings(resource.get(path))
    for one in token.split(","):
        system, bar, code = one.rpartition("|")
        for coding in codings:
            if coding.get("code") != code:
                continue
            if not bar or (system == "" and "system" not in coding) or coding.get("system") == system:
                return True
    return False


def date_range(text: str) -> tuple[datetime, datetime]:
    """The [start, end) a date search value covers: a year, month or day in UTC, or an instant."""
    partial = _PARTIAL.match(text)
    try:
        if partial:
            year, month, day = (int(g) if g else None for g in partial.groups())
            assert year is not None
            start = datetime(year, month or 1, day or 1, tzinfo=UTC)
            if day:
                end = start + timedelta(days=1)
            elif month:
                end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
            else:
                end = datetime(year + 1, 1, 1, tzinfo=UTC)
            return start, end
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"'{text}' is not a date: write it as 2026-03-02 or 2026-03-02T15:00:00Z, "
            "with a prefix such as ge or lt if needed.",
            field="date",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment, moment + timedelta(seconds=1)


def _resource_range(value: Any) -> tuple[datetime, datetime] | None:
    if isinstance(value, str):
        return date_range(value)
    if isinstance(value, dict):
        start = date_range(value["start"])[0] if value.get("start") else _FAR_PAST
        end = date_range(value["end"])[1] if value.get("end") else _FAR_FUTURE
        return start, end
    return None


def parse_date(param: str) -> tuple[str, tuple[datetime, datetime]]:
    prefix = param[:2] if param[:2] in PREFIXES else "eq"
    return prefix, date_range(param[2:] if param[:2] in PREFIXES else param)


def matches_date(resource: Resource, param: str) -> bool:
    path = DATE_PATH.get(resource["resourceType"])
    if path is None:
        raise InvalidInput(f"{resource['resourceType']} cannot be searched by date.", field="date")
    return _compare(resource.get(path), param)


def matches_last_updated(resource: Resource, param: str) -> bool:
    """`_lastUpdated`: the date rules, on meta.lastUpdated (when the record was charted)."""
    return _compare(resource.get("meta", {}).get("lastUpdated"), param)


def _compare(value: Any, param: str) -> bool:
    prefix, (low, high) = parse_date(param)
    found = _resource_range(value)
    if found is None:
        return False
    start, end = found
    equal = low <= start and end <= high
    return {
        "eq": equal,
        "ne": not equal,
        "gt": end > high,
        "lt": start < low,
        "ge": end > high or equal,
        "le": start < low or equal,
    }[prefix]


def narrowed(
    resources: Sequence[Resource],
    *,
    codes: Sequence[str] = (),
    dates: Sequence[str] = (),
    last_updated: Sequence[str] = (),
) -> list[Resource]:
    """The resources matching every `code`, `date` and `_lastUpdated` parameter given."""
    for param in (*dates, *last_updated):
        parse_date(param)  # a malformed date is refused even when nothing would be compared
    return [
        r
        for r in resources
        if all(matches_code(r, token) for token in codes)
        and all(matches_date(r, d) for d in dates)
        and all(matches_last_updated(r, u) for u in last_updated)
    ]


def _at(value: Any, path: list[str]) -> list[Any]:
    if isinstance(value, list):
        return [found for item in value for found in _at(item, path)]
    if not path:
        return [value]
    if not isinstance(value, dict) or path[0] not in value:
        return []
    return _at(value[path[0]], path[1:])


def include_targets(
    resources: Sequence[Resource], includes: Sequence[str], table: dict[str, dict[str, str]]
) -> list[str]:
    """The references ("Type/id", in order, each once) that `_include` values such as
    ``MedicationAdministration:request`` name in `resources`; `table` is the server's INCLUDES.
    An `_include` the server does not offer is refused, naming the ones it does."""
    paths: list[tuple[str, list[str]]] = []
    for one in includes:
        source, _, param = one.partition(":")
        path = table.get(source, {}).get(param)
        if path is None:
            offered = ", ".join(f"{t}:{p}" for t, params in table.items() for p in params)
            raise InvalidInput(
                f"_include={one} is not offered; the server offers {offered}.", field="_include"
            )
        paths.append((source, path.split(".")))
    out: dict[str, None] = {}
    for resource in resources:
        for source, steps in paths:
            if resource["resourceType"] != source:
                continue
            for ref in _at(resource, steps):
                if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
                    out[ref["reference"]] = None
    return list(out)
