"""Each form tells all its mistakes at once, each tied to its field (aria-invalid, aria-describedby),
the first field at fault takes the focus, and nothing is written (issue 19 items 5 and 10). The JSON
twin of each action reads its body with the same model and answers with the same sentences, per
field (issue 18 item 7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ketaflow.store import models as m
from tests.integration.web.form_errors_support import read_page
from tests.integration.web.frontdesk_support import count, make_patient
from tests.integration.web.test_booking_hours import desk as desk_hours
from tests.integration.web.test_chairside import T0, ChairWorld, Clock, _counts, app_clock, sign_in, world
from tests.integration.web.test_discharge import counts
from tests.integration.web.test_discharge import sign_in as sign_in_for_discharge
from tests.integration.web.test_discharge_screen import app, ready_visit, screens
from tests.integration.web.test_registration import desk, form_of, person, rows

__all__ = ["app", "app_clock", "desk", "desk_hours", "world"]  # fixtures used here


def _charted(world: ChairWorld, sid: Any) -> tuple[int, ...]:
    return (*_counts(world, sid), world.count(m.VitalSign, sid), world.count(m.DoseOrder, sid))


SESSION_FORMS = [
    pytest.param(
        "vitals",
        {"bp": "abc", "heart_rate": "fast", "spo2": "97", "respiratory_rate": "4000", "sedation": "9"},
        {
            "bp": "Blood pressure must be written systolic/diastolic, like 128/82; got 'abc'.",
            "heart_rate": "Heart rate must be a number; got 'fast'.",
            "respiratory_rate": "Respiratory rate must be between",
            "sedation": "Sedation (MOAA/S) must be a whole number from 0 to 5; got 9.",
        },
        id="vitals",
    ),
    pytest.param(
        "vitals",
        {"bp": "120/180", "heart_rate": "400", "spo2": "150"},
        {
            "bp": "the diastolic must be lower than the systolic",
            "heart_rate": "Heart rate must be between",
            "spo2": "SpO2 must be between",
        },
        id="vitals-ranges",
    ),
    pytest.param(
        "side-effects",
        {"kind": "itching", "severity": "", "onset_at": "half past", "notes": "x"},
        {
            "kind": "The side effect must be one of nausea",
            "severity": "Choose the severity",
            "onset_at": "The onset time must be a time like 14:05; got 'half past'.",
        },
        id="side-effects",
    ),
    pytest.param(
        "side-effects",
        {"kind": "", "severity": "mild", "onset_at": "10:45"},
        {"kind": "Choose the side effect", "onset_at": "in the future"},
        id="side-effects-future",
    ),
    pytest.param(
        "interventions",
        {"kind": "drug", "drug_name": "", "dose_text": "", "given_at": "25:99"},
        {
            "drug_name": "Name the drug given",
            "dose_text": "Write the dose",
            "given_at": "The time given must be a time like 14:05",
        },
        id="interventions",
    ),
    pytest.param(
        "assistance",
        {"reason": "", "asked_at": "9:30"},
        {"reason": "Choose the reason", "asked_at": "before this infusion was opened"},
        id="assistance",
    ),
    pytest.param(
        "cadss",
        {**{f"item_{i}": "1" for i in range(1, 22)}, "item_22": "x", "item_23": "y"},
        {
            "item_22": "CADSS item 22 must be a whole number from 0 to 4; got 'x'.",
            "item_23": "CADSS item 23 must be a whole number from 0 to 4; got 'y'.",
        },
        id="cadss",
    ),
]


@pytest.mark.parametrize(("path", "data", "expected"), SESSION_FORMS)
def test_a_session_form_tells_every_mistake_at_its_field_and_charts_nothing(
    app_clock: tuple[TestClient, Clock],
    world: ChairWorld,
    path: str,
    data: dict[str, str],
    expected: dict[str, str],
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    csrf = sign_in(client, "nurse1.aus")["X-CSRF-Token"]
    frozen.now = T0 + timedelta(minutes=30)  # 10:30 in Austin
    before = _charted(world, sid)
    r = client.post(f"/sessions/{sid}/{path}", data={"csrf": csrf, **data}, follow_redirects=False)
    assert r.status_code == 400 and "Traceback" not in r.text
    page = read_page(r.text)
    marked = page.invalid(f"/{path}")
    assert set(marked) == set(expected), marked
    for name, words in expected.items():
        assert words in marked[name], (name, marked[name])
    # The focus goes to the first field at fault, in the page's order; only one takes it.
    order = [f.name for f in page.fields if f.form.endswith(f"/{path}") and f.name in expected]
    assert page.autofocus == [order[0]]
    for name, value in data.items():  # what was typed is kept
        field = page.field(f"/{path}", name)
        if field.attrs.get("type") == "radio":  # the button chosen stays chosen (none for junk)
            group = [f for f in page.fields if f.form.endswith(f"/{path}") and f.name == name]
            chosen = [f.attrs.get("value") for f in group if "checked" in f.attrs]
            assert chosen == ([value] if value in {f.attrs.get("value") for f in group} else []), name
        elif field.attrs.get("type") != "time" or value.count(":") == 1:
            assert field.attrs.get("value", value) == value or field.attrs.get("value") is None
    assert _charted(world, sid) == before


SESSION_API = [
    pytest.param(
        "vitals",
        {"bp": "abc", "heart_rate": "fast", "spo2": 97},
        422,
        {"heart_rate": "Heart rate must be a number; got 'fast'."},
        id="vitals-unreadable",
    ),
    pytest.param(
        "vitals",
        {"bp": "120/180", "heart_rate": 400, "spo2": 150},
        400,
        {
            "bp": "the diastolic must be lower than the systolic",
            "heart_rate": "Heart rate must be between",
            "spo2": "SpO2 must be between",
        },
        id="vitals-ranges",
    ),
    pytest.param(
        "side-effects",
        {"kind": "itching", "severity": "", "onset_at": "2027-03-01T10:00:00"},
        400,
        {"kind": "must be one of nausea", "severity": "Choose the severity", "onset_at": "needs a time zone"},
        id="side-effects",
    ),
    pytest.param(
        "interventions",
        {"kind": "drug"},
        400,
        {"drug_name": "Name the drug given", "dose_text": "Write the dose"},
        id="interventions",
    ),
    pytest.param(
        "order",
        {"dose_mg_per_kg": "lots", "minutes": "forty"},
        422,
        {
            "dose_mg_per_kg": "Dose (mg/kg) must be a number; got 'lots'.",
            "minutes": "Minutes must be a number",
        },
        id="order",
    ),
]


@pytest.mark.parametrize(("path", "body", "status", "expected"), SESSION_API)
def test_the_api_twin_answers_with_the_same_sentences_per_field_and_charts_nothing(
    app_clock: tuple[TestClient, Clock],
    world: ChairWorld,
    path: str,
    body: dict[str, Any],
    status: int,
    expected: dict[str, str],
) -> None:
    client, frozen = app_clock
    sid = world.session(started=path != "order", ordered=path != "order")
    who = "psychiatrist1.aus" if path == "order" else "nurse1.aus"
    headers = sign_in(client, who)
    frozen.now = T0 + timedelta(minutes=30)
    before = _charted(world, sid)
    r = client.post(f"/api/sessions/{sid}/{path}", json=body, headers=headers)
    assert r.status_code == status, r.text
    answer = r.json()
    assert set(answer["fields"]) == set(expected), answer
    for name, words in expected.items():
        assert words in answer["fields"][name], (name, answer["fields"][name])
        assert words in answer["error"]
    assert _charted(world, sid) == before


def test_the_dose_order_form_tells_every_unreadable_number_at_once(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(ordered=False)
    csrf = sign_in(client, "psychiatrist1.aus")["X-CSRF-Token"]
    frozen.now = T0 + timedelta(minutes=5)
    before = _charted(world, sid)
    data = {"csrf": csrf, "dose_mg_per_kg": "lots", "minutes": "40", "bag_mg": "ten", "bag_ml": "100"}
    r = client.post(f"/sessions/{sid}/order", data=data, follow_redirects=False)
    assert r.status_code == 400
    page = read_page(r.text)
    assert page.invalid("/order") == {
        "dose_mg_per_kg": "Dose (mg/kg) must be a number; got 'lots'.",
        "bag_mg": "Bag drug (mg) must be a number; got 'ten'.",
    }
    assert page.autofocus == ["dose_mg_per_kg"]
    assert _charted(world, sid) == before


def test_a_refusal_tied_to_no_field_takes_the_focus_itself(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    csrf = sign_in(client, "nurse1.aus")["X-CSRF-Token"]
    frozen.now = T0 + timedelta(minutes=30)
    r = client.post(
        f"/sessions/{sid}/pump",
        data={"csrf": csrf, "kind": "stop", "reason": "asked"},
        follow_redirects=False,
    )
    assert r.status_code == 400
    page = read_page(r.text)
    assert page.autofocus == ["#pump-errors"]
    assert "Tick the box to confirm the stop" in page.texts["pump-errors"]
    assert world.count(m.AdministrationEvent, sid) == 1  # the start only


def test_registration_tells_every_mistake_at_once_on_the_page_and_in_the_api(desk: Any) -> None:
    client, headers = desk.as_("front_desk")
    body = person(
        given_name=" ",
        date_of_birth="2031-03-04",
        sex="x",
        phone="12",
        email="regina-at-example",
        emergency_contact_name="",
        weight_kg="heavy",
    )
    expected = {
        "given_name": "Enter the patient's given name.",
        "date_of_birth": "The date of birth is in the future",
        "sex": "Choose the patient's sex",
        "phone": "The phone number must have 7 to 15 digits",
        "email": "is not valid",
        "emergency_contact_name": "Name the emergency contact",
        "weight_kg": "Weight (kg) must be a number; got 'heavy'.",
    }
    before = rows(desk.engine)
    r = client.post("/clinics/aus/patients/new", data=form_of(body, headers["X-CSRF-Token"]))
    assert r.status_code == 400
    page = read_page(r.text)
    marked = page.invalid("/patients/new")
    assert set(marked) == set(expected), marked
    for name, words in expected.items():
        assert words in marked[name], (name, marked[name])
    assert page.autofocus == ["given_name"]
    assert "YYYY-MM-DD" not in r.text  # the date field is the browser's own; no contradicting hint
    # The API: the same model and sentences; a number it cannot read is a 422 with its field.
    api = client.post("/api/clinics/aus/patients", json=body, headers=headers)
    assert api.status_code == 422 and api.json()["fields"] == {
        "weight_kg": "Weight (kg) must be a number; got 'heavy'."
    }
    api = client.post("/api/clinics/aus/patients", json={**body, "weight_kg": 70}, headers=headers)
    assert api.status_code == 400
    assert set(api.json()["fields"]) == set(expected) - {"weight_kg"}
    assert api.json()["field"] == "given_name"
    assert rows(desk.engine) == before


def test_the_discharge_form_tells_every_mistake_at_its_field_and_saves_nothing(
    app: tuple[TestClient, Clock], demo_engine: Engine
) -> None:
    client, frozen = app
    visit = ready_visit(demo_engine, frozen)
    sign_in_for_discharge(client, "nurse1.aus")
    csrf = client.get("/api/me").json()["csrf_token"]
    form = {
        "csrf": csrf,
        "score": "ten",
        "walks_with_help": "1",
        "nausea": "queasy",
        "mental_status": "foggy",
        "instructions_given": "1",
    }
    r = client.post(f"/sessions/{visit.session_id}/discharge", data=form)
    assert r.status_code == 400 and "Traceback" not in r.text
    page = read_page(r.text)
    marked = page.invalid("/discharge")
    assert marked == {
        "score": "The recovery score must be a whole number; got 'ten'.",
        "nausea": "Nausea must be one of none, mild, moderate, severe; got 'queasy'.",
        "mental_status": "Mental status must be baseline or altered; got 'foggy'.",
    }
    assert page.autofocus == ["score"]
    assert counts(demo_engine, visit) == (0, "in_chair", 1) and screens(demo_engine, visit) == []


def test_the_booking_form_and_its_api_tell_every_mistake_at_once(desk: Any) -> None:
    client, headers = desk.as_("front_desk")
    pid = make_patient(desk.engine)
    before = count(desk.engine, m.Appointment)
    data = {"kind": "infusion", "day": "", "start": "", "chair_id": "", "length_min": "long"}
    r = client.post(f"/patients/{pid}/book", data={"csrf": headers["X-CSRF-Token"], **data})
    assert r.status_code == 400
    page = read_page(r.text)
    assert page.invalid("/book") == {
        "day": "Choose the day.",
        "start": "Choose the start time.",
        "length_min": "Length (minutes) must be a number; got 'long'.",
    }
    assert page.autofocus == ["day"]
    # With the length readable, the chair is checked with the rest, at once.
    r = client.post(
        f"/patients/{pid}/book",
        data={"csrf": headers["X-CSRF-Token"], **data, "length_min": "", "day": "1/2"},
    )
    marked = read_page(r.text).invalid("/book")
    assert set(marked) == {"day", "start", "chair_id"}, marked
    assert "YYYY-MM-DD" in marked["day"] and "needs a chair" in marked["chair_id"]
    api = client.post(
        f"/api/patients/{pid}/appointments",
        json={"kind": "infusion", "day": "1/2", "start": "", "length_min": 90},
        headers=headers,
    )
    assert api.status_code == 400 and set(api.json()["fields"]) == {"day", "start", "chair_id"}
    assert count(desk.engine, m.Appointment) == before


def test_the_hours_and_closure_forms_tell_every_mistake_at_once(desk_hours: Any) -> None:
    client, headers = desk_hours.as_("admin")
    csrf = headers["X-CSRF-Token"]
    page = read_page(client.get("/clinics/aus/hours").text)
    version = page.field("/hours", "version").attrs["value"]
    week = dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday"), "08:00-18:30")
    data = {**week, "saturday": "9 to 5", "sunday": "closed", "booking_horizon_days": "lots"}
    r = client.post("/clinics/aus/hours", data={"csrf": csrf, "version": version, **data})
    assert r.status_code == 400
    page = read_page(r.text)
    marked = page.invalid("/hours")
    assert set(marked) == {"saturday", "booking_horizon_days"}, marked
    assert "Saturday" in marked["saturday"]
    assert marked["booking_horizon_days"] == "The booking horizon (days) must be a number; got 'lots'."
    assert page.autofocus == ["saturday"]

    r = client.post(
        "/clinics/aus/closures", data={"csrf": csrf, "first_day": "24/12", "last_day": "", "reason": ""}
    )
    assert r.status_code == 400
    page = read_page(r.text)
    marked = page.invalid("/closures")
    assert set(marked) == {"first_day", "reason"}, marked
    assert page.autofocus == ["first_day"]
    assert (
        read_page(client.get("/clinics/aus/hours").text).field("/hours", "version").attrs["value"] == version
    )


def test_a_vitals_correction_tells_every_mistake_at_its_field_and_amends_nothing(
    app_clock: tuple[TestClient, Clock], world: ChairWorld
) -> None:
    client, frozen = app_clock
    sid = world.session(started=True)
    headers = sign_in(client, "nurse1.aus")
    frozen.now = T0 + timedelta(minutes=30)
    charted = client.post(
        f"/api/sessions/{sid}/vitals", json={"bp": "128/82", "heart_rate": 80, "spo2": 97}, headers=headers
    )
    assert charted.status_code == 200, charted.text
    vid = charted.json()["id"]
    before = _charted(world, sid)
    url = f"/sessions/{sid}/vitals/{vid}/correct"
    data = {
        "csrf": headers["X-CSRF-Token"],
        "bp": "120/180",
        "heart_rate": "400",
        "spo2": "97",
        "reason": "typo",
    }
    r = client.post(url, data=data)
    assert r.status_code == 400 and "Traceback" not in r.text
    page = read_page(r.text)
    marked = page.invalid("/correct")
    assert set(marked) == {"bp", "heart_rate"}, marked
    assert "diastolic must be lower" in marked["bp"] and "Heart rate must be between" in marked["heart_rate"]
    assert page.autofocus == ["bp"]
    assert _charted(world, sid) == before
