"""The FHIR `date`, `_lastUpdated` and `code` search rules (FHIR R4 search 3.1.1.4.2, token 3.1.1.4.4)."""

from __future__ import annotations

import pytest

from ketaflow.errors import InvalidInput
from ketaflow.fhir.search import matches_code, matches_date, narrowed

LOINC = "http://loinc.org"


def obs(when: str, code: str = "8867-4", updated: str | None = None) -> dict[str, object]:
    resource: dict[str, object] = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": when,
    }
    if updated:
        resource["meta"] = {"lastUpdated": updated}
    return resource


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ("2026-03-02", True),  # the instant lies within that day
        ("eq2026-03", True),
        ("2026", True),
        ("2026-03-03", False),
        ("ne2026-03-03", True),
        ("gt2026-03-01", True),
        ("gt2026-03-02", False),  # not after the day it lies in
        ("ge2026-03-02", True),
        ("lt2026-03-03", True),
        ("lt2026-03-02", False),
        ("le2026-03-02", True),
        ("ge2026-03-02T15:00:00Z", True),
        ("gt2026-03-02T15:00:00Z", False),
        ("lt2026-03-02T15:00:01Z", True),
        ("lt2026-03-02T15:00:00+00:00", False),
        ("eq2026-03-02T09:00:00-06:00", True),  # the same instant written in Chicago time
    ],
)
def test_date_prefixes_on_an_instant(param: str, expected: bool) -> None:
    assert matches_date(obs("2026-03-02T15:00:00Z"), param) is expected


def test_a_period_without_an_end_reaches_past_any_later_date() -> None:
    running = {"resourceType": "Encounter", "period": {"start": "2026-03-02T15:00:00Z"}}
    assert matches_date(running, "gt2030-01-01")
    assert not matches_date(running, "lt2026-03-01")
    assert not matches_date(running, "eq2026-03-02")  # not contained in the day: it has not ended


def test_code_tokens() -> None:
    hr = obs("2026-03-02T15:00:00Z")
    assert matches_code(hr, "http://loinc.org|8867-4")
    assert matches_code(hr, "8867-4")
    assert matches_code(hr, "9279-1,8867-4")
    assert not matches_code(hr, "http://snomed.info/sct|8867-4")
    assert not matches_code(hr, "|8867-4")  # a coding with a system does not match "no system"


def test_narrowed_combines_and_refuses_bad_dates() -> None:
    a = obs("2026-03-02T15:00:00Z", updated="2026-03-02T15:01:00Z")
    b = obs("2026-03-09T15:00:00Z", code="9279-1", updated="2026-03-10T08:00:00Z")
    assert narrowed([a, b], codes=["8867-4"]) == [a]
    assert narrowed([a, b], dates=["ge2026-03-05"]) == [b]
    assert narrowed([a, b], last_updated=["gt2026-03-09"]) == [b]
    assert narrowed([a, b], dates=["ge2026-03-01", "lt2026-03-05"]) == [a]
    with pytest.raises(InvalidInput, match="not a date"):
        narrowed([], dates=["last-tuesday"])
