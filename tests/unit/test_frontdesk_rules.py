"""Pure front-desk logic: name folding and duplicate rules, date and time parsing, visit lengths."""

from __future__ import annotations

from datetime import date, time

import pytest

from ketaflow.errors import InvalidInput
from ketaflow.services import booking, registration
from ketaflow.vocabulary import AppointmentKind


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("  Élodie ", "elodie"),
        ("O'Neil-Smith", "oneilsmith"),
        ("MARY  ANN", "maryann"),
        ("Zoë", "zoe"),
        ("Straße", "strasse"),
    ],
)
def test_names_fold_case_accents_and_spacing(typed: str, folded: str) -> None:
    assert registration.fold(typed) == folded


@pytest.mark.parametrize(
    ("new", "old", "why"),
    [
        (("Jose", "Garcia"), ("José", "García"), "same name"),
        (("Ana", "de la Cruz"), ("Ana", "De La Cruz"), "same name"),
        (("Nguyen", "Minh"), ("Minh", "Nguyen"), "given and family names swapped"),
        (("Chris", "Bauer"), ("Christopher", "Bauer"), "same family name and a similar given name"),
        (("C", "Bauer"), ("Christopher", "Bauer"), "same family name and a similar given name"),
        (("Chris", "Bauer"), ("Carl", "Bauer"), None),
        (("Chris", "Bauer"), ("Chris", "Baur"), None),
        (("", "Bauer"), ("Chris", "Bauer"), None),
    ],
)
def test_duplicate_rules(new: tuple[str, str], old: tuple[str, str], why: str | None) -> None:
    assert registration.why_duplicate(*new, *old) == why


def test_dates_of_birth() -> None:
    today = date(2031, 3, 3)
    assert registration.parse_date_of_birth("1980-05-17", today) == date(1980, 5, 17)
    assert registration.parse_date_of_birth("1911-03-03", today) == date(1911, 3, 3)  # 120 today
    for bad, message in [
        ("1911-03-02", "more than 120 years"),
        ("2031-03-04", "future"),
        ("1980-02-30", "YYYY-MM-DD"),
    ]:
        with pytest.raises(InvalidInput, match=message) as caught:
            registration.parse_date_of_birth(bad, today)
        assert caught.value.field == "date_of_birth"


def test_times_and_days() -> None:
    assert booking.parse_time("9:05") == time(9, 5) and booking.parse_time("14.30") == time(14, 30)
    for bad in ["", "24:00", "9", "09:60", "nine"]:
        with pytest.raises(InvalidInput):
            booking.parse_time(bad)
    assert booking.parse_day("2031-03-04") == date(2031, 3, 4)
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        booking.parse_day("4 March")
    assert booking.parse_kind("Follow-up") is AppointmentKind.FOLLOW_UP


def test_visit_lengths_follow_the_kind_and_the_plan() -> None:
    class Plan:
        infusion_minutes = 240.0

    assert booking.default_length_min(AppointmentKind.INFUSION, None) == 210
    assert booking.default_length_min(AppointmentKind.INFUSION, Plan()) == 420
    assert booking.default_length_min(AppointmentKind.CONSULTATION, None) == 60
    assert booking.default_length_min(AppointmentKind.FOLLOW_UP, None) == 30
