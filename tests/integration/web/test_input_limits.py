"""Values the calendar, the database or the pump cannot hold get a plain 4xx, never a 500 (issue 11).

Each case was a 500 on the code before: week views at the ends of the calendar, a page number of
10^20, a booking on 9999-12-31 23:00, times at the ends of the calendar with odd offsets, a bag
of 1e-300 mg in 1e300 mL (a division by zero in dosing), a lone surrogate in a name. Each answer
must be a sentence a person can act on, and nothing may be saved.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaflow.errors import InvalidInput
from ketaflow.services import seating
from ketaflow.store import models as m
from tests.integration.web.demo_support import staff
from tests.integration.web.frontdesk_support import Desk, count, make_patient, open_desk
from tests.integration.web.test_dose_orders import NOW, seated

ENDS = ("0001-01-01", "0001-01-03", "9999-12-31", "2201-01-05", "1899-12-25")


@pytest.fixture(scope="module")
def desk(demo_engine: Engine) -> Iterator[Desk]:
    yield from open_desk(demo_engine, NOW, roles=("front_desk", "nurse", "psychiatrist"))


def plain_4xx(r: Any, *words: str) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert "Traceback" not in r.text and "Something went wrong" not in r.text
    for w in words:
        assert w in r.text, (w, r.text[:300])


@pytest.mark.parametrize("start", ENDS)
def test_a_week_view_at_the_ends_of_the_calendar_is_refused(desk: Desk, start: str) -> None:
    client, _ = desk.as_("front_desk")
    plain_4xx(client.get("/api/clinics/aus/week", params={"start": start}), "1900", "2200")
    plain_4xx(client.get("/clinics/aus/week", params={"start": start}), "1900", "2200")


def test_a_page_number_beyond_any_page_is_refused(desk: Desk) -> None:
    client, _ = desk.as_("front_desk")
    plain_4xx(client.get("/api/clinics/aus/patients", params={"page_no": 10**20}), "page")
    plain_4xx(client.get("/clinics/aus/patients", params={"page_no": 10**20}), "page")


@pytest.mark.parametrize(("day", "start"), [("9999-12-31", "23:00"), ("2300-06-01", "10:00")])
def test_a_booking_beyond_the_calendar_is_refused_and_nothing_is_saved(
    desk: Desk, day: str, start: str
) -> None:
    client, headers = desk.as_("front_desk")
    pid = make_patient(desk.engine)
    r = client.post(
        f"/api/patients/{pid}/appointments",
        json={"kind": "infusion", "day": day, "start": start},
        headers=headers,
    )
    plain_4xx(r)
    assert count(desk.engine, m.Appointment, patient_id=pid) == 0


@pytest.mark.parametrize(
    "when", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "9999-12-31T23:30:00-00:31"]
)
def test_chairside_times_at_the_ends_of_the_calendar_are_refused(desk: Desk, when: str) -> None:
    client, headers = desk.as_("nurse")
    sid = seated(desk.engine)
    for path, body in (
        ("assistance", {"reason": "restroom", "asked_at": when}),
        ("side-effects", {"kind": "nausea", "severity": "mild", "onset_at": when}),
        ("interventions", {"kind": "action", "description": "reassurance", "given_at": when}),
    ):
        plain_4xx(client.post(f"/api/sessions/{sid}/{path}", json=body, headers=headers))
    assert count(desk.engine, m.AssistanceRequest, session_id=sid) == 0
    assert count(desk.engine, m.SideEffect, session_id=sid) == 0


def test_a_bag_whose_strength_rounds_to_nothing_is_refused_and_nothing_is_saved(desk: Desk) -> None:
    client, headers = desk.as_("psychiatrist")
    sid = seated(desk.engine)
    r = client.post(f"/api/sessions/{sid}/order", json={"bag_mg": 1e-300, "bag_ml": 1e300}, headers=headers)
    plain_4xx(r)  # the request guard refuses 1e300 itself
    # Behind it (the CLI, another face), dosing refuses a strength that divides to nothing.
    who = staff(desk.engine, "psychiatrist1.aus")
    with Session(desk.engine) as db, pytest.raises(InvalidInput, match="concentration"):
        seating.order_dose(
            db,
            who,
            sid,
            now=NOW,
            protocol="depression-induction",
            dose_mg_per_kg=None,
            minutes=None,
            bag_mg=1e-300,
            bag_ml=1e300,
            reason="",
        )
    assert count(desk.engine, m.DoseOrder, session_id=sid) == 0


def person(given: str, family: str) -> dict[str, object]:
    return {
        "given_name": given,
        "family_name": family,
        "date_of_birth": "1979-05-06",
        "sex": "female",
        "confirm_not_duplicate": True,
    }


def register_raw(desk: Desk, body: str) -> Any:
    client, headers = desk.as_("front_desk")
    return client.post(
        "/api/clinics/aus/patients", content=body, headers=headers | {"content-type": "application/json"}
    )


@pytest.mark.parametrize(
    "given",
    [
        "Ann\\ud800e",  # a lone high surrogate: UTF-8 cannot hold it
        "Ann\\udc00e",  # a lone low surrogate
        "Ann\\u0007e",  # a bell: a control character
        "Ann\\u009be",  # a C1 control character
    ],
)
def test_a_name_with_a_character_no_text_can_hold_is_refused_and_nothing_is_saved(
    desk: Desk, given: str
) -> None:
    family = f"Surrogate{uuid.uuid4().hex[:6]}"
    body = json.dumps(person("X", family)).replace('"X"', f'"{given}"')
    plain_4xx(register_raw(desk, body), "character")
    assert count(desk.engine, m.Patient, family_name=family) == 0


def test_a_pair_of_surrogates_is_an_ordinary_character(desk: Desk) -> None:
    family = f"Emoji{uuid.uuid4().hex[:6]}"
    body = json.dumps(person("X", family)).replace('"X"', '"Ann\\ud83d\\ude00"')  # a real emoji, escaped
    r = register_raw(desk, body)
    assert r.status_code == 400 or r.status_code == 201, r.text  # a name rule may refuse it, never a 500
    assert "surrogate" not in r.text.lower()


def test_a_name_in_full_width_letters_is_stored_normalised_and_found_as_a_duplicate(desk: Desk) -> None:
    client, headers = desk.as_("front_desk")
    family = f"Wide{uuid.uuid4().hex[:6]}"
    first = client.post("/api/clinics/aus/patients", json=person("Anna", family), headers=headers)
    assert first.status_code == 201, first.text
    again = person("Ａｎｎａ", family) | {"confirm_not_duplicate": False}  # full-width letters
    r = client.post("/api/clinics/aus/patients", json=again, headers=headers)
    assert r.status_code == 409, r.text  # the duplicate check sees the same name
    wide = person("Ａｎｎａ", family + "b")
    r = client.post("/api/clinics/aus/patients", json=wide, headers=headers)
    assert r.status_code == 201, r.text
    assert count(desk.engine, m.Patient, given_name="Anna", family_name=family + "b") == 1


@pytest.mark.parametrize(
    "given",
    [
        "Anna\u202e",  # a right-to-left override
        "An\u200bna",  # a zero-width space
        "An\u200dna",  # a zero-width joiner
        "\u0410nna",  # a Cyrillic A among Latin letters: a look-alike
        "Ann\u0430",  # a Cyrillic a at the end
    ],
)
def test_a_name_spoofed_with_hidden_or_look_alike_characters_is_refused(desk: Desk, given: str) -> None:
    client, headers = desk.as_("front_desk")
    family = f"Spoof{uuid.uuid4().hex[:6]}"
    r = client.post("/api/clinics/aus/patients", json=person(given, family), headers=headers)
    plain_4xx(r)
    assert count(desk.engine, m.Patient, family_name=family) == 0


@pytest.mark.parametrize(
    "given", ["Zoë", "José María", "Ólafur", "Дмитрий", "Αλέξανδρος", "陈", "O'Brien-Smith"]
)
def test_names_in_one_script_each_are_kept(desk: Desk, given: str) -> None:
    client, headers = desk.as_("front_desk")
    family = f"Kept{uuid.uuid4().hex[:6]}"
    r = client.post("/api/clinics/aus/patients", json=person(given, family), headers=headers)
    assert r.status_code == 201, r.text


def test_json_nested_too_deep_is_refused(desk: Desk) -> None:
    plain_4xx(register_raw(desk, "[" * 100 + "]" * 100), "nested")
    plain_4xx(register_raw(desk, "[" * 100_000 + "]" * 100_000), "nested")


def test_json_with_too_many_values_is_refused_and_nothing_is_saved(desk: Desk) -> None:
    family = f"Many{uuid.uuid4().hex[:6]}"
    body = json.dumps(person("Mona", family) | {"medications": ["sertraline 50 mg"] * 20_000})
    plain_4xx(register_raw(desk, body), "values")
    assert count(desk.engine, m.Patient, family_name=family) == 0


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1e300", "123456789012345678901234567890"])
def test_a_number_no_field_can_hold_is_refused(desk: Desk, number: str) -> None:
    family = f"Huge{uuid.uuid4().hex[:6]}"
    body = json.dumps(person("Hugo", family) | {"weight_kg": 0}).replace(
        '"weight_kg": 0', f'"weight_kg": {number}'
    )
    plain_4xx(register_raw(desk, body), "number")
    assert count(desk.engine, m.Patient, family_name=family) == 0
