"""Group commit in the monitor feed (`monitor_feed.receive_batch`, what the MLLP listener runs):
several messages charted in one transaction give each the outcome it would get alone; the
infusion contexts kept between batches are dropped when someone else charts at the clinic; the
hash chains verify afterwards. And "on the board": a message sent by a real MLLP client over
loopback is on the chair board's API, the board page and the infusion page with its alert level
once its ACK is back. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.security import hash_password
from ketaflow.services import infusion
from ketaflow.services.board import chair_board
from ketaflow.services.monitor_context import ContextCache
from ketaflow.services.monitor_feed import Outcome, receive_batch
from ketaflow.store import models as m
from ketaflow.store.verify import verify
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.hl7_messages import obs, oru, ts
from tests.integration.hl7.conftest import START, Chairside, seat_patient
from tests.integration.hl7.test_mllp_listener import Client, msa, run_with_listener
from tests.integration.web.sign_in_support import post_login

NOW = START + timedelta(minutes=30)
LATER = START + timedelta(hours=1)
PASSWORD = "a long test passphrase 4 hl7 board"


def reading(side: Chairside, minute: int, *, high: bool = False, hr: object = 72, device: str = "") -> str:
    at = ts(START + timedelta(minutes=minute))
    sys, dia = (186, 112) if high else (132, 84)
    return oru(
        [obs("systolic", sys, at), obs("diastolic", dia, at), obs("heart_rate", hr, at), obs("spo2", 97, at)],
        device=device or side.device,
        control_id=f"M{minute}-{hr}-{device or side.device}",
    )


def batch(engine: Engine, texts: list[str], cache: ContextCache, now=LATER) -> list[Outcome]:  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as db:
        return receive_batch(db, [(t, "127.0.0.1:5001") for t in texts], now=now, cache=cache)


def whole_infusion_levels(side: Chairside) -> list[str]:
    """The independent reference: the whole infusion's readings assessed at once (the infusion page)."""
    with Session(side.engine) as db:
        rows = list(
            db.scalars(
                infusion.charted_vitals()
                .where(m.VitalSign.session_id == side.session_id)
                .order_by(m.VitalSign.measured_at)
            )
        )
        return [r.level for r in infusion.assess_vitals(rows)]


def test_a_batch_gives_each_message_the_outcome_it_would_get_alone(hl7_engine: Engine) -> None:
    side, other = seat_patient(hl7_engine), seat_patient(hl7_engine)
    texts = [reading(side, minute, high=minute % 7 in (0, 1, 3)) for minute in range(1, 41)]
    # a bad value, an unknown monitor, a message sent twice in one batch, and readings of another chair
    texts.insert(5, reading(side, 5, hr="abc"))
    texts.insert(9, reading(side, 9, device="NOBODY-AT-ALL"))
    texts.insert(12, texts[11])
    texts[20:20] = [reading(other, minute) for minute in (2, 3)]
    cache = ContextCache()
    outcomes = [o for i in range(0, len(texts), 7) for o in batch(hl7_engine, texts[i : i + 7], cache)]

    codes = [(o.ack_code, o.duplicate) for o in outcomes]
    assert codes[5] == ("AE", False) and "not a number" in outcomes[5].reason
    assert codes[9] == ("AR", False) and "No monitor is registered" in outcomes[9].reason
    assert codes[12] == ("AA", True) and outcomes[12].charted == 0
    assert sum(1 for o in outcomes if o.ack_code == "AA" and not o.duplicate) == 42
    # every ACK carries its message's control id
    for text, outcome in zip(texts, outcomes, strict=True):
        assert outcome.header is not None and f"|{outcome.header.control_id}|" in text
    # each reading's level as the whole infusion assesses it, read back from the database
    mine = [lvl for o in outcomes if o.clinics == frozenset({side.clinic_id}) for lvl in o.levels]
    assert mine == whole_infusion_levels(side)
    assert len(set(mine)) >= 2
    # SQLite: one context read per infusion (nobody else charted at these clinics meanwhile);
    # PostgreSQL: read afresh in every batch (writers run concurrently, see monitor_context)
    assert cache.reloads == (2 if hl7_engine.dialect.name == "sqlite" else 9)
    with Session(hl7_engine) as db:
        assert (
            db.scalar(
                select(m.Hl7DeadLetter.ack_code).where(m.Hl7DeadLetter.control_id == f"M5-abc-{side.device}")
            )
            == "AE"
        )
        audited = db.scalars(
            select(m.AuditEvent).where(
                m.AuditEvent.action == "vitals.create", m.AuditEvent.entity_id == side.session_id
            )
        ).all()
    assert len(audited) == 40 and {a.actor_label for a in audited} == {"monitor:Chair 3 monitor"}
    assert verify(hl7_engine, None).intact


def test_someone_elses_charting_between_batches_is_seen_by_the_next(chairside: Chairside) -> None:
    """A nurse types a reading at the pause level between two of the monitor's batches: the next
    monitor reading at that level is assessed with it (a confirmed pause), as the whole infusion
    assesses it; the context kept from the first batch was dropped, not used stale."""
    cache = ContextCache()
    kept = chairside.engine.dialect.name == "sqlite"  # PostgreSQL: contexts read in every batch
    (first,) = batch(chairside.engine, [reading(chairside, 5)], cache)
    assert cache.reloads == 1
    with Session(chairside.engine, expire_on_commit=False) as db:
        typed = infusion.record_vitals(
            db,
            chairside.who(db, chairside.nurse_id),
            chairside.session_id,
            bp="186/112",
            heart_rate=72,
            spo2=97,
            respiratory_rate=14,
            now=START + timedelta(minutes=6),
        )
    (second,) = batch(chairside.engine, [reading(chairside, 7, high=True)], cache)
    assert cache.reloads == 2
    whole = whole_infusion_levels(chairside)
    assert first.levels == (whole[0],) and whole[1] == typed.level and second.levels == (whole[2],)
    assert whole[2] != whole[1]  # confirmed by the typed reading: a pause, not only a recheck
    # and a batch with nobody else charting in between keeps the context (SQLite)
    batch(chairside.engine, [reading(chairside, 8)], cache)
    assert cache.reloads == (2 if kept else 3)
    assert verify(chairside.engine, None).intact


def test_a_monitor_message_is_on_the_board_and_the_infusion_page_once_acknowledged(
    chairside: Chairside,
) -> None:
    at = START + timedelta(minutes=12)
    text = oru(
        [obs("systolic", 128, ts(at)), obs("diastolic", 80, ts(at)), obs("spo2", 88, ts(at))],
        device=chairside.device,
        control_id=f"BOARD-{chairside.device}",
    )

    async def scenario(_listener: object, connect: Callable[[], Awaitable[Client]]) -> None:
        client = await connect()
        await client.send(text)
        assert msa(await client.ack()) == ("AA", f"BOARD-{chairside.device}")
        await client.close()

    run_with_listener(chairside.engine, scenario)  # type: ignore[arg-type]
    with Session(chairside.engine) as db:
        nurse = db.get(m.StaffUser, chairside.nurse_id)
        assert nurse is not None
        nurse.password_hash = hash_password(PASSWORD)
        email = nurse.email
        db.commit()
    app = create_app(chairside.engine)
    app.dependency_overrides[clock] = lambda: NOW
    expected = whole_infusion_levels(chairside)[-1]
    assert expected != "normal"  # SpO2 88 during the infusion
    with TestClient(app) as client:
        assert post_login(client, email, PASSWORD).status_code == 303
        data = client.get(f"/api/clinics/{chairside.clinic_code}/board").json()
        (chair,) = [c for c in data["chairs"] if c["chair"] == chairside.chair_label]
        last = chair["now"]["last_vitals"]
        assert (last["spo2"], last["source"], last["level"]) == (88, "monitor", expected)
        board = client.get(f"/clinics/{chairside.clinic_code}/board")
        assert board.status_code == 200 and f"level-{expected}" in board.text
        page = client.get(f"/sessions/{chairside.session_id}")
        assert page.status_code == 200
        (row,) = re.findall(
            r'<tr class="level-row-(\w+)" data-vital="[^"]+"><td>[^<]*<small class="source">monitor',
            page.text,
        )
        assert row == expected


def test_the_board_assesses_the_latest_reading_as_the_whole_infusion_does(chairside: Chairside) -> None:
    """The board reads only the first reading and the confirmation window before the latest: the
    same latest reading, with the same level and alerts, as all the infusion's readings assessed."""
    cache = ContextCache()
    for minute in range(1, 41):
        batch(chairside.engine, [reading(chairside, minute, high=minute % 7 in (0, 1, 3, 5, 6))], cache)
        if minute % 5:
            continue
        with Session(chairside.engine, expire_on_commit=False) as db:
            board = chair_board(db, chairside.who(db, chairside.nurse_id), chairside.clinic_code, LATER)
            rows = list(
                db.scalars(
                    infusion.charted_vitals()
                    .where(m.VitalSign.session_id == chairside.session_id)
                    .order_by(m.VitalSign.measured_at)
                )
            )
        whole = infusion.assess_vitals(rows)[-1]
        (card,) = board.chairs
        assert card.now is not None and card.now.last_vitals is not None
        shown = card.now.last_vitals
        assert (shown.id, shown.level, shown.alerts, shown.actions) == (
            whole.id,
            whole.level,
            whole.alerts,
            whole.actions,
        )
