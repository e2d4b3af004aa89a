"""Booking against the clinic's opening hours, closures, booking horizon and daylight-saving clock
changes, through the JSON API and the booking page: refused with a sentence, nothing saved.

The demo's Austin clinic ("Blue Heron Austin", America/Chicago) is open Monday to Friday
08:00-18:30 (ketaflow.demo.catalog); its booking horizon is the default 365 days.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from tests.integration.web.frontdesk_support import Desk, chairs, clinic, count, make_patient, open_desk

# Monday 5 April 2027, 09:00 in Austin (CDT, UTC-5). No other test books April 2027 in Austin.
NOW = datetime(2027, 4, 5, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def desk(demo_engine: Engine) -> Iterator[Desk]:
    yield from open_desk(demo_engine, NOW, roles=("front_desk", "admin", "director"))


def book(desk: Desk, pid: uuid.UUID, **body: object) -> tuple[int, dict[str, object]]:
    client, headers = desk.as_("front_desk")
    r = client.post(f"/api/patients/{pid}/appointments", json=body, headers=headers)
    return r.status_code, r.json()


def infusion(
    desk: Desk, day: str, start: str, chair: int = 0, **extra: object
) -> tuple[int, dict[str, object]]:
    return book(
        desk,
        make_patient(desk.engine),
        kind="infusion",
        day=day,
        start=start,
        chair_id=str(chairs(desk.engine)[chair]),
        **extra,
    )


def refused(desk: Desk, status_and_body: tuple[int, dict[str, object]], *words: str) -> str:
    status, body = status_and_body
    assert status == 400, body
    message = str(body["error"])
    for w in words:
        assert w in message, message
    return message


# ---- the reviewer's faults ---------------------------------------------------------------------


def test_a_booking_in_the_year_2200_is_refused_and_nothing_is_saved(desk: Desk) -> None:
    before = count(desk.engine, m.Appointment)
    message = refused(
        desk,
        infusion(desk, "2200-01-06", "09:00"),
        "Blue Heron Austin books up to 365 days ahead",
        "Tue 04 Apr 2028",
    )
    assert message.endswith(".")
    assert count(desk.engine, m.Appointment) == before


def test_the_last_day_of_the_horizon_is_bookable_and_the_next_is_not(desk: Desk) -> None:
    # 5 April 2027 + 365 days = Tuesday 4 April 2028 (2028 is a leap year: 29 February counts).
    status, body = infusion(desk, "2028-04-04", "08:00", chair=1)
    assert status == 201, body
    refused(desk, infusion(desk, "2028-04-05", "08:00", chair=1), "365 days ahead", "Tue 04 Apr 2028")


def test_a_time_the_clocks_skip_is_refused_not_moved(desk: Desk) -> None:
    # 12 March 2028: clocks in Chicago go from 02:00 CST straight to 03:00 CDT.
    pid = make_patient(desk.engine)
    before = count(desk.engine, m.Appointment)
    status, body = book(desk, pid, kind="consultation", day="2028-03-12", start="02:30")
    assert status == 400, body
    assert str(body["error"]) == (
        "02:30 on Sun 12 Mar 2028 does not exist in America/Chicago: the clocks go forward from "
        "02:00 to 03:00 that night. Choose a time before 02:00 or from 03:00 on."
    )
    assert count(desk.engine, m.Appointment) == before
    with Session(desk.engine) as db:
        assert db.scalars(select(m.Appointment).where(m.Appointment.patient_id == pid)).first() is None


def test_a_time_the_clocks_pass_twice_is_refused(desk: Desk) -> None:
    # 7 November 2027: clocks in Chicago go back from 02:00 CDT to 01:00 CST.
    status, body = book(desk, make_patient(desk.engine), kind="consultation", day="2027-11-07", start="01:30")
    assert status == 400 and str(body["error"]) == (
        "01:30 on Sun 07 Nov 2027 happens twice in America/Chicago: the clocks go back from 02:00 "
        "to 01:00 that night. Choose a time before 01:00 or from 02:00 on."
    )


def test_an_infusion_ending_after_closing_is_refused_with_the_last_start_that_fits(desk: Desk) -> None:
    before = count(desk.engine, m.Appointment)
    # Monday 12 April 2027, 15:40 + 3 h 30 min = 19:10; the clinic closes at 18:30.
    message = refused(desk, infusion(desk, "2027-04-12", "15:40", length_min=210))
    assert message == (
        "Blue Heron Austin is open 08:00–18:30 on Mondays; this infusion would end at 19:10. "
        "Choose an earlier time: the last start that ends by closing is 15:00."
    )
    assert count(desk.engine, m.Appointment) == before


def test_an_infusion_ending_exactly_at_closing_is_booked(desk: Desk) -> None:
    status, body = infusion(desk, "2027-04-12", "15:00", chair=2)
    assert status == 201, body
    assert body["ends_at"] == "2027-04-12T23:30:00+00:00"  # 18:30 CDT


def test_before_opening_a_weekend_and_a_closed_day_are_refused(desk: Desk) -> None:
    refused(
        desk,
        infusion(desk, "2027-04-13", "07:30"),
        "Blue Heron Austin is open 08:00–18:30 on Tuesdays; this infusion would start at 07:30.",
        "Choose 08:00 or later",
    )
    refused(
        desk,
        infusion(desk, "2027-04-17", "09:00"),
        "Blue Heron Austin is closed on Saturdays",
        "Mon–Fri 08:00–18:30",
        "Choose another day",
    )


def test_a_closure_refuses_bookings_and_reschedules_until_it_is_removed(desk: Desk) -> None:
    admin, headers = desk.as_("admin")
    made = admin.post(
        "/api/clinics/aus/closures",
        json={"first_day": "2027-04-14", "last_day": "2027-04-15", "reason": "Staff training"},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    closure_id = made.json()["id"]
    try:
        refused(
            desk,
            infusion(desk, "2027-04-15", "09:00"),
            "Blue Heron Austin is closed from Wed 14 Apr 2027 to Thu 15 Apr 2027 (Staff training).",
            "Choose another day",
        )
        status, a = infusion(desk, "2027-04-16", "08:00", chair=3)
        assert status == 201, a
        client, fd = desk.as_("front_desk")
        moved = client.post(
            f"/api/appointments/{a['id']}/reschedule",
            json={"version": 1, "day": "2027-04-14", "start": "08:00"},
            headers=fd,
        )
        assert moved.status_code == 400 and "(Staff training)" in moved.json()["error"]
        with Session(desk.engine) as db:
            row = db.get(m.Appointment, uuid.UUID(str(a["id"])))
            assert row is not None and row.version == 1
            assert row.starts_at == datetime(2027, 4, 16, 13, 0, tzinfo=UTC)  # not moved
    finally:
        gone = admin.delete(f"/api/clinics/aus/closures/{closure_id}", headers=headers)
        assert gone.status_code == 200, gone.text
    status, body = infusion(desk, "2027-04-15", "09:00", chair=4)
    assert status == 201, body


def test_a_reschedule_outside_the_hours_is_refused_on_the_api_and_the_page(desk: Desk) -> None:
    status, a = infusion(desk, "2027-04-19", "08:00", chair=5)
    assert status == 201, a
    client, headers = desk.as_("front_desk")
    api = client.post(
        f"/api/appointments/{a['id']}/reschedule",
        json={"version": 1, "day": "2027-04-19", "start": "17:00"},
        headers=headers,
    )
    assert api.status_code == 400 and "would end at 20:30" in api.json()["error"]
    page = client.post(
        f"/appointments/{a['id']}/reschedule",
        data={"csrf": headers["X-CSRF-Token"], "version": "1", "day": "2027-04-19", "start": "17:00"},
    )
    text = unescape(page.text)
    assert page.status_code == 400 and "this infusion would end at 20:30" in text
    assert 'value="17:00"' in text  # what was typed comes back
    with Session(desk.engine) as db:
        row = db.get(m.Appointment, uuid.UUID(str(a["id"])))
        assert (
            row is not None and row.version == 1 and row.starts_at == datetime(2027, 4, 19, 13, 0, tzinfo=UTC)
        )


@pytest.mark.parametrize(
    ("day", "start", "field", "words"),
    [
        ("2027-04-20", "16:00", "start", "would end at 19:30"),
        ("2027-04-24", "09:00", "day", "closed on Saturdays"),
        ("2200-01-06", "09:00", "day", "365 days ahead"),
        ("2028-03-12", "02:30", "start", "does not exist in America/Chicago"),
    ],
)
def test_the_booking_page_shows_the_message_beside_the_field_and_saves_nothing(
    desk: Desk, day: str, start: str, field: str, words: str
) -> None:
    client, headers = desk.as_("front_desk")
    pid = make_patient(desk.engine)
    chair = str(chairs(desk.engine)[6])
    before = count(desk.engine, m.Appointment)
    page = client.post(
        f"/patients/{pid}/book",
        data={
            "csrf": headers["X-CSRF-Token"],
            "kind": "infusion",
            "day": day,
            "start": start,
            "chair_id": chair,
        },
    )
    assert page.status_code == 400
    text = unescape(page.text)
    # The message sits inside the field's own label, which is marked invalid and names the message.
    label = re.search(
        rf'<label class="fd-field fd-invalid">[^<]*<input type="{"date" if field == "day" else "time"}" '
        rf'name="{field}" value="([^"]*)"[^>]*aria-invalid="true" aria-describedby="book-{field}-error"'
        rf'[^>]*>\s*<span class="error field-error" id="book-{field}-error">([^<]*)</span>',
        text,
    )
    assert label is not None, text
    assert label.group(1) == (day if field == "day" else start) and words in label.group(2)
    assert count(desk.engine, m.Appointment) == before


def test_changed_hours_change_what_can_be_booked(desk: Desk) -> None:
    """The admin opens the Denver clinic on Saturday mornings: a Saturday booking there is then
    accepted, and refused again once the Saturday hours are taken away."""
    admin, headers = desk.as_("admin")
    current = admin.get("/api/clinics/den/hours").json()
    week = dict(current["week"])
    assert week["saturday"] == [] and week["monday"]
    pid, chair = make_patient(desk.engine, code="den"), str(chairs(desk.engine, "den")[0])
    body = {"kind": "infusion", "day": "2027-04-24", "start": "09:00", "chair_id": chair, "length_min": 210}
    first = admin.post(f"/api/patients/{pid}/appointments", json=body, headers=headers)
    assert first.status_code == 400 and "closed on Saturdays" in first.json()["error"]
    opened = admin.put(
        "/api/clinics/den/hours",
        json={"version": current["version"], "week": {**week, "saturday": "09:00-13:00"}},
        headers=headers,
    )
    assert opened.status_code == 200, opened.text
    try:
        assert opened.json()["week"]["saturday"] == ["09:00-13:00"]
        too_long = admin.post(
            f"/api/patients/{pid}/appointments", json={**body, "start": "10:00"}, headers=headers
        )
        assert too_long.status_code == 400 and too_long.json()["error"] == (
            "Blue Heron Denver is open 09:00–13:00 on Saturdays; this infusion would end at 13:30. "
            "Choose an earlier time: the last start that ends by closing is 09:30."
        )
        ok = admin.post(f"/api/patients/{pid}/appointments", json=body, headers=headers)
        assert ok.status_code == 201, ok.text
    finally:
        back = admin.put(
            "/api/clinics/den/hours",
            json={"version": opened.json()["version"], "week": week},
            headers=headers,
        )
        assert back.status_code == 200, back.text
    with Session(desk.engine) as db:
        den = clinic(db, "den")
        assert not db.scalars(
            select(m.ClinicHours).where(m.ClinicHours.clinic_id == den.id, m.ClinicHours.weekday == 5)
        ).all()
