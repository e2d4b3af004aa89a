"""The sedation level (MOAA/S) charted with the vitals, and SpO2 expected at every reading during the
infusion: through the API and the session page, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ketaflow.clinical import default_rules
from ketaflow.store import models as m
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.integration.web.test_chairside import ChairWorld, Clock, refused, sign_in

# 10:00 in Austin on a day no other test uses.
T1 = datetime(2033, 3, 21, 15, 0, tzinfo=UTC)
VITALS = default_rules().vitals


@pytest.fixture
def app_clock(demo_engine: Engine) -> Iterator[tuple[TestClient, Clock]]:
    app = create_app(demo_engine)
    frozen = Clock()
    app.dependency_overrides[clock] = frozen
    with TestClient(app) as client:
        yield client, frozen


@pytest.fixture
def world(demo_engine: Engine) -> ChairWorld:
    return ChairWorld(demo_engine)


def stored(world: ChairWorld, sid: uuid.UUID) -> list[m.VitalSign]:
    return world.rows(m.VitalSign, sid)


def test_deep_sedation_is_charted_with_a_stop_alert_and_its_action(
    app_clock: tuple[TestClient, Clock],
    world: ChairWorld,
) -> None:
    client, frozen = app_clock
    sid = world.session(at=T1, started=True)
    nurse = sign_in(client, "nurse1.aus")
    frozen.now = T1 + timedelta(minutes=20)
    reading = {"bp": "118/74", "heart_rate": 64, "spo2": 94, "respiratory_rate": 10, "sedation": 1}
    r = client.post(f"/api/sessions/{sid}/vitals", json=reading, headers=nurse)
    assert r.status_code == 200, r.text
    body = r.json()
    deep = VITALS.sedation.level(1)
    assert body["level"] == "stop" and body["sedation"] == 1 and body["phase"] == "infusion"
    assert any(f"MOAA/S 1 ({deep.wording})" in a for a in body["alerts"])
    assert body["actions"][0] == VITALS.actions.stop and deep.action in body["actions"]
    (row,) = stored(world, sid)
    assert row.sedation_score == 1 and row.spo2_percent == 94
    page = client.get(f"/sessions/{sid}").text
    newest = page.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert "level-stop" in newest and deep.wording in newest and deep.action in newest
    # The session API lists the reading with its sedation level.
    (listed,) = client.get(f"/api/sessions/{sid}").json()["vitals"]
    assert listed["sedation"] == 1 and listed["level"] == "stop"


def test_a_reading_without_spo2_during_the_infusion_is_charted_with_its_alert(
    app_clock: tuple[TestClient, Clock],
    world: ChairWorld,
) -> None:
    client, frozen = app_clock
    not_started = world.session(at=T1 + timedelta(hours=4))
    running = world.session(at=T1 + timedelta(hours=8), started=True)
    nurse = sign_in(client, "nurse1.aus")

    # Before the infusion (the baseline), SpO2 and sedation are not demanded.
    frozen.now = T1 + timedelta(hours=4, minutes=2)
    base = client.post(f"/api/sessions/{not_started}/vitals", json={"bp": "128/82"}, headers=nurse).json()
    assert base["phase"] == "baseline" and base["level"] == "normal" and base["alerts"] == []

    frozen.now = T1 + timedelta(hours=8, minutes=15)
    r = client.post(
        f"/api/sessions/{running}/vitals",
        json={"bp": "128/82", "heart_rate": 72, "sedation": 5},
        headers=nurse,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["level"] == "watch"
    spo2_action = VITALS.expected.actions["spo2"]
    assert body["alerts"] == [
        f"SpO2 not recorded during the infusion: {spo2_action[0].lower()}{spo2_action[1:]}"
    ]
    assert VITALS.expected.actions["spo2"] in body["actions"]
    (row,) = stored(world, running)
    assert row.spo2_percent is None and row.systolic_mmhg == 128  # charted, not refused
    page = client.get(f"/sessions/{running}").text
    assert "SpO2 not recorded during the infusion" in page and "pulse oximeter" in page


def test_the_vitals_form_charts_the_sedation_level_and_refuses_one_off_the_scale(
    app_clock: tuple[TestClient, Clock],
    world: ChairWorld,
) -> None:
    client, frozen = app_clock
    sid = world.session(at=T1 + timedelta(days=1), started=True)
    sign_in(client, "nurse1.aus")
    frozen.now = T1 + timedelta(days=1, minutes=25)
    url = f"/sessions/{sid}"
    page = client.get(url).text
    form_html = page.split('id="vitals-form"', 1)[1].split("</form>", 1)[0]
    assert 'name="sedation"' in form_html
    for lv in VITALS.sedation.levels:
        assert f'<option value="{lv.score}"' in form_html and lv.wording in form_html
    csrf = client.get("/api/me").json()["csrf_token"]
    typed = {"csrf": csrf, "bp": "126/80", "heart_rate": "70", "spo2": "97", "respiratory_rate": "14"}

    for value, words in (
        ("7", "Sedation (MOAA/S) must be a whole number from 0 to 5; got 7."),
        ("sleepy", "Sedation (MOAA/S) must be a whole number"),
    ):
        bad = client.post(f"{url}/vitals", data={**typed, "sedation": value})
        assert bad.status_code == 400 and words in bad.text and "Traceback" not in bad.text
        assert 'value="126/80"' in bad.text  # what was typed is kept
    assert stored(world, sid) == []

    done = client.post(f"{url}/vitals", data={**typed, "sedation": "4"}, follow_redirects=False)
    assert done.status_code == 303
    (row,) = stored(world, sid)
    assert row.sedation_score == 4
    newest = client.get(url).text.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert "level-watch" in newest and VITALS.sedation.level(4).wording in newest

    api = client.post(
        f"/api/sessions/{sid}/vitals",
        json={"bp": "126/80", "spo2": 97, "sedation": 9},
        headers={"X-CSRF-Token": csrf},
    )
    refused(api, 400, "Sedation (MOAA/S) must be a whole number from 0 to 5; got 9.")
    assert len(stored(world, sid)) == 1


def test_the_check_as_typed_grades_the_sedation_level(
    app_clock: tuple[TestClient, Clock],
    world: ChairWorld,
) -> None:
    client, frozen = app_clock
    sid = world.session(at=T1 + timedelta(days=2), started=True)
    sign_in(client, "nurse1.aus")
    frozen.now = T1 + timedelta(days=2, minutes=10)
    check = f"/api/sessions/{sid}/vitals/check"
    moderate = client.get(check, params={"sedation": 3}).json()
    assert moderate["level"] == "pause"
    assert [a["parameter"] for a in moderate["alerts"]] == ["sedation"]
    assert VITALS.sedation.level(3).action in moderate["actions"]
    refused(client.get(check, params={"sedation": -1}), 400, "must be a whole number from 0 to 5")
    with Session(world.engine) as db:
        assert db.get(m.InfusionSession, sid) is not None
    assert stored(world, sid) == []  # the check charts nothing
