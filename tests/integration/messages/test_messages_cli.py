"""`ketaflow messages send` on a demo network, through a real SMTP server: the due reminders go out,
an outage loses nothing, and each message goes once (both engines)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from ketaflow.cli import app
from ketaflow.demo.build import build_network
from ketaflow.demo.settings import DemoSettings
from ketaflow.settings import get_settings
from ketaflow.store import models as m
from ketaflow.vocabulary import AppointmentStatus
from tests.integration.messages.conftest import PUBLIC_URL
from tests.integration.messages.smtp_server import SmtpServer

runner = CliRunner()
AS_OF = date(2026, 11, 25)


def send(engine: Engine, env: dict[str, str], at: datetime):  # type: ignore[no-untyped-def]
    get_settings.cache_clear()  # the settings are read once per process; these tests change them
    url = engine.url.render_as_string(hide_password=False)
    return runner.invoke(
        app, ["messages", "send", "--json", "--now", at.isoformat(), "--database-url", url], env=env
    )


def test_send_delivers_the_demo_networks_due_reminders_once(
    fresh_engine: Callable[[], Engine], smtp_down: SmtpServer
) -> None:
    engine = fresh_engine()
    build_network(engine, DemoSettings(clinics=1, patients=16, seed=5, as_of=AS_OF))
    with engine.connect() as conn:
        first = conn.scalar(
            select(m.Appointment.starts_at)
            .where(m.Appointment.status == AppointmentStatus.BOOKED)
            .order_by(m.Appointment.starts_at)
            .limit(1)
        )
    assert first is not None, "the demo network has no booked visit"
    now = first - timedelta(hours=20)  # the day before it, after the reminder's 10:00 local
    env = {
        "KETAFLOW_SMTP_URL": smtp_down.url,
        "KETAFLOW_PUBLIC_URL": PUBLIC_URL,
        "KETAFLOW_MAIL_FROM": "care@example.org",
    }

    down = send(engine, env, now)
    assert down.exit_code == 1, down.output  # some could not be sent yet
    waiting = json.loads(down.stdout)
    assert waiting["sent"] == 0 and waiting["planned"] >= 1 and waiting["retry_later"] == waiting["planned"]
    assert "Could not reach the mail server" in waiting["errors"][0]
    smtp_down.start()
    back = send(engine, env, now + timedelta(minutes=1))  # the first retry is due a minute later
    assert back.exit_code == 0, back.output
    result = json.loads(back.stdout)
    assert (result["sent"], result["retry_later"], result["planned"]) == (waiting["retry_later"], 0, 0)
    assert json.loads(send(engine, env, now + timedelta(minutes=2)).stdout)["sent"] == 0  # nothing twice
    received = smtp_down.inbox.messages
    assert len(received) == waiting["retry_later"]
    assert len({r.message["Message-ID"] for r in received}) == len(received)
    for r in received:
        subject = r.message["Subject"]
        assert re.fullmatch(
            r"Your visit at .+ tomorrow|A few questions from .+|Who is taking you home from .+\?", subject
        )
        body = r.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        links = re.findall(r"https?://\S+", body)
        assert links and all(link.startswith(PUBLIC_URL + "/p/") for link in links)
        html = r.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        hrefs = re.findall(r'href="([^"]+)"', html)
        assert sorted(hrefs) == sorted(links)  # the HTML links to the same one-time pages, nothing else
    with engine.connect() as conn:
        sends = conn.scalar(
            select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.action == "message.send")
        )
    assert sends == len(received)
    listed = runner.invoke(
        app,
        ["messages", "list", "--json", "--database-url", engine.url.render_as_string(hide_password=False)],
    )
    rows = json.loads(listed.stdout)
    assert {r["state"] for r in rows} == {"sent"}
    assert all("@" not in json.dumps(r) for r in rows)  # the admin's list shows no address


def test_send_without_a_mail_server_says_what_to_set(fresh_engine: Callable[[], Engine]) -> None:
    engine = fresh_engine()
    get_settings.cache_clear()
    result = runner.invoke(
        app,
        ["messages", "send", "--database-url", engine.url.render_as_string(hide_password=False)],
        env={"KETAFLOW_SMTP_URL": "", "KETAFLOW_PUBLIC_URL": PUBLIC_URL},
    )
    assert result.exit_code != 0
    assert "Set KETAFLOW_SMTP_URL" in result.output


def test_list_refuses_an_unknown_state_by_name(fresh_engine: Callable[[], Engine]) -> None:
    from ketaflow.store.migrate import upgrade

    engine = fresh_engine()
    upgrade(engine)
    url = engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["messages", "list", "--state", "lost", "--database-url", url])
    assert result.exit_code == 2 and "There is no outbox state 'lost'" in result.output
    empty = runner.invoke(app, ["messages", "list", "--database-url", url])
    assert empty.exit_code == 0 and "The outbox is empty." in empty.output
