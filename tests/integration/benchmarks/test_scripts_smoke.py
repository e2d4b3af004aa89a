"""Every benchmark script runs end to end at tiny sizes (`--smoke`) and writes its own section.

These check that the scripts work and write what they measured, with a verdict for their
target, into the file they were given, leaving the rest of it alone. They time nothing and
assert no figure: the smoke sizes say nothing about the targets. With a PostgreSQL test
server (KETAFLOW_TEST_POSTGRES_URL) the scripts that measure PostgreSQL do so in databases
of their own, made and dropped here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import make_url

from ketaflow.store.engine import make_engine
from tests.ci_mode import in_ci, missing
from tests.conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parents[3]
BENCHMARKS = ROOT / "benchmarks"

OTHER = "<!-- bench:Other -->\n## Other\n\nleft alone\n<!-- /bench:Other -->"
HISTORY = "## History (earlier runs, older code)\n\nold figures\n"
START = f"# Benchmarks\n\n{OTHER}\n\n{HISTORY}"


@pytest.fixture
def postgres_databases() -> Iterator[list[str]]:
    """Names for scratch PostgreSQL databases on the test server; each dropped afterwards."""
    made: list[str] = []
    yield made
    if POSTGRES_URL and made:
        admin = make_engine(
            make_url(POSTGRES_URL).set(database="postgres").render_as_string(hide_password=False),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            for name in made:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def scratch_postgres(made: list[str], create: bool) -> str | None:
    """A URL for a new scratch database on the test server (None without one)."""
    if not POSTGRES_URL:
        if in_ci():
            missing("KETAFLOW_TEST_POSTGRES_URL is not set: the PostgreSQL smoke runs need it.")
        return None
    name = f"ketaflow_t_{uuid.uuid4().hex[:12]}"
    made.append(name)
    if create:
        admin = make_engine(
            make_url(POSTGRES_URL).set(database="postgres").render_as_string(hide_password=False),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def run_smoke(script: str, out: Path, *extra: str) -> str:
    out.write_text(START)
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--smoke", "--out", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{script} --smoke failed:\n{done.stdout}\n{done.stderr}"
    return out.read_text()


def section(text: str, name: str) -> str:
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    assert text.count(begin) == 1 and text.count(end) == 1, f"section {name!r} not written once"
    return text[text.index(begin) : text.index(end)]


def check_written(text: str, name: str) -> str:
    """The section is there once, above the history, says it is a smoke run, states a verdict."""
    body = section(text, name)
    assert OTHER in text, "another script's section was changed"
    assert text.rstrip().endswith(HISTORY.rstrip()), "the history is no longer last, or was changed"
    assert text.index(f"<!-- bench:{name} -->") < text.index("## History")
    assert f"## {name}" in body and "**Smoke run**" in body
    assert re.search(r"Machine: .+ logical CPUs .+ RAM; Python .+, NumPy .+, SQLite ", body)
    assert re.search(r"Load average \(1, 5, 15 min\) before [\d.]+ [\d.]+ [\d.]+, after ", body)
    assert re.search(r"\*\*(met|not met)\*\*", body), "no verdict for the target"
    return body


@pytest.mark.slow
def test_pk_population(tmp_path: Path) -> None:
    body = check_written(run_smoke("pk_population.py", tmp_path / "B.md"), "PK population")
    assert "| 1 | ketaflow, full curves returned" in body  # one thread is always measured
    assert "BLAS threads as the library reports them" in body


@pytest.mark.slow
def test_demo_build(tmp_path: Path, postgres_databases: list[str]) -> None:
    pg = scratch_postgres(postgres_databases, create=False)  # the script creates it itself
    body = check_written(
        run_smoke("demo_build.py", tmp_path / "B.md", *(["--postgres-url", pg] if pg else [])),
        "Demo network build",
    )
    assert re.search(r"\| SQLite \| \*\*[\d.]+ s \[", body)
    if pg:
        assert re.search(r"\| PostgreSQL \| \*\*[\d.]+ s \[", body)
        assert "PostgreSQL 1" in body  # the server's version in the machine line


@pytest.mark.slow
def test_outcomes_dashboard(tmp_path: Path, postgres_databases: list[str]) -> None:
    pg = scratch_postgres(postgres_databases, create=True)  # the script wipes its schema
    body = check_written(
        run_smoke("outcomes_dashboard.py", tmp_path / "B.md", *(["--smoke-postgres-url", pg] if pg else [])),
        "Outcomes dashboard",
    )
    assert "**sqlite**" in body and "reused" not in body
    if pg:
        assert "**postgresql**" in body and "read from the stored summary" in body


@pytest.mark.slow
def test_page_latency(tmp_path: Path) -> None:
    client = "wrk" if shutil.which("wrk") else "httpx"
    body = check_written(run_smoke("page_latency.py", tmp_path / "B.md", "--client", client), "Page latency")
    assert "| patient chart |" in body and "| chair board |" in body


@pytest.mark.slow
def test_record_integrity(tmp_path: Path, postgres_databases: list[str]) -> None:
    pg = scratch_postgres(postgres_databases, create=True)  # the script wipes its schema
    body = check_written(
        run_smoke("record_integrity.py", tmp_path / "B.md", *(["--scratch-postgres-url", pg] if pg else [])),
        "Record integrity",
    )
    row = (
        r"\| sqlite:///.+ \| 1x \| [\d,]+ \| .+ \| \*\*[\d,]+\*\* \| [\d.]+ µs \| [\d,]+ MB \| "
        r"yes \(\d+ checkpoints\) \|"
    )
    assert re.search(row, body)
    assert "projected** from the 1x network" in body
    assert "| sqlite | " in body
    if pg:
        assert "| postgresql | " in body and "postgresql+psycopg://" in body


@pytest.mark.slow
def test_a_replica_has_real_chains(tmp_path: Path, postgres_databases: list[str]) -> None:
    """record_integrity.py --replicate: a network 3 times a tiny demo one, whose every row
    `ketaflow verify` (the independent checker) finds chained, signed and intact."""
    from ketaflow.demo.build import build_network
    from ketaflow.demo.settings import DemoSettings
    from ketaflow.store.verify import verify

    source = scratch_postgres(postgres_databases, create=True)
    if source is None:
        pytest.skip("the replica is PostgreSQL's; no PostgreSQL test server")
    engine = make_engine(source)
    build_network(engine, DemoSettings(clinics=2, patients=12, seed=5, as_of=date(2026, 11, 25)))
    before = verify(engine, None)
    engine.dispose()
    target = f"ketaflow_t_{uuid.uuid4().hex[:12]}"
    postgres_databases.append(target)
    key = "r" * 40
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "record_integrity.py"), "--admin-url", source]
        + ["--replicate", make_url(source).database or "", target, "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KETAFLOW_AUDIT_KEY": key},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    replica = make_engine(make_url(source).set(database=target).render_as_string(hide_password=False))
    report = verify(replica, key.encode())
    replica.dispose()
    assert report.intact, report.problems[:5]
    assert report.chains == before.chains and report.checkpoints == report.chains  # every chain signed
    stock = ("drug_lots", "drug_vials")  # a clinic's stock is not copied (replica.py)
    assert report.tables == {t: n if t in stock else 3 * n for t, n in before.tables.items()}
    assert before.tables["vital_signs"] > 0 and before.tables["audit_events"] > 0


@pytest.mark.slow
def test_live_levels(tmp_path: Path) -> None:
    body = check_written(run_smoke("live_levels.py", tmp_path / "B.md"), "Live levels")
    assert "| 2 h in, 20 pump events | 481 |" in body and "| 30 days later |" in body


def test_smoke_runs_refuse_the_real_benchmarks_file() -> None:
    before = (ROOT / "BENCHMARKS.md").read_text()
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "pk_population.py"), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "--out" in done.stderr
    assert (ROOT / "BENCHMARKS.md").read_text() == before
