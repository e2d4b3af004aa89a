"""`ketaflow clinic hours ...` and `ketaflow clinic closures ...` as an administrator or director would
use them at a terminal (the role checks of the web app, one sentence and exit code 2 when refused)."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ketaflow.cli import app
from ketaflow.store import models as m

runner = CliRunner()


def run(engine: Engine, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--database-url", engine.url.render_as_string(hide_password=False)])
    return result.exit_code, result.output


def den_rows(engine: Engine) -> list[tuple[int, int, int]]:
    with Session(engine) as db:
        den = db.scalars(select(m.Clinic).where(m.Clinic.code == "den")).one()
        return sorted(
            db.execute(
                select(m.ClinicHours.weekday, m.ClinicHours.opens_min, m.ClinicHours.closes_min).where(
                    m.ClinicHours.clinic_id == den.id
                )
            ).tuples()
        )


def test_anyone_at_the_clinic_can_read_the_hours(demo_engine: Engine) -> None:
    code, out = run(demo_engine, "clinic", "hours", "show", "aus", "--as", "nurse1.aus@demo.ketaflow.org")
    assert code == 0, out
    assert "Blue Heron Austin (aus), local time America/Chicago" in out
    assert "Monday     08:00–18:30" in out and "Saturday   closed" in out
    assert "taken 365 days ahead" in out and "not clinical figures" in out
    code, out = run(
        demo_engine, "clinic", "hours", "show", "aus", "--as", "frontdesk1.aus@demo.ketaflow.org", "--json"
    )
    data = json.loads(out)
    assert code == 0 and data["week"]["friday"] == ["08:00-18:30"] and data["booking_horizon_days"] == 365


def test_the_director_changes_one_day_and_the_rest_stay(demo_engine: Engine) -> None:
    before = den_rows(demo_engine)
    who = ("--as", "director1.den@demo.ketaflow.org")
    code, out = run(demo_engine, "clinic", "hours", "set", "den", *who, "--saturday", "09:00-13:00", "--json")
    try:
        assert code == 0, out
        data = json.loads(out)
        assert data["week"]["saturday"] == ["09:00-13:00"] and data["week"]["monday"] == ["07:30-18:30"]
        assert den_rows(demo_engine) == sorted([*before, (5, 540, 780)])
        assert isinstance(data["bookings_outside"], list)
    finally:
        code, out = run(demo_engine, "clinic", "hours", "set", "den", *who, "--saturday", "closed")
    assert code == 0 and "Saturday   closed" in out
    assert den_rows(demo_engine) == before
    with Session(demo_engine) as db:
        audits = db.scalars(
            select(m.AuditEvent)
            .where(m.AuditEvent.action == "clinic.set_hours")
            .order_by(m.AuditEvent.occurred_at)
        ).all()
        mine = [a for a in audits if a.actor_label == "director1.den@demo.ketaflow.org"]
        assert mine
        # From the command line: the command and the OS user stand in for the user agent (issue 12).
        assert all(
            a.ip_address is None and (a.user_agent or "").startswith("cli:clinic hours set (os user ")
            for a in mine[-2:]
        )
        assert {a.agent_role for a in mine[-2:]} == {"director"}


def test_refusals_are_one_sentence_and_change_nothing(demo_engine: Engine) -> None:
    before = den_rows(demo_engine)
    cases = [
        (
            ("clinic", "hours", "set", "den", "--as", "nurse1.den@demo.ketaflow.org", "--monday", "closed"),
            "does not allow you to set the clinic's opening hours",
        ),
        (
            (
                "clinic",
                "hours",
                "set",
                "den",
                "--as",
                "director1.aus@demo.ketaflow.org",
                "--monday",
                "closed",
            ),
            "not a member",
        ),
        (
            ("clinic", "hours", "set", "den", "--as", "nobody@example.org", "--monday", "closed"),
            "No staff member has the address",
        ),
        (
            ("clinic", "hours", "set", "den", "--as", "director1.den@demo.ketaflow.org", "--monday", "9-5pm"),
            "HH:MM-HH:MM",
        ),
        (
            (
                "clinic",
                "hours",
                "set",
                "den",
                "--as",
                "director1.den@demo.ketaflow.org",
                "--horizon-days",
                "5000",
            ),
            "between 1 and 1095 days",
        ),
        (
            ("clinic", "hours", "set", "den", "--as", "director1.den@demo.ketaflow.org"),
            "Give the hours of at least one day",
        ),
        (
            (
                "clinic",
                "closures",
                "add",
                "den",
                "--as",
                "director1.den@demo.ketaflow.org",
                "--from",
                "2046-02-30",
                "--reason",
                "x",
            ),
            "YYYY-MM-DD",
        ),
        (
            ("clinic", "closures", "remove", "den", "not-an-id", "--as", "director1.den@demo.ketaflow.org"),
            "is not a closure id",
        ),
        (
            (
                "clinic",
                "closures",
                "remove",
                "den",
                str(uuid.uuid4()),
                "--as",
                "director1.den@demo.ketaflow.org",
            ),
            "no such closure",
        ),
    ]
    closures = _closures(demo_engine)
    for args, words in cases:
        code, out = run(demo_engine, *args)
        assert code == 2 and words in out and "Traceback" not in out, (args, out)
    assert den_rows(demo_engine) == before and _closures(demo_engine) == closures


def _closures(engine: Engine) -> int:
    with Session(engine) as db:
        return len(db.scalars(select(m.ClinicClosure.id)).all())


def test_the_admin_adds_lists_and_removes_a_closure(demo_engine: Engine) -> None:
    who = ("--as", "admin@demo.ketaflow.org")
    code, out = run(
        demo_engine,
        "clinic",
        "closures",
        "add",
        "den",
        *who,
        "--from",
        "2046-01-02",
        "--to",
        "2046-01-03",
        "--reason",
        "Boiler repair",
        "--json",
    )
    assert code == 0, out
    made = json.loads(out)
    assert (
        made["first_day"] == "2046-01-02"
        and made["last_day"] == "2046-01-03"
        and made["bookings_inside"] == []
    )
    code, out = run(demo_engine, "clinic", "closures", "list", "den", *who)
    assert code == 0 and f"{made['id']}  from Tue 02 Jan 2046 to Wed 03 Jan 2046: Boiler repair" in out
    code, out = run(demo_engine, "clinic", "closures", "remove", "den", made["id"], *who)
    assert code == 0 and "Removed the closure from Tue 02 Jan 2046 to Wed 03 Jan 2046 (Boiler repair)." in out
    with Session(demo_engine) as db:
        assert db.get(m.ClinicClosure, uuid.UUID(made["id"])) is None
