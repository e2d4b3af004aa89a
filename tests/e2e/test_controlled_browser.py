"""In the browser, on SQLite and PostgreSQL, the controlled-substance path of issue 14: the director
receives a delivery; the nurse draws the bag for an infusion from it, books what the pump gave and
wastes the rest before a psychiatrist who signs in on the same form; a witness with the wrong
password is refused with the form kept; the evening count of the lot matches the ledger."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaflow.demo.catalog import DEMO_PASSWORD
from ketaflow.store import models as m
from ketaflow.store.engine import make_engine
from tests.e2e.conftest import LiveServer, sign_in
from tests.integration.web.test_roles_controlled import NOW, an_infusion


@pytest.mark.parametrize(
    "server",
    ["live_server", pytest.param("live_server_postgres", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgres"],
)
def test_receive_draw_give_waste_with_a_witness_and_count(
    server: str, request: pytest.FixtureRequest, new_page: Callable[[], Page]
) -> None:
    live: LiveServer = request.getfixturevalue(server)
    engine = make_engine(live.database_url)
    session_id = an_infusion(engine)
    live.clock.set(NOW + timedelta(minutes=5))
    lot = f"WEB-{uuid.uuid4().hex[:6]}"

    director = new_page()
    sign_in(director, live.url, "director1.aus")
    director.goto(f"{live.url}/clinics/aus/controlled")
    form = director.locator("#receive form")
    form.locator("input[name=lot_number]").fill(lot)
    form.locator("input[name=expires_on]").fill("2034-01-31")
    form.locator("input[name=vials]").fill("2")
    form.locator("input[name=supplier]").fill("Demo Wholesale Pharma")
    form.locator("input[name=supplier_dea]").fill("RD0000000")
    form.locator("input[name=invoice]").fill("INV-WEB")
    with director.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(director.locator(".notice")).to_contain_text(f"Lot {lot} is received")
    expect(director.locator(f"#lot-{lot}")).to_contain_text("1000.000")

    nurse = new_page()
    sign_in(nurse, live.url, "nurse1.aus")
    nurse.goto(f"{live.url}/sessions/{session_id}/controlled")
    expect(nurse.locator("main")).to_contain_text("Still to draw: 100.000 mg")
    vial = nurse.locator("#draw select[name=vial_id] option", has_text=f"Lot {lot}, vial 1").first
    nurse.locator("#draw select[name=vial_id]").select_option(vial.get_attribute("value"))
    with nurse.expect_navigation():
        nurse.locator("#draw button[type=submit]").click()
    expect(nurse.locator(".notice")).to_have_text("The draw is recorded.")
    with nurse.expect_navigation():
        nurse.locator("#book-administered button").click()
    expect(nurse.locator(".notice")).to_have_text("What the pump gave is booked.")

    waste = nurse.locator("#draws form").first
    waste.locator("input[name=witness_email]").fill("psychiatrist1.aus@demo.ketaflow.org")
    waste.locator("input[name=witness_password]").fill("not the password")
    with nurse.expect_navigation():
        waste.locator("button[type=submit]").click()
    expect(nurse.locator(".error").first).to_contain_text("do not match")
    waste = nurse.locator("#draws form").first
    expect(waste.locator("input[name=witness_email]")).to_have_value("psychiatrist1.aus@demo.ketaflow.org")
    waste.locator("input[name=witness_password]").fill(DEMO_PASSWORD)
    with nurse.expect_navigation():
        waste.locator("button[type=submit]").click()
    expect(nurse.locator(".notice")).to_have_text("The waste is recorded with its witness.")
    expect(nurse.locator("#draws tbody tr").first).to_contain_text("done")

    with Session(engine) as db:
        kinds = db.scalars(
            select(m.LedgerEntry.kind)
            .where(m.LedgerEntry.session_id == session_id)
            .order_by(m.LedgerEntry.recorded_at)
        ).all()
        assert [str(k.value if hasattr(k, "value") else k) for k in kinds] == [
            "draw",
            "administered",
            "waste",
        ]
        given = db.scalar(
            select(func.sum(m.LedgerEntry.quantity_mg)).where(
                m.LedgerEntry.session_id == session_id, m.LedgerEntry.kind == "administered"
            )
        )
        assert float(given) == 35.0

    nurse.goto(f"{live.url}/clinics/aus/controlled")
    row = nurse.locator(f"#lot-{lot}")
    row.locator("input[name=counted_mg]").fill("900")  # 1000 received - 100 drawn
    row.locator("input[name=witness_email]").fill("psychiatrist1.aus@demo.ketaflow.org")
    row.locator("input[name=witness_password]").fill(DEMO_PASSWORD)
    with nurse.expect_navigation():
        row.locator("button[type=submit]").click()
    expect(nurse.locator(".notice")).to_have_text("The count matches the ledger.")
    expect(nurse.locator(f"#lot-{lot}")).to_contain_text("matches")
