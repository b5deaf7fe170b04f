"""Call setups per second and CPU per call: our user side vs libpri's, same libpri network.

    .venv/bin/python bench/pri.py [--calls 300] [--concurrency 1 8] [--rounds 3]

One libpri network side (tests/interop/pri_peer.c, --auto-answer: CALL PROCEEDING,
ALERTING, CONNECT for each SETUP) listens on a simulated span's D-channel. Against it,
in turn and in the same run, (a) libpri's own user side (the harness's ``load``
command) and (b) our user side (a PriSpan in a separate Python process) place N calls,
M at a time; each call is SETUP → CONNECT → DISCONNECT → RELEASE → RELEASE COMPLETE.
We report medians over the rounds of calls/s and CPU ms per call of the user-side
process, their ratios (ours / libpri), the D-channel bytes per call, and what a
64 kbit/s D-channel could carry at that size (its own limit, for comparison).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "interop"))

# HDLC on the wire: opening flag, 2 FCS bytes per frame (flags shared between frames);
# bit stuffing adds at most 1/5, on random data ~1/62 — we count the typical case.
HDLC_OVERHEAD_BYTES = 3
BIT_STUFFING = 1 + 1 / 62


def our_user_load(directory: str, calls: int, concurrency: int) -> None:
    """Child process: place CALLS calls with CONCURRENCY at a time, print figures."""
    from drivers.e1_card.q931 import events as ev
    from drivers.e1_card.sim import SimSpan
    from drivers.e1_card.stack import PriSpan

    async def main() -> None:
        span = PriSpan(SimSpan(f"sim://{directory}"), "user", name="bench")
        await span.start()
        await span.wait_link_up(10)
        pending: dict[int, asyncio.Future[None]] = {}

        async def pump() -> None:
            while True:
                event = await span.events.get()
                if isinstance(event, ev.Answered):
                    span.hangup(event.call_id, 16)
                elif isinstance(event, ev.Hangup):
                    span.hangup(event.call_id, 16)
                elif isinstance(event, ev.Released) and event.call_id in pending:
                    pending.pop(event.call_id).set_result(None)

        pumper = asyncio.ensure_future(pump())
        frames_before = span.frames_in + span.frames_out
        bytes_before = _dchannel_bytes(span)
        start_cpu, start = _cpu(), time.perf_counter()
        done = failed = 0
        semaphore = asyncio.Semaphore(concurrency)

        async def one(n: int) -> None:
            nonlocal done, failed
            async with semaphore:
                future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                call_id = span.setup(f"9{n % 10000:04d}", "13800138000")
                pending[call_id] = future
                try:
                    await asyncio.wait_for(future, 10)
                    done += 1
                except TimeoutError:
                    failed += 1

        await asyncio.gather(*(one(n) for n in range(calls)))
        seconds, cpu = time.perf_counter() - start, _cpu() - start_cpu
        frames = span.frames_in + span.frames_out - frames_before
        payload = _dchannel_bytes(span) - bytes_before
        print(f"RESULT ok={done} failed={failed} seconds={seconds:.4f} cpu={cpu:.4f} "
              f"frames={frames} bytes={payload}", flush=True)
        pumper.cancel()
        await span.close()

    asyncio.run(main())


def _dchannel_bytes(span: object) -> int:
    return getattr(span, "bytes_in", 0) + getattr(span, "bytes_out", 0)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _fields(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


def run_round(binary: Path, calls: int, concurrency: int) -> dict[str, dict[str, float]]:
    from libpri_peer import LibpriPeer

    results: dict[str, dict[str, float]] = {}
    for side in ("libpri", "ours"):
        directory = Path(tempfile.mkdtemp(prefix="anxin-bench-", dir="/tmp"))
        network = LibpriPeer(binary, role="network", socket_path=directory / "dchan", listen=True,
                             auto_answer=True, quiet=True).start()
        try:
            if side == "libpri":
                user = LibpriPeer(binary, role="user", socket_path=directory / "dchan", listen=False,
                                  quiet=True).start()
                try:
                    user.wait_up(10)
                    done = user.load(calls, concurrency, "96101", "13800138000", timeout=300)
                    cpu_user, cpu_sys = user.quit()
                finally:
                    user.stop()
                results[side] = {"ok": done["ok"], "seconds": done["seconds"], "cpu": cpu_user + cpu_sys}
            else:
                proc = subprocess.run(
                    [sys.executable, __file__, "--as-our-user", str(directory), str(calls), str(concurrency)],
                    capture_output=True, text=True, timeout=600, cwd=ROOT,
                    env={**os.environ, "PYTHONPATH": str(ROOT)})
                line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT")), None)
                if line is None:
                    raise RuntimeError(f"our user side failed:\n{proc.stdout}\n{proc.stderr[-2000:]}")
                f = _fields(line)
                ok = max(1, int(f["ok"]))
                results[side] = {"ok": float(f["ok"]), "seconds": float(f["seconds"]), "cpu": float(f["cpu"]),
                                 "bytes": float(f["bytes"]) / ok, "frames": float(f["frames"]) / ok}
        finally:
            network.stop()
    return results


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--as-our-user":
        our_user_load(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from libpri_peer import compile_pri_peer

    binary = compile_pri_peer(Path(tempfile.mkdtemp(prefix="anxin-bench-bin-")))
    print(f"bench/pri.py: {args.calls} calls per round, {args.rounds} rounds, medians; "
          f"user side CPU = the placing process only")
    for concurrency in args.concurrency:
        rounds = [run_round(binary, args.calls, concurrency) for _ in range(args.rounds)]
        table = {}
        for side in ("libpri", "ours"):
            rate = statistics.median(r[side]["ok"] / r[side]["seconds"] for r in rounds)
            cpu_ms = statistics.median(1000 * r[side]["cpu"] / max(1, r[side]["ok"]) for r in rounds)
            lost = sum(args.calls - r[side]["ok"] for r in rounds)
            table[side] = (rate, cpu_ms, lost)
            print(f"  M={concurrency:<3} {side:<7} {rate:8.1f} calls/s  {cpu_ms:7.3f} ms CPU/call  "
                  f"failed {lost:.0f}")
        per_call = statistics.median(r["ours"]["bytes"] for r in rounds)
        frames = statistics.median(r["ours"]["frames"] for r in rounds)
        wire = (per_call + frames * HDLC_OVERHEAD_BYTES) * BIT_STUFFING
        print(f"  M={concurrency:<3} ratio ours/libpri: rate {table['ours'][0] / table['libpri'][0]:.3f}, "
              f"CPU per call {table['ours'][1] / table['libpri'][1]:.2f}")
        print(f"  M={concurrency:<3} D-channel: {frames:.1f} frames, {per_call:.0f} bytes per call "
              f"(~{wire:.0f} on the wire); 64 kbit/s carries at most {8000 / wire:.1f} call setups/s")
        headroom = table["ours"][0] / (8000 / wire)
        print(f"  M={concurrency:<3} ours / the D-channel's own limit: {headroom:.0f}x; "
              f"one E1's 30 channels at full churn (90 s calls) need {30 / 90:.2f} setups/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
