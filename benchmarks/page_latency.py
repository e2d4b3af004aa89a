"""Benchmark: patient chart and chair board latency under 20 concurrent clients.

Starts `ketaflow serve` on a demo database (build it first with `ketaflow demo-data`),
signs in one nurse per clinic, then runs 20 concurrent clients that each request a
mix of patient charts (random patients of their clinic) and chair boards, and reports
the median, 95th and 99th percentile per page. Target (issue 5): p95 under 300 ms on
SQLite on this machine.

    .venv/bin/python benchmarks/page_latency.py --database-url sqlite:///data/ketaflow.sqlite \
        [--requests 2000] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine, wait_for_quiet, write_section  # noqa: E402

from ketaflow.store import models as m  # noqa: E402
from ketaflow.store.engine import make_engine  # noqa: E402

TITLE = "Page latency"
PASSWORD = "ketaflow-demo"
CLIENTS = 20
TARGET_MS = 300.0


def patients_by_clinic(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.Clinic.code, m.Patient.id).join(m.Patient, m.Patient.clinic_id == m.Clinic.id)
        )
        out: dict[str, list[str]] = {}
        for code, pid in rows:
            out.setdefault(code, []).append(str(pid))
    engine.dispose()
    return out


def sign_in(base: str, code: str) -> httpx.Cookies:
    """Sign in before the clock starts (argon2 is deliberately slow; sign-in is not what is measured)."""
    response = httpx.post(
        f"{base}/login", data={"email": f"nurse1.{code}@demo.ketaflow.org", "password": PASSWORD}
    )
    if response.status_code != 303:
        raise SystemExit(f"sign-in as nurse1.{code} failed: {response.status_code}")
    return response.cookies


async def client_loop(
    base: str,
    code: str,
    cookies: httpx.Cookies,
    patients: list[str],
    n: int,
    seed: int,
    timings: dict[str, list[float]],
) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=30, cookies=cookies) as client:
        for _ in range(n):
            if rng.random() < 0.5:
                kind, path = "patient chart", f"/patients/{rng.choice(patients)}"
            else:
                kind, path = "chair board", f"/clinics/{code}/board"
            start = time.perf_counter()
            response = await client.get(path)
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}")
            timings[kind].append(elapsed)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="sqlite:///data/ketaflow.sqlite")
    parser.add_argument("--requests", type=int, default=2000, help="total requests across all clients")
    parser.add_argument("--port", type=int, default=8077)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    clinics = patients_by_clinic(args.database_url)
    total_patients = sum(len(v) for v in clinics.values())
    log_path = Path(tempfile.gettempdir()) / "ketaflow-page-latency-server.log"
    log_file = log_path.open("w")  # a file, not a pipe: a full pipe would stall the server
    command = [sys.executable, "-m", "ketaflow", "serve", "--database-url", args.database_url]
    server = subprocess.Popen(
        [*command, "--port", str(args.port), "--workers", str(args.workers)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        wait_for_quiet(60)
        host = machine()
        timings: dict[str, list[float]] = {"patient chart": [], "chair board": []}
        codes = sorted(clinics)
        per_client = args.requests // CLIENTS
        cookies = {code: sign_in(base, code) for code in codes}

        async def run() -> None:
            await asyncio.gather(
                *[
                    client_loop(
                        base,
                        codes[i % len(codes)],
                        cookies[codes[i % len(codes)]],
                        clinics[codes[i % len(codes)]],
                        per_client,
                        i,
                        timings,
                    )
                    for i in range(CLIENTS)
                ]
            )

        started = time.perf_counter()
        asyncio.run(run())
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log_file.close()
    errors = [line for line in log_path.read_text().splitlines() if "ERROR" in line or "WARNING" in line]
    if errors:
        print(f"server reported {len(errors)} errors or warnings (see {log_path}), e.g. {errors[0]}")

    lines = [
        f"## {TITLE}",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `.venv/bin/python benchmarks/page_latency.py "
        f"--database-url {args.database_url} --requests {args.requests} --workers {args.workers} --write`.",
        "",
        f"Machine: `nproc` = {host['nproc']}, CPU {host['cpu']}, Python {host['python']}; "
        f"load average at start {host['load_average']}.",
        "",
        f"Workload: `ketaflow serve --workers {args.workers}` on the demo network ({len(clinics)} clinics, "
        f"{total_patients:,} patients); {CLIENTS} concurrent clients, each signed in (before timing) as "
        f"a nurse of one clinic, {per_client} requests each, half patient charts (a random patient of "
        f"the clinic) and half chair boards; every read writes its audit event. "
        f"{sum(len(v) for v in timings.values()):,} requests in {wall:.1f} s "
        f"({sum(len(v) for v in timings.values()) / wall:.0f} requests/s).",
        "",
        "| page | requests | median | p95 | p99 | target p95 < 300 ms |",
        "|---|---|---|---|---|---|",
    ]
    for kind, values in timings.items():
        p95 = pct(values, 95)
        lines.append(
            f"| {kind} | {len(values)} | {statistics.median(values):.0f} ms | **{p95:.0f} ms** | "
            f"{pct(values, 99):.0f} ms | {'met' if p95 < TARGET_MS else 'NOT met'} |"
        )
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(TITLE, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
