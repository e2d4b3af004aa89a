"""Every role against the controlled-substance API (issue 14), on both engines.

The front desk and the administrator see none of it; nurses draw, book what the pump gave,
waste (before a witness who signs in) and count; the director receives and adjusts; the
psychiatrist and the director may read. Another clinic's nurse is refused; anonymous gets 401.
Each refusal writes no ledger row. The whole path runs through the API for the roles allowed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.demo.catalog import DEMO_PASSWORD
from ketaflow.store import models as m
from tests.factories import make_infusion_that_ran
from tests.integration.web.consult_support import new_patient
from tests.integration.web.roles import ROLES, Caller, callers

COVERS = {
    ("GET", "/api/clinics/{code}/controlled"),
    ("GET", "/api/clinics/{code}/controlled/ledger"),
    ("POST", "/api/clinics/{code}/controlled/deliveries"),
    ("POST", "/api/controlled/lots/{lot_id}/counts"),
    ("POST", "/api/controlled/lots/{lot_id}/adjustments"),
    ("POST", "/api/sessions/{session_id}/draws"),
    ("POST", "/api/sessions/{session_id}/administered"),
    ("POST", "/api/controlled/draws/{draw_id}/waste"),
}
NOW = datetime(2032, 7, 14, 15, 0, tzinfo=UTC)  # a day no other test uses
READERS = {"director", "psychiatrist", "nurse"}
WITNESS = {"witness_email": "psychiatrist1.aus@demo.ketaflow.org", "witness_password": DEMO_PASSWORD}


@pytest.fixture(scope="module")
def who(demo_engine: Engine) -> Iterator[dict[str, Caller]]:
    yield from callers(demo_engine, NOW)


def status(label: str, allowed: set[str], ok: int = 200) -> int:
    if label == "anonymous":
        return 401
    return ok if label in allowed else 403


def ledger_rows(engine: Engine) -> int:
    with Session(engine) as db:
        return db.scalar(select(func.count()).select_from(m.LedgerEntry)) or 0


def aus(db: Session) -> m.Clinic:
    clinic = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
    assert clinic is not None
    return clinic


def a_lot(engine: Engine, who: dict[str, Caller]) -> uuid.UUID:
    """A lot of our own, received by the director through the API (5 vials, 2500 mg)."""
    with Session(engine) as db:
        clinic = aus(db)
        product = db.scalar(select(m.DrugProduct.id).where(m.DrugProduct.clinic_id == clinic.id))
        safe = db.scalar(select(m.StorageLocation.id).where(m.StorageLocation.clinic_id == clinic.id))
    body = delivery(product, safe)
    r = who["director"].client.post(
        "/api/clinics/aus/controlled/deliveries", json=body, headers=who["director"].headers
    )
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["lot_id"])


def delivery(product: uuid.UUID | None, safe: uuid.UUID | None) -> dict[str, object]:
    return {
        "product_id": str(product),
        "location_id": str(safe),
        "lot_number": f"API-{uuid.uuid4().hex[:8]}",
        "expires_on": "2034-01-31",
        "vials": 5,
        "supplier": "Demo Wholesale Pharma",
        "supplier_dea": "RD0000000",
        "invoice": "INV-API",
    }


def an_infusion(engine: Engine) -> uuid.UUID:
    """An infusion at Austin that ran: 100 mg in the bag for a 35 mg dose, the pump gave 35 mg and stopped."""
    pid = new_patient(engine, NOW)
    with Session(engine) as db:
        nurse = db.scalar(select(m.StaffUser.id).where(m.StaffUser.email == "nurse1.aus@demo.ketaflow.org"))
        psych = db.scalar(
            select(m.StaffUser.id).where(m.StaffUser.email == "psychiatrist1.aus@demo.ketaflow.org")
        )
        assert nurse and psych
        session_id = make_infusion_that_ran(
            db,
            clinic_id=aus(db).id,
            patient_id=pid,
            nurse_id=nurse,
            psychiatrist_id=psych,
            ordered_at=NOW - timedelta(minutes=90),
            bag_drug_mg=100,
        )
        db.commit()
        return session_id


def a_vial(engine: Engine, lot_id: uuid.UUID) -> uuid.UUID:
    with Session(engine) as db:
        vial = db.scalar(select(m.DrugVial.id).where(m.DrugVial.lot_id == lot_id, m.DrugVial.number == 1))
        assert vial is not None
        return vial


@pytest.mark.parametrize("label", list(ROLES))
@pytest.mark.parametrize("path", ["/api/clinics/aus/controlled", "/api/clinics/aus/controlled/ledger"])
def test_reading_the_stock(who: dict[str, Caller], label: str, path: str) -> None:
    r = who[label].client.get(path)
    assert "Traceback" not in r.text
    assert r.status_code == status(label, READERS), r.text
    if r.status_code == 200 and path.endswith("controlled"):
        assert r.json()["lots"] and all(lot["balances"] for lot in r.json()["lots"])


@pytest.mark.parametrize("label", list(ROLES))
def test_receiving_a_delivery(who: dict[str, Caller], demo_engine: Engine, label: str) -> None:
    with Session(demo_engine) as db:
        clinic = aus(db)
        product = db.scalar(select(m.DrugProduct.id).where(m.DrugProduct.clinic_id == clinic.id))
        safe = db.scalar(select(m.StorageLocation.id).where(m.StorageLocation.clinic_id == clinic.id))
    before = ledger_rows(demo_engine)
    r = who[label].client.post(
        "/api/clinics/aus/controlled/deliveries", json=delivery(product, safe), headers=who[label].headers
    )
    assert r.status_code == status(label, {"director"}, 201), r.text
    assert ledger_rows(demo_engine) == before + (1 if r.status_code == 201 else 0)


@pytest.mark.parametrize("label", list(ROLES))
def test_counting_and_adjusting(who: dict[str, Caller], demo_engine: Engine, label: str) -> None:
    lot = a_lot(demo_engine, who)
    before = ledger_rows(demo_engine)
    r = who[label].client.post(
        f"/api/controlled/lots/{lot}/counts",
        json={"counted_mg": "2490", **WITNESS},
        headers=who[label].headers,
    )
    assert r.status_code == status(label, {"nurse"}, 201), r.text
    if r.status_code == 201:
        assert r.json()["discrepancy_mg"] == -10
    r = who[label].client.post(
        f"/api/controlled/lots/{lot}/adjustments",
        json={"mg": "-10", "reason": "spill found at the count; investigated", **WITNESS},
        headers=who[label].headers,
    )
    assert r.status_code == status(label, {"director"}, 201), r.text
    written = {"nurse": 1, "director": 1}.get(label, 0)
    assert ledger_rows(demo_engine) == before + written


@pytest.mark.parametrize("label", list(ROLES))
def test_the_infusion_path(who: dict[str, Caller], demo_engine: Engine, label: str) -> None:
    lot = a_lot(demo_engine, who)
    session = an_infusion(demo_engine)
    before = ledger_rows(demo_engine)
    c = who[label]
    r = c.client.post(
        f"/api/sessions/{session}/draws", json={"vial_id": str(a_vial(demo_engine, lot))}, headers=c.headers
    )
    assert r.status_code == status(label, {"nurse"}, 201), r.text
    if label != "nurse":
        r = c.client.post(f"/api/sessions/{session}/administered", headers=c.headers)
        assert r.status_code == status(label, set()), r.text
        assert ledger_rows(demo_engine) == before
        return
    draw = r.json()["id"]
    assert r.json()["quantity_mg"] == 100
    r = c.client.post(f"/api/sessions/{session}/administered", headers=c.headers)
    assert r.status_code == 201, r.text
    assert sum(e["quantity_mg"] for e in r.json()["entries"]) == 35
    # The witness must be someone else who signs in: the nurse themself is refused, nothing written.
    own = {"witness_email": "nurse1.aus@demo.ketaflow.org", "witness_password": DEMO_PASSWORD}
    r = c.client.post(f"/api/controlled/draws/{draw}/waste", json=own, headers=c.headers)
    assert r.status_code == 400 and "different person" in r.json()["error"]
    for other in ("front_desk", "director", "other_clinic_nurse"):
        refused = who[other].client.post(
            f"/api/controlled/draws/{draw}/waste", json=WITNESS, headers=who[other].headers
        )
        assert refused.status_code == 403, refused.text
    r = c.client.post(f"/api/controlled/draws/{draw}/waste", json=WITNESS, headers=c.headers)
    assert r.status_code == 201, r.text
    assert r.json()["quantity_mg"] == 65 and r.json()["witness_id"]
    r = c.client.post(f"/api/controlled/draws/{draw}/waste", json=WITNESS, headers=c.headers)
    assert r.status_code == 409  # wasted once only
    assert ledger_rows(demo_engine) == before + 3


def test_without_the_csrf_header_nothing_is_written(who: dict[str, Caller], demo_engine: Engine) -> None:
    lot = a_lot(demo_engine, who)
    before = ledger_rows(demo_engine)
    r = who["nurse"].client.post(f"/api/controlled/lots/{lot}/counts", json={"counted_mg": "2500", **WITNESS})
    assert r.status_code in {401, 403}
    assert ledger_rows(demo_engine) == before


@pytest.mark.parametrize(
    "body",
    [
        {"counted_mg": "lots", **WITNESS},
        {"counted_mg": "-5", **WITNESS},
        {"counted_mg": "NaN", **WITNESS},
        {"counted_mg": "2500"},
        {
            "counted_mg": "2500",
            "witness_email": WITNESS["witness_email"],
            "witness_password": "wrong-password-1",
        },
    ],
)
def test_a_bad_count_is_refused_with_a_sentence(
    who: dict[str, Caller], demo_engine: Engine, body: dict[str, str]
) -> None:
    lot = a_lot(demo_engine, who)
    before = ledger_rows(demo_engine)
    r = who["nurse"].client.post(
        f"/api/controlled/lots/{lot}/counts", json=body, headers=who["nurse"].headers
    )
    assert r.status_code in {400, 422}, r.text
    assert "Traceback" not in r.text and r.json()["error"]
    assert ledger_rows(demo_engine) == before
