"""Writing the demo network: counts, determinism, resuming an interrupted build, refusals."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import Engine, select, text

from ketaflow.demo.build import BuildResult, build_network, existing_settings, is_complete
from ketaflow.demo.generate import patients_per_clinic
from ketaflow.demo.settings import DemoSettings
from ketaflow.errors import Conflict
from ketaflow.store import models as m
from ketaflow.store.stats import clinic_counts
from tests.conftest import ENGINE_KINDS, FreshDatabases

SMALL = DemoSettings(clinics=2, patients=60, seed=3, as_of=date(2026, 6, 1))


@dataclass(frozen=True)
class Built:
    """`SMALL` built once per engine kind for this module (tests only read it or rerun the build,
    which must leave it as it is), and brand-new databases of the same kind to build others in."""

    engine: Engine
    result: BuildResult
    fresh_engine: Callable[[], Engine]


@pytest.fixture(scope="module", params=ENGINE_KINDS)
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    databases = FreshDatabases(request.param, tmp_path_factory.mktemp("demo-build"))
    engine = databases.new()
    yield Built(engine, build_network(engine, SMALL), databases.new)
    databases.drop_all()


def digest(engine: Engine) -> str:
    """A fingerprint of what the database holds (ids, names, every vital sign)."""
    h = hashlib.sha256()
    with engine.connect() as conn:
        for stmt in [
            select(m.Patient.id, m.Patient.mrn, m.Patient.family_name, m.Patient.date_of_birth).order_by(
                m.Patient.mrn
            ),
            select(m.VitalSign.id, m.VitalSign.measured_at, m.VitalSign.systolic_mmhg).order_by(
                m.VitalSign.id
            ),
            select(m.QuestionnaireResponse.id, m.QuestionnaireResponse.total).order_by(
                m.QuestionnaireResponse.id
            ),
            select(m.InfusionSession.id, m.InfusionSession.series_number).order_by(m.InfusionSession.id),
        ]:
            for row in conn.execute(stmt):
                h.update(repr(tuple(str(v) for v in row)).encode())
    return h.hexdigest()


def test_it_builds_the_network_it_was_asked_for(built: Built) -> None:
    engine, result = built.engine, built.result
    assert result.status == "built"
    assert result.counts["clinics"] == 2
    assert result.counts["patients"] == 60
    assert result.counts["infusion_sessions"] > 300
    per_clinic = clinic_counts(engine)
    assert [c["counts"]["patients"] for c in per_clinic] == sorted(
        patients_per_clinic(SMALL), reverse=False
    ) or sum(c["counts"]["patients"] for c in per_clinic) == 60
    assert sum(c["counts"]["infusion_sessions"] for c in per_clinic) == result.counts["infusion_sessions"]
    assert is_complete(engine)
    assert existing_settings(engine) == SMALL
    assert ("admin@demo.ketaflow.org", "admin", "all clinics") in result.logins


def test_it_writes_the_same_network_for_the_same_seed(built: Built) -> None:
    b = built.fresh_engine()
    build_network(b, SMALL)
    assert digest(built.engine) == digest(b)


def test_it_finishes_an_interrupted_build_exactly(built: Built) -> None:
    whole, broken = built.engine, built.fresh_engine()

    class Interrupted(Exception):
        pass

    def stop_after_first(index: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        build_network(broken, SMALL, on_clinic_done=stop_after_first)
    with broken.connect() as conn:
        done = conn.execute(select(m.DemoBuild.clinics_done, m.DemoBuild.completed_at)).one()
        patients = conn.execute(text("SELECT count(*) FROM patients")).scalar_one()
    assert done == (1, None)
    assert patients == patients_per_clinic(SMALL)[0]  # whole clinics only
    assert not is_complete(broken)

    result = build_network(broken, SMALL)
    assert result.status == "finished"
    assert digest(broken) == digest(whole)


def test_it_does_nothing_when_the_network_is_already_there(built: Built) -> None:
    before = digest(built.engine)
    again = build_network(built.engine, SMALL)
    assert again.status == "already built"
    assert again.counts == built.result.counts
    assert digest(built.engine) == before


def test_it_refuses_other_settings_unless_asked_to_rebuild(fresh_engine: Callable[[], Engine]) -> None:
    engine = fresh_engine()
    build_network(engine, SMALL)
    other = DemoSettings(clinics=1, patients=20, seed=4, as_of=SMALL.as_of)
    with pytest.raises(Conflict, match="--rebuild"):
        build_network(engine, other)
    result = build_network(engine, other, rebuild=True)
    assert result.counts["patients"] == 20 and result.counts["clinics"] == 1
