"""The stored outcome summary gives the live dashboard's figures, value for value, as of its refresh."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from ketaflow.demo.settings import DemoSettings
from ketaflow.services.outcomes import Dashboard, outcomes_dashboard
from ketaflow.services.outcomes.summary import SUMMARY_MAX_AGE, refresh_outcome_summaries, running_refresh
from ketaflow.store import models as m
from ketaflow.store import outcome_queries as q
from ketaflow.web.app import create_app
from tests.integration.analytics.outcome_charts import clinic, course
from tests.integration.web.sign_in_support import post_login

SETTINGS = DemoSettings(clinics=3, patients=90, seed=5, as_of=date(2026, 6, 1), vitals_every_min=60)


def same(stored: Dashboard, live: Dashboard) -> None:
    """Equal in every figure, apart from the as-of note.

    Counts and texts exactly; floats to 12 significant digits (NaN p-values equal too): the summary
    and the live query add the same floats (days, squared days) in different orders, and PostgreSQL
    does not promise one order, so an SD can differ in its last bit.
    """
    assert stored.as_of is not None and live.as_of is None
    assert stored.definitions[:-1] == live.definitions
    assert stored.definitions[-1].startswith(f"Figures as of {stored.as_of:%Y-%m-%d %H:%M} UTC")
    assert differences(dataclasses.replace(stored, as_of=None, definitions=live.definitions), live) == []


def differences(a: object, b: object, path: str = "") -> list[str]:
    """Where two values differ: dataclasses and sequences field by field, floats to rel 1e-12."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type) and type(a) is type(b):
        return [
            d
            for f in dataclasses.fields(a)
            for d in differences(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
        ]
    if (
        isinstance(a, list | tuple)
        and isinstance(b, list | tuple)
        and type(a) is type(b)
        and len(a) == len(b)
    ):
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")
        ]
    if isinstance(a, float) and isinstance(b, float):
        same_float = (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
        return [] if same_float else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_the_comparison_is_exact_but_for_float_rounding() -> None:
    assert differences((1.0, float("nan"), "a"), (1.0 + 1e-15, float("nan"), "a")) == []
    assert differences((1.0, 2), (1.0 + 1e-9, 2)) == ["[0]: 1.0 != 1.000000001"]
    assert differences([1], (1,)) == [": [1] != (1,)"]


@pytest.fixture
def network(demo_copy: Callable[[DemoSettings], Engine]) -> Engine:
    return demo_copy(SETTINGS)


def test_the_summary_gives_the_live_figures_for_the_network_and_each_clinic(network: Engine) -> None:
    live = outcomes_dashboard(network, cache=False, summary=False)
    assert live.total.infusions > 300 and live.total.courses_evaluable > 20  # a network worth comparing

    refreshed = refresh_outcome_summaries(network)

    assert refreshed.clinics == SETTINGS.clinics
    stored = outcomes_dashboard(network, summary=True)
    assert stored.as_of == refreshed.computed_at
    same(stored, live)
    with network.connect() as conn:
        codes = [r[1] for r in q.clinics(conn)]
    for code in codes:
        same(
            outcomes_dashboard(network, clinic=code, summary=True),
            outcomes_dashboard(network, clinic=code, cache=False, summary=False),
        )


def test_postgresql_reads_the_summary_by_default_and_sqlite_computes(network: Engine) -> None:
    refresh_outcome_summaries(network)
    board = outcomes_dashboard(network, cache=False)
    assert (board.as_of is not None) == (network.dialect.name == "postgresql")


def test_a_refresh_replaces_the_summary_and_takes_in_new_rows(network: Engine) -> None:
    first = refresh_outcome_summaries(network)
    with Session(network, expire_on_commit=False) as db:
        a = db.scalars(select(m.Clinic).order_by(m.Clinic.code)).first()
        assert a is not None
        charts = clinic(db)  # a new clinic and staff; the course below is charted at clinic `a`
        charts.clinic = a
        course(db, charts, before=[20, 15, 12], end=4)
        db.commit()
    # The new clinic has no summary yet: the network figures are computed live, not half stored.
    assert outcomes_dashboard(network, summary=True).as_of is None
    before = outcomes_dashboard(network, clinic=a.code, summary=True)
    assert before.as_of == first.computed_at  # clinic `a` still reads its stored (older) figures

    second = refresh_outcome_summaries(network)

    assert second.computed_at > first.computed_at
    with network.connect() as conn:
        assert conn.execute(select(func.count()).select_from(m.OutcomeSummary)).scalar_one() == second.clinics
    after = outcomes_dashboard(network, clinic=a.code, summary=True)
    assert after.as_of == second.computed_at
    assert after.total.infusions == before.total.infusions + 3
    assert after.total.courses_evaluable == before.total.courses_evaluable + 1
    same(outcomes_dashboard(network, summary=True), outcomes_dashboard(network, cache=False, summary=False))


def test_reading_an_old_summary_starts_a_refresh_in_the_background(network: Engine) -> None:
    first = refresh_outcome_summaries(network)
    old = first.computed_at - SUMMARY_MAX_AGE - timedelta(minutes=1)
    with network.begin() as conn:
        conn.execute(update(m.OutcomeSummary).values(computed_at=old))

    board = outcomes_dashboard(network, summary=True)

    assert board.as_of == old  # the reader is not kept waiting: the stored figures, with their time
    thread = running_refresh(network)
    if thread is not None:
        thread.join(timeout=120)
    assert running_refresh(network) is None
    fresh = outcomes_dashboard(network, summary=True)
    assert fresh.as_of is not None and fresh.as_of > first.computed_at
    assert running_refresh(network) is None  # fresh figures start nothing


def test_a_refresh_computed_earlier_does_not_overwrite_a_later_one(network: Engine) -> None:
    later = refresh_outcome_summaries(network)
    with network.begin() as conn:
        stored = q.replace_summaries(conn, "x" * 64, later.computed_at, {})
        assert stored  # another key: nothing there yet
        key = conn.execute(select(m.OutcomeSummary.definitions_key).limit(1)).scalar_one()
        assert not q.replace_summaries(conn, key, later.computed_at - timedelta(seconds=1), {})
    assert outcomes_dashboard(network, summary=True).as_of == later.computed_at


def test_the_pages_and_api_say_when_the_figures_are_from(network: Engine) -> None:
    refreshed = refresh_outcome_summaries(network)
    stamp = f"Figures as of {refreshed.computed_at:%Y-%m-%d %H:%M} UTC"
    from_summary = network.dialect.name == "postgresql"  # SQLite always shows live figures
    with TestClient(create_app(network)) as client:
        r = post_login(client, "admin@demo.ketaflow.org")
        assert r.status_code == 303, r.text
        page = client.get("/outcomes")
        assert page.status_code == 200
        assert (stamp in page.text) == from_summary
        api = client.get("/api/outcomes")
        assert api.status_code == 200
        assert (api.json()["as_of"] is not None) == from_summary
        live = outcomes_dashboard(network, cache=False, summary=False)
        assert api.json()["total"]["infusions"] == live.total.infusions
