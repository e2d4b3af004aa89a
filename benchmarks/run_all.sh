#!/usr/bin/env bash
# Run every benchmark at full size, one after the other, and rewrite BENCHMARKS.md.
#
# Each script replaces only its own <!-- bench:NAME --> section, from what it measured in
# this run. Run it on a quiet machine: every timed sample first waits (up to --max-wait,
# default 60 s) for a 90 % idle CPU, and the sections count the samples that never got one.
#
#   benchmarks/run_all.sh                 # about 20 minutes on a quiet 2-core machine
#   WITH_100X=1 benchmarks/run_all.sh     # also PostgreSQL at 100x (about 25 minutes more)
#
# Databases it uses (and WIPES): the SQLite file $SQLITE_DEMO, and on the PostgreSQL server
# $PG_SERVER the databases $PG_BUILD_DB, $PG_DEMO_DB, ${PG_DEMO_DB}_chain and (WITH_100X=1)
# ${PG_DEMO_DB}_100x.
# Needs: wrk (Debian: apt-get install wrk) for page latency; opentiva for the PK speed-up
# (see the README; without it that figure says "not measured").
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
KETAFLOW=${KETAFLOW:-.venv/bin/ketaflow}
PG_SERVER=${PG_SERVER:-postgresql://postgres@127.0.0.1:5432}
PG_BUILD_DB=${PG_BUILD_DB:-ketaflow_bench_build}
PG_DEMO_DB=${PG_DEMO_DB:-ketaflow_bench}
SQLITE_DEMO=${SQLITE_DEMO:-/tmp/ketaflow-bench.sqlite}
AS_OF=${AS_OF:-2026-11-25}
WITH_100X=${WITH_100X:-0}

command -v wrk >/dev/null || { echo "wrk is not installed (Debian: apt-get install wrk)" >&2; exit 2; }
"$PY" -c "import opentiva" 2>/dev/null || echo "note: opentiva is not installed; the PK speed-up will read 'not measured'" >&2

step() { echo; echo "=== $(date -u +%H:%M:%S) $*"; }

step "PK population (about 3 minutes)"
"$PY" benchmarks/pk_population.py

step "Demo network build, 3 builds per engine (about 9 minutes)"
"$PY" benchmarks/demo_build.py --runs 3 --postgres-url "$PG_SERVER/$PG_BUILD_DB"

step "Demo networks for the outcomes and page benchmarks (about 3 minutes)"
rm -f "$SQLITE_DEMO" "$SQLITE_DEMO-wal" "$SQLITE_DEMO-shm"
"$KETAFLOW" demo-data --as-of "$AS_OF" --database-url "sqlite:///$SQLITE_DEMO"
"$PY" - "$PG_SERVER" "$PG_DEMO_DB" <<'EOF'
import sys
from ketaflow.store.engine import make_engine
server, name = sys.argv[1], sys.argv[2]
admin = make_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
with admin.connect() as conn:
    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
admin.dispose()
EOF
"$KETAFLOW" demo-data --as-of "$AS_OF" --database-url "$PG_SERVER/$PG_DEMO_DB"

urls=(--database-url "sqlite:///$SQLITE_DEMO" --note "default demo network (ketaflow demo-data --as-of $AS_OF)"
      --database-url "$PG_SERVER/$PG_DEMO_DB" --note "default demo network (ketaflow demo-data --as-of $AS_OF)")
if [ "$WITH_100X" = 1 ]; then
    step "PostgreSQL 100x by replication (about 20 minutes)"
    "$PY" benchmarks/outcomes_dashboard.py --database-url "$PG_SERVER/postgres" \
        --replicate "$PG_DEMO_DB" "${PG_DEMO_DB}_100x" 100
    urls+=(--database-url "$PG_SERVER/${PG_DEMO_DB}_100x"
           --note "100x the demo network, by replication inside PostgreSQL (outcomes_dashboard.py --replicate)")
fi

step "Outcomes dashboard (about 4 minutes; about 6 more with WITH_100X=1)"
"$PY" benchmarks/outcomes_dashboard.py "${urls[@]}"

step "Record integrity: verify on the networks above and the cost of chaining a write (about 5 minutes)"
"$PY" - "$PG_SERVER" "${PG_DEMO_DB}_chain" <<'EOF'
import sys
from ketaflow.store.engine import make_engine
server, name = sys.argv[1], sys.argv[2]
admin = make_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
with admin.connect() as conn:
    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
admin.dispose()
EOF
verify_urls=(--database-url "sqlite:///$SQLITE_DEMO" --database-url "$PG_SERVER/$PG_DEMO_DB")
if [ "$WITH_100X" = 1 ]; then verify_urls+=(--database-url "$PG_SERVER/${PG_DEMO_DB}_100x"); fi
"$PY" benchmarks/record_integrity.py "${verify_urls[@]}" --scratch-postgres-url "$PG_SERVER/${PG_DEMO_DB}_chain"

step "CLI start-up (about 1 minute)"
"$PY" benchmarks/cli_startup.py --runs 20 --write

step "Sign-in answers, unknown vs known address (about 2 minutes)"
"$PY" benchmarks/sign_in_timing.py --samples 40

step "Page latency (about 1 minute)"
"$PY" benchmarks/page_latency.py --database-url "sqlite:///$SQLITE_DEMO" --duration 30 --client wrk

step "Live levels (about 1 minute)"
"$PY" benchmarks/live_levels.py

step "done: BENCHMARKS.md rewritten"
git --no-pager diff --stat -- BENCHMARKS.md || true
