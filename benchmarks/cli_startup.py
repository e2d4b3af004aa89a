"""Benchmark: how long the command line takes to start, beside the cost of importing NumPy.

Times, each in a new process, ``ketaflow --help``, ``ketaflow score phq9 1 2 0 3 1 0 2 1 0``,
``ketaflow pk models``, ``python -c "import numpy"`` and ``python -c pass`` (the interpreter
alone). The commands run in rounds, one of each per round in turn, so a busy machine weighs
on all of them alike; one warm-up round is not counted. Reports medians and ranges of wall
time, medians of CPU time (user + system; a busy machine disturbs it less), each command's
medians as multiples of the NumPy import's, and from one ``-X importtime`` run per
command the largest top-level packages it imported.

Target: ``ketaflow score`` and ``ketaflow --help`` within 3 times the NumPy import.

Usage::

    .venv/bin/python benchmarks/cli_startup.py [--runs 20] [--write]

``--write`` replaces the "## CLI start-up" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import load_average, machine, wait_for_quiet, write_section  # noqa: E402

PYTHON = sys.executable
SCRIPT = Path(PYTHON).parent / "ketaflow"
KETAFLOW = [str(SCRIPT)] if SCRIPT.exists() else [PYTHON, "-m", "ketaflow"]
# The runs may write bytecode caches (__pycache__), as an installed package has them: with
# PYTHONDONTWRITEBYTECODE inherited, ketaflow's own modules would be compiled from source in every
# run while NumPy's, compiled at install, would not.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {
    "COLUMNS": os.environ.get("COLUMNS", "100")  # the same help width whatever the terminal
}
REFERENCE = "python -c 'import numpy'"
TARGET_RATIO = 3.0
TARGETED = ("ketaflow --help", "ketaflow score phq9 1 2 0 3 1 0 2 1 0")

COMMANDS: dict[str, list[str]] = {
    "ketaflow --help": [*KETAFLOW, "--help"],
    "ketaflow score phq9 1 2 0 3 1 0 2 1 0": [*KETAFLOW, "score", "phq9", *"1 2 0 3 1 0 2 1 0".split()],
    "ketaflow pk models": [*KETAFLOW, "pk", "models"],
    REFERENCE: [PYTHON, "-c", "import numpy"],
    "python -c pass": [PYTHON, "-c", "pass"],
}


def run_once(argv: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of `argv` in a new process, in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def timings(runs: int) -> dict[str, list[tuple[float, float]]]:
    for argv in COMMANDS.values():  # warm-up: bytecode caches, file system cache
        run_once(argv)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for _ in range(runs):
        for name, argv in COMMANDS.items():
            times[name].append(run_once(argv))
    return times


def heaviest_imports(argv: list[str], top: int = 4) -> str:
    """The top-level packages with the largest cumulative import time, from one -X importtime run."""
    if argv[0] == PYTHON:
        cmd = [PYTHON, "-X", "importtime", *argv[1:]]
    else:
        cmd = [PYTHON, "-X", "importtime", "-m", "ketaflow", *argv[1:]]
    stderr = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV).stderr
    cumulative: dict[str, int] = {}
    for line in stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        if name.startswith(" ") and not name.startswith("  "):  # one space: imported at top level
            top_name = name.strip()
            cumulative[top_name] = cumulative.get(top_name, 0) + int(parts[1])
    ranked = sorted(cumulative.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{name} {us / 1000:.0f}" for name, us in ranked)


def report(times: dict[str, list[tuple[float, float]]], runs: int, quiet: bool) -> str:
    facts = machine()
    ref_wall = statistics.median(w for w, _ in times[REFERENCE])
    ref_cpu = statistics.median(c for _, c in times[REFERENCE])
    rows = []
    verdicts = []
    for name, pairs in times.items():
        wall = [w for w, _ in pairs]
        median, cpu = statistics.median(wall), statistics.median(c for _, c in pairs)
        ratio, cpu_ratio = median / ref_wall, cpu / ref_cpu
        rows.append(
            f"| `{name}` | {1000 * median:.0f} | {1000 * min(wall):.0f}-{1000 * max(wall):.0f} "
            f"| {ratio:.2f} | {1000 * cpu:.0f} | {cpu_ratio:.2f} | {heaviest_imports(COMMANDS[name])} |"
        )
        if name in TARGETED:
            met = "**met**" if max(ratio, cpu_ratio) <= TARGET_RATIO else "**not met**"
            verdicts.append(
                f"`{name}`: {ratio:.2f} times the NumPy import in wall time, "
                f"{cpu_ratio:.2f} in CPU time ({met})."
            )
    lines = [
        "## CLI start-up",
        "",
        f"`benchmarks/cli_startup.py --runs {runs}`: each command in a new process, {runs} rounds "
        "(one of each command per round, in turn) after one warm-up round (which also writes the "
        "bytecode caches, as an installed package has them); wall time of the whole "
        "process, and its CPU time (user + system, which a busy machine disturbs less). "
        "Target: `ketaflow score` and `ketaflow --help` within "
        f"{TARGET_RATIO:g} times `{REFERENCE}`.",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {facts['cpu']}, "
        f"{facts['logical_cpus']} logical CPUs ({facts['usable_cpus']} usable), {facts['ram']} RAM; "
        f"Python {facts['python']}, NumPy {facts['numpy']}; load average (1, 5, 15 min) after the "
        f"timings {load_average()}"
        + ("" if quiet else " (the machine was busy: other work ran during the timings)")
        + ".",
        "",
        "| command | median wall ms | range ms | x NumPy import | median CPU ms | x NumPy import (CPU) "
        "| largest imports (cumulative ms, one -X importtime run) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        *rows,
        "",
        *(f"- {v}" for v in verdicts),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed rounds (default 20)")
    parser.add_argument("--max-wait", type=float, default=10.0, help="seconds to wait for a quiet machine")
    parser.add_argument("--write", action="store_true", help="replace the section in BENCHMARKS.md")
    args = parser.parse_args()
    quiet = wait_for_quiet(args.max_wait)
    text = report(timings(args.runs), args.runs, quiet)
    print(text)
    if args.write:
        write_section("CLI start-up", text)


if __name__ == "__main__":
    main()
