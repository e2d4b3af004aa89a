"""The research export carries no direct identifiers and shifts each patient's dates consistently."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from sqlalchemy.orm import Session

from ketaflow.services.outcomes import DATE_SHIFT_MAX_DAYS, export_deidentified
from ketaflow.store import models as m
from tests.factories import T0
from tests.integration.analytics.outcome_charts import clinic, course

FORBIDDEN_COLUMNS = {
    "mrn",
    "given_name",
    "family_name",
    "name",
    "date_of_birth",
    "phone",
    "email",
    "address",
    "patient_id",
    "id",
    "escort_name",
    "escort_phone",
}


def _read(path: Path) -> list[dict[str, object]]:
    table = pa_csv.read_csv(path) if path.suffix == ".csv" else pq.read_table(path)
    return table.to_pylist()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_it_exports_without_direct_identifiers(db: Session, tmp_path: Path, fmt: str) -> None:
    c = clinic(db)
    patients = [course(db, c, before=[20, 12, 8], end=6, cadss=[5, 6, 7]) for _ in range(6)]
    for p in patients:
        p.phone, p.email, p.address = "555-0199", "alex@example.org", "12 Elm Street"
        p.emergency_contact_name, p.emergency_contact_phone = "Sam Rivera", "555-0142"
    db.flush()

    result = export_deidentified(db, tmp_path, fmt=fmt)

    files = {Path(f).stem: Path(f) for f, _ in result.files}
    assert set(files) == {"patients", "courses", "questionnaires", "infusions"}
    raw = b"".join(f.read_bytes() for f in files.values())
    needles = ["Alex", "Rivera", "555-01", "alex@example.org", "Elm Street", "1980-05-17", "Dana Reyes"]
    needles += [p.mrn for p in patients] + [str(p.id) for p in patients] + [p.id.hex for p in patients]
    if fmt == "csv":  # Parquet compresses its pages, so only the CSV bytes can be searched directly
        text = raw.decode()
        assert [n for n in needles if n in text] == []
    tables = {name: _read(path) for name, path in files.items()}
    for name, rows in tables.items():
        assert rows, name
        assert FORBIDDEN_COLUMNS.isdisjoint(rows[0]), name
        cells = {str(v) for r in rows for v in r.values()}
        assert [n for n in needles if any(n in cell for cell in cells)] == [], name

    # One random study id per patient, the same in every table.
    ids = {r["study_id"] for r in tables["patients"]}
    assert len(ids) >= len(patients)
    for name in ("courses", "questionnaires", "infusions"):
        assert {r["study_id"] for r in tables[name]} <= ids
    # Ages instead of birth dates.
    assert {r["age_years"] for r in tables["patients"]} >= {45}

    # Dates shifted by a per-patient offset: the first infusion was T0 for all six patients.
    ours = [r for r in tables["courses"] if r["baseline_phq9"] == 20 and r["end_of_induction_phq9"] == 6]
    shifts = {(_as_date(r["first_infusion_date"]) - T0.date()).days for r in ours}
    assert all(abs(s) <= DATE_SHIFT_MAX_DAYS for s in shifts)
    assert len(shifts) > 1  # six draws from 731 values are not all equal (chance about 1e-14)
    # ... and consistent within a patient: intervals are kept exactly across tables.
    for r in ours:
        shift = _as_date(r["first_infusion_date"]) - T0.date()
        assert _as_date(r["end_of_induction_date"]) == T0.date() + timedelta(days=6 + 7) + shift
        infusions = sorted(_as_date(i["date"]) for i in tables["infusions"] if i["study_id"] == r["study_id"])
        assert infusions == [T0.date() + shift + timedelta(days=3 * k) for k in range(3)]


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def test_it_refuses_an_unknown_format(db: Session, tmp_path: Path) -> None:
    from ketaflow.errors import InvalidInput

    with pytest.raises(InvalidInput, match="csv or parquet"):
        export_deidentified(db, tmp_path, fmt="xlsx")


def test_it_leaves_patient_identifiers_out_of_the_patients_table(db: Session, tmp_path: Path) -> None:
    c = clinic(db)
    course(db, c, before=[20], end=None)
    export_deidentified(db, tmp_path, fmt="csv")
    columns = set(_read(tmp_path / "patients.csv")[0])
    assert columns == {"study_id", "clinic", "sex", "age_years"}
    assert not hasattr(m.Patient, "study_id")  # the study id lives only in the export
