"""Who may use each front-desk API endpoint (and page): every role of the clinic, a nurse of the
other clinic, anonymous (401) and a missing CSRF header (403), plus the bad inputs."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.vocabulary import AppointmentKind, AppointmentStatus
from tests.integration.web.frontdesk_support import Desk, clinic, count, make_patient, open_desk

COVERS = {
    ("GET", "/api/clinics/{code}/patients"),
    ("POST", "/api/clinics/{code}/patients"),
    ("GET", "/api/patients/{patient_id}/appointments"),
    ("POST", "/api/patients/{patient_id}/appointments"),
    ("POST", "/api/appointments/{appointment_id}/cancel"),
    ("POST", "/api/appointments/{appointment_id}/reschedule"),
    ("GET", "/api/clinics/{code}/week"),
}
NOW = datetime(2031, 6, 2, 14, 0, tzinfo=UTC)  # Monday 09:00 in Austin (CDT)
_hour = itertools.count(0)

STAFF = ("admin", "director", "psychiatrist", "nurse", "front_desk", "other_clinic_nurse")
CASES = (*STAFF, "anonymous", "no_csrf")


@pytest.fixture(scope="module")
def desk(demo_engine: Engine) -> Iterator[Desk]:
    yield from open_desk(demo_engine, NOW)


def consultation(engine: Engine, pid: uuid.UUID) -> uuid.UUID:
    """A booked consultation of our own, far from everyone else's times."""
    starts = NOW + timedelta(days=3, hours=next(_hour) * 2)
    with Session(engine) as db:
        appt = m.Appointment(
            clinic_id=clinic(db).id,
            patient_id=pid,
            kind=AppointmentKind.CONSULTATION,
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            status=AppointmentStatus.BOOKED,
        )
        db.add(appt)
        db.commit()
        made: uuid.UUID = appt.id
        return made


def new_person() -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {
        "given_name": f"Role{tag}",
        "family_name": f"Matrix{tag}",
        "date_of_birth": "1979-04-04",
        "sex": "male",
    }


def slot() -> dict[str, Any]:
    """A time of our own inside Austin's opening hours (Monday to Friday 08:00-18:30): a weekday
    from ten days on, at 09:00, 11:00, 13:00 or 15:00."""
    n = next(_hour)
    day = (NOW - timedelta(hours=5)).date() + timedelta(days=10)  # CDT
    weekdays = [day + timedelta(days=k) for k in range(400) if (day + timedelta(days=k)).weekday() < 5]
    return {"day": weekdays[n // 4].isoformat(), "start": f"{9 + 2 * (n % 4):02d}:00"}


# endpoint -> (method, url builder, body builder, roles allowed, success status)
Endpoint = tuple[str, Callable[[Engine], str], Callable[[], Any] | None, set[str], int]
WRITERS = {"admin", "front_desk"}
READERS = {"admin", "director", "psychiatrist", "nurse", "front_desk"}
ENDPOINTS: dict[str, Endpoint] = {
    "register": ("POST", lambda e: "/api/clinics/aus/patients", new_person, WRITERS, 201),
    "search": ("GET", lambda e: "/api/clinics/aus/patients?q=Matrix", None, READERS, 200),
    "book": (
        "POST",
        lambda e: f"/api/patients/{make_patient(e)}/appointments",
        lambda: {"kind": "consultation", **slot()},
        WRITERS,
        201,
    ),
    "bookings": ("GET", lambda e: f"/api/patients/{make_patient(e)}/appointments", None, READERS, 200),
    "cancel": (
        "POST",
        lambda e: f"/api/appointments/{consultation(e, make_patient(e))}/cancel",
        lambda: {"version": 1},
        WRITERS,
        200,
    ),
    "reschedule": (
        "POST",
        lambda e: f"/api/appointments/{consultation(e, make_patient(e))}/reschedule",
        lambda: {"version": 1, **slot()},
        WRITERS,
        200,
    ),
    "week": ("GET", lambda e: "/api/clinics/aus/week?start=2031-06-02", None, READERS, 200),
}


def expected(endpoint: str, case: str) -> int:
    method, _url, _body, allowed, ok = ENDPOINTS[endpoint]
    if case == "anonymous":
        return 401
    if case == "no_csrf":
        return 403 if method == "POST" else ok
    return ok if case in allowed else 403


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_role_matrix(desk: Desk, endpoint: str, case: str) -> None:
    method, url_of, body_of, _allowed, _ok = ENDPOINTS[endpoint]
    url = url_of(desk.engine)
    body = body_of() if body_of else None
    if case == "anonymous":
        client, headers = desk.anonymous, dict[str, str]()
    elif case == "no_csrf":
        client, headers = desk.clients["front_desk"], {}
    else:
        client, headers = desk.as_(case)
    before = count(desk.engine, m.Appointment), count(desk.engine, m.Patient)
    r = client.request(method, url, json=body, headers=headers)
    want = expected(endpoint, case)
    assert r.status_code == want, (endpoint, case, r.text)
    assert "error" in r.json() if want >= 400 else True
    if want >= 400 and method == "POST":
        assert (count(desk.engine, m.Appointment), count(desk.engine, m.Patient)) == before


def test_the_other_clinic_nurse_is_told_why(desk: Desk) -> None:
    client, _ = desk.as_("other_clinic_nurse")
    r = client.get("/api/clinics/aus/week")
    assert r.status_code == 403 and "not a member" in r.json()["error"]
    client, headers = desk.as_("nurse")
    r = client.post("/api/clinics/aus/patients", json=new_person(), headers=headers)
    assert r.status_code == 403 and "does not allow you to register a patient" in r.json()["error"]


BAD_INPUTS = [
    (
        "POST",
        lambda e: "/api/clinics/aus/patients",
        lambda: {**new_person(), "date_of_birth": "1979-02-30"},
        400,
        "YYYY-MM-DD",
    ),
    ("POST", lambda e: "/api/clinics/aus/patients", lambda: {"given_name": "Only"}, 422, "family_name"),
    (
        "POST",
        lambda e: "/api/clinics/aus/patients",
        lambda: {**new_person(), "weight_kg": 900},
        400,
        "between 30 and 300 kg",
    ),
    ("POST", lambda e: "/api/clinics/zzz/patients", new_person, 404, "no clinic 'zzz'"),
    ("GET", lambda e: "/api/clinics/aus/patients?q=2031-02-30", None, 400, "is not a date"),
    (
        "POST",
        lambda e: f"/api/patients/{make_patient(e)}/appointments",
        lambda: {"kind": "infusion", **slot()},
        400,
        "needs a chair",
    ),
    (
        "POST",
        lambda e: f"/api/patients/{uuid.uuid4()}/appointments",
        lambda: {"kind": "consultation", **slot()},
        404,
        "no such patient",
    ),
    (
        "POST",
        lambda e: f"/api/patients/{make_patient(e)}/appointments",
        lambda: {"kind": "consultation"},
        422,
        "day",
    ),
    ("GET", lambda e: f"/api/patients/{uuid.uuid4()}/appointments", None, 404, "no such patient"),
    (
        "POST",
        lambda e: f"/api/appointments/{consultation(e, make_patient(e))}/cancel",
        lambda: {},
        422,
        "version",
    ),
    (
        "POST",
        lambda e: f"/api/appointments/{consultation(e, make_patient(e))}/cancel",
        lambda: {"version": 7},
        409,
        "changed by someone else",
    ),
    (
        "POST",
        lambda e: f"/api/appointments/{uuid.uuid4()}/cancel",
        lambda: {"version": 1},
        404,
        "no such appointment",
    ),
    (
        "POST",
        lambda e: f"/api/appointments/{consultation(e, make_patient(e))}/reschedule",
        lambda: {"version": 1, "day": "2031-06-20", "start": "9am"},
        400,
        "HH:MM",
    ),
    (
        "POST",
        lambda e: f"/api/appointments/{consultation(e, make_patient(e))}/reschedule",
        lambda: {"version": 1, "day": "2031-01-20", "start": "09:00"},
        400,
        "in the past",
    ),
    ("GET", lambda e: "/api/clinics/aus/week?start=next", None, 400, "YYYY-MM-DD"),
]


@pytest.mark.parametrize(("method", "url_of", "body_of", "status", "message"), BAD_INPUTS)
def test_bad_inputs(desk: Desk, method: str, url_of: Any, body_of: Any, status: int, message: str) -> None:
    client, headers = desk.as_("front_desk")
    url = url_of(desk.engine)
    before = count(desk.engine, m.Appointment), count(desk.engine, m.Patient)
    r = client.request(method, url, json=body_of() if body_of else None, headers=headers)
    assert r.status_code == status and message in r.json()["error"], r.text
    assert (count(desk.engine, m.Appointment), count(desk.engine, m.Patient)) == before


PAGES = [
    ("/clinics/aus/patients/new", WRITERS, "Register a patient at"),
    ("/clinics/aus/patients", READERS, "Find a patient at"),
    ("/clinics/aus/week", READERS, "week of"),
]


@pytest.mark.parametrize("case", [*STAFF, "anonymous"])
@pytest.mark.parametrize(("path", "allowed", "text"), PAGES)
def test_pages_render_for_those_allowed(
    desk: Desk, path: str, allowed: set[str], text: str, case: str
) -> None:
    client = desk.anonymous if case == "anonymous" else desk.clients[case]
    r = client.get(path, follow_redirects=False)
    if case == "anonymous":
        assert r.status_code == 303 and r.headers["location"] == "/login"
    elif case in allowed:
        assert r.status_code == 200 and text in r.text
    else:
        assert r.status_code == 403 and "Traceback" not in r.text


@pytest.mark.parametrize("case", STAFF)
def test_the_book_page_shows_the_form_only_to_those_who_book(desk: Desk, case: str) -> None:
    pid = make_patient(desk.engine)
    r = desk.clients[case].get(f"/patients/{pid}/book")
    if case == "other_clinic_nurse":
        assert r.status_code == 403
    else:
        assert r.status_code == 200 and "Bookings" in r.text
        assert ("Book an appointment</h2>" in r.text) == (case in WRITERS)


def test_a_form_without_its_csrf_token_is_refused(desk: Desk) -> None:
    client = desk.clients["front_desk"]
    before = count(desk.engine, m.Patient)
    r = client.post("/clinics/aus/patients/new", data=new_person())
    assert r.status_code == 403 and "This form has expired" in r.text
    assert count(desk.engine, m.Patient) == before
