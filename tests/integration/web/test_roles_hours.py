"""Who may read and set a clinic's opening hours, closures and booking horizon (API and page):
every role of the clinic, a nurse of the other clinic, anonymous (401), a missing CSRF header
(403); plus the bad inputs, each a sentence with nothing changed."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from html import unescape
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from tests.integration.web.frontdesk_support import Desk, clinic, count, open_desk

COVERS = {
    ("GET", "/api/clinics/{code}/hours"),
    ("PUT", "/api/clinics/{code}/hours"),
    ("POST", "/api/clinics/{code}/closures"),
    ("DELETE", "/api/clinics/{code}/closures/{closure_id}"),
}
NOW = datetime(2031, 7, 7, 14, 0, tzinfo=UTC)  # Monday 09:00 in Austin (CDT)
# Closures these tests make fall in 2045, a year no other test books or reads.
_day = itertools.count(1)

STAFF = ("admin", "director", "psychiatrist", "nurse", "front_desk", "other_clinic_nurse")
CASES = (*STAFF, "anonymous", "no_csrf")
SETTERS = {"admin", "director"}
READERS = {"admin", "director", "psychiatrist", "nurse", "front_desk"}
AUS_WEEK = {
    "monday": "08:00-18:30",
    "tuesday": "08:00-18:30",
    "wednesday": "08:00-18:30",
    "thursday": "08:00-18:30",
    "friday": "08:00-18:30",
    "saturday": "closed",
    "sunday": "closed",
}


@pytest.fixture(scope="module")
def desk(demo_engine: Engine) -> Iterator[Desk]:
    try:
        yield from open_desk(demo_engine, NOW)
    finally:
        with Session(demo_engine) as db:  # leave no closure of ours behind
            aus = clinic(db)
            db.execute(
                delete(m.ClinicClosure).where(
                    m.ClinicClosure.clinic_id == aus.id, m.ClinicClosure.first_day >= date(2045, 1, 1)
                )
            )
            db.commit()


def version(engine: Engine) -> int:
    with Session(engine) as db:
        return clinic(db).version


def hours_rows(engine: Engine) -> list[tuple[int, int, int]]:
    with Session(engine) as db:
        return sorted(
            db.execute(
                select(m.ClinicHours.weekday, m.ClinicHours.opens_min, m.ClinicHours.closes_min).where(
                    m.ClinicHours.clinic_id == clinic(db).id
                )
            ).tuples()
        )


def a_closure(engine: Engine) -> uuid.UUID:
    with Session(engine) as db:
        day = date(2045, 3, 1).replace(day=1 + next(_day) % 28)
        row = m.ClinicClosure(
            clinic_id=clinic(db).id, first_day=day, last_day=day, reason="Role test", created_at=NOW
        )
        db.add(row)
        db.commit()
        made: uuid.UUID = row.id
        return made


def new_closure() -> dict[str, Any]:
    day = date(2045, 5, 1).replace(day=1 + next(_day) % 28)
    return {"first_day": day.isoformat(), "reason": "Role matrix"}


# endpoint -> (method, url builder, body builder, roles allowed, success status)
Endpoint = tuple[str, Callable[[Engine], str], Callable[[Engine], Any] | None, set[str], int]
ENDPOINTS: dict[str, Endpoint] = {
    "read": ("GET", lambda e: "/api/clinics/aus/hours", None, READERS, 200),
    # The same hours again (a new version, nothing else changes for the other tests).
    "set": (
        "PUT",
        lambda e: "/api/clinics/aus/hours",
        lambda e: {"version": version(e), "week": AUS_WEEK},
        SETTERS,
        200,
    ),
    "close": ("POST", lambda e: "/api/clinics/aus/closures", lambda e: new_closure(), SETTERS, 201),
    "reopen": ("DELETE", lambda e: f"/api/clinics/aus/closures/{a_closure(e)}", None, SETTERS, 200),
}


def expected(endpoint: str, case: str) -> int:
    method, _url, _body, allowed, ok = ENDPOINTS[endpoint]
    if case == "anonymous":
        return 401
    if case == "no_csrf":
        return 403 if method != "GET" else ok
    return ok if case in allowed else 403


def _state(engine: Engine) -> tuple[int, int, list[tuple[int, int, int]]]:
    return count(engine, m.ClinicClosure), version(engine), hours_rows(engine)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_role_matrix(desk: Desk, endpoint: str, case: str) -> None:
    method, url_of, body_of, _allowed, _ok = ENDPOINTS[endpoint]
    url = url_of(desk.engine)
    body = body_of(desk.engine) if body_of else None
    if case == "anonymous":
        client, headers = desk.anonymous, dict[str, str]()
    elif case == "no_csrf":
        client, headers = desk.clients["director"], {}  # a director's call without the header
    else:
        client, headers = desk.as_(case)
    before = _state(desk.engine)
    r = client.request(method, url, json=body, headers=headers)
    want = expected(endpoint, case)
    assert r.status_code == want, (endpoint, case, r.text)
    if want >= 400:
        assert r.json()["error"].endswith(".") and "Traceback" not in r.text
        assert _state(desk.engine) == before  # nothing changed
    elif endpoint == "read":
        body = r.json()
        assert body["week"]["monday"] == ["08:00-18:30"] and body["week"]["sunday"] == []
        assert body["booking_horizon_days"] == 365 and body["bookable_until"] == "2032-07-06"
        assert (
            body["may_edit"] == (case in {*SETTERS, "no_csrf"}) and "not clinical figures" in body["policy"]
        )
    elif endpoint == "set":
        assert r.json()["version"] == before[1] + 1 and hours_rows(desk.engine) == before[2]
    elif endpoint == "close":
        assert count(desk.engine, m.ClinicClosure) == before[0] + 1 and r.json()["bookings_inside"] == []
    else:
        assert count(desk.engine, m.ClinicClosure) == before[0] - 1


def test_the_refusals_say_why(desk: Desk) -> None:
    client, _ = desk.as_("other_clinic_nurse")
    r = client.get("/api/clinics/aus/hours")
    assert r.status_code == 403 and "not a member" in r.json()["error"]
    client, headers = desk.as_("front_desk")
    r = client.put(
        "/api/clinics/aus/hours", json={"version": version(desk.engine), "week": AUS_WEEK}, headers=headers
    )
    assert r.status_code == 403
    assert r.json()["error"] == (
        "Your role here (front desk) does not allow you to set the clinic's opening hours, closures "
        "and booking horizon."
    )


def week(**changes: str) -> dict[str, str]:
    return {**AUS_WEEK, **changes}


BAD_INPUTS: list[tuple[str, str, Callable[[Engine], Any], int, str]] = [
    (
        "PUT",
        "/api/clinics/aus/hours",
        lambda e: {"version": version(e), "week": {"monday": "08:00-18:30"}},
        400,
        "missing: Tuesday, Wednesday",
    ),
    (
        "PUT",
        "/api/clinics/aus/hours",
        lambda e: {"version": version(e), "week": week(monday="8am to 6pm")},
        400,
        "HH:MM-HH:MM",
    ),
    (
        "PUT",
        "/api/clinics/aus/hours",
        lambda e: {"version": version(e), "week": week(friday="20:00-02:00")},
        400,
        "for hours past midnight write two spans",
    ),
    (
        "PUT",
        "/api/clinics/aus/hours",
        lambda e: {"version": version(e), "week": week(monday="08:00-13:00, 12:00-18:00")},
        400,
        "08:00–13:00 and 12:00–18:00 overlap",
    ),
    (
        "PUT",
        "/api/clinics/aus/hours",
        lambda e: {"version": version(e), "week": week(tuesday="08:00-25:00")},
        400,
        "24:00 for midnight",
    ),
    (
        "PUT",
        "/api/clinics/aus/hours",
        lambda e: {"version": version(e), "week": {**AUS_WEEK, "funday": "closed"}},
        400,
        "'funday' is not a day of the week",
    ),
    (
        "PUT",
        "/api/clinics/aus/hours",
        lambda e: {"version": version(e), "week": AUS_WEEK, "booking_horizon_days": 0},
        400,
        "between 1 and 1095 days",
    ),
    (
        "PUT",
        "/api/clinics/aus/hours",
        lambda e: {"version": version(e) - 1, "week": AUS_WEEK},
        409,
        "changed by someone else",
    ),
    ("PUT", "/api/clinics/aus/hours", lambda e: {"week": AUS_WEEK}, 422, "version"),
    (
        "PUT",
        "/api/clinics/nowhere/hours",
        lambda e: {"version": 1, "week": AUS_WEEK},
        404,
        "no clinic 'nowhere'",
    ),
    (
        "POST",
        "/api/clinics/aus/closures",
        lambda e: {"first_day": "2045-07-01", "reason": "  "},
        400,
        "Say why the clinic is closed",
    ),
    (
        "POST",
        "/api/clinics/aus/closures",
        lambda e: {"first_day": "01/07/2045", "reason": "Flood"},
        400,
        "YYYY-MM-DD",
    ),
    (
        "POST",
        "/api/clinics/aus/closures",
        lambda e: {"first_day": "2045-07-03", "last_day": "2045-07-01", "reason": "Flood"},
        400,
        "is before the first",
    ),
    (
        "POST",
        "/api/clinics/aus/closures",
        lambda e: {"first_day": "2045-01-01", "last_day": "2046-06-01", "reason": "Flood"},
        400,
        "at most 366 days",
    ),
    (
        "POST",
        "/api/clinics/aus/closures",
        lambda e: {"first_day": "2045-07-01", "reason": "x" * 201},
        400,
        "under 200 characters",
    ),
    (
        "DELETE",
        "/api/clinics/aus/closures/00000000-0000-4000-8000-00000000c105",
        lambda e: None,
        404,
        "no such closure",
    ),
]


@pytest.mark.parametrize(("method", "url", "body_of", "status", "message"), BAD_INPUTS)
def test_bad_inputs(desk: Desk, method: str, url: str, body_of: Any, status: int, message: str) -> None:
    client, headers = desk.as_("director")
    body = body_of(desk.engine)
    before = _state(desk.engine)
    r = client.request(method, url, json=body, headers=headers)
    assert r.status_code == status and message in r.json()["error"], r.text
    assert _state(desk.engine) == before


def test_a_closure_of_another_clinic_cannot_be_removed_through_this_one(desk: Desk) -> None:
    with Session(desk.engine) as db:
        den = clinic(db, "den")
        row = m.ClinicClosure(
            clinic_id=den.id,
            first_day=date(2045, 9, 1),
            last_day=date(2045, 9, 1),
            reason="Den only",
            created_at=NOW,
        )
        db.add(row)
        db.commit()
        den_closure = row.id
    try:
        client, headers = desk.as_("director")  # the Austin director
        r = client.delete(f"/api/clinics/aus/closures/{den_closure}", headers=headers)
        assert r.status_code == 404 and "no such closure" in r.json()["error"]
        r = client.delete(f"/api/clinics/den/closures/{den_closure}", headers=headers)
        assert r.status_code == 403
        with Session(desk.engine) as db:
            assert db.get(m.ClinicClosure, den_closure) is not None
    finally:
        with Session(desk.engine) as db:
            db.execute(delete(m.ClinicClosure).where(m.ClinicClosure.id == den_closure))
            db.commit()


@pytest.mark.parametrize("case", [*STAFF, "anonymous"])
def test_the_page_shows_the_hours_to_everyone_and_the_forms_to_those_who_set_them(
    desk: Desk, case: str
) -> None:
    client = desk.anonymous if case == "anonymous" else desk.clients[case]
    r = client.get("/clinics/aus/hours", follow_redirects=False)
    if case == "anonymous":
        assert r.status_code == 303 and r.headers["location"] == "/login"
        return
    if case == "other_clinic_nurse":
        assert r.status_code == 403 and "Traceback" not in r.text
        return
    text = unescape(r.text)
    assert r.status_code == 200 and "Blue Heron Austin — opening hours" in text
    assert "Mon–Fri 08:00–18:30; closed Sat, Sun" in text and "not clinical figures" in text
    assert ("Save the hours" in text) == (case in SETTERS)
    assert ("Close on these days" in text) == (case in SETTERS)


def test_the_page_sets_hours_and_closures_and_shows_mistakes_beside_the_field(desk: Desk) -> None:
    client, headers = desk.as_("director")
    csrf = headers["X-CSRF-Token"]
    before = _state(desk.engine)
    bad = client.post(
        "/clinics/aus/hours",
        data={"csrf": csrf, "version": str(before[1]), **week(wednesday="09:00-08:00")},
    )
    text = unescape(bad.text)
    assert bad.status_code == 400 and "Wednesday: 09:00-08:00 closes before it opens" in text
    assert 'name="wednesday" value="09:00-08:00"' in text  # what was typed comes back
    assert _state(desk.engine) == before
    ok = client.post("/clinics/aus/hours", data={"csrf": csrf, "version": str(before[1]), **AUS_WEEK})
    assert ok.status_code == 200 and "The opening hours are saved." in ok.text
    # Other tests' hand-made bookings may lie outside the hours; they are listed, never moved.
    assert "Every booking still to come fits." in ok.text or "nothing was moved or cancelled" in ok.text
    assert version(desk.engine) == before[1] + 1 and hours_rows(desk.engine) == before[2]

    refused = client.post(
        "/clinics/aus/closures", data={"csrf": csrf, "first_day": "2045-11-20", "reason": ""}
    )
    assert refused.status_code == 400 and "Say why the clinic is closed" in unescape(refused.text)
    made = client.post(
        "/clinics/aus/closures",
        data={"csrf": csrf, "first_day": "2045-11-23", "last_day": "2045-11-24", "reason": "Thanksgiving"},
    )
    text = unescape(made.text)
    assert (
        made.status_code == 200 and "Closed from Thu 23 Nov 2045 to Fri 24 Nov 2045 (Thanksgiving)." in text
    )
    with Session(desk.engine) as db:
        row = db.scalars(select(m.ClinicClosure).where(m.ClinicClosure.first_day == date(2045, 11, 23))).one()
        assert row.reason == "Thanksgiving" and row.last_day == date(2045, 11, 24)
        assert db.scalars(
            select(m.AuditEvent).where(
                m.AuditEvent.entity_id == row.id, m.AuditEvent.action == "clinic.add_closure"
            )
        ).one()
    gone = client.post(f"/clinics/aus/closures/{row.id}/remove", data={"csrf": csrf})
    assert gone.status_code == 200 and "is removed" in gone.text
    with Session(desk.engine) as db:
        assert db.get(m.ClinicClosure, row.id) is None
