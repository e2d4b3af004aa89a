"""A monitor's ORU^R01 read into readings (interop/hl7/oru.py), against message text built and
validated by hl7apy in every version ketaflow takes; ACKs checked by hl7apy too."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ketaflow.interop.hl7.ack import build_ack, escape
from ketaflow.interop.hl7.codes import code_table
from ketaflow.interop.hl7.oru import HL7Time, Refusal, parse_time, read_header, read_oru
from tests.hl7_messages import LOINC, VERSIONS, Obs, obs, oru, validated

AT = "20261125101455+0000"


def full_set(at: str = AT, codes: dict[str, tuple[str, str]] | None = None) -> list[Obs]:
    from tests.hl7_messages import MDC

    c = codes or MDC
    return [
        obs("systolic", 128, at, codes=c),
        obs("diastolic", 82, at, codes=c),
        obs("heart_rate", 72, at, codes=c),
        obs("spo2", 98, at, codes=c),
        obs("respiratory_rate", 14, at, codes=c),
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_version_reads_the_same_readings(version: str) -> None:
    text = oru(
        full_set(),
        version=version,
        device="0123456789ABCDEF",
        mrn="T0000001",
        location="INF^^3",
        control_id="MSG00001",
    )
    msg = read_oru(text)
    assert msg.header.control_id == "MSG00001"
    assert msg.header.version == version
    assert msg.header.sender == "MONGW|CLINIC"
    assert msg.patient_ids == ("T0000001",)
    assert msg.location == "INF^^3"
    # OBX-18 only from v2.4
    assert msg.device_ids == (() if version == "2.3" else ("0123456789ABCDEF",))
    (reading,) = msg.readings
    assert reading.values == {
        "systolic": 128.0,
        "diastolic": 82.0,
        "heart_rate": 72.0,
        "spo2": 98.0,
        "respiratory_rate": 14.0,
    }
    assert reading.observed_at == HL7Time(datetime(2026, 11, 25, 10, 14, 55), 0)


def test_loinc_and_ucum_read_as_mdc_does() -> None:
    by_loinc = read_oru(oru(full_set(codes=LOINC)))
    by_mdc = read_oru(oru(full_set()))
    assert by_loinc.readings[0].values == by_mdc.readings[0].values


def test_uncharted_observations_are_skipped_and_times_group_sets() -> None:
    later = "20261125102000+0000"
    text = oru(
        [
            obs("systolic", 150, AT),
            obs("diastolic", 95, AT),
            obs("mean", 113, AT),  # MAP: not charted
            obs("temperature", "36.8", AT),  # not charted
            obs("spo2", 97, later),
            obs("pulse_rate", 88, later),
        ]
    )
    first, second = read_oru(text).readings
    assert first.values == {"systolic": 150, "diastolic": 95}
    assert second.values == {"spo2": 97, "heart_rate": 88}
    assert second.observed_at.wall == datetime(2026, 11, 25, 10, 20)


def test_ecg_heart_rate_wins_over_the_oximeter_pulse_at_the_same_moment() -> None:
    for order in (
        [obs("pulse_rate", 90, AT), obs("heart_rate", 72, AT)],
        [obs("heart_rate", 72, AT), obs("pulse_rate", 90, AT)],
    ):
        (reading,) = read_oru(oru(order)).readings
        assert reading.values == {"heart_rate": 72}


def test_kpa_is_converted_to_mmhg() -> None:
    # 1 mmHg = 133.322 Pa (BIPM SI Brochure 2019): 16 kPa = 120.01 mmHg, 10.7 kPa = 80.26 mmHg
    text = oru(
        [Obs("8480-6^SBP^LN", "kPa^kPa^UCUM", "16", AT), Obs("8462-4^DBP^LN", "kPa^kPa^UCUM", "10.7", AT)]
    )
    values = read_oru(text).readings[0].values
    assert values["systolic"] == pytest.approx(16000 / 133.322, abs=0.01)
    assert values["diastolic"] == pytest.approx(10700 / 133.322, abs=0.01)


def test_statuses_without_a_value_are_not_charted() -> None:
    text = oru(
        [
            obs("spo2", 97, AT),
            obs("heart_rate", "", AT, status="X"),
            obs("respiratory_rate", 12, AT, status="W"),
        ]
    )
    assert read_oru(text).readings[0].values == {"spo2": 97}


def test_time_falls_back_to_msh7_and_keeps_no_offset_as_local() -> None:
    text = oru([obs("spo2", 97)], sent_at="20261125091500")
    (reading,) = read_oru(text).readings
    assert reading.observed_at == HL7Time(datetime(2026, 11, 25, 9, 15), None)
    # local to the clinic: 09:15 in Chicago (CST, UTC-6) is 15:15 UTC
    assert reading.observed_at.to_utc(ZoneInfo("America/Chicago")) == datetime(
        2026, 11, 25, 15, 15, tzinfo=UTC
    )


def test_parse_time_with_offsets_and_fractions() -> None:
    t = parse_time("20261125101455.25-0500")
    assert t is not None
    assert t.to_utc(ZoneInfo("UTC")) == datetime(2026, 11, 25, 15, 14, 55, 250000, tzinfo=UTC)
    assert parse_time("") is None
    with pytest.raises(ValueError):
        parse_time("yesterday")


@pytest.mark.parametrize(
    ("observations", "where", "words"),
    [
        ([obs("heart_rate", "---", AT, value_type="ST")], "OBX^1^5", "not a number"),
        ([obs("heart_rate", "NaN", AT)], "OBX^1^5", "not a number"),
        ([obs("heart_rate", ">^200", AT, value_type="SN")], "OBX^1^5", "not an exact number"),
        ([obs("systolic", 128, AT), obs("spo2", 97, AT)], "OBX^1^5", "without its diastolic"),
        ([Obs("8867-4^HR^LN", "mL^mL^UCUM", "72", AT)], "OBX^1^6", "unit ketaflow does not know"),
        ([obs("temperature", "36.8", AT)], "OBX", "no observation ketaflow charts"),
    ],
)
def test_content_that_cannot_be_charted_is_an_ae_with_where(
    observations: list[Obs], where: str, words: str
) -> None:
    with pytest.raises(Refusal) as caught:
        read_oru(oru(observations))
    assert caught.value.ack_code == "AE"
    assert caught.value.where == where
    assert words in caught.value.reason


def test_a_bad_observation_time_is_an_ae() -> None:
    # hl7apy refuses to build a bad TS, as it should; a monitor that sends one still gets an answer
    text = oru([obs("spo2", 97, AT)]).replace(AT, "25/11/2026")
    with pytest.raises(Refusal) as caught:
        read_oru(text)
    assert (caught.value.ack_code, caught.value.where) == ("AE", "OBX^1^14")
    assert "not an HL7 date" in caught.value.reason


def test_the_wrong_message_type_version_or_no_control_id_is_rejected() -> None:
    good = oru(full_set(), control_id="MSG00001")
    cases = {
        good.replace("ORU^R01^ORU_R01", "ADT^A01^ADT_A01"): "ORU^R01",
        good.replace("ORU^R01^ORU_R01", "ORU^R30^ORU_R30"): "not ORU^R30",
        good.replace("|2.5.1", "|2.8", 1): "version 2.8 is not supported",
        good.replace("|MSG00001|", "||"): "no control id",
        "this is not HL7 at all": "does not begin with an MSH",
    }
    for text, words in cases.items():
        with pytest.raises(Refusal) as caught:
            read_oru(text)
        assert caught.value.ack_code == "AR", text
        assert words in caught.value.reason


def test_lf_separated_text_is_read_as_cr() -> None:
    text = oru(full_set()).replace("\r", "\n")
    assert read_oru(text).readings[0].values["systolic"] == 128


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("code", ["AA", "AE", "AR"])
def test_acks_are_valid_hl7_with_the_control_id_and_reason(version: str, code: str) -> None:
    header = read_header(oru(full_set(), version=version, control_id="CTRL42"))
    reason = (
        "" if code == "AA" else "Heart rate was sent as '---', which is not a number; it cannot be charted."
    )
    ack = build_ack(
        header,
        code,
        at=datetime(2026, 11, 25, 10, 15, tzinfo=UTC),
        reason=reason,
        where="OBX^1^5",
        error_code="102",
    )
    msg = validated(ack, "ACK" if version == "2.3" else None)
    segments = ack.split("\r")
    msa = segments[1].split("|")
    assert msa[:3] == ["MSA", code, "CTRL42"]
    assert str(msg.msh.msh_12.value) == version  # type: ignore[attr-defined]
    if code == "AA":
        assert len(segments) == 2
        return
    assert msa[3] == escape(reason[:80])
    err = segments[2]
    assert "102" in err
    if version >= "2.5":
        assert err.split("|")[8] == escape(reason)  # ERR-8, the user message
        assert err.split("|")[2] == "OBX^1^5"


def test_escaping_keeps_delimiters_out_of_fields() -> None:
    assert escape("a|b^c&d~e\\f") == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"


def test_every_code_in_the_table_maps_to_a_vital_sign_column_with_a_known_unit() -> None:
    from ketaflow.store.models import VitalSign  # the table names columns the chart has

    table = code_table()
    for match in table.by_code.values():
        assert match.parameter.column in VitalSign.__table__.c
        assert match.parameter.unit in table.units


def test_the_plain_split_reads_what_python_hl7s_tree_reads() -> None:
    """read_oru splits segments itself (no python-hl7 tree, for speed): the same identifiers,
    location and values as python-hl7 (an independent parser) reads from the same text, with
    repetitions, components, escapes and other separators than the usual ones."""
    import hl7 as python_hl7

    from tests.hl7_messages import ts

    at = ts(datetime(2026, 11, 25, 16, 5, tzinfo=UTC))
    base = oru(
        [obs("systolic", 131, at), obs("diastolic", 83, at), obs("heart_rate", 71, at)],
        device="EUI0011223344",
        mrn="K0100042",
        location="INF^^3^NORTH",
    )
    # a second PID-3 repetition, a second OBX-18 repetition, an escaped '&' in PV1-3's facility
    text = base.replace("K0100042^^^KETAFLOW^MR", "K0100042^^^KETAFLOW^MR~X77^^^OTHER^PI")
    text = text.replace("INF^^3^NORTH", "INF^^3^NORTH\\T\\SOUTH")
    text = text.replace("^EUI-64", "^EUI-64~GW7^^GW7^EUI-64")
    for fs, enc in (("|", "^~\\&"), ("#", "$*\\@")):  # the same message with other separators
        sent = text
        if fs != "|":
            table = str.maketrans({"|": fs, "^": enc[0], "~": enc[1], "&": enc[3]})
            sent = text.translate(table).replace(f"MSH{fs}{enc[0]}{enc[1]}\\{enc[3]}", f"MSH{fs}{enc}")
        mine = read_oru(sent)
        tree = python_hl7.parse(sent.replace("\n", "\r"))
        pid, pv1 = tree.segment("PID"), tree.segment("PV1")
        assert mine.patient_ids == tuple(str(rep[0]) for rep in pid(3))
        assert mine.location == str(pv1[3])
        devices: list[str] = []
        for obx in tree.segments("OBX"):
            for rep in obx(18):
                for ident in (str(rep[0]), str(rep[2]) if len(rep) > 2 else ""):
                    if ident and ident not in devices:
                        devices.append(ident)
        assert mine.device_ids == tuple(devices) == ("EUI0011223344", "GW7")
        (reading,) = mine.readings
        assert reading.values == {
            "systolic": float(str(tree.segments("OBX")[0](5))),
            "diastolic": 83.0,
            "heart_rate": 71.0,
        }
