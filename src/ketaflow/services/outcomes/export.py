"""De-identified outcome tables (CSV or Parquet) for research."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ketaflow.errors import InvalidInput
from ketaflow.services.outcomes.common import (
    Bind,
    connection,
    outcome_definitions,
)
from ketaflow.services.pseudonyms import AGE_TOP_CODE_YEARS, DATE_SHIFT_MAX_DAYS, Pseudonyms
from ketaflow.store import outcome_queries as q

__all__ = ["AGE_TOP_CODE_YEARS", "DATE_SHIFT_MAX_DAYS", "ExportResult", "export_deidentified"]


@dataclass(frozen=True)
class ExportResult:
    """The files written (path, rows) by a de-identified export."""

    directory: str
    files: tuple[tuple[str, int], ...]


def export_deidentified(bind: Bind, out_dir: str | Any, *, fmt: str = "csv") -> ExportResult:
    """Write de-identified outcome tables (patients, courses, questionnaires, infusions) to `out_dir`.

    No names, MRN, contact details, addresses, exact birth dates or internal ids: each patient
    gets a random study id and a random date shift (whole days, up to a year either way),
    the same in every table of this export and different in the next. Ages are whole years
    at the first infusion, top-coded at 90. Times of day are dropped (dates only).
    """
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if fmt not in ("csv", "parquet"):
        raise InvalidInput(f"The export format must be csv or parquet; got {fmt!r}.")
    d = outcome_definitions()
    with connection(bind) as conn:
        patients = q.export_patients(conn)
        courses = q.export_courses(conn, d)
        answers = q.export_questionnaires(conn)
        infusions = q.export_infusions(conn)
    ids = Pseudonyms()
    for row in patients:
        ids.get(row[0])
    # The export is of patients with an infusion (the patients table); a questionnaire or plan of
    # someone never infused (answered from home, say) would carry a study id no patient row has.
    known = {row[0] for row in patients}
    courses = [row for row in courses if row[0] in known]
    answers = [row for row in answers if row[0] in known]
    infusions = [row for row in infusions if row[0] in known]

    def age(dob: date, first: datetime) -> int:
        years = first.year - dob.year - ((first.month, first.day) < (dob.month, dob.day))
        return min(years, AGE_TOP_CODE_YEARS)

    tables: dict[str, list[dict[str, Any]]] = {
        "patients": [
            {"study_id": ids.get(p[0])[0], "clinic": p[1], "sex": str(p[2]), "age_years": age(p[3], p[4])}
            for p in patients
        ],
        "courses": [
            {
                "study_id": ids.get(c[0])[0],
                "protocol": c[1],
                "induction_infusions": int(c[2]),
                "first_infusion_date": ids.day(c[0], c[3]),
                "last_induction_date": ids.day(c[0], c[4]),
                "baseline_phq9": c[5],
                "end_of_induction_phq9": c[6],
                "end_of_induction_date": ids.day(c[0], c[7]),
                "completed_induction": bool(c[8]),
                "dropped_out": bool(c[9]),
                "response": bool(c[11]) if c[10] else None,
                "remission": bool(c[12]) if c[10] else None,
            }
            for c in courses
        ],
        "questionnaires": [
            {
                "study_id": ids.get(a[0])[0],
                "instrument": str(a[1]),
                "total": int(a[2]),
                "date": ids.day(a[0], a[3]),
                "before_infusion": a[4],
            }
            for a in answers
        ],
        "infusions": [
            {
                "study_id": ids.get(i[0])[0],
                "series_number": int(i[1]),
                "phase": str(i[2]),
                "date": ids.day(i[0], i[3]),
                "dose_mg_per_kg": i[4],
                "side_effects": int(i[5]),
                "adverse_event": bool(i[6]),
            }
            for i in infusions
        ],
    }
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in tables.items():
        # Order by the random study id: row order by internal id would link one export to the next.
        rows.sort(key=lambda r: r["study_id"])
        table = pa.Table.from_pylist(rows) if rows else pa.table({})
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            pa_csv.write_csv(table, path)
        else:
            pq.write_table(table, path)
        written.append((str(path), len(rows)))
    return ExportResult(str(folder), tuple(written))
