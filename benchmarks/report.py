"""Shared helpers for the benchmarks: the machine, timings, child processes, BENCHMARKS.md sections.

Every benchmark script measures, then writes its own section of BENCHMARKS.md from what it
measured in that run, between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``
(:func:`write_section`), leaving the other sections as they are. A section says when and on
what it was measured (:class:`Run`), and whether the script's target was met, computed from
the run's own numbers (:func:`verdict`). Scripts carry no measured figures of their own.

A "cold" sample is one measured call in a new process with a new database connection
(:func:`run_child`): the script runs itself with ``--child`` and reads one JSON line back.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
HISTORY_HEADING = "## History (earlier runs, older code)"
RESULT_PREFIX = "BENCH-RESULT "
MET, NOT_MET = "met", "not met"


# ---- the machine --------------------------------------------------------------------------


def _cpuinfo() -> tuple[str, int]:
    model, count = "unknown", 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("processor"):
                count += 1
    except OSError:
        pass
    return model, count or (os.cpu_count() or 0)


def _ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def postgres_version(url: str) -> str:
    """The server's version (``SHOW server_version``, through its `postgres` database), or why not."""
    from sqlalchemy import make_url

    from ketaflow.store.engine import make_engine

    engine = make_engine(make_url(url).set(database="postgres").render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("SHOW server_version").scalar_one())
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the figure says "unknown"
        return f"unknown ({str(exc).splitlines()[0]})"
    finally:
        engine.dispose()


def machine(postgres_url: str | None = None) -> dict[str, str]:
    """What a reader needs to compare timings: CPU, cores, RAM and the software versions."""
    model, logical = _cpuinfo()
    try:
        import numpy

        numpy_version = numpy.__version__
    except ImportError:  # pragma: no cover - numpy is a dependency
        numpy_version = "absent"
    info = {
        "cpu": model,
        "logical_cpus": str(logical),
        "usable_cpus": str(len(os.sched_getaffinity(0))),
        "ram": _ram_gib(),
        "python": platform.python_version(),
        "numpy": numpy_version,
        "sqlite": sqlite3.sqlite_version,
    }
    if postgres_url:
        info["postgresql"] = postgres_version(postgres_url)
    return info


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def idle_fraction(interval_s: float = 0.5) -> float:
    """Fraction of CPU time idle over the interval, all cores (from /proc/stat)."""

    def snap() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)

    try:
        i0, t0 = snap()
        time.sleep(interval_s)
        i1, t1 = snap()
    except OSError:
        return 1.0
    return (i1 - i0) / max(1, t1 - t0)


def wait_for_quiet(max_wait_s: float) -> bool:
    """Wait until the machine is at least 90 % idle; False if it never was within `max_wait_s`."""
    deadline = time.monotonic() + max_wait_s
    while time.monotonic() < deadline:
        if idle_fraction() >= 0.9:
            return True
    return False


# ---- timings and verdicts -----------------------------------------------------------------


@dataclass
class Timing:
    """Samples of one measured thing, in the unit they were taken in."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def text(self, unit: str, digits: int = 0, scale: float = 1.0) -> str:
        """``median unit [min-max] (number of samples)``."""
        s = [x * scale for x in self.samples]
        if not s:
            return "not measured"
        med = statistics.median(s)
        return f"{med:.{digits}f} {unit} [{min(s):.{digits}f}-{max(s):.{digits}f}] ({len(s)})"


def plural(n: int, word: str) -> str:
    """``1 clinic``, ``9 clinics``, ``3,500 patients``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def verdict(ok: bool) -> str:
    """The word a section states for a target: computed, never typed in."""
    return MET if ok else NOT_MET


# ---- one run of a benchmark script --------------------------------------------------------


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, to check the script works end to end (not a measurement); needs --out",
    )
    parser.add_argument(
        "--out", type=Path, default=BENCHMARKS_MD, help="the BENCHMARKS file to write the section into"
    )
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    parser.add_argument(
        "--max-wait", type=float, default=60.0, help="seconds to wait for a 90 %% idle CPU before each sample"
    )


class Run:
    """One run of a benchmark script: start time, machine, load before and after, busy samples.

    `quiet()` is called before each timed sample: it waits (up to --max-wait s) for a 90 %
    idle CPU and counts the samples that started without one.
    """

    def __init__(self, args: argparse.Namespace, postgres_url: str | None = None) -> None:
        if args.smoke and Path(args.out).resolve() == BENCHMARKS_MD.resolve() and not args.no_write:
            raise SystemExit("--smoke writes only to another file: give --out PATH (or --no-write).")
        self.args = args
        self.smoke: bool = args.smoke
        self.started = datetime.now(UTC)
        self.command = " ".join(shlex.quote(a) for a in [".venv/bin/python", *_script_argv()])
        self.host = machine(postgres_url)
        self.load_before = load_average()
        self.samples = 0
        self.busy = 0

    def quiet(self) -> None:
        self.samples += 1
        if not self.smoke and not wait_for_quiet(self.args.max_wait):
            self.busy += 1

    def header(self, name: str) -> list[str]:
        h = self.host
        pg = f", PostgreSQL {h['postgresql']}" if "postgresql" in h else ""
        lines = [f"## {name}", ""]
        if self.smoke:
            lines += [
                "**Smoke run** (`--smoke`): tiny sizes to check that the script works; the figures "
                "and the verdicts below say nothing about the targets.",
                "",
            ]
        lines += [
            f"Measured {self.started:%Y-%m-%d %H:%M} UTC with `{self.command}`.",
            "",
            f"Machine: {h['cpu']}, {h['logical_cpus']} logical CPUs in /proc/cpuinfo "
            f"({h['usable_cpus']} usable by this process), {h['ram']} RAM; Python {h['python']}, "
            f"NumPy {h['numpy']}, SQLite {h['sqlite']}{pg}. Load average (1, 5, 15 min) before "
            f"{self.load_before}, after {load_average()}; "
            + (
                "idle CPU not waited for (smoke run)."
                if self.smoke
                else f"{self.busy} of {self.samples} timed samples started without a 90 % idle CPU "
                f"(each waited up to {self.args.max_wait:g} s for one)."
            ),
            "",
        ]
        return lines

    def finish(self, name: str, body: Sequence[str]) -> str:
        """Print the section and write it (unless --no-write); returns its text."""
        text = "\n".join([*self.header(name), *body]).rstrip("\n") + "\n"
        print(text)
        if not self.args.no_write:
            write_section(name, text, Path(self.args.out))
        return text


def _script_argv() -> list[str]:
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    return [str(script), *sys.argv[1:]]


# ---- child processes (cold samples) -------------------------------------------------------


def run_child(script: Path, request: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `script --child JSON` in a new Python process and return the JSON it printed.

    The child prints one line ``BENCH-RESULT {...}``; anything else it prints is shown if it
    fails. `env` adds to (or overrides) this process's environment.
    """
    done = subprocess.run(
        [sys.executable, str(script), "--child", json.dumps(request)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line.removeprefix(RESULT_PREFIX))
            return result
    raise SystemExit(
        f"{script.name} --child {request} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
    )


def child_reply(result: dict[str, Any]) -> None:
    """In a child: hand the result back to the parent (see :func:`run_child`)."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# ---- BENCHMARKS.md ------------------------------------------------------------------------


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def write_section(name: str, text: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the marked section `name` of the file at `path`, keeping everything else.

    The section is what lies between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``. A
    section not there yet goes before the history heading (current figures stay above the
    earlier runs), or at the end. The file is replaced in one rename, never half-written.
    """
    begin, end = markers(name)
    block = f"{begin}\n{text.rstrip()}\n{end}"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    start = old.find(begin)
    if start >= 0:
        stop = old.find(end, start)
        if stop < 0:
            raise SystemExit(f"{path}: {begin} has no closing {end}; fix the file by hand.")
        new = old[:start] + block + old[stop + len(end) :]
    else:
        history = old.find(HISTORY_HEADING)
        if history >= 0:
            new = old[:history] + block + "\n\n" + old[history:]
        else:
            new = old.rstrip("\n") + "\n\n" + block + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(new)
    os.replace(tmp, path)
