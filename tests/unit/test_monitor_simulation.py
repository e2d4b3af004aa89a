"""The simulator's messages (interop/hl7/build.py) are valid ORU^R01 (hl7apy, strict) that ketaflow
reads back to the same values; its signals (demo/monitor_signals.py) follow the infusion's course."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from statistics import mean

import pytest

from ketaflow.demo.monitor_signals import ARTEFACT_RATE, ChairSignal, PumpSpan
from ketaflow.interop.hl7.build import build_oru, hl7_time
from ketaflow.interop.hl7.oru import read_oru
from tests.hl7_messages import validated

AT = datetime(2026, 11, 25, 16, 5, 30, tzinfo=UTC)


def test_a_built_message_is_valid_and_reads_back() -> None:
    values = {
        "systolic": 131.0,
        "diastolic": 84.0,
        "heart_rate": 77.0,
        "spo2": 97.0,
        "respiratory_rate": 15.0,
    }
    text = build_oru(
        values, observed_at=AT, control_id="SIM-1", device_id="EUI1", location="INF^^3^N", mrn="T1"
    )
    validated(text)
    msg = read_oru(text)
    (reading,) = msg.readings
    assert reading.values == values
    assert msg.device_ids == ("EUI1",) and msg.location == "INF^^3^N" and msg.patient_ids == ("T1",)
    assert msg.header.control_id == "SIM-1"
    with pytest.raises(ValueError):
        hl7_time(AT.replace(tzinfo=None))


def test_blood_pressure_rises_during_the_infusion_and_fades_after() -> None:
    """Averaged over 200 seeded patients (tolerance: the demo model's rise is +16/+11 mmHg on
    average at the end of 40 minutes, Yale 2024; the mean of 200 draws is within 3 mmHg of it)."""
    start = AT
    pump = PumpSpan(start, 40.0, start + timedelta(minutes=40))
    before, peak, after = [], [], []
    for i in range(200):
        s = ChairSignal(f"p{i}", seed=7)
        before.append(s.bp.systolic + s.bp.systolic_rise * s.shape(pump, start - timedelta(minutes=5)))
        peak.append(s.bp.systolic_rise * s.shape(pump, start + timedelta(minutes=40)))
        after.append(s.shape(pump, start + timedelta(minutes=100)))
    assert mean(peak) == pytest.approx(ChairSignal("x").settings.systolic_rise_mean, abs=3)
    assert max(after) < 0.02  # 60 minutes after the stop: e^-4 of the rise left


def test_signals_are_seeded_and_artefacts_are_rare() -> None:
    pump = PumpSpan(AT, 40.0)
    a, b = ChairSignal("same", seed=3), ChairSignal("same", seed=3)
    times = [AT + timedelta(seconds=30 * i) for i in range(2000)]
    ra = [a.reading(pump, t) for t in times]
    assert ra == [b.reading(pump, t) for t in times]
    rate = sum(artefact for _, artefact in ra) / len(ra)
    # binomial(2000, 0.03): SD 0.0038; 4 SD either side
    assert abs(rate - ARTEFACT_RATE) < 4 * 0.0038
    for values, artefact in ra:
        assert values["diastolic"] < values["systolic"]
        assert (values["spo2"] <= 86) == artefact or values["spo2"] > 86
