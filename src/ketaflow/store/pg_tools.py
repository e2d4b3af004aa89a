"""PostgreSQL's own client programs (pg_dump, pg_restore): finding one that fits the server, running it.

pg_dump refuses to dump a server newer than itself, and a dump restores only with a pg_restore at
least as new as the pg_dump that wrote it. So the newest program found is taken, from PATH or from
Debian's and Ubuntu's /usr/lib/postgresql/<major>/bin, and it must be at least the server's major
version; otherwise the error says what to install.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from ketaflow.errors import KetaflowError

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
SEARCH_GLOB = "/usr/lib/postgresql/*/bin"


@dataclass(frozen=True)
class PgTool:
    path: Path
    major: int


def server_major(engine: Engine) -> int:
    """The PostgreSQL server's major version (15 for 15.4)."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000


def tool_major(path: str | Path) -> int | None:
    """The major version `path --version` reports, or None when it does not run or say one."""
    try:
        done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = _VERSION.search(done.stdout)
    return int(found.group(1)) if done.returncode == 0 and found else None


def candidates(name: str, search_glob: str = SEARCH_GLOB) -> Iterator[Path]:
    on_path = shutil.which(name)
    if on_path:
        yield Path(on_path)
    for folder in glob.glob(search_glob):
        program = Path(folder) / name
        if program.is_file() and os.access(program, os.X_OK):
            yield program


def find_pg_tool(name: str, needed_major: int, *, search_glob: str = SEARCH_GLOB) -> PgTool:
    """The newest `name` (pg_dump, pg_restore) on PATH or in /usr/lib/postgresql/*/bin, if it is at
    least `needed_major`; otherwise a KetaflowError saying what to install."""
    found = [PgTool(p, v) for p in candidates(name, search_glob) if (v := tool_major(p)) is not None]
    best = max(found, key=lambda t: t.major, default=None)
    if best is not None and best.major >= needed_major:
        return best
    install = (
        f"install the PostgreSQL {needed_major} client programs (on Debian or Ubuntu: "
        f"`apt-get install postgresql-client-{needed_major}`, from apt.postgresql.org if your release "
        f"has an older one) and run it again"
    )
    if best is None:
        raise KetaflowError(
            f"{name} was not found on PATH nor in /usr/lib/postgresql/*/bin, and this PostgreSQL "
            f"{needed_major} database needs it; {install}."
        )
    raise KetaflowError(
        f"The newest {name} found ({best.path}) is PostgreSQL {best.major}, older than this "
        f"database's server (PostgreSQL {needed_major}), which it cannot handle; {install}."
    )


def libpq_target(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URL for `url` without its password, and the environment that carries the
    password (PGPASSWORD), so it never shows in the process list."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def run_reporting(
    command: list[str], env: dict[str, str], on_line: Callable[[str], None], failed: str
) -> None:
    """Run a pg_* program, passing each line it writes on stderr to `on_line` as it comes; a
    failure raises a KetaflowError: the sentence `failed`, then the program's own last error lines."""
    lines: list[str] = []
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip())
            on_line(line)
        code = proc.wait()
    if code != 0:
        errors = [line for line in lines if "error" in line.lower()] or lines
        said = " / ".join(errors[-3:]) or f"exit code {code}"
        raise KetaflowError(f"{failed}: {said}")


def dump_contents(pg_restore: Path, dump: Path, env: dict[str, str]) -> list[str]:
    """The table of contents of a custom-format dump (`pg_restore --list`), one entry a line; a file
    that is not a whole dump raises a KetaflowError."""
    done = subprocess.run(
        [str(pg_restore), "--list", str(dump)], capture_output=True, text=True, env=env, timeout=600
    )
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise KetaflowError(f"{dump} cannot be read as a pg_dump custom-format file: {said[0]}")
    return done.stdout.splitlines()
