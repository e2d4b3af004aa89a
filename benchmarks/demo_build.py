"""Benchmark: build the default demo network (9 clinics, 3,500 patients) on SQLite and PostgreSQL.

Times `ketaflow.demo.build.build_network` with the default settings (as `ketaflow
demo-data` runs it, progress bar aside) into a brand-new database, each build in a new
Python process (the script runs itself with ``--child``): a new SQLite file in a temporary
folder and, with --postgres-url, a PostgreSQL database of that name, dropped and created
afresh before each build (only that database is touched). The SQLite and PostgreSQL builds
of a round alternate, so load from other work falls on both alike.
Target (issue 2): under 2 minutes on each, on a 2-core machine.

Usage::

    .venv/bin/python benchmarks/demo_build.py [--runs 3] \
        [--postgres-url postgresql://postgres@127.0.0.1:5432/ketaflow_bench_build] [--out BENCHMARKS.md]
    .venv/bin/python benchmarks/demo_build.py --smoke --out /tmp/B.md [--postgres-url URL]

It writes its section of BENCHMARKS.md (``<!-- bench:Demo network build -->``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import Run, Timing, add_common_arguments, child_reply, plural, run_child, verdict  # noqa: E402
from sqlalchemy import make_url  # noqa: E402

TITLE = "Demo network build"
SCRIPT = Path(__file__).resolve()
TARGET_S = 120.0  # issue 2: the default demo network in under 2 minutes on each engine
RUNS = 3
AS_OF = date(2026, 11, 25)  # a fixed day: the same network on every day the benchmark runs
SMOKE = {"clinics": 1, "patients": 20}


def settings(smoke: bool) -> Any:
    from ketaflow.demo.settings import DemoSettings

    base = DemoSettings(as_of=AS_OF)
    return replace(base, **SMOKE) if smoke else base


def fresh_postgres(url: str) -> None:
    """Drop and create the database `url` names (and only it), through the server's `postgres` database."""
    from ketaflow.store.engine import make_engine

    name = make_url(url).database
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"--postgres-url must name a database (letters, digits, _): {url}")
    admin_url = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()


def child(request: dict[str, Any]) -> dict[str, Any]:
    """One build in this new process, into a brand-new database; the time covers the build only."""
    from ketaflow.demo.build import build_network
    from ketaflow.store.engine import make_engine

    with tempfile.TemporaryDirectory(prefix="ketaflow-bench-build-") as folder:
        url = request["url"] or f"sqlite:///{folder}/bench.sqlite"
        if request["url"]:
            fresh_postgres(url)
        engine = make_engine(url)
        try:
            start = time.perf_counter()
            result = build_network(engine, settings(request["smoke"]))
            elapsed = time.perf_counter() - start
        finally:
            engine.dispose()
    return {"s": elapsed, "counts": result.counts}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument(
        "--postgres-url",
        help="a PostgreSQL database this script may drop and create (e.g. ketaflow_bench_build)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    add_common_arguments(parser)
    args = parser.parse_args()
    if args.child:
        child_reply(child(json.loads(args.child)))
        return 0
    pg_url = args.postgres_url
    run = Run(args, pg_url)
    runs = 1 if args.smoke else args.runs
    engines = {"SQLite": None, **({"PostgreSQL": pg_url} if pg_url else {})}
    times = {name: Timing() for name in engines}
    counts: dict[str, int] = {}
    for _ in range(runs):
        for name, url in engines.items():
            run.quiet()
            result = run_child(SCRIPT, {"url": url, "smoke": args.smoke})
            times[name].samples.append(result["s"])
            counts = result["counts"]
            print(f"{name}: {result['s']:.1f} s", flush=True)
    s = settings(args.smoke)
    rows = sum(v for k, v in counts.items() if k != "demo_builds")
    lines = [
        f"Workload: `ketaflow demo-data` with {'the smoke' if args.smoke else 'the default'} settings "
        f"({plural(s.clinics, 'clinic')}, {plural(s.patients, 'patient')}, seed {s.seed}, as of {s.as_of}) "
        "into a brand-new database, each build in a new Python process (the time covers the build, "
        "not starting Python): "
        f"{counts.get('infusion_sessions', 0):,} infusion sessions, {counts.get('vital_signs', 0):,} "
        f"vital-sign sets, {rows:,} rows in all. The builder generates clinics in worker processes while "
        "the main process writes, one transaction per clinic. The builds of a round alternate between "
        "the engines. Figures: median [min-max] (number of builds).",
        "",
        f"| engine | build time | target (< {TARGET_S:.0f} s) |",
        "|---|---|---|",
    ]
    for name, t in times.items():
        lines.append(f"| {name} | **{t.text('s', 1)}** | {verdict(t.median < TARGET_S)} |")
    if not pg_url:
        lines.append("| PostgreSQL | not measured (no --postgres-url) | not measured |")
    ok = all(t.median < TARGET_S for t in times.values())
    lines += [
        "",
        f"Target under {TARGET_S:.0f} s on each engine measured: **{verdict(ok)}**"
        + ("" if pg_url else " (SQLite only)")
        + ".",
    ]
    run.finish(TITLE, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
