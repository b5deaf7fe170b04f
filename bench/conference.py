"""Conference mixer per line tick: 30 two-party and 20 three-party rooms, against naive baselines.

    .venv/bin/python bench/conference.py [--ticks 1000] [--python-ticks 50] [--rounds 5]

The box's calls in one mix (appliance/media/conference.py): 30 calls of caller + agent
and 20 three-way calls (caller, agent, a third party), 120 legs, every leg talking
(speech-like noise at −20 dBm0, made before any timing). Each tick is timed on its own
(perf_counter_ns); the mixer and the baselines take turns for ROUNDS rounds, so that a
busy machine slows them alike, and the median over all ticks is printed in µs, with its
share of the 20 ms tick.

Baselines, in the same run and on the same frames (their output is checked equal to
the mixer's first):

- naive per room: a Python loop over rooms and legs, each leg's frame the NumPy sum of
  the others' frames in int32, clipped — what one writes first;
- pure Python per sample: the same with lists and a loop over the 160 samples (timed
  over fewer ticks: it is slow).

The ratio is baseline µs / mixer µs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Hashable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.media import FRAME_MS, FRAME_SAMPLES  # noqa: E402 - after the path setup
from appliance.media.conference import Mixer  # noqa: E402
from appliance.media.dsp import comfort_noise  # noqa: E402

Rooms = dict[str, list[Hashable]]
Tick = dict[Hashable, np.ndarray]


def box_rooms(two_party: int, three_party: int) -> Rooms:
    rooms: Rooms = {}
    for n in range(two_party):
        rooms[f"call-{n}"] = [("trunk", "span1", n), ("phone", f"port{n}")]
    for n in range(three_party):
        m = two_party + n
        rooms[f"call-{m}"] = [("trunk", "span2", n), ("phone", f"port{m}"), ("trunk", "span3", n)]
    return rooms


def workload(rooms: Rooms, ticks: int) -> list[Tick]:
    legs = [leg for members in rooms.values() for leg in members]
    noise = comfort_noise(-20.0, np.random.default_rng(7), shape=(ticks, len(legs), FRAME_SAMPLES))
    return [dict(zip(legs, noise[k], strict=True)) for k in range(ticks)]


def naive_numpy(rooms: Rooms) -> Callable[[Tick], Tick]:
    def tick(inputs: Tick) -> Tick:
        out: Tick = {}
        for members in rooms.values():
            for leg in members:
                total = np.zeros(FRAME_SAMPLES, dtype=np.int32)
                for other in members:
                    if other != leg:
                        total += inputs[other]
                out[leg] = np.clip(total, -32768, 32767).astype(np.int16)
        return out
    return tick


def naive_python(rooms: Rooms) -> Callable[[dict[Hashable, list[int]]], dict[Hashable, list[int]]]:
    def tick(inputs: dict[Hashable, list[int]]) -> dict[Hashable, list[int]]:
        out: dict[Hashable, list[int]] = {}
        for members in rooms.values():
            for leg in members:
                others = [inputs[o] for o in members if o != leg]
                frame = []
                for i in range(FRAME_SAMPLES):
                    s = 0
                    for source in others:
                        s += source[i]
                    frame.append(32767 if s > 32767 else -32768 if s < -32768 else s)
                out[leg] = frame
        return out
    return tick


def tick_times(step: Callable[[object], object], ticks: list) -> list[int]:
    times = []
    for inputs in ticks:
        start = time.perf_counter_ns()
        step(inputs)
        times.append(time.perf_counter_ns() - start)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1000,
                        help="ticks timed for the mixer and the NumPy baseline")
    parser.add_argument("--python-ticks", type=int, default=50,
                        help="ticks timed for the pure-Python baseline")
    parser.add_argument("--rounds", type=int, default=5,
                        help="the three take turns this many times (a busy machine slows all alike)")
    parser.add_argument("--two-party", type=int, default=30)
    parser.add_argument("--three-party", type=int, default=20)
    args = parser.parse_args(argv)
    rooms = box_rooms(args.two_party, args.three_party)
    legs = sum(len(members) for members in rooms.values())
    ticks = workload(rooms, max(args.ticks, args.python_ticks, 1))
    mixer = Mixer()
    for room, members in rooms.items():
        for leg in members:
            mixer.join(room, leg, "talk")
    numpy_tick, python_tick = naive_numpy(rooms), naive_python(rooms)
    as_lists = [{leg: frame.tolist() for leg, frame in inputs.items()}
                for inputs in ticks[:args.python_ticks]]

    # The three must agree before any of them is timed.
    first, reference = mixer.mix(ticks[0]), numpy_tick(ticks[0])
    assert all(np.array_equal(first[leg], reference[leg]) for leg in reference), "mixer ≠ per-room baseline"
    if as_lists:
        scalar = python_tick(as_lists[0])
        assert all(scalar[leg] == reference[leg].tolist() for leg in reference), "mixer ≠ pure Python"

    budget_us = FRAME_MS * 1000
    print(f"bench/conference.py: {args.two_party} two-party + {args.three_party} three-party rooms "
          f"({legs} legs), median µs per tick; Python {platform.python_version()}, NumPy {np.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs")
    samples: dict[str, list[int]] = {"mixer": [], "numpy": [], "python": []}
    per_round = max(1, args.python_ticks // max(1, args.rounds))
    for k in range(max(1, args.rounds)):
        samples["mixer"] += tick_times(mixer.mix, ticks[:args.ticks])
        samples["numpy"] += tick_times(numpy_tick, ticks[:args.ticks])
        samples["python"] += tick_times(python_tick, as_lists[k * per_round:(k + 1) * per_round])
    mixer_us, numpy_us = (statistics.median(samples[name]) / 1000 for name in ("mixer", "numpy"))
    print(f"  mixer (one matrix product)     {mixer_us:10.1f} µs  ({100 * mixer_us / budget_us:.2f} % of the "
          f"{FRAME_MS} ms tick)")
    print(f"  naive per room, NumPy per leg  {numpy_us:10.1f} µs  ratio {numpy_us / mixer_us:6.1f}x")
    if samples["python"]:
        python_us = statistics.median(samples["python"]) / 1000
        print(f"  pure Python per sample         {python_us:10.1f} µs  ratio {python_us / mixer_us:6.1f}x  "
              f"({100 * python_us / budget_us:.0f} % of the tick)")

if __name__ == "__main__":
    main()
