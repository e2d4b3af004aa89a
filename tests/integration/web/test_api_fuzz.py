"""A property-based fuzz of the whole OpenAPI document (Schemathesis), on SQLite and PostgreSQL.

Every operation of /api/openapi.json is called with requests generated from its schema, signed
in as the administrator (who reaches every clinic): first with data that fits the schema and the
ids of real rows (so the handlers run, not only the look-ups), then with data that breaks the
schema and ids of nothing. No answer may be a 5xx, and every answer must fit the schema the
document gives for its status. The run is bounded and repeatable: Hypothesis derandomised (the
examples follow from the test alone), a fixed number of examples per operation, no example
database. It runs on a small network of its own, since the valid requests write.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.demo.catalog import DEMO_PASSWORD
from ketaflow.store import models as m
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock
from tests.conftest import ENGINE_KINDS, FreshDatabases, Templates
from tests.integration.web.sign_in_support import post_login

AS_OF = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 4}  # per operation
# Left out, with the reason (each one a finding still open in issue 11): none now. The live
# levels were left out until their curve, drawn from the infusion's start to now at 30 s, took
# seconds for an old infusion; it now keeps to 1,441 points however old (services/levels.py).
SKIPPED: set[tuple[GenerationMode, str]] = set()


@dataclass
class Fuzz:
    schema: Any
    headers: dict[str, str]
    cookies: dict[str, str]
    ids: dict[str, str]


def real_ids(engine: Engine) -> dict[str, str]:
    """One real row per kind of path parameter, from the first clinic."""
    with Session(engine) as db:
        clinic = db.scalars(select(m.Clinic).order_by(m.Clinic.code)).first()
        assert clinic is not None

        def first(model: Any, *where: Any) -> str:
            row = db.scalars(select(model.id).where(model.clinic_id == clinic.id, *where).limit(1)).first()
            return str(row or uuid.UUID(int=0))

        # The latest infusion (its live levels once took longer than the client waits for an old
        # one: a finding of this fuzz, noted in issue 11's report, since fixed).
        latest = db.scalars(
            select(m.InfusionSession.id)
            .where(m.InfusionSession.clinic_id == clinic.id)
            .order_by(m.InfusionSession.opened_at.desc())
            .limit(1)
        ).first()

        # A staff member of the clinic who is not the fuzz's own admin (whose session it uses).
        member = db.scalars(
            select(m.StaffRole.user_id)
            .where(m.StaffRole.clinic_id == clinic.id, m.StaffRole.role == "nurse")
            .limit(1)
        ).first()

        return {
            "code": clinic.code,
            "user_id": str(member or uuid.UUID(int=0)),
            "patient_id": first(m.Patient),
            "appointment_id": first(m.Appointment),
            "session_id": str(latest or uuid.UUID(int=0)),
            "plan_id": first(m.TreatmentPlan),
            "side_effect_id": first(m.SideEffect),
            "vital_id": first(m.VitalSign),
            "order_id": first(m.DoseOrder),
            "response_id": first(m.QuestionnaireResponse),
            "request_id": first(m.AssistanceRequest),
            "closure_id": first(m.ClinicClosure),
            "lot_id": first(m.DrugLot),
            "draw_id": first(m.LedgerEntry, m.LedgerEntry.kind == "draw"),
            "vial_id": first(m.DrugVial),
            "entry_id": first(m.LedgerEntry, m.LedgerEntry.kind == "adjustment"),
            "key": "phq9",
            # FHIR: the clinic's Group, an export job and file that do not exist, a patient's record.
            "group": clinic.code,
            "job_id": str(uuid.UUID(int=0)),
            "name": "Patient.ndjson",
            "resource_type": "Patient",
            "resource_id": first(m.Patient),
        }


@pytest.fixture(scope="module", params=ENGINE_KINDS)
def fuzz(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, templates: Templates
) -> Iterator[Fuzz]:
    from fastapi.testclient import TestClient

    from ketaflow.demo.build import build_network
    from ketaflow.demo.settings import DemoSettings

    folder: Path = tmp_path_factory.mktemp("fuzz")
    databases = FreshDatabases(request.param, folder)
    owner = databases.new_migrated(templates)
    build_network(owner, DemoSettings(clinics=1, patients=8, seed=11, as_of=AS_OF))
    engine = databases.app_engine(owner)  # as the app's own role on PostgreSQL
    app = create_app(engine)
    app.dependency_overrides[clock] = lambda: NOW
    with TestClient(app) as client:
        r = post_login(client, "admin@demo.ketaflow.org", DEMO_PASSWORD)
        assert r.status_code == 303, r.text
        csrf = client.get("/api/me").json()["csrf_token"]
        cookies = dict(client.cookies.items())
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    yield Fuzz(schema, {"X-CSRF-Token": csrf}, cookies, real_ids(engine))
    databases.drop_all()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_server_error_or_an_answer_off_its_schema(
    fuzz: Fuzz, mode: GenerationMode
) -> None:
    failures: list[str] = []
    for result in fuzz.schema.get_all_operations():
        operation = result.ok()
        if (mode, operation.label) in SKIPPED:
            continue
        names = [p.name for p in operation.path_parameters]
        fixed = {n: fuzz.ids[n] for n in names} if mode is GenerationMode.POSITIVE else None
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)

        @settings(
            max_examples=EXAMPLES[mode],
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def call(case: Any) -> None:
            response = case.call(headers=fuzz.headers, cookies=fuzz.cookies)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        try:
            call()
        except Unsatisfiable:  # nothing of it can break its schema (no parameters, any string goes)
            continue
        except Exception as exc:  # one line per operation, so a run shows every operation at fault
            failures.append(f"{operation.label}: {str(exc).strip().splitlines()[0][:300]}")
    assert not failures, "\n".join(failures)
