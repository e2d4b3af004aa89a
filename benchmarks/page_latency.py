"""Benchmark: patient chart and chair board latency under 20 concurrent clients.

Starts `ketaflow serve` on a demo database (build it first with `ketaflow demo-data`),
signs in one nurse per clinic, then keeps 20 concurrent clients busy for a fixed time:
10 asking for patient charts (a random patient, with the session of a nurse of the
patient's clinic) and 10 asking for chair boards (a random clinic, same sessions). It
reports the median, 95th and 99th percentile per page and checks that every answered
read left its audit event. Target (issue 5): p95 under 300 ms on SQLite on this machine.

By default it measures the busiest moment: it copies the SQLite database to a temporary
folder and charts a running infusion in every chair of every clinic there
(`busy_board.py`); the database given is not changed. `--as-built` measures it as it is.
Before the clock starts, every page kind is fetched once per clinic (warm-up, untimed).

The load generator matters on a 2-core machine: 20 Python clients eat about as much CPU
as the server. The default client is `wrk` (C, one process per page kind, Debian package
`wrk`: `apt-get install wrk`), driven by a generated Lua script; `--client httpx` uses
asyncio+httpx clients in this process instead.

    .venv/bin/python benchmarks/page_latency.py --database-url sqlite:////tmp/ketaflow-bench.sqlite \
        [--duration 30] [--client wrk|httpx] [--workers N] [--out BENCHMARKS.md] [--no-write]
    .venv/bin/python benchmarks/page_latency.py --smoke --out /tmp/B.md   # tiny network, 2 s of load

It writes its section of BENCHMARKS.md (``<!-- bench:Page latency -->``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, make_url, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from busy_board import READING_EVERY_MIN, STARTED_MIN_AGO, fill_chairs  # noqa: E402
from report import Run, add_common_arguments, plural, verdict  # noqa: E402

from ketaflow.store import models as m  # noqa: E402
from ketaflow.store.engine import make_engine  # noqa: E402

TITLE = "Page latency"
PASSWORD = "ketaflow-demo"
CLIENTS = 20
TARGET_MS = 300.0  # issue 5: p95 of each page under 300 ms, SQLite, 20 concurrent clients
DURATION_S = 30
SMOKE_DURATION_S = 2
SMOKE_NETWORK = {"clinics": 1, "patients": 40, "seed": 21}
COOKIE = "ketaflow_session"
KINDS = ("patient chart", "chair board")


@dataclass
class PageResult:
    requests: int = 0
    errors: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    samples: list[float] = field(default_factory=list)


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


def busy_copy(url: str, folder: Path) -> tuple[str, int]:
    """An online copy of the SQLite database with every chair in use (`busy_board.fill_chairs`).

    The benchmark charts into the copy, never into the database it was given.
    """
    source = make_url(url).database
    if make_url(url).get_backend_name() != "sqlite" or not source:
        raise SystemExit("page_latency.py measures the embedded SQLite database: give a sqlite:/// URL.")
    if not Path(source).exists():
        raise SystemExit(f"{source} does not exist; build it first with `ketaflow demo-data`.")
    target = folder / "page-latency.sqlite"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    copy_url = f"sqlite:///{target}"
    engine = make_engine(copy_url)
    filled = fill_chairs(engine, datetime.now(UTC))
    engine.dispose()
    return copy_url, filled


def read_audits(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.scalar(
            select(func.count())
            .select_from(m.AuditEvent)
            .where(m.AuditEvent.action.in_(["patient.read", "board.view"]))
        )
    engine.dispose()
    return int(n or 0)


def sign_in(base: str, code: str) -> str:
    """Sign in before the clock starts (argon2 is deliberately slow; sign-in is not what is measured)."""
    with httpx.Client(base_url=base) as browser:  # the sign-in form first: its CSRF token and cookie
        form = browser.get("/login").text
        csrf = form.split('name="csrf" value="')[1].split('"')[0]
        response = browser.post(
            "/login", data={"email": f"nurse1.{code}@demo.ketaflow.org", "password": PASSWORD, "csrf": csrf}
        )
    if response.status_code != 303:
        raise SystemExit(f"sign-in as nurse1.{code} failed: {response.status_code}")
    return response.cookies[COOKIE]


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of process `root` and its descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    wanted, total = {root}, 0.0
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in stats.items():
            if ppid in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    for pid in wanted:
        total += stats.get(pid, (0, 0.0))[1]
    return total


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# ---- wrk ------------------------------------------------------------------------------

LUA = """
local targets = {%(targets)s}
local n = #targets
math.randomseed(%(seed)d)
request = function()
  local t = targets[math.random(n)]
  return wrk.format("GET", t[1], {["Cookie"] = "%(cookie)s=" .. t[2]})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "errors": %%d, "p50": %%d, "p95": %%d, "p99": %%d}\\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def lua_script(targets: list[tuple[str, str]], seed: int) -> str:
    body = ", ".join(f'{{"{path}", "{cookie}"}}' for path, cookie in targets)
    return LUA % {"targets": body, "seed": seed, "cookie": COOKIE}


def run_wrk(
    base: str, clinics: dict[str, list[str]], cookies: dict[str, str], duration_s: int
) -> tuple[dict[str, PageResult], float]:
    charts = [(f"/patients/{pid}", cookies[code]) for code, ids in clinics.items() for pid in ids]
    boards = [(f"/clinics/{code}/board", cookies[code]) for code in clinics]
    folder = Path(tempfile.mkdtemp(prefix="ketaflow-wrk-"))
    procs = {}
    started = time.perf_counter()
    for i, (kind, targets) in enumerate(zip(KINDS, (charts, boards), strict=True)):
        script = folder / f"{i}.lua"
        script.write_text(lua_script(targets, seed=i + 1))
        procs[kind] = subprocess.Popen(
            ["wrk", "-t1", f"-c{CLIENTS // 2}", f"-d{duration_s}s", "--timeout", "10s", "-s", str(script)]
            + [base],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    results: dict[str, PageResult] = {}
    for kind, proc in procs.items():
        out, _ = proc.communicate()
        line = next((x for x in out.splitlines() if x.startswith("WRKJSON ")), None)
        if line is None:
            raise SystemExit(f"wrk gave no summary for {kind}:\n{out}")
        data = json.loads(line.removeprefix("WRKJSON "))
        results[kind] = PageResult(
            requests=data["requests"],
            errors=data["errors"],
            p50_ms=data["p50"] / 1000,
            p95_ms=data["p95"] / 1000,
            p99_ms=data["p99"] / 1000,
        )
    shutil.rmtree(folder, ignore_errors=True)
    return results, time.perf_counter() - started


# ---- asyncio + httpx (the previous client, for comparison) ----------------------------


async def client_loop(
    base: str,
    clinics: dict[str, list[str]],
    cookies: dict[str, str],
    kind: str,
    deadline: float,
    seed: int,
    result: PageResult,
) -> None:
    rng = random.Random(seed)
    codes = sorted(clinics)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while time.perf_counter() < deadline:
            code = rng.choice(codes)
            path = f"/patients/{rng.choice(clinics[code])}" if kind == KINDS[0] else f"/clinics/{code}/board"
            start = time.perf_counter()
            response = await client.get(path, cookies={COOKIE: cookies[code]})
            result.samples.append((time.perf_counter() - start) * 1000)
            result.requests += 1
            if response.status_code != 200:
                result.errors += 1


def run_httpx(
    base: str, clinics: dict[str, list[str]], cookies: dict[str, str], duration_s: int
) -> tuple[dict[str, PageResult], float]:
    results = {kind: PageResult() for kind in KINDS}

    async def run() -> None:
        deadline = time.perf_counter() + duration_s
        await asyncio.gather(
            *[
                client_loop(base, clinics, cookies, KINDS[i % 2], deadline, i, results[KINDS[i % 2]])
                for i in range(CLIENTS)
            ]
        )

    started = time.perf_counter()
    asyncio.run(run())
    for r in results.values():
        r.p50_ms, r.p95_ms, r.p99_ms = statistics.median(r.samples), pct(r.samples, 95), pct(r.samples, 99)
    return results, time.perf_counter() - started


def wrk_version() -> str:
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).split("Copyright")[0].strip() or "wrk (version unknown)"


def smoke_database(folder: Path) -> str:
    from ketaflow.demo.build import build_network
    from ketaflow.demo.settings import DemoSettings

    url = f"sqlite:///{folder / 'smoke.sqlite'}"
    engine = make_engine(url)
    build_network(engine, DemoSettings(**SMOKE_NETWORK))  # type: ignore[arg-type]
    engine.dispose()
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default="sqlite:///data/ketaflow.sqlite")
    parser.add_argument("--duration", type=int, default=DURATION_S, help="seconds of load")
    parser.add_argument("--client", choices=["wrk", "httpx"], default="wrk")
    parser.add_argument("--port", type=int, default=0, help="server port (0: a free one)")
    parser.add_argument(
        "--workers", type=int, default=0, help="server worker processes (0: one per core, as `serve` does)"
    )
    parser.add_argument(
        "--as-built",
        action="store_true",
        help="measure the database as it is, without filling every chair first (boards then show "
        "bookings only, or nothing late in the day)",
    )
    add_common_arguments(parser)
    args = parser.parse_args()
    args.workers = args.workers or len(os.sched_getaffinity(0))
    if args.smoke:
        args.workers = 1
    if args.client == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk); or use --client httpx.")
    run = Run(args)
    if not args.port:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            args.port = sock.getsockname()[1]
    scratch = tempfile.TemporaryDirectory(prefix="ketaflow-page-latency-")
    if args.smoke:
        print("Building a tiny demo network ...", flush=True)
        args.database_url, args.duration = smoke_database(Path(scratch.name)), SMOKE_DURATION_S
    measured_url, busy_chairs = args.database_url, 0
    if not args.as_built:
        print("Copying the database and putting a running infusion in every chair ...", flush=True)
        measured_url, busy_chairs = busy_copy(args.database_url, Path(scratch.name))
    clinics = patients_by_clinic(measured_url)
    total_patients = sum(len(v) for v in clinics.values())
    log_path = Path(scratch.name) / "server.log"
    log_file = log_path.open("w")  # a file, not a pipe: a full pipe would stall the server
    command = [sys.executable, "-m", "ketaflow", "serve", "--database-url", measured_url]
    server = subprocess.Popen(
        [*command, "--port", str(args.port), "--workers", str(args.workers)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(300):
            if server.poll() is not None:
                raise SystemExit(f"the server stopped: {log_path.read_text().strip()[-500:]}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        cookies = {code: sign_in(base, code) for code in sorted(clinics)}
        # Warm up (first template compile, statement caches, page cache), untimed.
        for code in sorted(clinics):
            for path in (f"/clinics/{code}/board", f"/patients/{clinics[code][0]}"):
                httpx.get(f"{base}{path}", cookies={COOKIE: cookies[code]}, timeout=30)
        run.quiet()
        audits_before = read_audits(measured_url)
        runner = run_wrk if args.client == "wrk" else run_httpx
        cpu_before = cpu_seconds(server.pid)
        results, wall = runner(base, clinics, cookies, args.duration)
        server_cpu = cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log_file.close()
    audits = read_audits(measured_url) - audits_before
    log_lines = log_path.read_text().splitlines()
    scratch.cleanup()
    errors = [line for line in log_lines if "ERROR" in line or "WARNING" in line]
    answered = sum(r.requests - r.errors for r in results.values())
    total = sum(r.requests for r in results.values())
    client_text = (
        f"`{wrk_version()}` (C; two processes, one thread and {CLIENTS // 2} connections each: one on "
        "charts, one on boards)"
        if args.client == "wrk"
        else f"asyncio + httpx in the benchmark's own Python process ({CLIENTS} tasks)"
    )
    readings = STARTED_MIN_AGO // READING_EVERY_MIN + 1
    board_state = (
        f"Every chair was in use: {busy_chairs} running infusions, one per chair of every clinic, "
        f"{STARTED_MIN_AGO} minutes in with {readings} sets of vitals each, alerts on every fourth chair "
        "and an open request for help on every third (charted by `benchmarks/busy_board.py` into a "
        "copy of the database)."
        if busy_chairs
        else "The boards were measured as built (`--as-built`: bookings, no infusion under way)."
    )
    lines = [
        f"Workload: `ketaflow serve --workers {args.workers}` on the demo network "
        f"({plural(len(clinics), 'clinic')}, {plural(total_patients, 'patient')}, SQLite). "
        f"Client: {client_text}. {CLIENTS} concurrent clients "
        f"for {args.duration} s, each request with the session of a nurse of the clinic (signed in "
        f"before timing; every page kind fetched once per clinic before the clock started): half ask "
        f"for the chart of a random patient, half for the chair board of a random clinic. "
        f"{board_state} {total:,} requests in {wall:.1f} s ({total / wall:.0f} requests/s); "
        f"{total - answered} not answered 200. Every answered read wrote its audit event: "
        f"{audits:,} `patient.read`/`board.view` events for {answered:,} pages"
        f"{'' if audits >= answered else ' (MISSING AUDITS)'}. The server used "
        f"{server_cpu:.1f} CPU-seconds, {server_cpu / max(1, total) * 1000:.1f} ms of CPU per request; "
        f"its log had {len(errors)} error or warning lines"
        + (f" (first: `{errors[0].strip()[:200]}`)." if errors else "."),
        "",
        f"| page | requests | not 200 | median | p95 | p99 | target p95 < {TARGET_MS:.0f} ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, r in results.items():
        lines.append(
            f"| {kind} | {r.requests:,} | {r.errors:,} | {r.p50_ms:.0f} ms | **{r.p95_ms:.0f} ms** | "
            f"{r.p99_ms:.0f} ms | {verdict(r.p95_ms < TARGET_MS)} |"
        )
    ok = all(r.p95_ms < TARGET_MS for r in results.values()) and total > 0 and answered == total
    lines += [
        "",
        f"Target p95 under {TARGET_MS:.0f} ms for both pages, every request answered: **{verdict(ok)}**.",
    ]
    run.finish(TITLE, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
