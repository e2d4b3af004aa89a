"""Benchmark: build the default demo network (9 clinics, 3,500 patients) on SQLite and PostgreSQL.

Times `ketaflow.demo.build.build_network` with the default settings (as `ketaflow
demo-data` runs it, progress bar aside) into a brand-new SQLite file and, when a server
answers at --postgres-url, a brand-new PostgreSQL database (created and dropped here).
Target (issue 2): under 2 minutes on each, on a 2-core machine.

Usage::

    .venv/bin/python benchmarks/demo_build.py [--runs 1] [--postgres-url postgresql://postgres@127.0.0.1:5432]
                                             [--write]

``--write`` replaces the "## Demo network build" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine, wait_for_quiet, write_section  # noqa: E402

from ketaflow.demo.build import build_network  # noqa: E402
from ketaflow.demo.settings import DemoSettings  # noqa: E402
from ketaflow.store.engine import make_engine  # noqa: E402

TITLE = "Demo network build"
TARGET_S = 120.0
SETTINGS = DemoSettings(as_of=date(2026, 11, 25))


def time_sqlite() -> tuple[float, dict[str, int]]:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/bench.sqlite")
        start = time.perf_counter()
        result = build_network(engine, SETTINGS)
        elapsed = time.perf_counter() - start
        engine.dispose()
    return elapsed, result.counts


def time_postgres(server_url: str) -> tuple[float, dict[str, int]] | None:
    admin = make_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT")
    name = f"ketaflow_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except Exception as exc:  # noqa: BLE001 - no server: say so and skip
        print(f"PostgreSQL not reachable at {server_url}: {str(exc).splitlines()[0]}")
        return None
    engine = make_engine(f"{server_url}/{name}")
    try:
        start = time.perf_counter()
        result = build_network(engine, SETTINGS)
        return time.perf_counter() - start, result.counts
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--max-wait", type=float, default=60.0, help="seconds to wait for an idle CPU")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()

    host = machine()
    results: dict[str, list[float]] = {"SQLite": [], "PostgreSQL": []}
    busy = 0
    counts: dict[str, int] = {}
    for _ in range(args.runs):
        busy += not wait_for_quiet(args.max_wait)
        elapsed, counts = time_sqlite()
        results["SQLite"].append(elapsed)
        print(f"SQLite: {elapsed:.1f} s")
        busy += not wait_for_quiet(args.max_wait)
        pg = time_postgres(args.postgres_url)
        if pg:
            results["PostgreSQL"].append(pg[0])
            print(f"PostgreSQL: {pg[0]:.1f} s")

    rows = sum(v for k, v in counts.items() if k != "demo_builds")
    lines = [
        f"## {TITLE}",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `.venv/bin/python benchmarks/demo_build.py "
        f"--runs {args.runs} --write`.",
        "",
        f"Machine: `nproc` = {host['nproc']}, CPU {host['cpu']}, Python {host['python']}; "
        f"load average at start {host['load_average']}; "
        f"{busy} of {2 * args.runs} runs started without a 90 % idle CPU.",
        "",
        f"Workload: `ketaflow demo-data` with the defaults (9 clinics, 3,500 patients, seed 7, as of "
        f"{SETTINGS.as_of}) into a new database: {counts.get('infusion_sessions', 0):,} infusion sessions, "
        f"{counts.get('vital_signs', 0):,} vital-sign sets, {rows:,} rows in all. Generation runs in two "
        "worker processes while the main process writes, one transaction per clinic.",
        "",
        "| engine | runs | median | min-max | target (< 120 s) |",
        "|---|---|---|---|---|",
    ]
    for engine, times in results.items():
        if not times:
            lines.append(f"| {engine} | 0 | not measured (no server) | | |")
            continue
        med = statistics.median(times)
        lines.append(
            f"| {engine} | {len(times)} | **{med:.1f} s** | {min(times):.1f}-{max(times):.1f} s | "
            f"{'met' if med < TARGET_S else 'NOT met'} |"
        )
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(TITLE, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
