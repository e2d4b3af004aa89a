"""Benchmark: does a sign-in answer as fast for an unknown e-mail address as for a real one?

Issue 11 found account names harvestable by timing (an unknown address answered in ~26 ms, a
real one with a wrong password in ~150 ms). This posts the sign-in form through the whole web
app (in process, FastAPI's TestClient; the form's CSRF token fetched before the clock starts),
alternating a real account with a wrong password and an address no account has, and compares
the medians of the two kinds. A wrong password and an unknown address each cost one argon2id
check with the same parameters (the tests count the checks; this measures the time).

Target (issue 11, "Done when"): the two medians within 40 % of each other.

The database is a one-clinic demo network in a temporary SQLite file. The throttle's budgets
are raised for the run (settings, within their limits) so every attempt is checked, and the
real account gets fewer wrong passwords than its lock-out ceiling.

Usage::

    .venv/bin/python benchmarks/sign_in_timing.py [--samples 40] [--smoke --out FILE | --no-write]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import Run, Timing, add_common_arguments, verdict  # noqa: E402

NAME = "Sign-in answers"
TARGET_SPREAD = 0.40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40, help="timed attempts of each kind (at most 90)")
    add_common_arguments(parser)
    args = parser.parse_args()
    samples = 4 if args.smoke else min(args.samples, 90)  # the account locks after 100 failures
    os.environ.update(
        KETAFLOW_SIGN_IN_PAIR_FAILURES="100",
        KETAFLOW_SIGN_IN_ADDRESS_FAILURES="100000",
        KETAFLOW_SIGN_IN_ACCOUNT_FAILURES="100",
    )
    from fastapi.testclient import TestClient

    from ketaflow.demo.build import build_network
    from ketaflow.demo.settings import DemoSettings
    from ketaflow.store.engine import make_engine
    from ketaflow.web.app import create_app

    run = Run(args)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["KETAFLOW_DATA_DIR"] = folder
        engine = make_engine(f"sqlite:///{folder}/signin.sqlite")
        build_network(engine, DemoSettings(clinics=1, patients=2, seed=7))
        app = create_app(engine)
        real = "nurse1.aus@demo.ketaflow.org"
        kinds = {"real account, wrong password": real, "unknown address": "nobody.here@demo.ketaflow.org"}
        times = {kind: Timing() for kind in kinds}
        with TestClient(app) as client:
            for n in range(samples + 1):  # the first round warms up (the dummy hash is made once)
                for kind, email in kinds.items():
                    page = client.get("/login")
                    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
                    run.quiet()
                    start = time.perf_counter()
                    answer = client.post(
                        "/login",
                        data={"email": email, "password": f"wrong guess {n}", "csrf": csrf},
                        follow_redirects=False,
                    )
                    took = time.perf_counter() - start
                    if answer.status_code != 400:
                        raise SystemExit(f"{kind}: expected 400, got {answer.status_code}")
                    if n:
                        times[kind].samples.append(took)
        engine.dispose()
    known, unknown = (times[k].median for k in kinds)
    spread = abs(known - unknown) / max(known, unknown)
    body = [
        "`benchmarks/sign_in_timing.py`: the sign-in form posted through the whole web app (in "
        "process), alternating a real account with a wrong password and an unknown address, each "
        f"after one warm-up round. Target: medians within {TARGET_SPREAD:.0%} of each other.",
        "",
        "| attempt | median ms [min-max] (samples) |",
        "| --- | ---: |",
        *(f"| {kind} | {t.text('ms', 1, 1000)} |" for kind, t in times.items()),
        "",
        f"- The medians differ by {spread:.1%} of the larger ({verdict(spread <= TARGET_SPREAD)}).",
    ]
    run.finish(NAME, body)


if __name__ == "__main__":
    main()
