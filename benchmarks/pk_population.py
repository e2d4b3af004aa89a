"""Benchmark: a 10,000-patient virtual population, Cp and Ce on the 1-second grid, against opentiva.

Runs ``ketaflow.pk.protocol_population`` as ``ketaflow pk population`` does (adult weights,
the model's log-normal IIV, 0.5 mg/kg over 40 min, 0-240 min at 1 s = 14,401 points, Cp and
Ce, plus Cmax/tmax/AUC/time above) in two modes: returning every patient's full Cp and Ce
curves (``keep_curves=True``) and streaming them through a small buffer (only reductions and
one-minute samples returned, what the CLI uses). It simulates a batch of the same kind of
virtual patients with opentiva 1.1.2 (one ``Pump`` per patient, same parameters and ke0), which
returns full per-second Cp and Ce curves, and compares both on the same output.

Like against like:
* Threads: each thread count runs in its own child process with the BLAS/OpenMP thread
  variables set before NumPy loads, and ketaflow's own worker threads (``workers=``) equal to
  it. One thread is measured always, and the number of usable CPUs when it is more. opentiva
  has no threads of its own: it runs in the one-thread child only, and the speed-up is stated
  at one thread on both sides.
* Warm alike: in each child every kind of call runs once untimed (warm-up), then ``--runs``
  timed rounds, the calls of a round interleaved (so load from other work falls on both
  sides alike). Medians and ranges on both sides.
* Same output: the speed-up compares opentiva's full per-second curves with ketaflow
  returning full curves, never with the streaming mode.

Usage::

    .venv/bin/python benchmarks/pk_population.py [--runs 7] [--out BENCHMARKS.md] [--no-write]
    .venv/bin/python benchmarks/pk_population.py --smoke --out /tmp/B.md   # tiny, seconds

It writes its section of BENCHMARKS.md (``<!-- bench:PK population -->``). opentiva is
optional (see the README for how to build it); without it the speed-up is "not measured".
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import Run, Timing, add_common_arguments, child_reply, run_child, verdict, wait_for_quiet  # noqa: E402

TITLE = "PK population"
SCRIPT = Path(__file__).resolve()

MODEL = "domino"
N_PATIENTS = 10_000
N_OPENTIVA = 100  # patients opentiva simulates, one Pump each; per-patient times are compared
DOSE_MG_PER_KG = 0.5
INFUSION_MIN = 40.0
UNTIL_MIN = 240.0
STEP_S = 1.0
SEED = 1
RUNS = 7
SMOKE = {"patients": 300, "opentiva_patients": 5, "until_min": 60.0, "runs": 2}

# Targets of the PK population work, as this script has carried them since it was first
# written (commit ebbb3f6; the issue text itself is not in the repository):
TARGET_POPULATION_S = 1.5  # 10,000 patients, Cp and Ce on the 1 s grid over 0-240 min, one call
TARGET_SPEEDUP = 100.0  # per patient, against opentiva 1.1.2, same outputs and same threads

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# The calls of one timed round, in order.
STREAM, KEEP, SAME, OPENTIVA = "stream", "keep", "same", "opentiva"


# ---- the child: one thread count, every call warm, rounds interleaved ----------------------


def blas_threads() -> str:
    """The thread count the loaded OpenBLAS reports (NumPy's wheels bundle one), read through ctypes."""
    import ctypes

    import numpy  # noqa: F401 - loads the BLAS library

    libs = {
        line.split()[-1]
        for line in Path("/proc/self/maps").read_text().splitlines()
        if "openblas" in line.lower() and ".so" in line
    }
    found = []
    for path in sorted(libs):
        lib = ctypes.CDLL(path)
        for symbol in (
            "scipy_openblas_get_num_threads64_",
            "openblas_get_num_threads64_",
            "openblas_get_num_threads",
        ):
            if hasattr(lib, symbol):
                found.append(f"{Path(path).name.split('-')[0]} {getattr(lib, symbol)()}")
                break
    return (
        ", ".join(found)
        or "no OpenBLAS found (thread variables set to " + os.environ.get("OPENBLAS_NUM_THREADS", "?") + ")"
    )


def opentiva_patients(n: int) -> tuple[Any, Any]:
    """Weights and micro-constants of the `n` patients `protocol_population(MODEL, n, seed=SEED)` draws."""
    import numpy as np

    import ketaflow.pk as pk
    from ketaflow.pk.parameters import sample_eta
    from ketaflow.pk.population import population_modes

    spec = pk.get_model(MODEL)
    rng = np.random.default_rng(SEED)  # the same draws, in the same order, as population_modes
    w = pk.sample_weights(n, rng)
    d = pk.disposition(spec, w, eta=sample_eta(spec, w.size, rng))
    assert np.array_equal(w, population_modes(MODEL, n, SEED)[1]), "not the same virtual patients"
    return w, d


def child(request: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    import ketaflow.pk as pk

    threads, n, m = int(request["threads"]), int(request["patients"]), int(request["opentiva_patients"])
    until, runs, max_wait = float(request["until_min"]), int(request["runs"]), float(request["max_wait"])
    n_points = int(round(until * 60 / STEP_S)) + 1

    def population(size: int, keep: bool) -> Any:
        return pk.protocol_population(
            MODEL,
            size,
            DOSE_MG_PER_KG,
            INFUSION_MIN,
            until_min=until,
            step_s=STEP_S,
            seed=SEED,
            workers=threads,
            keep_curves=keep,
        )

    calls: dict[str, Any] = {
        STREAM: lambda: population(n, False),
        KEEP: lambda: population(n, True),
        SAME: lambda: population(m, True),
    }
    pump = None
    if request["opentiva"]:
        try:
            from opentiva import ketamine, pump
        except ImportError:
            pump = None
    if pump is not None:
        w, d = opentiva_patients(m)

        def run_opentiva() -> list[Any]:
            curves = []
            for i in range(m):
                model = ketamine.Domino(0, 40, float(w[i]), 170)
                model.v1 = float(d.v1_l[i])
                model.k10, model.k12 = float(d.k10_per_min[i]), float(d.k12_per_min[i])
                model.k13, model.k21 = float(d.k13_per_min[i]), float(d.k21_per_min[i])
                model.k31, model.ke0 = float(d.k31_per_min[i]), float(d.ke0_per_min[i])
                p = pump.Pump(model, 10, n_points)
                seconds = int(INFUSION_MIN * 60)
                p.add_infusion(0, DOSE_MG_PER_KG * float(w[i]) / seconds, seconds)
                curves.append(p.run())
            return curves

        calls[OPENTIVA] = run_opentiva

    def timed(name: str) -> tuple[float, Any]:
        gc.collect()
        t0 = time.perf_counter()
        out = calls[name]()
        return time.perf_counter() - t0, out

    for name in calls:  # warm-up: every call once, untimed
        timed(name)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    busy = 0
    agreement: dict[str, float] = {}
    for _ in range(runs):
        for name in calls:
            busy += not wait_for_quiet(max_wait) if max_wait > 0 else 0
            elapsed, out = timed(name)
            samples[name].append(elapsed)
            if name == KEEP:
                assert out.cp_ng_per_ml.shape == out.ce_ng_per_ml.shape == (n, n_points)
            if name == STREAM:
                assert out.cp_ng_per_ml is None and out.cp_sampled.shape[0] == n
            if name == SAME:
                same = out
            if name == OPENTIVA and not agreement:
                cp_ot = np.array([c[:n_points, 1] for c in out]) * 1000.0  # ug/mL -> ng/mL
                ce_ot = np.array([c[:n_points, 2] for c in out]) * 1000.0
                cp_us, ce_us = same.cp_ng_per_ml, same.ce_ng_per_ml
                mask = cp_ot > 0
                agreement = {
                    "cp_max_rel": float(np.max(np.abs(cp_us[mask] - cp_ot[mask]) / cp_ot[mask])),
                    "ce_max_of_peak": float(np.max(np.abs(ce_us - ce_ot) / ce_ot.max(axis=1, keepdims=True))),
                }
            del out
    return {
        "threads": threads,
        "blas": blas_threads(),
        "samples": samples,
        "busy": busy,
        "timed": runs * len(calls),
        "agreement": agreement,
        "n_points": n_points,
        "opentiva": pump is not None,
    }


# ---- the parent: one child per thread count, then the section ------------------------------


def cli_workers_default() -> int:
    import inspect

    from ketaflow.pk import protocol_population

    return int(inspect.signature(protocol_population).parameters["workers"].default)


def thread_counts() -> list[int]:
    return sorted({1, len(os.sched_getaffinity(0))})


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    sizes = SMOKE if args.smoke else {"patients": N_PATIENTS, "opentiva_patients": N_OPENTIVA}
    out = []
    for threads in thread_counts():
        request = {
            "threads": threads,
            "patients": sizes["patients"],
            "opentiva_patients": sizes["opentiva_patients"],
            "until_min": SMOKE["until_min"] if args.smoke else UNTIL_MIN,
            "runs": SMOKE["runs"] if args.smoke else args.runs,
            "max_wait": 0.0 if args.smoke else args.max_wait,
            "opentiva": threads == 1,  # opentiva has no threads: it is compared at one thread
        }
        env = {v: str(threads) for v in THREAD_VARIABLES}
        print(f"measuring at {threads} thread(s) ...", flush=True)
        out.append({**request, **run_child(SCRIPT, request, env)})
    return out


def ratio_text(slow: Timing, slow_n: int, fast: Timing, fast_n: int) -> tuple[float, str]:
    """Per-patient speed-up: median over median, range from the extremes of both."""
    r = (slow.median / slow_n) / (fast.median / fast_n)
    lo = (min(slow.samples) / slow_n) / (max(fast.samples) / fast_n)
    hi = (max(slow.samples) / slow_n) / (min(fast.samples) / fast_n)
    return r, f"{r:.0f}x [{lo:.0f}-{hi:.0f}]"


def render(run: Run, results: list[dict[str, Any]]) -> list[str]:
    first = results[0]
    n, m, n_points = first["patients"], first["opentiva_patients"], first["n_points"]
    lines = [
        f"Workload: `ketaflow.pk.protocol_population`, model {MODEL}, {DOSE_MG_PER_KG} mg/kg over "
        f"{INFUSION_MIN:g} min, 0-{first['until_min']:g} min at {STEP_S:g} s ({n_points:,} points), "
        "Cp and Ce for every patient at every point in one call, plus Cmax, tmax, peak Ce, exact AUC "
        f"and time above threshold; drawing the virtual patients is inside the timed call. Two modes: full "
        f"curves returned (`keep_curves=True`, 2 x {n:,} x {n_points:,} float64) and streaming "
        f"(curves reduced block by block, only one-minute samples returned; what `ketaflow pk "
        f"population` uses). opentiva 1.1.2: one `Pump.run()` per patient on the {m} patients "
        f"`protocol_population({MODEL!r}, {m}, seed={SEED})` draws (same weights, micro-constants and "
        f"ke0), returning full per-second Cp and Ce curves.",
        "",
        "Like against like: each thread count ran in its own process with the BLAS/OpenMP thread "
        "variables and ketaflow's `workers=` set to it; opentiva has no threads and ran in the "
        "one-thread process only. In each process every call ran once untimed (warm-up), then "
        f"{len(first['samples'][KEEP])} timed rounds with the calls of a round interleaved. "
        "Figures: median [min-max] (number of timed runs).",
        "",
        "| threads | call | patients | time | per patient | target |",
        "|---|---|---|---|---|---|",
    ]
    verdicts: dict[str, str] = {}
    for r in results:
        t = r["threads"]
        s = {k: Timing(v) for k, v in r["samples"].items()}
        rows = [
            (KEEP, f"ketaflow, full curves returned (`keep_curves=True`, `workers={t}`)", n),
            (STREAM, f"ketaflow, streaming (curves not returned, `workers={t}`)", n),
            (SAME, f"ketaflow, full curves, the {m} patients opentiva gets (`workers={t}`)", m),
            (OPENTIVA, "opentiva 1.1.2, full curves, one `Pump.run()` per patient", m),
        ]
        for key, label, size in rows:
            if key not in s:
                continue
            target = ""
            if size == n and key in (KEEP, STREAM):
                verdicts[f"{key}/{t}"] = verdict(s[key].median <= TARGET_POPULATION_S)
                target = f"<= {TARGET_POPULATION_S:g} s: {verdicts[f'{key}/{t}']}"
            per = Timing([x / size for x in s[key].samples])
            lines.append(
                f"| {t} | {label} | {size:,} | {s[key].text('s', 3)} | {per.text('ms', 3, 1000)} | {target} |"
            )
    lines += [""]
    lines.append(
        "BLAS threads as the library reports them in each process: "
        + "; ".join(f"{r['threads']} thread(s): {r['blas']}" for r in results)
        + "."
    )
    if not run.smoke:
        lines[-1] += " Timed runs started without a 90 % idle CPU: " + "; ".join(
            f"{r['threads']} thread(s): {r['busy']} of {r['timed']}" for r in results
        )
    lines.append("")
    one = results[0]
    assert one["threads"] == 1
    cli_threads = results[-1]["threads"]
    lines.append(
        f"Target {n:,} patients in <= {TARGET_POPULATION_S:g} s, streaming at {cli_threads} thread(s): "
        f"**{verdicts[f'{STREAM}/{cli_threads}']}**; returning full curves at one thread: "
        f"**{verdicts[f'{KEEP}/1']}**. (`ketaflow pk population` streams with `workers="
        f"{cli_workers_default()}` and leaves BLAS at its default, one thread per usable CPU.)"
    )
    lines.append("")
    if not one["opentiva"]:
        lines.append(
            f"Speed-up per patient against opentiva (target >= {TARGET_SPEEDUP:g}x): **not measured** "
            "(opentiva is not installed)."
        )
    else:
        s = {k: Timing(v) for k, v in one["samples"].items()}
        ratio, text = ratio_text(s[OPENTIVA], m, s[KEEP], n)
        _, same_text = ratio_text(s[OPENTIVA], m, s[SAME], m)
        ag = one["agreement"]
        lines += [
            f"Speed-up per patient, one thread on both sides, same output (full per-second Cp and Ce of "
            f"every patient): ketaflow at {n:,} patients against opentiva at {m}: **{text}** "
            f"(median over median [extremes]; target >= {TARGET_SPEEDUP:g}x: "
            f"**{verdict(ratio >= TARGET_SPEEDUP)}**). On the very same {m} patients (a small batch, "
            f"where ketaflow's fixed costs weigh more): {same_text}.",
            "",
            f"Agreement on those {m} patients: Cp max relative difference {ag['cp_max_rel']:.1e}; Ce max "
            f"difference {100 * ag['ce_max_of_peak']:.2f} % of the patient's peak (opentiva's per-second "
            "Ce recursion, see shared/reference/pk-models.md).",
        ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="timed rounds per thread count")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    add_common_arguments(parser)
    args = parser.parse_args()
    if args.child:
        child_reply(child(json.loads(args.child)))
        return 0
    run = Run(args)
    results = measure(args)
    run.samples = sum(r["timed"] for r in results)
    run.busy = sum(r["busy"] for r in results)
    run.finish(TITLE, render(run, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
