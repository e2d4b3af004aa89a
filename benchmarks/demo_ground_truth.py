"""Ground-truth check of the demo's response rate: recovered vs drawn vs set, over several networks.

For each seed the network is regenerated in memory (``ketaflow.demo.truth``, no database) and
the evaluable courses are picked out by the analytics' own definitions, so the figures are
those the outcomes dashboard and the dissociation page report for a built network (the tests
in tests/integration/analytics/test_ground_truth.py check that they are equal, course by
course). Per network it prints:

- recovered: responders among evaluable courses, the rate and its standard error;
- z: (rate - setting) / sqrt(setting (1 - setting) / n), as the dissociation page shows it;
- drawn: the responder rate among every depression course the generator drew (measured or not)
  and the mean response probability of those courses (what the draws should average);
- measured: the evaluable fraction of drawn responders and of drawn non-responders (equal
  unless which courses are measured depends on the response).

A pooled line follows. A bias shows as a pooled z far from zero or unequal measured fractions;
one network 2 or 3 SE out is one in twenty or one in 370 by chance.

Usage::

    .venv/bin/python benchmarks/demo_ground_truth.py [--seeds 1 2 3 4 5] [--patients 800]
        [--clinics 1] [--as-of 2026-03-01] [--vitals-every-min 60] [--write]

The default network is ``--seeds 7 --patients 3500 --clinics 9 --vitals-every-min 5`` (about a
minute per network on a quiet 2-core machine; the vitals interval only changes the random
stream, so a larger interval is quicker for a bias check). ``--write`` replaces the "## Demo
ground truth" section of BENCHMARKS.md.

``--built`` also builds each network into a temporary SQLite database and checks that the
outcomes dashboard counts exactly the drawn responders among exactly the evaluable courses, in
total and per clinic, and that the dissociation page puts the planted effect inside its interval
(it stops with the difference otherwise). The test suite makes these checks on a 1,500-patient
network and on the default settings at a small size; on the default network (``--seeds 7
--patients 3500 --clinics 9 --vitals-every-min 5 --as-of 2026-11-25 --built``, two to three
minutes) they are this script's.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import write_section  # noqa: E402

from ketaflow.demo.settings import DemoSettings  # noqa: E402
from ketaflow.demo.truth import ResponseTruth, response_truth  # noqa: E402

TITLE = "Demo ground truth"


def line(label: str, truth: list[ResponseTruth], setting: float) -> str:
    n = sum(t.n for t in truth)
    r = sum(t.drawn_responders for t in truth)
    rate = r / n
    se = math.sqrt(rate * (1 - rate) / n)
    z = (rate - setting) / math.sqrt(setting * (1 - setting) / n)
    drawn = [d for t in truth for d in t.drawn]
    drawn_rate = statistics.fmean(d.course.responder for d in drawn)
    mean_p = statistics.fmean(c.probability for t in truth for c in t.courses)
    e1, n1 = (sum(x) for x in zip(*(t.evaluable_fraction(True) for t in truth), strict=True))
    e0, n0 = (sum(x) for x in zip(*(t.evaluable_fraction(False) for t in truth), strict=True))
    return (
        f"| {label} | {r:,} / {n:,} | {rate:.4f} | {se:.4f} | {z:+.2f} | {drawn_rate:.4f} of {len(drawn):,} "
        f"| {mean_p:.4f} | {e1 / n1:.4f} / {e0 / n0:.4f} |"
    )


def check_built(settings: DemoSettings, truth: ResponseTruth) -> str:
    """Build the network into a temporary SQLite file; the dashboard must count what was drawn."""
    import tempfile

    from ketaflow.demo.build import build_network
    from ketaflow.demo.generate import network_rows
    from ketaflow.services.outcomes import dissociation_report, outcomes_dashboard
    from ketaflow.store.engine import make_engine

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'built.sqlite'}")
        try:
            build_network(engine, settings)
            board = outcomes_dashboard(engine)
            report = dissociation_report(engine)
        finally:
            engine.dispose()
    response = board.total.response
    if (response.successes, response.n) != (truth.drawn_responders, truth.n):
        raise SystemExit(f"seed {settings.seed}: dashboard {response.successes}/{response.n}, drawn {truth}")
    if not all(c.responded == c.course.responder for c in truth.courses):
        raise SystemExit(f"seed {settings.seed}: a charted response differs from its draw")
    codes = {c["id"]: c["code"] for c in network_rows(settings, "unused").rows["clinics"]}
    drawn = {
        code: (
            sum(c.course.responder for c in truth.courses if c.clinic_id == cid),
            sum(c.clinic_id == cid for c in truth.courses),
        )
        for cid, code in codes.items()
    }
    if {u.code: (u.response.successes, u.response.n) for u in board.clinics} != drawn:
        raise SystemExit(f"seed {settings.seed}: the per-clinic counts differ from the draws")
    demo = report.demo_truth
    if demo is None or report.association.patients != response.n or not demo.association_in_ci:
        raise SystemExit(f"seed {settings.seed}: the planted dissociation effect is not recovered ({demo})")
    a = report.association
    return (
        f"seed {settings.seed} built: dashboard = drawn ({response.successes:,} / {response.n:,}, every "
        f"clinic); z {demo.response_rate_z:+.2f}; log-odds per SD CADSS {a.log_odds_per_sd_cadss:.2f} "
        f"[{a.ci_low:.2f}, {a.ci_high:.2f}] holds {settings.log_odds_response_per_sd_cadss}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--patients", type=int, default=800)
    parser.add_argument("--clinics", type=int, default=1)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 3, 1))
    parser.add_argument("--vitals-every-min", type=int, default=60)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--built", action="store_true", help="also check the figures on a built database")
    args = parser.parse_args()

    rows = []
    truths = []
    setting = DemoSettings().response_fraction
    for seed in args.seeds:
        settings = DemoSettings(
            clinics=args.clinics,
            patients=args.patients,
            seed=seed,
            as_of=args.as_of,
            vitals_every_min=args.vitals_every_min,
        )
        truth = response_truth(settings)
        truths.append(truth)
        if args.built:
            print(check_built(settings, truth), flush=True)
        rows.append(line(f"seed {seed}", [truth], setting))
        print(rows[-1], flush=True)
    if len(truths) > 1:
        rows.append(line("pooled", truths, setting))
        print(rows[-1])
    text = "\n".join(
        [
            f"## {TITLE}",
            "",
            f"`benchmarks/demo_ground_truth.py`: {args.clinics} clinic(s), {args.patients:,} patients, "
            f"as of {args.as_of}, vitals every {args.vitals_every_min} min; setting {setting}.",
            "",
            "| network | recovered | rate | SE | z | drawn rate (all courses) | mean p (evaluable) "
            "| measured: responders / non |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
        ]
    )
    if args.write:
        write_section(TITLE, text)


if __name__ == "__main__":
    main()
