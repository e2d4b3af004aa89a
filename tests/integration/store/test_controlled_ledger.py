"""The controlled-substance use cases on both engines: the whole path, every refusal, and races.

receive -> draw (from the dose order) -> pump gives -> waste with a witness who signs in
themselves -> count -> discrepancy -> adjustment. Each refusal is checked to write no ledger
row. Two nurses wasting one remainder, or counting one safe, at the same moment cannot make
the ledger wrong: the safe's row lock (PostgreSQL) or the write lock (SQLite) serialises them
and the second sees the first's entry.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ketaflow.cli import app
from ketaflow.controlled.ledger import EntryKind
from ketaflow.errors import Conflict, Forbidden, InvalidInput
from ketaflow.security import hash_password
from ketaflow.services import controlled, discharge
from ketaflow.services.audit import Actor
from ketaflow.services.auth import CurrentUser
from ketaflow.services.witness import WitnessCredentials
from ketaflow.store import models as m
from ketaflow.vocabulary import Role
from tests.conftest import ENGINE_KINDS, FreshDatabases, Templates
from tests.factories import T0, Chart, make_chart, make_infusion_that_ran, make_staff
from tests.integration.races import race

PASSWORD = "correct horse battery staple"
D = Decimal
AT = T0 + timedelta(minutes=5)


@dataclass
class Clinic:
    engine: Engine
    clinic_id: uuid.UUID
    session_id: uuid.UUID
    people: dict[str, uuid.UUID]
    product_id: uuid.UUID
    safe_id: uuid.UUID
    chart: Chart

    def who(self, db: Session, name: str) -> CurrentUser:
        user = db.get(m.StaffUser, self.people[name])
        assert user is not None
        roles = {
            str(r.clinic_id): {r.role}
            for r in db.scalars(select(m.StaffRole).where(m.StaffRole.user_id == user.id))
        }
        return CurrentUser(user, None, roles)  # type: ignore[arg-type]

    def actor(self, name: str) -> Actor:
        return Actor(self.people[name], name, "127.0.0.1", "pytest")

    def witness(self, name: str, password: str = PASSWORD) -> WitnessCredentials:
        with Session(self.engine, expire_on_commit=False) as db:
            user = db.get(m.StaffUser, self.people[name])
            assert user is not None
            return WitnessCredentials(user.email, password)

    def ledger_rows(self) -> int:
        with Session(self.engine, expire_on_commit=False) as db:
            return (
                db.scalar(
                    select(func.count())
                    .select_from(m.LedgerEntry)
                    .where(m.LedgerEntry.clinic_id == self.clinic_id)
                )
                or 0
            )


@pytest.fixture(scope="module", params=ENGINE_KINDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, templates: Templates
) -> Iterator[Clinic]:
    """One database per engine for the module (migrating one costs seconds): a clinic with its
    staff, all signing in with PASSWORD, and a safe; each test adds its own infusion and lots."""
    databases = FreshDatabases(request.param, tmp_path_factory.mktemp("controlled"))
    engine = databases.new_migrated(templates)
    with Session(engine) as db:
        chart = make_chart(db)
        people = {"nurse": chart.nurse.id, "psychiatrist": chart.psychiatrist.id}
        for name, role in (
            ("second_nurse", Role.NURSE),
            ("director", Role.DIRECTOR),
            ("front_desk", Role.FRONT_DESK),
        ):
            people[name] = make_staff(db, chart.clinic, role).id
        digest = hash_password(PASSWORD)  # argon2 is slow by design: hash once for everyone
        for user in db.scalars(select(m.StaffUser)):
            user.password_hash = digest
        db.commit()
        product = db.scalar(select(m.DrugProduct.id).where(m.DrugProduct.clinic_id == chart.clinic.id))
        safe = db.scalar(select(m.StorageLocation.id).where(m.StorageLocation.clinic_id == chart.clinic.id))
        assert product and safe
        yield Clinic(engine, chart.clinic.id, chart.infusion.id, people, product, safe, chart)
    databases.drop_all()


@pytest.fixture
def clinic(world: Clinic) -> Clinic:
    """The clinic with an infusion of its own for this test, nothing drawn for it yet."""
    with Session(world.engine, expire_on_commit=False) as db:
        session_id = infusion_that_ran(db, world.chart)
        db.commit()
    return replace(world, session_id=session_id)


def infusion_that_ran(db: Session, chart: Chart) -> uuid.UUID:
    """A second infusion of the chart's patient, nothing drawn for it yet: the psychiatrist's
    order puts 50 mg in a 100 mL bag for a 35 mg dose (70 mL), and the pump gave 35 mg and stopped."""
    return make_infusion_that_ran(
        db,
        clinic_id=chart.clinic.id,
        patient_id=chart.patient.id,
        nurse_id=chart.nurse.id,
        psychiatrist_id=chart.psychiatrist.id,
        ordered_at=AT,
        bag_drug_mg=50,
        chair_id=chart.chair.id,
        series_number=2,
    )


def receive(c: Clinic, lot_number: str = "", vials: int = 2, expires: date = date(2030, 6, 30)) -> uuid.UUID:
    lot_number = lot_number or f"L{uuid.uuid4().hex[:8]}"
    with Session(c.engine, expire_on_commit=False) as db:
        lot = controlled.receive(
            db,
            c.who(db, "director"),
            c.clinic_id,
            controlled.Delivery(
                c.product_id, c.safe_id, lot_number, expires, vials, "Acme Pharma", "RA0000000", "INV-1", AT
            ),
            actor=c.actor("director"),
        )
        return lot.id


def witnessed(c: Clinic) -> int:
    with Session(c.engine) as db:
        found = select(func.count()).where(m.AuditEvent.action == "auth.witness_confirmed")
        return db.scalar(found) or 0


def vials_of(c: Clinic, lot_id: uuid.UUID) -> list[uuid.UUID]:
    with Session(c.engine, expire_on_commit=False) as db:
        return list(
            db.scalars(select(m.DrugVial.id).where(m.DrugVial.lot_id == lot_id).order_by(m.DrugVial.number))
        )


def balance(c: Clinic, lot_id: uuid.UUID) -> controlled.LotReport:
    with Session(c.engine, expire_on_commit=False) as db:
        reports = controlled.reconcile(db, c.who(db, "director"), c.clinic_id, actor=c.actor("director"))
    return next(r for r in reports if r.lot_id == lot_id)


def test_the_whole_path_balances(clinic: Clinic) -> None:
    c = clinic
    witnessed_before = witnessed(c)
    lot_id = receive(c)
    vial = vials_of(c, lot_id)[0]
    with Session(c.engine, expire_on_commit=False) as db:
        # The order puts 50 mg in the bag: the draw takes 50 mg (1 mL at 50 mg/mL).
        draw = controlled.draw_for_session(
            db, c.who(db, "nurse"), c.session_id, vial, at=AT, actor=c.actor("nurse")
        )
        assert (draw.quantity_mg, draw.quantity_ml) == (D(50), D(1))
        with pytest.raises(Conflict, match="already drawn up"):
            controlled.draw_for_session(
                db, c.who(db, "nurse"), c.session_id, vial, at=AT, actor=c.actor("nurse")
            )
    with Session(c.engine, expire_on_commit=False) as db:
        given = controlled.book_administered(
            db, c.who(db, "nurse"), c.session_id, at=AT + timedelta(minutes=41), actor=c.actor("nurse")
        )
        assert sum((g.quantity_mg for g in given), D(0)) == D(35)
        assert [(d.id, left) for d, left in controlled.open_draws(db, c.session_id)] == [(draw.id, D(15))]
    with Session(c.engine, expire_on_commit=False) as db:
        waste = controlled.waste_remainder(
            db,
            c.who(db, "nurse"),
            draw.id,
            c.witness("second_nurse"),
            at=T0 + timedelta(minutes=45),
            actor=c.actor("nurse"),
        )
        assert (waste.quantity_mg, waste.witness_id) == (D(15), c.people["second_nurse"])
        assert controlled.open_draws(db, c.session_id) == []
    report = balance(c, lot_id)
    bal = report.balance
    # 1000 received = 35 given + 15 wasted + 950 on hand
    assert (bal.received_mg, bal.administered_mg, bal.wasted_mg, bal.on_hand_mg) == (
        D(1000),
        D(35),
        D(15),
        D(950),
    )
    assert bal.balances()

    # The evening count finds 940 mg: 10 mg missing, shown at once.
    with Session(c.engine, expire_on_commit=False) as db:
        counted = controlled.count(
            db,
            c.who(db, "nurse"),
            lot_id,
            D(940),
            c.witness("second_nurse"),
            at=T0 + timedelta(hours=8),
            actor=c.actor("nurse"),
        )
        assert counted.discrepancy_mg == D(-10)
    with Session(c.engine, expire_on_commit=False) as db:
        controlled.adjust(
            db,
            c.who(db, "director"),
            lot_id,
            D(-10),
            "vial 1 found cracked; investigated",
            c.witness("nurse"),
            at=T0 + timedelta(hours=9),
            actor=c.actor("director"),
        )
    bal = balance(c, lot_id).balance
    assert (bal.adjusted_mg, bal.on_hand_mg, bal.discrepancy_mg) == (D(10), D(940), D(0))
    assert bal.balances()
    assert witnessed(c) == witnessed_before + 3  # the waste, the count, the adjustment

    with Session(c.engine, expire_on_commit=False) as db:
        kinds = [
            e.kind
            for e in db.scalars(
                select(m.LedgerEntry)
                .where(m.LedgerEntry.lot_id == lot_id)
                .order_by(m.LedgerEntry.recorded_at)
            )
        ]
        assert kinds == [
            EntryKind.RECEIPT,
            EntryKind.DRAW,
            EntryKind.ADMINISTERED,
            EntryKind.WASTE,
            EntryKind.COUNT,
            EntryKind.ADJUSTMENT,
        ]
        lines = controlled.ledger_lines(
            db, c.who(db, "director"), c.clinic_id, start=None, end=None, actor=c.actor("director")
        )
        for line in lines:
            if line.kind in {"waste", "count", "adjustment"}:
                assert line.witness and line.witness != line.by


@pytest.mark.parametrize(
    ("witness", "password", "error", "words"),
    [
        ("nurse", PASSWORD, InvalidInput, "different person"),
        ("front_desk", PASSWORD, Forbidden, "nurse or psychiatrist of this clinic"),
        ("second_nurse", "wrong password here", InvalidInput, "do not match"),
    ],
)
def test_a_waste_needs_a_real_second_licensed_witness(
    clinic: Clinic, witness: str, password: str, error: type[Exception], words: str
) -> None:
    c = clinic
    lot_id = receive(c)
    with Session(c.engine, expire_on_commit=False) as db:
        draw = controlled.draw_for_session(
            db, c.who(db, "nurse"), c.session_id, vials_of(c, lot_id)[0], at=AT, actor=c.actor("nurse")
        )
    before = c.ledger_rows()
    with Session(c.engine, expire_on_commit=False) as db, pytest.raises(error, match=words):
        controlled.waste_remainder(
            db, c.who(db, "nurse"), draw.id, c.witness(witness, password), at=AT, actor=c.actor("nurse")
        )
    assert c.ledger_rows() == before


@pytest.mark.parametrize(
    ("who", "call"),
    [
        ("front_desk", "draw"),
        ("director", "draw"),
        ("nurse", "receive"),
        ("front_desk", "reconcile"),
        ("nurse", "adjust"),
    ],
)
def test_roles(clinic: Clinic, who: str, call: str) -> None:
    c = clinic
    lot_id = receive(c)
    before = c.ledger_rows()
    with Session(c.engine, expire_on_commit=False) as db, pytest.raises(Forbidden):
        person = c.who(db, who)
        if call == "draw":
            controlled.draw_for_session(
                db, person, c.session_id, vials_of(c, lot_id)[0], at=AT, actor=c.actor(who)
            )
        elif call == "receive":
            controlled.receive(
                db,
                person,
                c.clinic_id,
                controlled.Delivery(c.product_id, c.safe_id, "L2", date(2030, 1, 1), 1, "A", "RA1", "I", AT),
                actor=c.actor(who),
            )
        elif call == "reconcile":
            controlled.reconcile(db, person, c.clinic_id, actor=c.actor(who))
        else:
            controlled.adjust(
                db, person, lot_id, D(-1), "x", c.witness("second_nurse"), at=AT, actor=c.actor(who)
            )
    assert c.ledger_rows() == before


def test_no_draw_from_an_expired_lot(clinic: Clinic) -> None:
    c = clinic
    lot_id = receive(c, expires=date(2030, 6, 30))
    later = datetime(2030, 7, 1, 9, tzinfo=UTC)
    before = c.ledger_rows()
    with Session(c.engine, expire_on_commit=False) as db, pytest.raises(InvalidInput, match="expired on"):
        controlled.draw_for_session(
            db, c.who(db, "nurse"), c.session_id, vials_of(c, lot_id)[0], at=later, actor=c.actor("nurse")
        )
    assert c.ledger_rows() == before


def test_two_nurses_wasting_one_remainder_waste_it_once(clinic: Clinic) -> None:
    c = clinic
    lot_id = receive(c)
    with Session(c.engine, expire_on_commit=False) as db:
        draw = controlled.draw_for_session(
            db, c.who(db, "nurse"), c.session_id, vials_of(c, lot_id)[0], at=AT, actor=c.actor("nurse")
        )
    outcomes: list[str] = []

    def waste(doer: str, witness: str) -> Callable[[], None]:
        def attempt() -> None:
            with Session(c.engine, expire_on_commit=False) as db:
                try:
                    controlled.waste_remainder(
                        db, c.who(db, doer), draw.id, c.witness(witness), at=AT, actor=c.actor(doer)
                    )
                    outcomes.append("wasted")
                except Conflict:
                    outcomes.append("refused")

        return attempt

    race(
        c.engine,
        select(m.StorageLocation).where(m.StorageLocation.id == c.safe_id).with_for_update(),
        waste("nurse", "second_nurse"),
        waste("second_nurse", "nurse"),
    )
    assert sorted(outcomes) == ["refused", "wasted"]
    bal = balance(c, lot_id).balance
    assert bal.wasted_mg == D(50)
    assert bal.balances()


def test_two_counts_at_once_both_stand_and_agree(clinic: Clinic) -> None:
    c = clinic
    lot_id = receive(c)

    def counting(doer: str, witness: str) -> Callable[[], None]:
        def attempt() -> None:
            with Session(c.engine, expire_on_commit=False) as db:
                controlled.count(
                    db, c.who(db, doer), lot_id, D(1000), c.witness(witness), at=AT, actor=c.actor(doer)
                )

        return attempt

    race(
        c.engine,
        select(m.StorageLocation).where(m.StorageLocation.id == c.safe_id).with_for_update(),
        counting("nurse", "second_nurse"),
        counting("second_nurse", "nurse"),
    )
    bal = balance(c, lot_id).balance
    assert bal.discrepancy_mg == 0
    assert bal.balances()


def run_cli(c: Clinic, *args: str) -> tuple[int, str]:
    url = c.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["controlled", *args, "--database-url", url])
    return result.exit_code, result.output


def test_the_reports_from_the_command_line(clinic: Clinic) -> None:
    c = clinic
    lot_id = receive(c, "CLI-1", vials=3)  # 3 x 500 mg
    with Session(c.engine, expire_on_commit=False) as db:
        draw = controlled.draw_for_session(
            db, c.who(db, "nurse"), c.session_id, vials_of(c, lot_id)[0], at=AT, actor=c.actor("nurse")
        )
    with Session(c.engine, expire_on_commit=False) as db:
        controlled.book_administered(db, c.who(db, "nurse"), c.session_id, at=AT, actor=c.actor("nurse"))
    with Session(c.engine, expire_on_commit=False) as db:
        controlled.waste_remainder(
            db, c.who(db, "nurse"), draw.id, c.witness("second_nurse"), at=AT, actor=c.actor("nurse")
        )
    code, out = run_cli(c, "reconcile", "--clinic", c.chart.clinic.code, "--json")
    assert code == 0, out
    (lot,) = [x for x in json.loads(out)["lots"] if x["lot"] == "CLI-1"]
    # 1500 received = 35 given (the pump) + 15 wasted (50 mg bag less 35) + 1450 on hand
    assert (lot["received_mg"], lot["administered_mg"], lot["wasted_mg"], lot["on_hand_mg"]) == (
        1500,
        35,
        15,
        1450,
    )
    assert lot["balances"] is True and lot["discrepancy_mg"] is None
    code, out = run_cli(c, "ledger", "--clinic", c.chart.clinic.code, "--csv")
    assert code == 0, out
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r["lot"] == "CLI-1"]
    assert [r["kind"] for r in rows] == ["receipt", "draw", "administered", "waste"]
    waste = rows[-1]
    assert waste["witness"] and waste["witness"] != waste["by"]
    assert float(waste["quantity_mg"]) == 15
    code, out = run_cli(c, "ledger", "--clinic", "nowhere", "--json")
    assert code == 2 and "no clinic with the code" in out
    code, out = run_cli(c, "ledger", "--clinic", c.chart.clinic.code)
    assert code == 2 and "--json or --csv" in out


def test_the_session_cannot_close_with_ketamine_unaccounted_for(clinic: Clinic) -> None:
    c = clinic
    lot_id = receive(c)
    later = AT + timedelta(hours=3)

    def criterion() -> tuple[bool, str]:
        with Session(c.engine, expire_on_commit=False) as db:
            view = discharge.readiness(db, c.who(db, "nurse"), c.session_id, later)
        (found,) = [x for x in view.criteria if x.key == "controlled"]
        return found.met, found.message

    assert criterion()[0] is True  # nothing drawn yet: nothing to account for
    with Session(c.engine, expire_on_commit=False) as db:
        draw = controlled.draw_for_session(
            db, c.who(db, "nurse"), c.session_id, vials_of(c, lot_id)[0], at=AT, actor=c.actor("nurse")
        )
    met, message = criterion()
    assert not met and message.startswith("50 mg of ketamine drawn up is neither given nor wasted")
    with Session(c.engine, expire_on_commit=False) as db:
        controlled.book_administered(db, c.who(db, "nurse"), c.session_id, at=AT, actor=c.actor("nurse"))
    met, message = criterion()
    assert not met and message.startswith("15 mg of ketamine")
    with Session(c.engine, expire_on_commit=False) as db:
        controlled.waste_remainder(
            db, c.who(db, "nurse"), draw.id, c.witness("second_nurse"), at=AT, actor=c.actor("nurse")
        )
    assert criterion() == (True, "Nothing drawn up is left unaccounted for.")
