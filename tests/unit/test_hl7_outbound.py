"""The clinic's outbound HL7 v2.5.1 messages (interop/hl7/outbound.py): valid by hl7apy's strict
validation, re-read independently by python-hl7, with the values given."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import hl7
import pytest

from ketaflow.interop.hl7.outbound import PatientIdentity, adt, ras
from tests.hl7_messages import validated

AT = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
PATIENT = PatientIdentity("T0000042", "Rivera", "Alex", date(1980, 5, 17), "female")


@pytest.mark.parametrize("event", ["A04", "A08", "A03"])
def test_adt_messages_are_valid_and_carry_the_patient(event: str) -> None:
    text = adt(
        event,
        PATIENT,
        at=AT,
        control_id=f"ADT-{event}",
        facility="aus",
        location="INF^^3",
        discharged_at=AT + timedelta(hours=2),
    )
    validated(text)
    msg = hl7.parse(text)
    assert str(msg.segment("MSH")(9)) == f"ADT^{event}^{'ADT_A03' if event == 'A03' else 'ADT_A01'}"
    assert str(msg.segment("MSH")(10)) == f"ADT-{event}"
    pid = msg.segment("PID")
    assert (str(pid(3)(1)(1)), str(pid(5)), str(pid(7)), str(pid(8))) == (
        "T0000042",
        "Rivera^Alex",
        "19800517",
        "F",
    )
    assert str(msg.segment("PV1")(2)) == "O"
    if event == "A03":
        assert str(msg.segment("PV1")(45)) == "20261125180000+0000"


def test_an_unknown_adt_event_is_refused() -> None:
    with pytest.raises(ValueError, match="A04, A08 and A03"):
        adt("A01", PATIENT, at=AT, control_id="x", facility="aus")


def test_ras_carries_what_the_pump_gave() -> None:
    text = ras(
        PATIENT,
        at=AT,
        control_id="RAS-1",
        facility="aus",
        order_id="ORD-9",
        started_at=AT - timedelta(minutes=40),
        ended_at=AT,
        given_mg=35.0,
    )
    validated(text)
    msg = hl7.parse(text)
    rxa = msg.segment("RXA")
    assert str(rxa(3)) == "20261125152000+0000" and str(rxa(4)) == "20261125160000+0000"
    assert (str(rxa(5)), str(rxa(6)), str(rxa(7))) == ("6130^ketamine^RXNORM", "35", "mg^milligram^UCUM")
    assert str(msg.segment("RXR")(1)) == "IV^Intravenous^HL70162"
    assert str(msg.segment("ORC")(2)) == "ORD-9"
