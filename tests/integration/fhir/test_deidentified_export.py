"""The de-identified research variant of the bulk export (`ketaflow fhir export --deidentify`),
checked against the identified export of the same database and against the database itself:
no identifier of the source (names, MRN, telephone, email, addresses finer than a state, record
ids, free text people typed) appears in any output line; every date of a patient is moved by that
patient's shift from services/pseudonyms.py (so intervals within a patient are those of the
source, to the second); references still resolve; resources pass the R4 JSON Schema and the
profile validator."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ketaflow.cli import app
from ketaflow.fhir.deidentify import STUDY_ID_SYSTEM, shift_value
from ketaflow.fhir.mapping import references
from ketaflow.services.fhir_export import export_ndjson
from ketaflow.services.pseudonyms import DATE_SHIFT_MAX_DAYS, Pseudonyms
from ketaflow.store import models as m
from tests.integration.fhir.test_bulk_export import read_export
from tests.integration.fhir.test_validation import SPEC_BP_EXAMPLE, known_false_positive
from tests.integration.fhir.validators import profile_issues, schema_errors

SCHEMA_PER_TYPE = 400  # resources of each type put through the R4 JSON Schema (seeded choice)
SAMPLE_PER_TYPE = 40  # resources of each type put through the profile validator (seeded choice)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DATE_VALUE = re.compile(r"\d{4}-\d{2}-\d{2}(T.*)?")


class Exports:
    def __init__(self, source: Path, research: Path, pseudonyms: Pseudonyms) -> None:
        self.source = read_export(source)
        self.research = read_export(research)
        self.lines = [
            line for path in sorted(research.glob("*.ndjson")) for line in path.read_text().splitlines()
        ]
        self.pseudonyms = pseudonyms


@pytest.fixture(scope="module")
def exports(demo_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Exports:
    source = tmp_path_factory.mktemp("fhir-source")
    research = tmp_path_factory.mktemp("fhir-research")
    export_ndjson(demo_engine, source)
    pseudonyms = Pseudonyms()
    result = export_ndjson(demo_engine, research, deidentify=True, pseudonyms=pseudonyms)
    found = Exports(source, research, pseudonyms)
    assert {k: len(v) for k, v in found.research.items()} == result.counts
    return found


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def _source_identifiers(engine: Engine) -> tuple[set[str], set[str]]:
    """(identifiers that must appear nowhere, as substrings; free text typed by people, that must
    be no string value of the output), read from the database, not from the export."""
    anywhere: set[str] = set()
    typed: set[str] = set()
    with Session(engine) as db:
        for p in db.scalars(select(m.Patient)):
            anywhere |= {f"{p.given_name} {p.family_name}", p.family_name, p.mrn, str(p.id)}
            anywhere |= {v for v in (p.phone, p.email, p.address, p.emergency_contact_name) if v}
            anywhere |= {p.emergency_contact_phone} if p.emergency_contact_phone else set()
        for u in db.scalars(select(m.StaffUser)):
            anywhere |= {u.full_name, u.email, str(u.id)}
        # A clinic's city is in its name, which the research variant keeps as the outcome tables
        # keep the clinic's code (where care was given, not where the patient lives).
        for c in db.scalars(select(m.Clinic)):
            anywhere |= {v for v in (c.phone, c.address_line, c.postal_code) if v}
        for d in db.scalars(select(m.Discharge)):
            anywhere |= {v for v in (d.escort_name, d.escort_phone) if v}
            typed |= {d.transport_arranged} if d.transport_arranged else set()
        typed |= {v for v in db.scalars(select(m.Consultation.indication)) if v}
        typed |= {v for v in db.scalars(select(m.TreatmentPlan.notes)) if v}
        typed |= {v for v in db.scalars(select(m.DoseOrder.override_reason)) if v}
        typed |= {v for v in db.scalars(select(m.AdministrationEvent.reason)) if v}
        typed |= {v for v in db.scalars(select(m.SideEffect.notes)) if v}
        typed |= {v for v in db.scalars(select(m.Allergy.substance)) if v}
        typed |= {v for v in db.scalars(select(m.Medication.as_written)) if v}
        typed |= {v for v in db.scalars(select(m.Diagnosis.description)) if v}
    return anywhere, typed


def test_no_identifier_of_the_source_appears(exports: Exports, demo_engine: Engine) -> None:
    anywhere, typed = _source_identifiers(demo_engine)
    assert len(anywhere) > 200 and len(typed) > 20  # the demo network holds them: the test tests something
    # Every record id of the source is a UUID (derived ids start with one): none may appear.
    assert {
        r["id"][:36] for rows in exports.source.values() for r in rows if not _UUID.fullmatch(r["id"][:36])
    } == set()
    assert not any(_UUID.search(line) for line in exports.lines)
    values = {s for rows in exports.research.values() for r in rows for s in _strings(r)}
    # Every string value of the output once (the lines repeat many; keys are FHIR names, numbers values).
    text = "\n".join(sorted(values))
    # As whole words: a ZIP code's digits may occur inside a masked (hexadecimal) id.
    found = [v for v in anywhere if v in text]
    assert (
        sorted(v for v in found if re.search(rf"(?<![0-9A-Za-z]){re.escape(v)}(?![0-9A-Za-z])", text)) == []
    )
    assert typed & values == set()
    assert "RelatedPerson" not in exports.research  # the escorts
    kinds = set(exports.research)
    assert kinds == set(exports.source) - {"RelatedPerson"}
    for patient in exports.research["Patient"]:
        assert set(patient) <= {
            "resourceType",
            "id",
            "meta",
            "identifier",
            "active",
            "gender",
            "birthDate",
            "managingOrganization",
            "extension",
        }
        assert patient["identifier"] == [{"system": STUDY_ID_SYSTEM, "value": patient["id"]}]
    for kind in ("Organization", "Location"):
        for r in exports.research.get(kind, []):
            addresses = r.get("address", [])
            for a in addresses if isinstance(addresses, list) else [addresses]:
                assert set(a) <= {"state", "country"}
            assert "telecom" not in r


def _by_patient(export: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Each patient's resources (Patient/<id> -> resources), a Provenance by its infusion's patient."""
    owner: dict[str, str] = {}
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for kind, rows in export.items():
        for r in rows:
            if kind == "Patient":
                owner[f"Patient/{r['id']}"] = f"Patient/{r['id']}"
            subject = r.get("subject") or r.get("patient")
            if isinstance(subject, dict):
                owner[f"{kind}/{r['id']}"] = subject["reference"]
    for kind, rows in export.items():
        for r in rows:
            key = f"{kind}/{r['id']}"
            if kind == "Provenance":
                key = r["target"][0]["reference"]
            if key in owner:
                grouped[owner[key]].append(r)
    return grouped


def _dates(resources: list[dict[str, Any]]) -> Counter[str]:
    return Counter(s for r in resources for s in _strings(r) if _DATE_VALUE.fullmatch(s))


def test_every_date_of_a_patient_moves_by_the_same_shift(exports: Exports, demo_engine: Engine) -> None:
    source = _by_patient(exports.source)
    research = _by_patient(exports.research)
    today = datetime.now(UTC).date()
    moved = 0
    assert len(research) == len(exports.research["Patient"]) == len(exports.source["Patient"])
    for patient in exports.source["Patient"]:
        study_id, shift = exports.pseudonyms.get(uuid.UUID(patient["id"]))
        assert abs(shift) <= DATE_SHIFT_MAX_DAYS
        mine = [r for r in source[f"Patient/{patient['id']}"] if r["resourceType"] != "RelatedPerson"]
        expected = Counter({shift_value(s, shift): n for s, n in _dates(mine).items()})
        born = patient["birthDate"]
        day = date.fromisoformat(born)
        if today.year - day.year - ((today.month, today.day) < (day.month, day.day)) >= 90:  # no birth date
            expected[shift_value(born, shift)] -= 1
        got = _dates(research[f"Patient/{study_id}"])
        assert +expected == got, patient["id"]
        if shift != 0:
            moved += 1
            assert born not in {s for r in research[f"Patient/{study_id}"] for s in _strings(r)}
    assert moved >= len(exports.source["Patient"]) - 2  # a shift of 0 days has odds 1 in 731


def test_intervals_within_a_patient_are_those_of_the_source(exports: Exports) -> None:
    """Infusion durations, and the time from the first infusion to each PHQ-9, to the second."""

    def moment(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    def timeline(resources: list[dict[str, Any]]) -> list[float]:
        starts = sorted(
            moment(r["effectivePeriod"]["start"])
            for r in resources
            if r["resourceType"] == "MedicationAdministration"
        )
        durations = sorted(
            (moment(r["effectivePeriod"]["end"]) - moment(r["effectivePeriod"]["start"])).total_seconds()
            for r in resources
            if r["resourceType"] == "MedicationAdministration" and "end" in r["effectivePeriod"]
        )
        scores = sorted(
            (moment(r["effectiveDateTime"]) - starts[0]).total_seconds()
            for r in resources
            if starts and r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "44261-6"
        )
        return durations + scores

    source = _by_patient(exports.source)
    research = _by_patient(exports.research)
    compared = 0
    for patient in exports.source["Patient"]:
        study_id, _ = exports.pseudonyms.get(uuid.UUID(patient["id"]))
        before = timeline(source[f"Patient/{patient['id']}"])
        assert timeline(research[f"Patient/{study_id}"]) == before
        compared += len(before)
    assert compared > 100


def test_references_resolve_and_resources_stay_valid(exports: Exports, tmp_path: Path) -> None:
    present = {f"{kind}/{r['id']}" for kind, rows in exports.research.items() for r in rows}
    assert len(present) == sum(len(rows) for rows in exports.research.values())
    dangling = {t for rows in exports.research.values() for r in rows for t in references(r)} - present
    assert dangling == set()
    chooser = random.Random(15)
    checked = [
        r for rows in exports.research.values() for r in chooser.sample(rows, min(SCHEMA_PER_TYPE, len(rows)))
    ]
    assert [e for r in checked for e in schema_errors(r)] == []
    sample = [
        r for rows in exports.research.values() for r in chooser.sample(rows, min(SAMPLE_PER_TYPE, len(rows)))
    ]
    results = profile_issues([*sample, SPEC_BP_EXAMPLE], tmp_path)
    spec = results.pop()
    problems = defaultdict(list)
    for r in results:
        for issue in r["issues"]:
            if not known_false_positive(issue, spec["issues"]):
                problems[sample[r["index"]]["resourceType"]].append(issue)
    assert dict(problems) == {}


def test_two_exports_cannot_be_joined(demo_engine: Engine, tmp_path: Path) -> None:
    """A new draw of study ids, shifts and id key each time; patients in a random order."""
    runner = CliRunner()
    url = demo_engine.url.render_as_string(hide_password=False)
    ids = []
    for name in ("one", "two"):
        out = tmp_path / name
        done = runner.invoke(
            app,
            [
                "fhir",
                "export",
                "--out",
                str(out),
                "--deidentify",
                "--type",
                "Patient,Condition",
                "--database-url",
                url,
            ],
        )
        assert done.exit_code == 0, done.output
        files = read_export(out)
        ids.append(([p["id"] for p in files["Patient"]], {o["id"] for o in files["Condition"]}))
        assert all("DEID" in json.dumps(r["meta"]["tag"]) for rows in files.values() for r in rows)
    assert set(ids[0][0]).isdisjoint(ids[1][0])
    assert ids[0][1].isdisjoint(ids[1][1])
