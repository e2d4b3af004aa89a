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


def receive(director: Page, url: str, lot: str, *, vials: int) -> None:
    """The director receives a delivery of `vials` vials of lot `lot` on the stock page."""
    director.goto(f"{url}/clinics/aus/controlled")
    form = director.locator("#receive form")
    form.locator("input[name=lot_number]").fill(lot)
    form.locator("input[name=expires_on]").fill("2034-01-31")
    form.locator("input[name=vials]").fill(str(vials))
    form.locator("input[name=supplier]").fill("Demo Wholesale Pharma")
    form.locator("input[name=supplier_dea]").fill("RD0000000")
    form.locator("input[name=invoice]").fill(f"INV-{lot}")
    with director.expect_navigation():
        form.locator("button[type=submit]").click()


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
    receive(director, live.url, lot, vials=2)
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


@pytest.mark.parametrize(
    "server",
    ["live_server", pytest.param("live_server_postgres", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgres"],
)
def test_a_count_finds_a_loss_the_director_books_it_and_drafts_form_106(
    server: str, request: pytest.FixtureRequest, new_page: Callable[[], Page]
) -> None:
    live: LiveServer = request.getfixturevalue(server)
    live.clock.set(NOW + timedelta(minutes=5))
    lot = f"LOSS-{uuid.uuid4().hex[:6]}"

    director = new_page()
    sign_in(director, live.url, "director1.aus")
    receive(director, live.url, lot, vials=1)
    expect(director.locator(f"#lot-{lot}")).to_contain_text("500.000")

    # The evening count finds 20 mg fewer than the ledger: the page says so at once.
    nurse = new_page()
    sign_in(nurse, live.url, "nurse1.aus")
    nurse.goto(f"{live.url}/clinics/aus/controlled")
    row = nurse.locator(f"#lot-{lot}")
    row.locator("input[name=counted_mg]").fill("480")
    row.locator("input[name=witness_email]").fill("psychiatrist1.aus@demo.ketaflow.org")
    row.locator("input[name=witness_password]").fill(DEMO_PASSWORD)
    with nurse.expect_navigation():
        row.locator("button[type=submit]").click()
    expect(nurse.locator(".notice")).to_contain_text("differs from the ledger by -20")
    expect(nurse.locator(f"#lot-{lot}")).to_contain_text("differs by -20.000 mg")
    expect(nurse.locator("#adjust-form")).to_have_count(0)  # a nurse does not book adjustments

    # The director investigates and books it as a loss, before a witness who signs in.
    director.goto(f"{live.url}/clinics/aus/controlled")
    adjust = director.locator("#adjust-form")
    option = adjust.locator("select[name=lot_id] option", has_text=lot).first
    adjust.locator("select[name=lot_id]").select_option(option.get_attribute("value"))
    adjust.locator("input[name=mg]").fill("-20")
    adjust.locator("select[name=cause]").select_option("loss")
    adjust.locator("textarea[name=reason]").fill("Not found after searching the safe and the sharps bins")
    adjust.locator("input[name=witness_email]").fill("nurse1.aus@demo.ketaflow.org")
    adjust.locator("input[name=witness_password]").fill(DEMO_PASSWORD)
    with director.expect_navigation():
        adjust.locator("button[type=submit]").click()
    expect(director.locator(".notice")).to_contain_text("booked as a loss")
    expect(director.locator(f"#lot-{lot}")).to_contain_text("matches")

    with director.expect_navigation():
        director.locator("#adjustments a", has_text="Draft Form 106").first.click()
    expect(director.locator("h1")).to_contain_text("DEA Form 106")
    expect(director.locator("#form-106")).to_contain_text(lot)
    expect(director.locator("#form-106")).to_contain_text("20.000 mg (0.400 mL)")
    expect(director.locator("#to-complete")).to_contain_text("police")

    # The biennial inventory two days on shows the lot at its book figure.
    live.clock.set(NOW + timedelta(days=2))
    director.goto(f"{live.url}/clinics/aus/controlled/inventory?day={NOW.date().isoformat()}")
    expect(director.locator("#inventory")).to_contain_text(lot)
    expect(director.locator("#inventory")).to_contain_text("close of business")
