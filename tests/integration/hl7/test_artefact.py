"""A nurse marks a monitor's reading as artefact (services/infusion.mark_artefact): an amendment with
the reason, the reading kept as sent, and no longer counted by the infusion page, the board or the
alerts. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaflow.errors import Conflict, Forbidden, InvalidInput
from ketaflow.services import infusion
from ketaflow.services.board import chair_board
from ketaflow.services.corrections import history
from ketaflow.services.monitor_feed import receive
from ketaflow.store import models as m
from tests.hl7_messages import obs, oru, ts
from tests.integration.hl7.conftest import START, Chairside

NOW = START + timedelta(minutes=30)


def chart(side: Chairside, minutes: int, spo2: int, hr: int) -> None:
    at = ts(START + timedelta(minutes=minutes))
    text = oru(
        [
            obs("systolic", 128, at),
            obs("diastolic", 80, at),
            obs("heart_rate", hr, at),
            obs("spo2", spo2, at),
        ],
        device=side.device,
    )
    with Session(side.engine) as db:
        assert receive(db, text, peer="t", now=NOW).ack_code == "AA"


def test_an_artefact_is_kept_but_no_longer_counts(chairside: Chairside) -> None:
    chart(chairside, 5, spo2=97, hr=74)
    chart(chairside, 10, spo2=78, hr=131)  # the probe slipped
    probe_off = chairside.vitals()[-1]
    with Session(chairside.engine, expire_on_commit=False) as db:
        nurse = chairside.who(db, chairside.nurse_id)
        before = chair_board(db, nurse, chairside.clinic_code, NOW).chairs[0].now
        assert before is not None and before.last_vitals is not None and before.last_vitals.spo2 == 78
        with pytest.raises(InvalidInput, match="reason"):
            infusion.mark_artefact(db, nurse, chairside.session_id, probe_off.id, reason=" ", now=NOW)
        db.rollback()
        infusion.mark_artefact(
            db, nurse, chairside.session_id, probe_off.id, reason="probe off the finger", now=NOW
        )
        with pytest.raises(Conflict):  # marked already: the current version is the amendment
            infusion.mark_artefact(db, nurse, chairside.session_id, probe_off.id, reason="again", now=NOW)
        db.rollback()
        after = chair_board(db, nurse, chairside.clinic_code, NOW).chairs[0].now
        assert after is not None and after.last_vitals is not None and after.last_vitals.spo2 == 97
        view = infusion.session_view(db, nurse, chairside.session_id, NOW)
        assert [v.spo2 for v in view.vitals] == [97]
        rows = list(db.scalars(select(m.VitalSign).where(m.VitalSign.session_id == chairside.session_id)))
        changes = history(db, chairside.patient_id, ZoneInfo("America/Chicago"))
    # nothing deleted: the reading as sent, and its amendment with the reason
    assert len(rows) == 3
    marked = next(r for r in rows if r.amends_id == probe_off.id)
    assert (marked.artefact, marked.amendment_reason, marked.spo2_percent) == (
        True,
        "probe off the finger",
        78,
    )
    assert any("probe off the finger" in str(c) for c in changes)


def test_only_monitor_readings_by_clinical_staff(chairside: Chairside) -> None:
    chart(chairside, 6, spo2=80, hr=120)
    reading = chairside.vitals()[-1]
    with Session(chairside.engine, expire_on_commit=False) as db:
        with pytest.raises(Forbidden):  # the administrator does not chart vital signs
            infusion.mark_artefact(
                db, chairside.who(db), chairside.session_id, reading.id, reason="x", now=NOW
            )
        db.rollback()
        nurse = chairside.who(db, chairside.nurse_id)
        typed = infusion.record_vitals(
            db, nurse, chairside.session_id, bp="120/80", heart_rate=70, spo2=98, respiratory_rate=14, now=NOW
        )
        with pytest.raises(InvalidInput, match="correct a typed reading"):
            infusion.mark_artefact(db, nurse, chairside.session_id, typed.id, reason="x", now=NOW)
