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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--patients", type=int, default=800)
    parser.add_argument("--clinics", type=int, default=1)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 3, 1))
    parser.add_argument("--vitals-every-min", type=int, default=60)
    parser.add_argument("--write", action="store_true")
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
