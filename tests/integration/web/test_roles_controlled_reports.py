"""Every role against the controlled-substance reports and the director's stock work (issue 14),
on both engines: handing a vial to a reverse distributor, the clinic's DEA registration number,
the biennial inventory and the draft DEA Form 106 of a loss.

The director destroys, adjusts and sets the number; nurses, psychiatrists and the director read
the inventory; only the director reads a Form 106 draft. Every refusal writes nothing, and a
refused form post on the stock page is audited as `access.refused` like any refused request.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from tests.integration.web.roles import ROLES, Caller, callers
from tests.integration.web.test_roles_controlled import (
    NOW,
    READERS,
    WITNESS,
    a_lot,
    a_vial,
    an_infusion,
    aus,
    ledger_rows,
    status,
)

COVERS = {
    ("POST", "/api/controlled/vials/{vial_id}/destruction"),
    ("PUT", "/api/clinics/{code}/controlled/registration"),
    ("GET", "/api/clinics/{code}/controlled/inventory"),
    ("GET", "/api/controlled/adjustments/{entry_id}/form-106"),
}
FORM_41 = {
    "reason": "damaged: cracked vial",
    "reverse_distributor": "Demo Returns Inc.",
    "distributor_dea": "RR0000000",
    "method": "incineration by the reverse distributor",
}


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


@pytest.fixture(scope="module")
def two_days_on(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    """The same roles two days after NOW, when NOW's day has closed (for its inventory)."""
    yield from callers(demo_engine, NOW + timedelta(days=2))


def refused_count(engine: Engine) -> int:
    with Session(engine) as db:
        return db.scalar(select(func.count()).where(m.AuditEvent.action == "access.refused")) or 0


@pytest.mark.parametrize("label", list(ROLES))
def test_handing_a_vial_to_the_reverse_distributor(
    who: dict[str, Caller], demo_engine: Engine, label: str
) -> None:
    vial = a_vial(demo_engine, a_lot(demo_engine, who))
    before = ledger_rows(demo_engine)
    c = who[label]
    r = c.client.post(
        f"/api/controlled/vials/{vial}/destruction", json={**FORM_41, **WITNESS}, headers=c.headers
    )
    assert r.status_code == status(label, {"director"}, 201), r.text
    assert ledger_rows(demo_engine) == before + (1 if label == "director" else 0)
    if label != "director":
        return
    assert r.json()["quantity_mg"] == 500 and r.json()["witness_id"]
    with Session(demo_engine) as db:
        row = db.get(m.LedgerEntry, uuid.UUID(r.json()["id"]))
        assert row is not None and row.details["distributor_dea"] == "RR0000000"
        assert row.details["reverse_distributor"] == "Demo Returns Inc." and row.reason == FORM_41["reason"]
    again = c.client.post(
        f"/api/controlled/vials/{vial}/destruction", json={**FORM_41, **WITNESS}, headers=c.headers
    )
    assert again.status_code == 400 and "more than 0 mg" in again.json()["error"]
    assert ledger_rows(demo_engine) == before + 1


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("distributor_dea", "RR0000001", "check digit"),
        ("distributor_dea", "12345", "two letters and seven digits"),
        ("reverse_distributor", "  ", "Form 41"),
    ],
)
def test_a_destruction_with_bad_paperwork_is_refused_and_writes_nothing(
    who: dict[str, Caller], demo_engine: Engine, field: str, value: str, says: str
) -> None:
    vial = a_vial(demo_engine, a_lot(demo_engine, who))
    before = ledger_rows(demo_engine)
    c = who["director"]
    body = {**FORM_41, **WITNESS, field: value}
    r = c.client.post(f"/api/controlled/vials/{vial}/destruction", json=body, headers=c.headers)
    assert r.status_code == 400, r.text
    assert says in r.json()["error"]
    assert ledger_rows(demo_engine) == before


@pytest.mark.parametrize("label", list(ROLES))
def test_setting_the_dea_registration(who: dict[str, Caller], demo_engine: Engine, label: str) -> None:
    with Session(demo_engine) as db:
        before = aus(db).dea_registration
    c = who[label]
    number = "FB9911113"  # 9+1+1 = 11, 2 x (9+1+1) = 22, 33: check digit 3
    r = c.client.put(
        "/api/clinics/aus/controlled/registration", json={"dea_registration": number}, headers=c.headers
    )
    assert r.status_code == status(label, {"director"}), r.text
    with Session(demo_engine) as db:
        after = aus(db).dea_registration
    assert after == (number if label == "director" else before)
    if label == "director":
        bad = c.client.put(
            "/api/clinics/aus/controlled/registration",
            json={"dea_registration": "FB9911112"},
            headers=c.headers,
        )
        assert bad.status_code == 400 and "check digit" in bad.json()["error"]
        with Session(demo_engine) as db:
            assert aus(db).dea_registration == number
        c.client.put(
            "/api/clinics/aus/controlled/registration", json={"dea_registration": before}, headers=c.headers
        )


@pytest.mark.parametrize("label", list(ROLES))
def test_the_biennial_inventory(
    who: dict[str, Caller], two_days_on: dict[str, Caller], demo_engine: Engine, label: str
) -> None:
    lot = a_lot(demo_engine, who)  # 5 vials of 500 mg, received at NOW
    session = an_infusion(demo_engine)
    nurse = who["nurse"]
    r = nurse.client.post(
        f"/api/sessions/{session}/draws",
        json={"vial_id": str(a_vial(demo_engine, lot))},
        headers=nurse.headers,
    )
    assert r.status_code == 201, r.text  # 100 mg drawn from vial 1: the bag is still open
    with Session(demo_engine) as db:
        lot_number = db.get(m.DrugLot, lot).lot_number  # type: ignore[union-attr]
    day = NOW.date().isoformat()  # NOW is mid-afternoon in Austin: the same local day
    r = two_days_on[label].client.get(f"/api/clinics/aus/controlled/inventory?day={day}")
    assert r.status_code == status(label, READERS), r.text
    if r.status_code != 200:
        return
    report = r.json()
    assert report["taken_at"] == "close of business" and report["dea_registration"]
    (line,) = [x for x in report["lines"] if x["lot"] == lot_number]
    assert (line["unopened_vials"], line["unopened_mg"]) == (4, 2000)
    assert (line["opened_vials"], line["opened_mg"], line["opened_ml"]) == (1, 400, 8)
    assert (line["in_bags_mg"], line["on_hand_mg"]) == (100, 2500)
    # The opening of that day came before the delivery: the lot is not in it.
    r = two_days_on[label].client.get(f"/api/clinics/aus/controlled/inventory?day={day}&close=false")
    assert lot_number not in {x["lot"] for x in r.json()["lines"]}


def test_an_inventory_of_a_day_not_closed_yet_is_refused(who: dict[str, Caller]) -> None:
    r = who["director"].client.get(f"/api/clinics/aus/controlled/inventory?day={NOW.date().isoformat()}")
    assert r.status_code == 400 and "not come yet" in r.json()["error"]
    page = who["director"].client.get("/clinics/aus/controlled/inventory?day=not-a-day")
    assert page.status_code == 400 and "YYYY-MM-DD" in page.text and "Traceback" not in page.text
    page = who["director"].client.get("/clinics/aus/controlled/inventory")
    assert page.status_code == 200 and "Controlled-substance inventory" in page.text


@pytest.mark.parametrize("label", list(ROLES))
def test_a_loss_and_its_draft_form_106(who: dict[str, Caller], demo_engine: Engine, label: str) -> None:
    lot = a_lot(demo_engine, who)
    director = who["director"]
    r = director.client.post(
        f"/api/controlled/lots/{lot}/adjustments",
        json={"mg": "-12.5", "reason": "not found after searching the safe", "cause": "loss", **WITNESS},
        headers=director.headers,
    )
    assert r.status_code == 201, r.text
    entry = r.json()["id"]
    r = who[label].client.get(f"/api/controlled/adjustments/{entry}/form-106")
    assert r.status_code == status(label, {"director"}), r.text
    if r.status_code != 200:
        return
    draft = r.json()
    (substance,) = draft["substances"]
    assert (substance["quantity_mg"], substance["quantity_ml"]) == (12.5, 0.25)  # 50 mg/mL
    assert draft["type_of_loss"] == "Loss (cause unknown)" and draft["losses_in_past_24_months"] >= 1
    assert draft["registrant"]["dea_registration"] and draft["witness"] == WITNESS["witness_email"]
    assert draft["notify_dea_by"] == (NOW.date() + timedelta(days=1)).isoformat()
    page = who[label].client.get(f"/controlled/adjustments/{entry}/form-106")
    assert page.status_code == 200 and "DEA Form 106" in page.text and "12.500 mg" in page.text


def test_a_cause_that_does_not_fit_and_a_non_loss_report_are_refused(
    who: dict[str, Caller], demo_engine: Engine
) -> None:
    lot = a_lot(demo_engine, who)
    director = who["director"]
    before = ledger_rows(demo_engine)
    r = director.client.post(
        f"/api/controlled/lots/{lot}/adjustments",
        json={"mg": "5", "reason": "r", "cause": "theft", **WITNESS},
        headers=director.headers,
    )
    assert r.status_code == 400 and "negative" in r.json()["error"]
    assert ledger_rows(demo_engine) == before
    r = director.client.post(
        f"/api/controlled/lots/{lot}/adjustments",
        json={
            "mg": "-5",
            "reason": "dropped and broke in front of the witness",
            "cause": "breakage",
            **WITNESS,
        },
        headers=director.headers,
    )
    assert r.status_code == 201
    r = director.client.get(f"/api/controlled/adjustments/{r.json()['id']}/form-106")
    assert r.status_code == 400 and "only a theft or loss" in r.json()["error"]


@pytest.mark.parametrize(
    ("label", "path", "form"),
    [
        ("nurse", "/clinics/aus/controlled/adjustments", {"mg": "-1", "reason": "x", "cause": "loss"}),
        ("front_desk", "/clinics/aus/controlled/registration", {"dea_registration": "FB9911113"}),
        ("psychiatrist", "/clinics/aus/controlled/destructions", dict(FORM_41)),
    ],
)
def test_a_refused_form_post_is_audited_and_writes_nothing(
    who: dict[str, Caller], demo_engine: Engine, label: str, path: str, form: dict[str, str]
) -> None:
    lot = a_lot(demo_engine, who)
    body = {**form, **WITNESS, "lot_id": str(lot), "vial_id": str(a_vial(demo_engine, lot))}
    c = who[label]
    before, refused = ledger_rows(demo_engine), refused_count(demo_engine)
    r = c.client.post(path, data={**body, "csrf": c.headers["X-CSRF-Token"]}, follow_redirects=False)
    assert r.status_code == 403, r.text[:300]
    assert "Traceback" not in r.text
    assert ledger_rows(demo_engine) == before
    assert refused_count(demo_engine) == refused + 1


def test_the_director_works_the_stock_page_forms(who: dict[str, Caller], demo_engine: Engine) -> None:
    """Adjustment, hand-over and registration through the page's own forms (the browser test
    walks the path; this checks each form's refusal keeps what was typed, never the password)."""
    lot = a_lot(demo_engine, who)
    c = who["director"]
    csrf = c.headers["X-CSRF-Token"]
    r = c.client.post(
        "/clinics/aus/controlled/adjustments",
        data={"lot_id": str(lot), "mg": "-3", "cause": "theft", "reason": "missing", **WITNESS, "csrf": csrf},
    )
    assert r.status_code == 200 and "booked as a theft" in r.text and "Draft Form 106" in r.text
    before = ledger_rows(demo_engine)
    r = c.client.post(
        "/clinics/aus/controlled/destructions",
        data={
            "vial_id": str(a_vial(demo_engine, lot)),
            **FORM_41,
            "distributor_dea": "RR0000009",
            **WITNESS,
            "csrf": csrf,
        },
    )
    assert r.status_code == 400 and "check digit" in r.text
    assert 'value="Demo Returns Inc."' in r.text and WITNESS["witness_password"] not in r.text
    assert ledger_rows(demo_engine) == before
    r = c.client.post("/clinics/aus/controlled/registration", data={"dea_registration": "nope", "csrf": csrf})
    assert r.status_code == 400 and "two letters and seven digits" in r.text and 'value="nope"' in r.text


@pytest.mark.parametrize("label", list(ROLES))
def test_the_ledger_page(who: dict[str, Caller], label: str) -> None:
    r = who[label].client.get(
        "/clinics/aus/controlled/ledger?start=2026-01-01&end=2026-12-31", follow_redirects=False
    )
    expected = {303} if label == "anonymous" else {status(label, READERS)}  # a page sends to sign-in
    assert r.status_code in expected, r.text[:300]
    if r.status_code == 200:
        assert "receipt" in r.text and "waste" in r.text and "Traceback" not in r.text
    if label == "director":
        swapped = who[label].client.get("/clinics/aus/controlled/ledger?start=2026-12-31&end=2026-01-01")
        assert swapped.status_code == 400 and "swap them" in swapped.text
        bad = who[label].client.get("/clinics/aus/controlled/ledger?start=yesterday")
        assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
