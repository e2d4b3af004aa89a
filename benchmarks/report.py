"""Shared helpers for the benchmarks: describe the machine, wait for quiet, write BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict[str, str]:
    """The facts a reader needs to compare timings: cores, CPU, Python, load."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    try:
        import numpy

        numpy_version = numpy.__version__
    except ImportError:  # pragma: no cover - numpy is a dependency
        numpy_version = "absent"
    return {
        "nproc": nproc,
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": numpy_version,
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


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
    """Wait until the machine is at least 90 % idle; return False if it never was."""
    deadline = time.monotonic() + max_wait_s
    while time.monotonic() < deadline:
        if idle_fraction() >= 0.9:
            return True
    return False


def write_section(title: str, text: str) -> None:
    """Replace the `## {title}` section of BENCHMARKS.md with `text` (or append it)."""
    path = ROOT / "BENCHMARKS.md"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    start = old.find(f"## {title}")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        nxt = old.find("\n## ", start + 1)
        new = old[:start] + text + (old[nxt + 1 :] if nxt >= 0 else "")
    path.write_text(new)
