"""CPU and memory of the box's media work per channel: 1, 30 and 60 channels, and a scalar baseline.

    .venv/bin/python bench/media.py [--seconds 10] [--rounds 5] [--channels 1 30 60]

Every 20 ms line tick pbxd does, for all active channels as one array: decode the
received A-law, run DTMF detection on it, generate call-progress tones, mix two sources
per channel (what the channel hears: the far end plus a tone or prompt), encode to A-law
for the line, and feed the recording of every call. This bench times each stage on its
own and then all of them together, for SECONDS of audio (SECONDS × 50 ticks) per run,
over ROUNDS runs, and prints medians:

- CPU seconds per channel-second (shown as ms of CPU per second of one channel's audio);
- the ratio to real time: CPU seconds per second of audio for all N channels, i.e. the
  share of one core the media of N channels takes ("60 ch: 0.8 % of one core");
- a baseline in the same run: the scalar path (drivers/e1_card/g711.py decode/encode
  with the tone and the mix in pure Python) for 1 channel, and how many times more CPU
  per channel-second it takes than the vectorised path at 1 and at N channels;
- memory per channel: the state the media objects keep per channel (array sizes) and the
  peak Python/NumPy allocation of a tick (tracemalloc), and the tables shared by all.

DTMF (appliance.media.dtmf.DtmfBank) and recording (appliance.recording.container
RecordingWriter, AES-256-GCM) are imported at run time and reported as skipped, with the
reason, if they are missing or their API differs from docs/media.md. Recording CPU
excludes fsync (pbxd syncs from a thread; `sync_every_chunks=0`), and tracemalloc does
not see OpenSSL's own buffers.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.media import FRAME_MS, FRAME_SAMPLES, g711  # noqa: E402 - after the path setup
from appliance.media.dsp import comfort_noise, dbm0_to_peak, mix  # noqa: E402
from appliance.media.tones import CHINA_TONES, ToneBank  # noqa: E402
from drivers.e1_card import g711 as scalar_g711  # noqa: E402

TICKS_PER_SECOND = 1000 // FRAME_MS
TONE_NAMES = sorted(CHINA_TONES)
MIX_GAINS_DB = np.array([0.0, -6.0])  # far end as is, the tone 6 dB under it

Step = Callable[[int], None]  # run tick k


@dataclass
class Stage:
    """A way to build a fresh STEP for N channels (and a FINISH to run inside the timing)."""

    name: str
    build: Callable[[int, Workload], tuple[Step, Callable[[], None]]]
    skipped: str | None = None


@dataclass
class Workload:
    """Pre-generated input of one size, outside every timing: what the line delivered."""

    channels: int
    ticks: int
    rx_codes: np.ndarray = field(init=False)  # (ticks, channels, 160) uint8
    rx_linear: np.ndarray = field(init=False)  # the same, decoded

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.channels)
        speech_like = comfort_noise(-20.0, rng, shape=(self.ticks, self.channels, FRAME_SAMPLES))
        self.rx_codes = g711.linear_to_alaw(speech_like)
        self.rx_linear = g711.alaw_to_linear(self.rx_codes)


def nothing() -> None:
    return None


def tone_bank(channels: int) -> ToneBank:
    bank = ToneBank(channels)
    for channel in range(channels):
        bank.play(channel, TONE_NAMES[channel % len(TONE_NAMES)])
    return bank


def build_g711(channels: int, work: Workload) -> tuple[Step, Callable[[], None]]:
    def step(k: int) -> None:
        g711.linear_to_alaw(g711.alaw_to_linear(work.rx_codes[k]))
    return step, nothing


def build_tones(channels: int, work: Workload) -> tuple[Step, Callable[[], None]]:
    bank = tone_bank(channels)
    return (lambda k: bank.next_frames()), nothing


def build_mix(channels: int, work: Workload) -> tuple[Step, Callable[[], None]]:
    tone = tone_bank(channels).next_frames()

    def step(k: int) -> None:
        mix(np.stack([work.rx_linear[k], tone]), MIX_GAINS_DB)
    return step, nothing


def build_dtmf(channels: int, work: Workload) -> tuple[Step, Callable[[], None]]:
    from appliance.media.dtmf import DtmfBank  # another module's work: optional at run time

    bank = DtmfBank(channels)
    return (lambda k: bank.feed(work.rx_linear[k], k * FRAME_MS / 1000)), nothing


def build_recording(channels: int, work: Workload) -> tuple[Step, Callable[[], None]]:
    writers, finish = open_recordings(channels)
    tx = work.rx_codes[::-1]  # the other direction: any A-law of the same size

    def step(k: int) -> None:
        left, right = work.rx_codes[k], tx[k]
        for channel, writer in enumerate(writers):
            writer.write(left[channel], right[channel])
    return step, finish


def open_recordings(channels: int) -> tuple[list, Callable[[], None]]:
    """One RecordingWriter per channel in a fresh temporary directory, and how to close them."""
    from datetime import UTC, datetime

    from appliance.recording.container import RecordingMeta, RecordingWriter
    from appliance.recording.keys import generate_key

    directory = tempfile.TemporaryDirectory(prefix="anxin-bench-rec-")
    key, started = generate_key(1), datetime.now(UTC)
    writers = [RecordingWriter(Path(directory.name) / f"call-{c}.arec", key,
                               RecordingMeta(call_id=f"bench-{c}", started_at=started), sync_every_chunks=0)
               for c in range(channels)]

    def finish() -> None:
        for writer in writers:
            writer.close()
        directory.cleanup()
    return writers, finish


def build_all(channels: int, work: Workload) -> tuple[Step, Callable[[], None]]:
    """The whole tick as pbxd runs it, with whatever optional stages are available."""
    bank = tone_bank(channels)
    dtmf_feed, writers, finish = None, [], nothing
    if DTMF.skipped is None:
        from appliance.media.dtmf import DtmfBank
        dtmf_feed = DtmfBank(channels).feed
    if RECORDING.skipped is None:
        writers, finish = open_recordings(channels)

    def step(k: int) -> None:
        rx_codes = work.rx_codes[k]
        rx = g711.alaw_to_linear(rx_codes)
        if dtmf_feed is not None:
            dtmf_feed(rx, k * FRAME_MS / 1000)
        heard = mix(np.stack([rx, bank.next_frames()]), MIX_GAINS_DB)
        tx_codes = g711.linear_to_alaw(heard)
        for channel, writer in enumerate(writers):
            writer.write(rx_codes[channel], tx_codes[channel])
    return step, finish


def build_scalar(channels: int, work: Workload) -> tuple[Step, Callable[[], None]]:
    """The same decode → tone → mix → encode for one channel, sample by sample in Python."""
    rx_bytes = [work.rx_codes[k, 0].tobytes() for k in range(work.ticks)]
    amplitude, omega = dbm0_to_peak(-10.0), 2 * math.pi * 450 / 8000
    gain = 10 ** (MIX_GAINS_DB[1] / 20)
    position = [0]

    def step(k: int) -> None:
        rx = scalar_g711.alaw_to_linear(rx_bytes[k])
        start = position[0]
        tone = [amplitude * math.sin(omega * (start + i)) for i in range(FRAME_SAMPLES)]
        position[0] += FRAME_SAMPLES
        heard = [max(-32768, min(32767, round(a + gain * b))) for a, b in zip(rx, tone, strict=True)]
        scalar_g711.linear_to_alaw(heard)
    return step, nothing


def build_core(channels: int, work: Workload) -> tuple[Step, Callable[[], None]]:
    """What the scalar baseline does, vectorised: decode → tone → mix → encode (no DTMF, no recording)."""
    bank = tone_bank(channels)

    def step(k: int) -> None:
        rx = g711.alaw_to_linear(work.rx_codes[k])
        g711.linear_to_alaw(mix(np.stack([rx, bank.next_frames()]), MIX_GAINS_DB))
    return step, nothing


def probe(stage: Stage) -> Stage:
    """Mark STAGE skipped (with why) if it cannot be built for one channel here."""
    try:
        step, finish = stage.build(1, Workload(1, 2))
        step(0)
        step(1)
        finish()
    except Exception as exc:  # ImportError, or an API that differs from docs/media.md
        stage.skipped = f"{type(exc).__name__}: {exc}"
    return stage


def cpu_seconds(stage: Stage, work: Workload) -> float:
    step, finish = stage.build(work.channels, work)
    start = time.process_time()
    for k in range(work.ticks):
        step(k)
    finish()
    return time.process_time() - start


def median_cpu(stage: Stage, work: Workload, rounds: int) -> float:
    cpu_seconds(stage, Workload(work.channels, 10))  # warm caches and NumPy's dispatch first
    return statistics.median(cpu_seconds(stage, work) for _ in range(rounds))


def state_bytes(channels: int) -> int:
    """Bytes of per-channel state the vectorised objects hold (NumPy arrays in their dicts)."""
    objects: list[object] = [tone_bank(channels)]
    if DTMF.skipped is None:
        from appliance.media.dtmf import DtmfBank
        objects.append(DtmfBank(channels))
    total = 0
    for obj in objects:
        for value in vars(obj).values():
            if isinstance(value, np.ndarray) and value.shape[:1] == (channels,):
                total += value.nbytes
    return total


def traced_bytes(channels: int) -> tuple[int, int]:
    """(bytes allocated building the whole pipeline, peak bytes above that during a few ticks)."""
    work = Workload(channels, 5)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    step, finish = ALL.build(channels, work)
    built = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    for k in range(work.ticks):
        step(k)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    finish()
    return built - before, peak - built


def shared_table_bytes() -> int:
    tables = [g711.ALAW_DECODE, g711.ULAW_DECODE, g711.ALAW_ENCODE, g711.ULAW_ENCODE,
              g711.ALAW_TO_ULAW, g711.ULAW_TO_ALAW]
    bank = ToneBank(1)
    return sum(t.nbytes for t in tables) + bank.table_bytes


DTMF = Stage("DTMF detection (dtmf.DtmfBank)", build_dtmf)
RECORDING = Stage("recording (AES-GCM .arec)", build_recording)
ALL = Stage("all of the above, one tick", build_all)
STAGES = [Stage("G.711 decode + encode", build_g711), Stage("tones (ToneBank)", build_tones),
          Stage("mix 2 sources per channel", build_mix), DTMF, RECORDING, ALL]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio seconds per run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--channels", type=int, nargs="+", default=[1, 30, 60])
    args = parser.parse_args(argv)
    ticks = max(2, round(args.seconds * TICKS_PER_SECOND))
    seconds = ticks / TICKS_PER_SECOND
    for stage in (DTMF, RECORDING):
        probe(stage)

    print(f"bench/media.py: {seconds:g} s of audio per run, median of {args.rounds} runs; "
          f"Python {platform.python_version()}, NumPy {np.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    print("  CPU ms per channel-second  |  share of one core for all N channels (ratio to real time)")
    header = "".join(f"{f'{n} ch':>22}" for n in args.channels)
    print(f"  {'stage':<34}{header}")
    works = {n: Workload(n, ticks) for n in args.channels}
    totals: dict[int, float] = {}
    for stage in STAGES:
        if stage.skipped:
            print(f"  {stage.name:<34}skipped ({stage.skipped})")
            continue
        cells = []
        for n in args.channels:
            cpu = median_cpu(stage, works[n], args.rounds)
            per_channel_ms = cpu / (n * seconds) * 1000
            cells.append(f"{per_channel_ms:8.4f} | {100 * cpu / seconds:6.3f} %  ")
            if stage is ALL:
                totals[n] = cpu
        print(f"  {stage.name:<34}{''.join(f'{c:>22}' for c in cells)}")

    for n, cpu in totals.items():
        print(f"  {n} channel{'s' if n != 1 else ''}: {100 * cpu / seconds:.2f} % of one core "
              f"({cpu / (n * seconds):.2e} CPU s per channel-second)")

    one = works.get(1) or Workload(1, ticks)
    scalar_per_channel = median_cpu(Stage("scalar", build_scalar), one, args.rounds) / seconds
    print(f"  baseline, scalar drivers/e1_card/g711.py + pure-Python tone and mix, 1 channel: "
          f"{scalar_per_channel * 1000:.3f} ms CPU per channel-second ({100 * scalar_per_channel:.2f} % "
          f"of one core per channel)")
    core = Stage("core", build_core)
    for n in sorted({1, max(args.channels)}):
        work = one if n == 1 else works[n]
        vector = median_cpu(core, work, args.rounds) / (n * seconds)
        print(f"  the same work vectorised, {n} ch: {vector * 1000:.4f} ms CPU per channel-second; "
              f"scalar / vectorised = {scalar_per_channel / vector:.1f}x")

    low, high = min(args.channels), max(args.channels)
    (built_low, tick_low), (built_high, tick_high) = traced_bytes(low), traced_bytes(high)
    spread = max(1, high - low)
    optional = "".join(f" + {name}" for name, stage in (("DTMF", DTMF), ("recording", RECORDING))
                       if stage.skipped is None)
    print(f"  memory per channel (tracemalloc, {low}→{high} ch, tones{optional}): "
          f"{(built_high - built_low) / spread / 1024:.1f} KiB of objects, "
          f"{(tick_high - tick_low) / spread / 1024:.1f} KiB more at the peak of a tick; "
          f"array state {state_bytes(high) / high:.0f} B; "
          f"shared tables {shared_table_bytes() / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
