"""CI: run the README's test command, with CI=true, against a fresh PostgreSQL database.

`bash .ci/run` starts this with the machine's python3 (standard library only):

1. The test command is read from README.md: the indented code block right after the line
   ``<!-- ci:test-command -->`` (an HTML comment, so the README renders unchanged).
2. A small bootstrap virtualenv outside the checkout gets psycopg (the version pinned in
   requirements.lock). The database must exist before the test command runs, and that
   command is what builds .venv; psql may be absent, so psql is not used at all.
3. The database is created, the test command runs with CI=true and KETAFLOW_TEST_POSTGRES_URL
   naming it, and the database is dropped whatever happened. The exit code is the command's.

`python .ci/run.py test-command` prints the command; `create-database SERVER NAME` and
`drop-database SERVER NAME` do step 3's database work with the running interpreter's psycopg.
KETAFLOW_CI_POSTGRES_SERVER picks the server (default postgresql://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- ci:test-command -->"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432"


class CiError(Exception):
    """Something CI needs is missing or wrong; the message says what."""


def test_command(readme: str) -> str:
    """The one-line indented code block that follows the marker line (blank lines may separate them)."""
    lines = readme.splitlines()
    marked = [i for i, line in enumerate(lines) if line.strip() == MARKER]
    if len(marked) != 1:
        raise CiError(
            f"README.md must have exactly one line {MARKER} before the test command; found {len(marked)}."
        )
    block: list[str] = []
    for line in lines[marked[0] + 1 :]:
        if not line.strip():
            if block:
                break
            continue
        if not line.startswith("    "):
            break
        block.append(line[4:].rstrip())
    if len(block) != 1:
        raise CiError(
            f"The code block after {MARKER} in README.md must be one indented line (the test command); "
            f"found {len(block)} lines."
        )
    return block[0]


def _identifier(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise CiError(f"{name!r} is not a plain PostgreSQL database name (lower-case letters, digits, _).")
    return name


def execute(server: str, statement: str) -> None:
    """Run one statement on the server's `postgres` database with this interpreter's psycopg."""
    import psycopg  # the bootstrap virtualenv's, or the project's .venv in the tests

    with psycopg.connect(server, dbname="postgres", autocommit=True) as conn:
        conn.execute(statement)


def create_database(server: str, name: str) -> None:
    execute(server, f"CREATE DATABASE {_identifier(name)}")


def drop_database(server: str, name: str) -> None:
    execute(server, f"DROP DATABASE IF EXISTS {_identifier(name)} WITH (FORCE)")


def psycopg_pin(lock: str) -> list[str]:
    """The psycopg lines of a pip-compile lock file (`psycopg==X`, `psycopg-binary==X`)."""
    pins = [line.strip() for line in lock.splitlines() if re.match(r"psycopg(-binary)?==", line)]
    if not any(p.startswith("psycopg==") for p in pins):
        raise CiError("requirements.lock pins no psycopg version.")
    return pins


def bootstrap(folder: Path) -> Path:
    """A virtualenv in `folder` with psycopg only; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    pins = psycopg_pin((ROOT / "requirements.lock").read_text(encoding="utf-8"))
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *pins], check=True)
    return python


def _admin(python: Path, action: str, server: str, name: str) -> None:
    subprocess.run([str(python), str(Path(__file__).resolve()), action, server, name], check=True)


def run_ci() -> int:
    command = test_command((ROOT / "README.md").read_text(encoding="utf-8"))
    server = os.environ.get("KETAFLOW_CI_POSTGRES_SERVER", DEFAULT_SERVER).rstrip("/")
    name = f"ketaflow_ci_{int(time.time())}_{os.getpid()}"
    scratch = Path(tempfile.mkdtemp(prefix="ketaflow-ci-"))
    try:
        print("+ bootstrap virtualenv with psycopg for the database step", flush=True)
        python = bootstrap(scratch / "venv")
        _admin(python, "create-database", server, name)
        try:
            env = {**os.environ, "CI": "true", "KETAFLOW_TEST_POSTGRES_URL": f"{server}/{name}"}
            print(f"+ {command}", flush=True)
            return subprocess.run(["bash", "-c", command], cwd=ROOT, env=env).returncode
        finally:
            try:
                _admin(python, "drop-database", server, name)
            except subprocess.CalledProcessError:
                print(f"Could not drop the CI database {name}; drop it by hand.", file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=".ci/run.py", description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step")
    steps.add_parser("test-command", help="print the README's test command")
    for action in ("create-database", "drop-database"):
        step = steps.add_parser(action, help=f"{action.replace('-', ' ')} (needs psycopg)")
        step.add_argument("server", help="postgresql://user@host:port (no database)")
        step.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.step is None:
            return run_ci()
        if args.step == "test-command":
            print(test_command((ROOT / "README.md").read_text(encoding="utf-8")))
        elif args.step == "create-database":
            create_database(args.server, args.name)
        else:
            drop_database(args.server, args.name)
    except CiError as exc:
        print(f"CI: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
