"""A NUL character anywhere in a request gets one plain answer on both engines, and nothing is saved."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from ketaflow.store import models as m
from ketaflow.web.nul_guard import NUL_REFUSED, carries_nul
from tests.integration.web.roles import Caller, callers

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


def patients(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(m.Patient)) or 0


def person(family: str) -> dict[str, object]:
    return {
        "given_name": "Nula",
        "family_name": family,
        "date_of_birth": "1984-02-03",
        "sex": "female",
        "phone": "555-0142",
        "confirm_new_person": True,
    }


def test_a_nul_in_a_json_body_is_refused_and_nothing_is_saved(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    desk = who["front_desk"]
    before = patients(demo_engine)
    r = desk.client.post("/api/clinics/aus/patients", json=person("Zero\x00Byte"), headers=desk.headers)
    assert r.status_code == 400 and r.json() == {"error": NUL_REFUSED}
    assert patients(demo_engine) == before


def test_a_nul_in_a_form_comes_back_as_a_page_and_nothing_is_saved(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    desk = who["front_desk"]
    before = patients(demo_engine)
    form = {k: str(v) for k, v in person("Zero\x00Byte").items()} | {"csrf": desk.headers["X-CSRF-Token"]}
    r = desk.client.post("/clinics/aus/patients/new", data=form)
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "hidden control character (NUL)" in r.text and "Traceback" not in r.text
    assert patients(demo_engine) == before


def test_a_nul_in_the_address_or_query_is_refused(who: dict[str, Caller]) -> None:
    nurse = who["nurse"].client
    for path in ("/clinics/%00/board", "/api/clinics/aus/patients?q=ab%00c"):
        r = nurse.get(path)
        assert r.status_code == 400 and "hidden control character (NUL)" in r.text, path


def test_the_same_request_without_a_nul_still_works(who: dict[str, Caller], demo_engine: Engine) -> None:
    desk = who["front_desk"]
    r = desk.client.post("/api/clinics/aus/patients", json=person("Percent%00Typed"), headers=desk.headers)
    assert r.status_code == 201, r.text  # a person typing "%00" sends "%2500" in a form, plain in JSON
    assert desk.client.get("/api/clinics/aus/patients", params={"q": "100% sure"}).status_code == 200


def test_the_markers_are_the_nul_itself_or_its_encoding() -> None:
    assert carries_nul(b"a\x00b") and carries_nul(b"name=a%00b") and carries_nul(b'{"a": "\\u0000"}', "json")
    assert carries_nul(b"a\x00b", "raw") and not carries_nul(b"a%00b", "raw")
    assert not carries_nul(b"name=100%25") and not carries_nul(b"%2500")
    assert not carries_nul(b'{"a": "100%00"}', "json")  # typed in JSON, "%00" is only text
    # JSON escapes: \u0000 is a NUL unless its backslash is itself escaped (\\u0000 is text).
    assert carries_nul(rb'"a\u0000"', "json") and carries_nul(rb'"a\\\u0000"', "json")
    assert not carries_nul(rb'"a\\u0000"', "json") and not carries_nul(rb'"C:\\u0000x"', "json")
