"""`.ci/run.py`'s database step works on a machine without psql: it creates and drops the CI
database with psycopg, here run with the project's interpreter and a PATH that has no psql."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import postgres_url_or_skip

ROOT = Path(__file__).resolve().parents[2]


def server_of(url: str) -> str:
    """postgresql://user@host:port of a database URL (the form KETAFLOW_CI_POSTGRES_SERVER takes)."""
    u = make_url(url).set(drivername="postgresql", database=None)
    return u.render_as_string(hide_password=False)


def exists(server: str, name: str) -> bool:
    with psycopg.connect(server, dbname="postgres") as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


@pytest.mark.postgres
def test_it_creates_and_drops_the_ci_database_without_psql() -> None:
    server = server_of(postgres_url_or_skip())
    path = os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "psql").exists()
    )
    assert shutil.which("psql", path=path) is None
    env = {**os.environ, "PATH": path}
    name = f"ketaflow_ci_test_{uuid.uuid4().hex[:10]}"

    def step(action: str) -> None:
        done = subprocess.run(
            [sys.executable, str(ROOT / ".ci" / "run.py"), action, server, name],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr

    try:
        step("create-database")
        assert exists(server, name)
        with psycopg.connect(server, dbname=name):  # a test session left connected ...
            step("drop-database")  # ... does not keep the database alive (WITH (FORCE))
        assert not exists(server, name)
        step("drop-database")  # dropping again is harmless (the cleanup may run after a failed create)
    finally:
        with psycopg.connect(server, dbname="postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
