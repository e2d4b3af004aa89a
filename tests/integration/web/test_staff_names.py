"""Staff names and e-mail addresses (issue 11 item 7): the same rules as a patient's name (NFKC, no
invisible or look-alike spoofing characters) and one rule for an e-mail address (spaces, letter
case, full-width forms and international domain names), so the duplicate check and the sign-in
compare one normal form. Through the API and the staff page, on both engines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from ketaflow.web.app import create_app
from tests.integration.web.accounts_support import Signed, demo, new_staff, sign_in
from tests.integration.web.sign_in_support import post_login


@pytest.fixture
def app(demo_engine: Engine) -> Iterator[FastAPI]:
    yield create_app(demo_engine)


@pytest.fixture
def director(app: FastAPI) -> Signed:
    return sign_in(app, demo("director1.aus"))


def _count(engine: Engine) -> int:
    with Session(engine) as db:
        return int(db.scalar(select(func.count()).select_from(m.StaffUser)) or 0)


def _body(full_name: str, email: str) -> dict[str, object]:
    return {"email": email, "full_name": full_name, "clinic": "aus", "roles": ["nurse"]}


@pytest.mark.parametrize(
    ("full_name", "says"),
    [
        ("Anna \u202eSmith", "U+202E"),  # right-to-left override
        ("An\u200bna Smith", "U+200B"),  # zero-width space
        ("Anna Smi\u200dth", "U+200D"),  # zero-width joiner
        ("\u0410nna Smith", "alphabets that look alike"),  # Cyrillic capital A
        ("Anna\u0007 Smith", "control character"),  # refused for every request (web/nul_guard.py)
        ("", "full name"),
    ],
)
def test_a_spoofed_staff_name_is_refused_and_nothing_is_kept(
    director: Signed, demo_engine: Engine, full_name: str, says: str
) -> None:
    before = _count(demo_engine)
    r = director.client.post(
        "/api/staff", json=_body(full_name, "spoof@demo.ketaflow.org"), headers=director.headers
    )
    assert r.status_code == 400 and says in r.json()["error"], r.text
    assert r.json().get("field") in (None, "full_name")
    assert _count(demo_engine) == before


def test_a_lone_surrogate_in_a_staff_name_is_refused_by_the_service(demo_engine: Engine) -> None:
    """JSON with half a surrogate pair is refused for every request (web/nul_guard.py); the service
    refuses it too, for the command line and anything else that calls it."""
    from ketaflow.errors import InvalidInput
    from ketaflow.services import staff_accounts
    from ketaflow.services.operators import acting_staff
    from ketaflow.store.models import utcnow
    from ketaflow.vocabulary import Role

    with Session(demo_engine, expire_on_commit=False) as db:
        who = acting_staff(db, demo("director1.aus"))
        with pytest.raises(InvalidInput, match="U\\+D800"):
            staff_accounts.create(
                db,
                who,
                email="surrogate@demo.ketaflow.org",
                full_name="Anna \ud800Smith",
                clinic_code="aus",
                roles={Role.NURSE},
                now=utcnow(),
                actor=who.actor(),
            )


def test_a_full_width_name_is_stored_in_its_ordinary_letters(app: FastAPI, director: Signed) -> None:
    person = new_staff(app, director, full_name="  Ｊｏ   Ｂｌｏｇｇｓ ")
    r = director.client.get(f"/api/staff/{person.id}", headers=director.headers)
    assert r.status_code == 200 and r.json()["full_name"] == "Jo Bloggs", r.text


def test_one_rule_for_e_mail_addresses_duplicates_and_sign_in(
    app: FastAPI, director: Signed, demo_engine: Engine
) -> None:
    person = new_staff(app, director, email="  Anna.Lund@Bücher.Example ")
    assert person.email == "anna.lund@xn--bcher-kva.example"
    before = _count(demo_engine)
    for same in (
        "ANNA.LUND@BÜCHER.EXAMPLE",
        "anna.lund@xn--bcher-kva.example",
        "ａｎｎａ.lund@bücher.example",
    ):
        r = director.client.post("/api/staff", json=_body("Anna Lund", same), headers=director.headers)
        assert r.status_code == 409 and "already an account" in r.json()["error"], (same, r.text)
    assert _count(demo_engine) == before
    # The person signs in with the address as they type it, in either form.
    for typed in ("Anna.Lund@BÜCHER.example", "anna.lund@xn--bcher-kva.example"):
        r = post_login(TestClient(app), typed, person.password)
        assert r.status_code == 303 and r.headers["location"] == "/clinics", (typed, r.status_code)


@pytest.mark.parametrize(
    "email",
    [
        "anna\u200b@demo.ketaflow.org",  # zero-width space
        "anna smith@demo.ketaflow.org",  # a space inside
        "anna@demo..ketaflow.org",  # an empty label
        "anna@" + "a" * 64 + ".org",  # a label longer than DNS allows
        "anna@demo",  # no dot in the domain
        "anna",
    ],
)
def test_an_address_no_mail_can_reach_is_refused(director: Signed, demo_engine: Engine, email: str) -> None:
    before = _count(demo_engine)
    r = director.client.post("/api/staff", json=_body("Anna Lund", email), headers=director.headers)
    assert r.status_code == 400 and r.json().get("field") == "email", r.text
    assert _count(demo_engine) == before


def test_the_staff_page_shows_a_name_refusal_beside_the_field(director: Signed, demo_engine: Engine) -> None:
    before = _count(demo_engine)
    r = director.client.post(
        "/staff",
        data={
            "csrf": director.headers["X-CSRF-Token"],
            "full_name": "Anna \u202eSmith",
            "email": "page-spoof@demo.ketaflow.org",
            "clinic": "aus",
            "roles": ["nurse"],
        },
    )
    assert r.status_code == 400 and "U+202E" in r.text
    assert _count(demo_engine) == before
