"""Benchmark: the outcomes dashboard (network and one clinic), the dissociation report, one patient.

Times the service calls the CLI, API and web pages make (``ketaflow.services.outcomes``)
on an existing demo network, warm (engine connected, statements compiled once), and
reports the median of ``--runs`` calls, with each SQL query of the dashboard timed alone.
The network dashboard is timed cold (``cache=False``: every query runs) and reused (on a
SQLite file the figures are kept while the data version is unchanged; the figure includes
reading that version).
Target (issue 6): the network dashboard in under 300 ms on SQLite over the default demo
network (~35,000 infusions); under 3 s on PostgreSQL at 100 times that size.

Build the databases first (about 1.5 minutes each)::

    .venv/bin/ketaflow demo-data --as-of 2026-11-25 --database-url sqlite:////tmp/outcomes-demo.sqlite
    .venv/bin/ketaflow demo-data --as-of 2026-11-25 --database-url postgresql+psycopg://postgres@127.0.0.1/bench

Usage::

    .venv/bin/python benchmarks/outcomes_dashboard.py --database-url URL [--database-url URL ...]
                                                      [--note TEXT ...] [--runs 9] [--write]

A PostgreSQL network N times the demo (see ``replicate``), from a built 1x database::

    .venv/bin/python benchmarks/outcomes_dashboard.py \
        --database-url postgresql+psycopg://postgres@127.0.0.1/postgres --replicate bench bench_100x 100

``--write`` replaces the "## Outcomes dashboard" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine, wait_for_quiet, write_section  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from ketaflow.services import outcomes as o  # noqa: E402
from ketaflow.services.outcomes.summary import refresh_outcome_summaries  # noqa: E402
from ketaflow.store import models as m  # noqa: E402
from ketaflow.store import outcome_queries as q  # noqa: E402
from ketaflow.store.engine import make_engine  # noqa: E402

TITLE = "Outcomes dashboard"
TARGET_SQLITE_MS = 300.0
TARGET_LARGE_MS = 3000.0
NOTES = [
    "What changed for SQLite (529 ms before): statements are built once per shape and reused",
    "(building them cost tens of ms of Python per call); recovery time is one scan of discharges with one",
    "probe of the new `administration_events (kind, session_id, occurred_at)` index per discharge, in an",
    "OFFSET 0 subquery (MATERIALIZED CTEs wrote every row to a temporary table first); on a SQLite file",
    "the dashboard is reused while a cheap data version is unchanged (largest rowid of each table it reads,",
    "row count and sum of versions of plans and appointments, clinic names: about 5 ms to read). The cold",
    "figure above runs every query (`cache=False`).",
    "",
    "PostgreSQL 10x and 100x were built by replicating the generated 1x network inside PostgreSQL",
    "(`--replicate`, 10x in under a minute, 100x in about 20 minutes on this busy machine): every row of",
    "the tables the dashboard reads is copied N-1 times with ids mapped by md5(id || copy), so each copy",
    "is a faithful clone of the original patients (same 9 clinics and dates; MRN suffixed). Vital signs",
    "and the other tables the dashboard never reads were not copied. The generator itself (about",
    "17,000 rows a second) would need hours for 100x.",
    "",
    "PostgreSQL 100x (under 3 s): met by a stored summary, not by faster SQL. Measured first (EXPLAIN",
    "ANALYZE at 100x, load 4-5): the live queries read every infusion, discharge and questionnaire (10 GB):",
    "infusion counts 1.8 s, side effects 1.4 s, recovery 8.7 s and the course figures 55-66 s (per-course",
    "index probes for the baseline, end-of-induction and first-response PHQ-9, about 7 million buffer",
    "reads, and two hash joins over all 7.5 million questionnaires). On PostgreSQL the course rows now",
    "come from set-based passes (DISTINCT ON over joins, same conditions and order; `_courses_setwise`):",
    "measured at 100x, load about 1, the course query 37 s -> 11 s and the dissociation rows 45 s -> 19 s,",
    "with identical results at 1x and 100x. Still, queries that must read 10 GB do not get to 3 s on 2",
    "shared cores (recovery alone: 8.7 s). So a refresh",
    "(`ketaflow.services.outcomes.summary.refresh_outcome_summaries`) runs the same live queries once,",
    "in one REPEATABLE READ snapshot, and stores each clinic's counts and",
    "sums in `outcome_summaries` (migration 0004); on PostgreSQL the dashboard reads those rows (a network",
    "or clinic dashboard is a sum of clinics), marks its figures `as_of` and says so on the page. Read",
    "figures older than 15 minutes start a refresh in a background thread; the reader is not kept",
    "waiting. The figures are the live ones value for value (tests compare both paths, SQLite and",
    "PostgreSQL). Rows charted after the refresh are not in them until the next one: the price of the",
    "3 s target. SQLite is unchanged (live figures, reused while its data version is unchanged).",
    "",
    "On PostgreSQL the live rows (`network dashboard`, `reused`, `clinic dashboard`) are timed with",
    "`summary=False`: nothing is reused there. The dissociation report (per-patient rows for a logistic",
    "model) is still computed live: faster with the set-based course rows, but not under 3 s at 100x.",
    "",
    "Statistics matter: after ANALYZE on a database with no amendments, SQLite judges the",
    "`amends_id` indexes useless and runs the correlated NOT EXISTS of `ketaflow.store.facts.current()`",
    "as a full table scan per row. The outcome queries therefore test currency with NOT IN over the",
    "amends_id values, evaluated once. Measure SQLite on an analyzed database (the demo build analyzes).",
    "",
    "SQLite re-measured 2026-12-04 (the tables above are from 2026-11-25, when PostgreSQL at 100x",
    "was built; that database is not on this machine, so the section was not rewritten): on a demo",
    "network built that day with the same settings, network dashboard cold 167 ms (158-196),",
    "reused 5 ms, clinic 20 ms, dissociation report 94 ms; course summary 69 ms and recovery",
    "minutes 66 ms alone (load average 4.2, 08:08 UTC). At 05:00-07:00 the same day, with the",
    "machine busier, six runs had medians of 234 to 344 ms with every query uniformly slower:",
    "the cold figure depends on the shared 2-core machine and is under the target when it is not",
    "saturated.",
    "",
]


# --- a larger PostgreSQL network by replication ----------------------------------------------
# The generator writes about 17,000 rows a second, so a 100x network (3.5 million infusions)
# would take hours. Instead the built 1x network is copied N-1 times inside PostgreSQL
# (INSERT ... SELECT ... CROSS JOIN generate_series): every row of the tables the outcome
# queries read gets, in copy k, a new id md5(old id || k) and the same mapping for every
# reference to a copied table, so each copy is a faithful clone of the original patients
# (same clinics, same dates, new patients with MRN suffix -k). Not copied: vital signs,
# doses, comfort, consultations and other tables the dashboard never reads.
REPLICATED = (
    "patients",
    "treatment_plans",
    "appointments",
    "infusion_sessions",
    "questionnaire_responses",
    "side_effects",
    "administration_events",
    "discharges",
)
MAPPED_COLUMNS = {"id", "patient_id", "treatment_plan_id", "appointment_id", "session_id", "amends_id"}


def replicate(admin_url: str, source: str, target: str, times: int) -> None:
    """Create database `target` as `times` copies of `source` (PostgreSQL), then ANALYZE it."""
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target}"'))
        conn.execute(text(f'CREATE DATABASE "{target}" TEMPLATE "{source}"'))
    admin.dispose()
    engine = create_engine(admin_url.rsplit("/", 1)[0] + f"/{target}", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("SET session_replication_role = replica"))  # no FK triggers: ids map 1:1
        for table in REPLICATED:
            cols = [
                r[0]
                for r in conn.execute(
                    text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
                    {"t": table},
                )
            ]

            def expr(c: str, table: str = table) -> str:
                if c in MAPPED_COLUMNS:
                    return f"md5(src.{c}::text || ':' || k)::uuid"
                if table == "patients" and c == "mrn":
                    return "src.mrn || '-' || k"
                return f"src.{c}"

            started = time.perf_counter()
            conn.execute(
                text(
                    f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(expr(c) for c in cols)} "
                    f"FROM {table} AS src CROSS JOIN generate_series(1, {times - 1}) AS k"
                )
            )
            print(f"{table}: copied in {time.perf_counter() - started:.0f} s", flush=True)
        conn.execute(text("ANALYZE"))
    engine.dispose()


def median_ms(fn: Callable[[], Any], runs: int, warm: bool = True) -> tuple[float, float, float]:
    if warm:
        fn()  # compile and warm once
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times), max(times)


# Above this many infusions a database is "large": fewer runs, and the queries are not timed alone.
LARGE_INFUSIONS = 200_000


def summary_calls(engine: Any, clinic: str, runs: int) -> dict[str, tuple[float, float, float]]:
    """PostgreSQL: the stored summary's refresh (timed once per run) and the dashboard read from it.

    The dashboard from the summary is timed cold: each call on a new engine (new connection,
    nothing cached in the process but compiled statements), then warm on one engine.
    """
    out = {
        "summary refresh (every query, stored)": median_ms(
            lambda: refresh_outcome_summaries(engine), runs, warm=False
        )
    }
    url = engine.url.render_as_string(hide_password=False)

    def cold(**kw: Any) -> None:
        fresh = make_engine(url)
        try:
            board = o.outcomes_dashboard(fresh, **kw)
            assert board.as_of is not None, "the dashboard did not read the stored summary"
        finally:
            fresh.dispose()

    out["network dashboard from summary, cold (new connection)"] = median_ms(lambda: cold(), 7, warm=False)
    out["network dashboard from summary, warm"] = median_ms(lambda: o.outcomes_dashboard(engine), 7)
    out[f"clinic dashboard ({clinic}) from summary, cold"] = median_ms(
        lambda: cold(clinic=clinic), 7, warm=False
    )
    return out


def bench(url: str, runs: int, note: str = "", large_runs: int = 1) -> dict[str, Any]:
    engine = make_engine(url)
    d = o.outcome_definitions()
    with engine.connect() as conn:
        infusions = conn.execute(select(func.count()).select_from(m.InfusionSession)).scalar_one()
        patients = conn.execute(select(func.count()).select_from(m.Patient)).scalar_one()
        clinic = q.clinics(conn)[0][1]
        mrn = conn.execute(
            select(m.Patient.mrn)
            .join(m.InfusionSession, m.InfusionSession.patient_id == m.Patient.id)
            .limit(1)
        ).scalar_one()
    calls: dict[str, Callable[[], Any]] = {
        "network dashboard": lambda: o.outcomes_dashboard(engine, cache=False, summary=False),
        "network dashboard, reused (data unchanged)": lambda: o.outcomes_dashboard(engine, summary=False),
        f"clinic dashboard ({clinic})": lambda: o.outcomes_dashboard(
            engine, clinic=clinic, cache=False, summary=False
        ),
        "dissociation report": lambda: o.dissociation_report(engine),
        "one patient's trajectory": lambda: o.patient_trajectory(engine, mrn=mrn),
    }
    large = infusions > LARGE_INFUSIONS
    if large:
        runs = large_runs
    # Large databases: the slow live calls run once, cold, without a warm-up run.
    results = {name: median_ms(fn, runs, warm=not large) for name, fn in calls.items()}
    if engine.dialect.name != "sqlite":
        results.update(summary_calls(engine, clinic, runs if not large else 1))
    queries: dict[str, Callable[[Any], Any]] = {
        "course_summary (counts and first responses)": lambda c: q.course_summary(c, d, None),
        "infusion_counts": lambda c: q.infusion_counts(c, None),
        "side_effect_counts": lambda c: q.side_effect_counts(c, None),
        "adverse_event_infusions": lambda c: q.adverse_event_infusions(c, None),
        "blood_pressure_pauses": lambda c: q.blood_pressure_pauses(c, None),
        "recovery_minutes_sums": lambda c: q.recovery_minutes_sums(c, None),
        "data_version": lambda c: q.data_version(c),
    }
    with engine.connect() as conn:
        per_query = (
            {} if large else {name: median_ms(lambda f=f: f(conn), runs) for name, f in queries.items()}
        )
    engine.dispose()
    return {
        "url": engine.url.render_as_string(hide_password=True),
        "dialect": engine.dialect.name,
        "infusions": infusions,
        "patients": patients,
        "note": note,
        "calls": results,
        "runs": runs,
        "queries": per_query,
    }


def render(results: list[dict[str, Any]], host: dict[str, str], runs: int, busy: bool) -> str:
    lines = [
        f"## {TITLE}",
        "",
        "`benchmarks/outcomes_dashboard.py`: the service calls behind `ketaflow outcomes` and the outcome "
        "pages,",
        f"warm, median of {runs} calls (min-max in brackets). Target: network dashboard under "
        f"{TARGET_SQLITE_MS:.0f} ms on SQLite over the default demo network.",
        "",
        f"Machine: {host['nproc']} cores, {host['cpu']}, Python {host['python']}, numpy {host['numpy']}, "
        f"load average {host['load_average']}" + (" (the machine never became quiet)" if busy else "") + ".",
        "",
    ]
    for r in results:
        lines += [
            f"**{r['dialect']}** ({r['patients']:,} patients, {r['infusions']:,} infusions)"
            + (f": {r['note']}" if r["note"] else ""),
            "",
            "| call | median ms | min-max ms |",
            "| --- | ---: | ---: |",
        ]
        for name, (med, lo, hi) in r["calls"].items():
            lines.append(f"| {name} | {med:.0f} | {lo:.0f}-{hi:.0f} |")
        if r["queries"]:
            lines += ["", "| dashboard query, alone | median ms |", "| --- | ---: |"]
            for name, (med, _, _) in r["queries"].items():
                lines.append(f"| `{name}` | {med:.0f} |")
        else:
            lines += ["", f"(Large database: {r['runs']} run(s), cold, no warm-up; queries not timed alone.)"]
        lines.append("")
        lines.append(f"Load average after this database: {r['load_after']}.")
        lines.append("")
    sqlite = [r for r in results if r["dialect"] == "sqlite"]
    if sqlite:
        med = sqlite[0]["calls"]["network dashboard"][0]
        status = "met" if med < TARGET_SQLITE_MS else "not met"
        lines += [
            f"Target (network dashboard under {TARGET_SQLITE_MS:.0f} ms on SQLite): **{status}** cold "
            f"({med:.0f} ms, every query run); reused figures: "
            f"{sqlite[0]['calls']['network dashboard, reused (data unchanged)'][0]:.0f} ms.",
            "",
        ]
    large_pg = [r for r in results if r["dialect"] != "sqlite" and r["infusions"] > LARGE_INFUSIONS]
    for r in large_pg:
        calls = r["calls"]
        read = calls["network dashboard from summary, cold (new connection)"][0]
        status = "met" if read < TARGET_LARGE_MS else "not met"
        lines += [
            f"Target (network dashboard under {TARGET_LARGE_MS / 1000:.0f} s on PostgreSQL at "
            f"{r['infusions']:,} infusions): **{status}** from the stored summary ({read:.0f} ms cold, new "
            f"connection); computed live: {calls['network dashboard'][0] / 1000:.1f} s; "
            f"the summary's refresh: {calls['summary refresh (every query, stored)'][0] / 1000:.1f} s.",
            "",
        ]
    lines += NOTES
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", action="append", required=True)
    parser.add_argument(
        "--note", action="append", default=[], help="A note per database URL (e.g. how it was built)."
    )
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--max-wait", type=float, default=60.0, help="Seconds to wait for an idle machine.")
    parser.add_argument("--write", action="store_true", help="Replace the section in BENCHMARKS.md.")
    parser.add_argument("--large-runs", type=int, default=1, help="Runs on a large (100x) database.")
    parser.add_argument("--replicate", nargs=3, metavar=("SOURCE_DB", "TARGET_DB", "TIMES"))
    args = parser.parse_args()
    if args.replicate:
        source, target, times = args.replicate
        replicate(args.database_url[0], source, target, int(times))
        return
    busy = not wait_for_quiet(args.max_wait)
    host = machine()
    notes = args.note + [""] * (len(args.database_url) - len(args.note))
    results = []
    for url, note in zip(args.database_url, notes, strict=True):
        busy = not wait_for_quiet(args.max_wait) or busy
        results.append(bench(url, args.runs, note, args.large_runs))
        results[-1]["load_after"] = machine()["load_average"]
    text = render(results, host, args.runs, busy)
    print(text)
    if args.write:
        write_section(TITLE, text)


if __name__ == "__main__":
    main()
