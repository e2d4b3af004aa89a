"""Benchmark: `ketaflow fhir export` (bulk FHIR R4 NDJSON) of a demo network, per engine.

For each database given (`--database-url`, any number; a demo network built by `ketaflow
demo-data`), the export runs `--runs` times, each in a new Python process (cold: new
connection, nothing cached) writing into a fresh temporary folder, and reports the wall time, the
resources written per second, the source rows read per second (the rows of the record tables
the export maps) and the child's peak resident memory (ru_maxrss).

Usage::

    .venv/bin/python benchmarks/fhir_export.py --database-url sqlite:////tmp/fhir_bench.sqlite \\
        --database-url postgresql://postgres@127.0.0.1:5432/h_fhir_bench --note '3 clinics, 700 patients'
    .venv/bin/python benchmarks/fhir_export.py --smoke --out /tmp/B.md --database-url sqlite:////tmp/x.sqlite

It writes its section of BENCHMARKS.md (``<!-- bench:FHIR bulk export -->``). No target is set by
the issue; the section states the figures and the memory bound (one patient at a time).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import Run, add_common_arguments, run_child  # noqa: E402

TITLE = "FHIR bulk export"
# The record tables the export reads (services/fhir_record.py), whose rows are its input.
SOURCE_TABLES = (
    "patients",
    "consultations",
    "diagnoses",
    "allergies",
    "medications",
    "consents",
    "treatment_plans",
    "body_measurements",
    "vital_signs",
    "questionnaire_responses",
    "infusion_sessions",
    "dose_orders",
    "administration_events",
    "discharges",
    "side_effects",
    "appointments",
)


def child(request: dict[str, Any]) -> None:
    from report import child_reply

    from ketaflow.services.fhir_export import export_ndjson
    from ketaflow.store.engine import make_engine

    engine = make_engine(request["url"])
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = export_ndjson(engine, Path(folder))
        seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in Path(folder).glob("*.ndjson"))
    child_reply(
        {
            "seconds": seconds,
            "resources": result.resources,
            "patients": result.patients,
            "counts": result.counts,
            "bytes": size,
            "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def source_rows(url: str) -> dict[str, int]:
    from sqlalchemy import text

    from ketaflow.store.engine import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in SOURCE_TABLES}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", action="append", required=True, help="a demo network (repeatable)")
    parser.add_argument("--note", default="", help="what the databases hold (shown in the section)")
    parser.add_argument("--runs", type=int, default=1)
    add_common_arguments(parser)
    args = parser.parse_args()
    postgres = next((u for u in args.database_url if u.startswith("postgresql")), None)
    run = Run(args, postgres)
    rows = [
        "| engine | patients | resources written | NDJSON size | time | resources/s | source rows/s "
        "| peak memory |",
        "|---|---|---|---|---|---|---|---|",
    ]
    detail: list[str] = []
    for url in args.database_url:
        engine_name = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        read = source_rows(url)
        total_rows = sum(read.values())
        samples = []
        for _ in range(args.runs):
            run.quiet()
            samples.append(run_child(Path(__file__), {"url": url}))
        seconds = statistics.median(s["seconds"] for s in samples)
        last = samples[-1]
        span = (
            f" [{min(s['seconds'] for s in samples):.1f}-{max(s['seconds'] for s in samples):.1f}]"
            if len(samples) > 1
            else ""
        )
        rows.append(
            f"| {engine_name} | {last['patients']:,} | {last['resources']:,} "
            f"| {last['bytes'] / 1024**2:,.0f} MiB "
            f"| **{seconds:.1f} s**{span} ({len(samples)}) | {last['resources'] / seconds:,.0f} "
            f"| {total_rows / seconds:,.0f} | {max(s['max_rss_mib'] for s in samples):,.0f} MiB |"
        )
        detail.append(
            f"{engine_name}: {total_rows:,} source rows ("
            + ", ".join(f"{t} {n:,}" for t, n in read.items() if n)
            + "); resources by type: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(last["counts"].items()))
            + "."
        )
    body = [
        f"Workload: the export of every patient of each database{f' ({args.note})' if args.note else ''}, "
        "all resource types, into a new temporary folder, each run in a new Python process "
        "(`ketaflow.services.fhir_export.export_ndjson`, what `ketaflow fhir export --out DIR` runs). "
        "Time: median [min-max] (runs). Peak memory: the child process's maximum resident set.",
        "",
        *rows,
        "",
        *detail,
        "",
        "No target is set for the export (issue 15 asks for the figures). Memory stays that of one "
        "patient's record at a time plus the open files, whatever the number of patients.",
    ]
    run.finish(TITLE, body)


if __name__ == "__main__":
    main()
