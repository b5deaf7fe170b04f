"""The ACD through the real pbxd, in real time: busy hours measured against Erlang C and Erlang A.

    .venv/bin/python bench/acd_pbxd.py [--minutes 9] [--agents 5] [--aht 2] [--seed 1] [--runs 100]

Two busy hours, one after the other, each on a box of its own (provisioning/busy_hour.py):
pbxd as the daemon process it is on a box, the simulated carrier and the N agents' phones
in this process. (a) Erlang C: nobody hangs up, 80 % load; (b) Erlang A: exponential
patience of mean 4 s, 90 % load. Talk is exponential (AHT 2 s), agents lift 0.1 s into the
ring, the service-level target is 2 s. Each figure comes from box.db's queue log, with its
batch-means standard error, and is set against Erlang at the plan's λ and AHT and at the
λ̂ and talk the hour actually brought ("as offered"), as the ratio measured ÷ Erlang and
as Δ/σ (σ = max(batch s.e., s.d. over engine-level replays of the same length); the
model's own bias, measured by the replays, is taken out). Real time: the arrivals take
``--minutes`` (55 % for Erlang C, whose waits scatter most), plus ~20 s a run for start,
drain and replays.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioning.busy_hour import (  # noqa: E402 - after the path setup
    ALL_FIGURES,
    FIGURES,
    BusyHourLoadError,
    BusyHourRun,
    LoadPlan,
    run_busy_hour,
)

SIGMAS = 4.0
LABELS = {"service_level": "SL", "asa": "ASA s", "abandon_rate": "abandon", "p_wait": "P(wait)",
          "occupancy": "occupancy"}


def plans(args: argparse.Namespace) -> list[LoadPlan]:
    seconds = args.minutes * 60
    common = dict(ring_delay=args.ring_delay, target=args.target, batches=10, runs=args.runs)
    return [
        LoadPlan.at_load("Erlang C, 80 % load", args.agents, 0.8, args.aht, duration=0.55 * seconds,
                         warmup=20.0, seed=args.seed, **common),
        LoadPlan.at_load("Erlang A, 90 % load, patience 4 s", args.agents, 0.9, args.aht, patience=4.0,
                         duration=0.45 * seconds, warmup=15.0, seed=args.seed + 1, **common),
    ]


def summary(runs: list[BusyHourRun]) -> str:
    lines = ["summary — measured (box.db queue_log) vs Erlang; Δ/σ has the model's replayed bias taken out",
             f"{'case':<36}{'figure':<11}{'Erlang':>8}{'measured':>10}{'± s.e.':>8}{'ratio':>7}{'Δ/σ':>6}"
             f"{'':>3}{'as offered':>11}{'ratio':>7}{'Δ/σ':>6}{'':>3}"]
    for run in runs:
        for name in ALL_FIGURES:
            c = run.compare(name, SIGMAS)
            o = run.compare_as_offered(name, SIGMAS)
            mark = ("  ✓" if c.ok else "  ✗") if name in FIGURES else "   "
            line = (f"{run.plan.name:<36}{LABELS[name]:<11}{c.predicted:>8.3f}{c.measured:>10.3f}{c.se:>8.3f}"
                    f"{c.ratio:>7.3f}{c.deviation:>+6.1f}{mark}")
            if o is not None:
                line += (f"{o.predicted:>11.3f}{o.ratio:>7.3f}{o.deviation:>+6.1f}"
                         f"{('  ✓' if o.ok else '  ✗') if name in FIGURES else ''}")
            lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=9.0, help="minutes of arrivals, both runs together")
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--aht", type=float, default=2.0, help="mean talk, seconds")
    parser.add_argument("--ring-delay", type=float, default=0.1)
    parser.add_argument("--target", type=float, default=2.0, help="service-level target, seconds")
    parser.add_argument("--runs", type=int, default=100, help="engine-level replays per case")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="keep each box's box.toml, box.db and pbxd.log here")
    args = parser.parse_args(argv)
    print(f"bench/acd_pbxd.py: Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs", flush=True)
    runs: list[BusyHourRun] = []
    try:
        for i, plan in enumerate(plans(args)):
            patience = "inf" if math.isinf(plan.patience) else f"{plan.patience:g} s"
            print(f"\n({'ab'[i]}) {plan.name}: N = {plan.agents}, λ = {plan.rate:.3f}/s, "
                  f"patience {patience}, {plan.duration:.0f} s of arrivals "
                  f"(~{plan.expected_calls:.0f} calls) …", flush=True)
            started = time.monotonic()
            workdir = (args.workdir / f"case-{'ab'[i]}" if args.workdir
                       else Path(tempfile.mkdtemp(prefix=f"anxin-bench-pbxd-{'ab'[i]}-")))
            print(f"    box.toml, box.db and pbxd.log in {workdir}", flush=True)
            run = run_busy_hour(plan, workdir=workdir)
            print(run.table(SIGMAS))
            print(f"    ({time.monotonic() - started:.0f} s)", flush=True)
            runs.append(run)
    except BusyHourLoadError as exc:
        print(f"bench/acd_pbxd.py: {exc}", file=sys.stderr)
        return 2
    print("\n" + summary(runs))
    lost = sum(len(r.lost) for r in runs)
    print(f"calls lost: {lost} (must be 0); phones idle at the end: "
          f"{'yes' if all(r.phones_idle for r in runs) else 'NO'}")
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
