"""The pure pieces of the research variant: date shifting (against hand-worked calendar
arithmetic), masked ids (keyed, stable within an export), and the shared resources' rewriting."""

from __future__ import annotations

from datetime import date

import pytest

from ketaflow.fhir.deidentify import DeIdentifier, shift_value


@pytest.mark.parametrize(
    ("value", "days", "expected"),
    [
        ("2026-03-01", -1, "2026-02-28"),  # 2026 is no leap year
        ("2024-02-28", 1, "2024-02-29"),  # 2024 is
        ("2026-12-31T23:59:59Z", 1, "2027-01-01T23:59:59Z"),
        ("2026-06-15T08:30:00.250000+02:00", -365, "2025-06-15T08:30:00.250000+02:00"),
        ("2026", 200, "2026"),  # a year alone names no day
        ("2026-05", 40, "2026-05"),
        ("Ketamine infusion 3", 10, "Ketamine infusion 3"),
    ],
)
def test_shift_value(value: str, days: int, expected: str) -> None:
    assert shift_value(value, days) == expected


def test_masked_ids_are_keyed_and_stable() -> None:
    one, two = DeIdentifier(b"k" * 32, date(2026, 12, 6)), DeIdentifier(b"j" * 32, date(2026, 12, 6))
    assert (
        one.masked_id("Encounter", "x") == one.masked_id("Encounter", "x") != two.masked_id("Encounter", "x")
    )
    assert one.masked_id("Encounter", "x") != one.masked_id("Observation", "x")
    with pytest.raises(ValueError, match="16 random bytes"):
        DeIdentifier(b"short", date(2026, 12, 6))


def test_a_shared_resource_loses_people_and_places() -> None:
    d = DeIdentifier(b"k" * 32, date(2026, 12, 6))
    practitioner = {
        "resourceType": "Practitioner",
        "id": "u1",
        "identifier": [{"system": "s", "value": "u1"}],
        "name": [{"text": "Ann Lee"}],
        "telecom": [{"system": "email", "value": "ann@x.test"}],
    }
    out = d.shared(practitioner)
    assert set(out) == {"resourceType", "id", "meta"} and out["id"] != "u1"
    clinic = {
        "resourceType": "Organization",
        "id": "c1",
        "name": "Blue Heron Austin",
        "address": [
            {"line": ["1 Main St"], "city": "Austin", "state": "TX", "postalCode": "78701", "country": "US"}
        ],
        "partOf": {"reference": "Organization/n1", "display": "Network"},
    }
    out = d.shared(clinic)
    assert out["address"] == [{"state": "TX", "country": "US"}]
    assert out["partOf"] == {"reference": f"Organization/{d.masked_id('Organization', 'n1')}"}
    with pytest.raises(ValueError, match="record"):
        d.shared({"resourceType": "Patient", "id": "p"})
