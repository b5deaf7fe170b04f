"""Bench: alarmd intake alone — frame→ACK at a burst of 200 frames/s on one receiver and
on 4 receivers at once (alarmd as the real process, receivers simulated on ptys).

Baseline in the same run: one synchronous=FULL commit of a signal + outbox row on the
same disk (the floor of ACK-after-commit).

    python bench/alarm_intake.py [--frames 1000] [--rate 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from drivers.alarm_phone import surgard
from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.receiver_sim import Acked, ReceiverSim
from drivers.alarm_phone.simulator import FdLink, SimulatedReceiver
from provisioning.district import Proc, Pty

sys.path.insert(0, str(Path(__file__).parent))
from alarm_path import commit_floor, pct  # noqa: E402  (same directory)


def run(receivers: int, frames: int, rate: float, work: Path) -> tuple[list[float], float]:
    ptys = [Pty.open() for _ in range(receivers)]
    config = work / f"box-{receivers}.toml"
    config.write_text(
        f'[box]\nid = "bench-intake"\ndata_dir = "{work / f"data-{receivers}"}"\n'
        '[bus]\nmqtt_url = "mqtt://127.0.0.1:9"\n'
        + "".join(f'[[alarm.receivers]]\nname = "r{i}"\nprotocol = "surgard"\n'
                  f'port = "{p.path}"\nheartbeat_interval = 300\n' for i, p in enumerate(ptys)),
        encoding="utf-8")
    alarmd = Proc("alarmd", [sys.executable, "-m", "appliance.cli", "alarmd", "--config",
                             str(config)], {**os.environ}, work / f"alarmd-{receivers}.log")
    alarmd.start()
    latencies: list[float] = []
    lock = threading.Lock()
    done = threading.Semaphore(0)

    def on_event(event: object) -> None:
        if isinstance(event, Acked) and event.frame.startswith(b"5"):
            with lock:
                latencies.append(event.latency)
            done.release()

    sims = [SimulatedReceiver(FdLink(p.master), ReceiverSim(heartbeat_interval=300),
                              on_event=on_event) for p in ptys]
    for sim in sims:
        sim.start()
    # Warm-up: one frame per receiver once alarmd has its ports open.
    for i, sim in enumerate(sims):
        sim.send(surgard.format_signal("01", "1", ContactIdMessage("9999", "18", 1, "602", "00",
                                                                   f"{i:03d}")))
    for _ in sims:
        done.acquire(timeout=60)
    latencies.clear()
    per = frames // receivers
    t0 = time.perf_counter()
    for k in range(per):
        for i, sim in enumerate(sims):
            n = k * receivers + i
            sim.send(surgard.format_signal(f"{i + 1:02d}", "1", ContactIdMessage(
                f"{1000 + n // 1000}", "18", 1, "101", "01", f"{n % 1000:03d}")))
        # Paced: RATE frames per second per receiver.
        time.sleep(max(0.0, t0 + (k + 1) / rate - time.perf_counter()))
    for _ in range(per * receivers):
        if not done.acquire(timeout=60):
            break
    elapsed = time.perf_counter() - t0
    for sim in sims:
        sim.stop()
    alarmd.stop()
    for p in ptys:
        p.close()
    return latencies, elapsed


def dc09_core_rate(n: int, key: str | None) -> float:
    """Messages/s through the sans-I/O DC-09 receiver alone (parse, CRC, decrypt, answer)."""
    from drivers.alarm_phone.dc09 import Dc09Receiver, Dc09Transmitter

    tx = Dc09Transmitter("1234", key=key)
    rx = Dc09Receiver(keys={"1234": key} if key else None)
    now = time.time()
    frames = [tx.adm_cid(ContactIdMessage("1234", "18", 1, "101", "01", f"{i % 1000:03d}"), now)
              for i in range(n)]
    t0 = time.perf_counter()
    for f in frames:
        rx.receive_datagram(f, now)
    return n / (time.perf_counter() - t0)


def dc09_listener_rate(n: int, work: Path) -> tuple[float, list[float]]:
    """Messages/s into a real alarmd over one TCP connection, each committed before its ACK."""
    import socket

    from drivers.alarm_phone.dc09 import Dc09Transmitter
    from provisioning.mosquitto import free_port

    port, key = free_port(), "000102030405060708090A0B0C0D0E0F"
    keys = work / "dc09-keys.toml"
    keys.write_text(f'[keys]\n"1234" = "{key}"\n', encoding="utf-8")
    keys.chmod(0o600)
    config = work / "box-dc09.toml"
    config.write_text(
        f'[box]\nid = "bench-dc09"\ndata_dir = "{work / "data-dc09"}"\n'
        '[bus]\nmqtt_url = "mqtt://127.0.0.1:9"\n'
        f'[[alarm.receivers]]\nname = "ip"\nprotocol = "dc09"\nport = "tcp://127.0.0.1:{port}"\n'
        f'keys_file = "{keys}"\n', encoding="utf-8")
    alarmd = Proc("alarmd", [sys.executable, "-m", "appliance.cli", "alarmd", "--config",
                             str(config)], {**os.environ}, work / "alarmd-dc09.log")
    alarmd.start()
    tx = Dc09Transmitter("1234", key=key)
    deadline = time.monotonic() + 30
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    latencies = []
    with sock:
        t0 = time.perf_counter()
        for i in range(n):
            frame = tx.adm_cid(ContactIdMessage("1234", "18", 1, "101", "01", f"{i % 1000:03d}"),
                               time.time())
            s0 = time.perf_counter()
            sock.sendall(frame)
            reply = b""
            while not reply.endswith(b"\r"):
                reply += sock.recv(4096)
            latencies.append(time.perf_counter() - s0)
        rate = n / (time.perf_counter() - t0)
    alarmd.stop()
    return rate, latencies


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=1000, help="frames per scenario")
    ap.add_argument("--rate", type=float, default=200.0, help="frames/s offered per receiver")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="anxin-bench-intake-"))
    floor = statistics.median(commit_floor(work / "floor")) * 1000
    print(f"alarm intake bench — {args.frames} frames per scenario, offered "
          f"{args.rate:.0f} frames/s per receiver, alarmd as a real process")
    print(f"  baseline: one synchronous=FULL commit p50 {floor:.2f} ms")
    ok = True
    for receivers in (1, 4):
        lat, elapsed = run(receivers, args.frames, args.rate, work)
        ms = [x * 1000 for x in lat]
        expected = (args.frames // receivers) * receivers
        ok &= len(ms) == expected
        p50 = statistics.median(ms)
        print(f"  {receivers} receiver(s): acked {len(ms)}/{expected}  "
              f"frame→ACK p50 {p50:.2f} ms  p99 {pct(ms, 99):.2f} ms  "
              f"throughput {len(ms) / elapsed:.0f} frames/s  "
              f"ratio p50/commit-floor {p50 / floor:.2f}")
    plain, aes = dc09_core_rate(2000, None), dc09_core_rate(2000, "000102030405060708090A0B0C0D0E0F")
    print(f"  DC-09 core alone: clear {plain:.0f} msg/s, AES-128 {aes:.0f} msg/s "
          f"(ratio {plain / aes:.2f})")
    rate, lat = dc09_listener_rate(500, work)
    ms = [x * 1000 for x in lat]
    print(f"  DC-09 into alarmd over TCP (AES-128, committed before ACK): {rate:.0f} msg/s, "
          f"message→ACK p50 {statistics.median(ms):.2f} ms  p99 {pct(ms, 99):.2f} ms  "
          f"ratio p50/commit-floor {statistics.median(ms) / floor:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
