"""The monitor feed (services/monitor_feed.py) on SQLite and PostgreSQL: real ORU^R01 text (built
by hl7apy) charted as vital signs from the monitor, or refused with its ACK code and reason and
kept as a dead letter; duplicates charted once; dead letters seen and replayed by an administrator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.errors import NotFound
from ketaflow.services import infusion
from ketaflow.services.board import chair_board
from ketaflow.services.monitor_feed import dead_letters, receive, replay
from ketaflow.services.monitors import register_monitor
from ketaflow.store import models as m
from ketaflow.vocabulary import VitalPhase, VitalSource
from tests.factories import make_patient
from tests.hl7_messages import Obs, obs, oru, ts
from tests.integration.hl7.conftest import START, T0, Chairside, seat_patient

NOW = START + timedelta(minutes=30)


def vitals_at(at: str, sys: object = 128, dia: object = 82, hr: object = 72, spo2: object = 98) -> list[Obs]:
    return [
        obs("systolic", sys, at),
        obs("diastolic", dia, at),
        obs("heart_rate", hr, at),
        obs("spo2", spo2, at),
        obs("respiratory_rate", 14, at),
    ]


def send(engine: Engine, text: str, now=NOW):  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as db:
        return receive(db, text, peer="127.0.0.1:5000", now=now)


def letters(engine: Engine, side: Chairside) -> list[m.Hl7DeadLetter]:
    with Session(engine) as db:
        return list(db.scalars(select(m.Hl7DeadLetter).where(m.Hl7DeadLetter.clinic_id == side.clinic_id)))


def test_a_reading_is_charted_from_the_monitor_at_its_observation_time(chairside: Chairside) -> None:
    baseline_at, infusion_at = T0 + timedelta(minutes=5), START + timedelta(minutes=10)
    text = oru(
        vitals_at(ts(baseline_at)) + vitals_at(ts(infusion_at), sys=150, dia=95), device=chairside.device
    )
    out = send(chairside.engine, text)
    assert (out.ack_code, out.charted, out.duplicate) == ("AA", 2, False)
    ack = out.ack(NOW)
    assert out.header is not None
    assert ack is not None and f"\rMSA|AA|{out.header.control_id}\r" in ack + "\r"
    first, second = chairside.vitals()
    assert [r.measured_at for r in (first, second)] == [baseline_at, infusion_at]
    assert [r.phase for r in (first, second)] == [VitalPhase.BASELINE, VitalPhase.INFUSION]
    assert {r.source for r in (first, second)} == {VitalSource.MONITOR}
    assert (second.systolic_mmhg, second.diastolic_mmhg, second.heart_rate_bpm, second.spo2_percent) == (
        150,
        95,
        72,
        98,
    )
    assert {r.monitor_id for r in (first, second)} == {chairside.monitor_id}
    assert {r.message_control_id for r in (first, second)} == {out.header.control_id}
    assert {r.recorded_by_id for r in (first, second)} == {None}


def test_a_monitor_reading_is_classified_as_the_same_reading_typed(hl7_engine: Engine) -> None:
    """Same values, one typed by the nurse and one from the monitor, each in its own infusion:
    the same alert level, alerts and actions (one charting path)."""
    typed, monitored = seat_patient(hl7_engine), seat_patient(hl7_engine)
    at = START + timedelta(minutes=5)
    # 182/112 and SpO2 89 during the infusion: alerts on blood pressure and oxygen
    with Session(hl7_engine, expire_on_commit=False) as db:
        by_hand = infusion.record_vitals(
            db,
            typed.who(db, typed.nurse_id),
            typed.session_id,
            bp="182/112",
            heart_rate=104,
            spo2=89,
            respiratory_rate=14,
            now=at,
            sedation=None,
        )
    out = send(hl7_engine, oru(vitals_at(ts(at), sys=182, dia=112, hr=104, spo2=89), device=monitored.device))
    assert out.ack_code == "AA", out.reason
    assert out.charted == 1, out
    with Session(hl7_engine) as db:
        rows = list(db.scalars(select(m.VitalSign).where(m.VitalSign.session_id == monitored.session_id)))
        (from_monitor,) = infusion.assess_vitals(rows)
    assert by_hand.level not in ("normal", "")
    assert out.levels == (by_hand.level,)
    assert from_monitor.level == by_hand.level
    assert from_monitor.alerts == by_hand.alerts
    assert from_monitor.actions == by_hand.actions


def test_the_board_shows_the_monitor_reading_with_its_level(chairside: Chairside) -> None:
    at = START + timedelta(minutes=12)
    assert send(chairside.engine, oru(vitals_at(ts(at), spo2=89), device=chairside.device)).ack_code == "AA"
    with Session(chairside.engine, expire_on_commit=False) as db:
        board = chair_board(
            db, chairside.who(db, chairside.nurse_id), chairside.clinic_code, at + timedelta(seconds=1)
        )
    (card,) = board.chairs
    assert card.now is not None and card.now.last_vitals is not None
    assert card.now.last_vitals.measured_at == at
    assert card.now.last_vitals.spo2 == 89
    assert card.now.last_vitals.level != "normal"


def test_the_same_message_sent_twice_is_charted_once(chairside: Chairside) -> None:
    text = oru(
        vitals_at(ts(START + timedelta(minutes=1))),
        device=chairside.device,
        control_id=f"DUP-{chairside.device}",
    )
    first, again = send(chairside.engine, text), send(chairside.engine, text)
    assert (first.ack_code, first.duplicate) == ("AA", False)
    assert (again.ack_code, again.duplicate, again.charted) == ("AA", True, 0)
    assert len(chairside.vitals()) == 1
    # the same control id from another sender is another message
    other = text.replace("|MONGW|", "|MONGW2|")
    assert send(chairside.engine, other).charted == 1


def test_the_location_identifies_the_monitor_when_no_device_id_is_sent(chairside: Chairside) -> None:
    text = oru(vitals_at(ts(START + timedelta(minutes=2))), version="2.3", location=chairside.location)
    assert send(chairside.engine, text).ack_code == "AA"
    assert len(chairside.vitals()) == 1


def test_a_time_without_offset_is_the_clinics_local_time(chairside: Chairside) -> None:
    local = (START + timedelta(minutes=3) - timedelta(hours=6)).strftime("%Y%m%d%H%M%S")  # Chicago, CST
    assert send(chairside.engine, oru(vitals_at(local), device=chairside.device)).ack_code == "AA"
    (row,) = chairside.vitals()
    assert row.measured_at == START + timedelta(minutes=3)


@pytest.mark.parametrize(
    ("change", "code", "where", "words"),
    [
        ({"hr": "---"}, "AE", "OBX^3^5", "not a number"),
        ({"hr": 400}, "AE", "OBX^3^5", "Heart rate must be between"),
        ({"sys": 80, "dia": 90}, "AE", "OBX^1^5", "diastolic must be lower"),
    ],
)
def test_values_that_cannot_be_charted_are_refused_and_kept(
    chairside: Chairside, change: dict[str, object], code: str, where: str, words: str
) -> None:
    observations = vitals_at(ts(START + timedelta(minutes=4)), **change)  # type: ignore[arg-type]
    if change.get("hr") == "---":
        observations[2] = Obs(
            observations[2].code, observations[2].unit, "---", observations[2].at, value_type="ST"
        )
    out = send(chairside.engine, oru(observations, device=chairside.device))
    assert (out.ack_code, out.where) == (code, where)
    assert words in out.reason
    ack = out.ack(NOW)
    assert out.header is not None
    assert ack is not None and f"MSA|{code}|{out.header.control_id}|" in ack and "\rERR|" in ack
    assert chairside.vitals() == []  # nothing of it charted
    (letter,) = letters(chairside.engine, chairside)
    assert (letter.ack_code, letter.reason, letter.attempts) == (code, out.reason, 1)


def test_no_infusion_in_the_chair_wrong_patient_and_future_times_are_refused(chairside: Chairside) -> None:
    before_seating = oru(vitals_at(ts(T0 - timedelta(minutes=5))), device=chairside.device, control_id=None)
    out = send(chairside.engine, before_seating)
    assert out.ack_code == "AE" and "No infusion is open in Chair 3" in out.reason
    unknown = oru(vitals_at(ts(START)), device=chairside.device, mrn="NOBODY1", control_id=None)
    out = send(chairside.engine, unknown)
    assert out.ack_code == "AE" and "whom ketaflow does not know" in out.reason and out.where == "PID^1^3"
    with Session(chairside.engine) as db:  # another patient of the same clinic, not in this chair
        clinic = db.get(m.Clinic, chairside.clinic_id)
        assert clinic is not None
        other_mrn = make_patient(db, clinic).mrn
        db.commit()
    wrong = oru(vitals_at(ts(START)), device=chairside.device, mrn=other_mrn)
    out = send(chairside.engine, wrong)
    assert out.ack_code == "AE" and "another patient is in Chair 3" in out.reason
    future = oru(vitals_at(ts(NOW + timedelta(minutes=10))), device=chairside.device, control_id=None)
    out = send(chairside.engine, future)
    assert out.ack_code == "AE" and "in the future" in out.reason
    right = oru(vitals_at(ts(START)), device=chairside.device, mrn=chairside.mrn, control_id=None)
    assert send(chairside.engine, right).ack_code == "AA"
    assert len(letters(chairside.engine, chairside)) == 4


def test_a_message_resent_after_a_refusal_is_one_dead_letter_with_more_attempts(chairside: Chairside) -> None:
    text = oru(vitals_at(ts(T0 - timedelta(minutes=5))), device=chairside.device)
    send(chairside.engine, text)
    send(chairside.engine, text)
    (letter,) = letters(chairside.engine, chairside)
    assert letter.attempts == 2


def test_an_unknown_monitor_is_rejected_then_registered_and_replayed(hl7_engine: Engine) -> None:
    side = seat_patient(hl7_engine, with_monitor=False)
    device = f"NEW{side.device}"
    text = oru(vitals_at(ts(START + timedelta(minutes=6))), device=device, control_id=f"LOST-{side.device}")
    out = send(hl7_engine, text)
    assert (out.ack_code, out.where) == ("AR", "OBX^1^18")
    assert f"No monitor is registered with device id {device}" in out.reason
    assert out.dead_letter_id is not None
    with Session(hl7_engine, expire_on_commit=False) as db:
        admin = side.who(db)
        seen = dead_letters(db, admin)
        assert out.dead_letter_id in {d.id for d in seen}
        with pytest.raises(NotFound):  # a nurse does not see them
            dead_letters(db, side.who(db, side.nurse_id))
        register_monitor(
            db,
            admin,
            side.clinic_code,
            side.chair_label,
            label="Chair 3 monitor",
            device_id=device,
            location=None,
            now=NOW,
        )
        replayed = replay(db, admin, out.dead_letter_id, now=NOW + timedelta(minutes=1))
    assert (replayed.ack_code, replayed.charted) == ("AA", 1)
    (row,) = side.vitals()
    assert row.measured_at == START + timedelta(minutes=6)
    with Session(hl7_engine) as db:
        letter = db.get(m.Hl7DeadLetter, out.dead_letter_id)
        assert letter is not None and letter.resolved_at is not None
        assert letter.resolution == "charted on replay (1 readings)"
        # and the monitor sending it again now is a duplicate, not a second chart
        assert (
            db.scalar(
                select(func.count())
                .select_from(m.Hl7Receipt)
                .where(m.Hl7Receipt.control_id == f"LOST-{side.device}")
            )
            == 1
        )
    assert send(hl7_engine, text).duplicate


def test_text_that_is_not_hl7_gets_no_ack_and_no_letter(chairside: Chairside) -> None:
    out = send(chairside.engine, "GET / HTTP/1.1")
    assert out.ack_code == "AR" and out.header is None and out.ack(NOW) is None
    assert letters(chairside.engine, chairside) == []


def test_each_reading_is_assessed_as_the_whole_infusion_assesses_it(chairside: Chairside) -> None:
    """Charted one message at a time (each assessed from the baseline and the confirmation window
    only), then the whole infusion assessed at once: the same level for every reading. Blood
    pressure at the pause level comes and goes, so confirmations inside and outside the window occur."""
    levels = []
    for minute in range(1, 41):
        high = minute % 7 in (0, 1, 3)
        at = ts(START + timedelta(minutes=minute))
        text = oru(vitals_at(at, sys=186 if high else 132, dia=112 if high else 84), device=chairside.device)
        out = send(chairside.engine, text, now=START + timedelta(hours=1))
        assert out.ack_code == "AA", out.reason
        levels += out.levels
    with Session(chairside.engine) as db:
        rows = list(
            db.scalars(
                infusion.charted_vitals()
                .where(m.VitalSign.session_id == chairside.session_id)
                .order_by(m.VitalSign.measured_at)
            )
        )
        whole = [r.level for r in infusion.assess_vitals(rows)]
    assert levels == whole
    assert len(set(whole)) >= 2  # the series does reach different levels
