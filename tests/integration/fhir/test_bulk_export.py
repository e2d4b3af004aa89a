"""`ketaflow fhir export` of the demo test network: exactly the database's patients, every PHQ-9
total as 44261-6, blood pressure as the 85354-9 panel in mm[Hg], milligrams as the pumps gave
them, every reference resolving inside the export, and a seeded sample of every type passing the
R4 JSON Schema and the profile validator."""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ketaflow.cli import app
from ketaflow.fhir.mapping import references
from ketaflow.services.fhir_export import EXPORT_TYPES, export_ndjson
from ketaflow.store import models as m
from ketaflow.store.facts import current
from ketaflow.vocabulary import Instrument
from tests.integration.fhir.test_validation import SPEC_BP_EXAMPLE, known_false_positive
from tests.integration.fhir.validators import profile_issues, schema_errors

SAMPLE_PER_TYPE = 60  # resources of each type put through both validators (seeded choice)


def read_export(folder: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.ndjson")):
        with path.open(encoding="utf-8") as lines:
            out[path.name.removesuffix(".ndjson")] = [json.loads(line) for line in lines]
    return out


@pytest.fixture(scope="module")
def exported(
    demo_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("fhir-export")
    result = export_ndjson(demo_engine, folder)
    files = read_export(folder)
    assert {k: len(v) for k, v in files.items()} == result.counts
    assert not list(folder.glob("*.part"))
    return files


def test_the_export_holds_exactly_the_patients(
    exported: dict[str, list[dict[str, Any]]], demo_engine: Engine
) -> None:
    with Session(demo_engine) as db:
        ids = {str(i) for i in db.scalars(select(m.Patient.id))}
    assert sorted(p["id"] for p in exported["Patient"]) == sorted(ids)
    assert set(exported) <= set(EXPORT_TYPES)


def test_every_reference_resolves_inside_the_export(exported: dict[str, list[dict[str, Any]]]) -> None:
    present = {f"{kind}/{r['id']}" for kind, rows in exported.items() for r in rows}
    assert len(present) == sum(len(rows) for rows in exported.values())  # no id twice
    dangling = {t for rows in exported.values() for r in rows for t in references(r)} - present
    assert dangling == set()


def test_phq9_totals_and_blood_pressure(
    exported: dict[str, list[dict[str, Any]]], demo_engine: Engine
) -> None:
    q = m.QuestionnaireResponse
    with Session(demo_engine) as db:
        phq9 = sorted(
            (str(r.patient_id), r.total)
            for r in db.scalars(current(q).where(q.instrument == Instrument.PHQ9, q.total.is_not(None)))
        )
        v = m.VitalSign
        bp_rows = db.scalar(
            select(func.count()).select_from(
                current(v).where(v.systolic_mmhg.is_not(None), v.diastolic_mmhg.is_not(None)).subquery()
            )
        )
    observations = exported["Observation"]
    totals = [o for o in observations if o["code"]["coding"][0]["code"] == "44261-6"]
    assert (
        sorted(
            (o["subject"]["reference"].removeprefix("Patient/"), o["valueQuantity"]["value"]) for o in totals
        )
        == phq9
    )
    panels = [o for o in observations if o["code"]["coding"][0]["code"] == "85354-9"]
    assert len(panels) == bp_rows > 0
    units = {c["valueQuantity"]["code"] for o in panels for c in o["component"]}
    assert units == {"mm[Hg]"}


def test_milligrams_add_up_to_what_the_pumps_gave(
    exported: dict[str, list[dict[str, Any]]], demo_engine: Engine
) -> None:
    by_session: dict[Any, float] = {}
    with Session(demo_engine) as db:
        for event in db.scalars(current(m.AdministrationEvent)):
            by_session[event.session_id] = max(by_session.get(event.session_id, 0.0), event.cumulative_mg)
    given = {a["id"]: a["dosage"]["dose"]["value"] for a in exported["MedicationAdministration"]}
    assert set(given) == {str(s) for s in by_session}
    for session_id, mg in by_session.items():
        assert given[str(session_id)] == pytest.approx(mg, abs=1e-4)  # mapping rounds to 4 decimals
    assert sum(given.values()) == pytest.approx(sum(by_session.values()), rel=1e-9, abs=1e-3)


def test_a_sample_of_every_type_passes_both_validators(
    exported: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    chooser = random.Random(15)
    sample = [r for rows in exported.values() for r in chooser.sample(rows, min(SAMPLE_PER_TYPE, len(rows)))]
    assert {r["resourceType"] for r in sample} == set(exported)
    assert [e for r in sample for e in schema_errors(r)] == []
    results = profile_issues([*sample, SPEC_BP_EXAMPLE], tmp_path)
    spec = results.pop()
    problems = defaultdict(list)
    for r in results:
        for issue in r["issues"]:
            if not known_false_positive(issue, spec["issues"]):
                problems[sample[r["index"]]["resourceType"]].append(issue)
    assert dict(problems) == {}


def test_the_command_writes_a_clinics_files(demo_engine: Engine, tmp_path: Path) -> None:
    url = demo_engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    done = runner.invoke(
        app,
        [
            "fhir",
            "export",
            "--out",
            str(tmp_path),
            "--clinic",
            "aus",
            "--type",
            "Patient,Organization",
            "--database-url",
            url,
        ],
    )
    assert done.exit_code == 0, done.output
    files = read_export(tmp_path)
    with Session(demo_engine) as db:
        aus = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        assert aus is not None
        ids = {str(i) for i in db.scalars(select(m.Patient.id).where(m.Patient.clinic_id == aus.id))}
    assert {p["id"] for p in files["Patient"]} == ids
    assert set(files) == {"Patient", "Organization"}
    refused = runner.invoke(
        app, ["fhir", "export", "--out", str(tmp_path), "--type", "Bogus", "--database-url", url]
    )
    assert refused.exit_code == 2 and "Unknown resource type(s) Bogus" in refused.output
    # Registering a SMART Backend Services client with its public key.
    numbers = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    coordinate = {
        axis: base64.urlsafe_b64encode(value.to_bytes(48, "big")).rstrip(b"=").decode()
        for axis, value in (("x", numbers.x), ("y", numbers.y))
    }
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{"kty": "EC", "crv": "P-384", "kid": "k", **coordinate}]}))
    client_id = f"cli-{uuid.uuid4().hex[:8]}"
    add = ["fhir", "client", "add", "--client-id", client_id, "--name", "Registry", "--jwks", str(jwks)]
    done = runner.invoke(app, [*add, "--clinic", "aus", "--database-url", url])
    assert done.exit_code == 0 and f"Registered {client_id}" in done.output, done.output
    with Session(demo_engine) as db:
        client = db.scalar(select(m.FhirClient).where(m.FhirClient.client_id == client_id))
        assert client is not None and client.clinic_ids == [str(aus.id)]
    again = runner.invoke(app, [*add, "--database-url", url])
    assert again.exit_code == 2 and "already registered" in again.output
