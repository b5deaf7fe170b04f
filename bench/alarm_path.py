"""Bench: N alarms through the whole chain (pty → alarmd → box.db → syncd → Mosquitto →
hub ingest → hub DB → hub API), as real processes on this machine.

Prints p50/p99 of frame→ACK and frame→visible-in-hub-API, the rate, and ratios against
baselines measured in the same run:
  * commit floor: one synchronous=FULL SQLite transaction (signal row + outbox row) on
    the same disk — the least an ACK-after-commit can cost;
  * broker floor: a QoS 1 publish → delivery round trip through the same Mosquitto.

    python bench/alarm_path.py [--alarms 500]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import paho.mqtt.client as mqtt

from appliance.store import append, open_store, transaction
from drivers.alarm_phone import surgard
from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.receiver_sim import Acked, ReceiverSim
from drivers.alarm_phone.simulator import FdLink, SimulatedReceiver
from provisioning.district import District


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def commit_floor(directory: Path, n: int = 200) -> list[float]:
    conn = open_store(directory)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        with transaction(conn):
            conn.execute("INSERT INTO alarm_signals (signal_id, received_at, receiver, protocol, raw,"
                         " recognised) VALUES (?, 't', 'bench', 'surgard', x'00', 1)", (f"b{i}",))
            append(conn, "alarm", "alarm", f"b{i}", "t", {"i": i})
        times.append(time.perf_counter() - t0)
    conn.close()
    return times


def broker_floor(host: str, port: int, n: int = 200) -> list[float]:
    got = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-rtt")
    client.on_message = lambda *_: got.set()
    client.connect(host, port)
    client.subscribe("bench/rtt", qos=1)
    client.loop_start()
    time.sleep(0.3)
    times = []
    for _ in range(n):
        got.clear()
        t0 = time.perf_counter()
        client.publish("bench/rtt", b"x", qos=1)
        if got.wait(5):
            times.append(time.perf_counter() - t0)
    client.loop_stop()
    client.disconnect()
    return times


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alarms", type=int, default=500)
    ap.add_argument("--isolated", type=int, default=30,
                    help="then this many alarms one at a time on an idle chain")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    n = args.alarms
    work = Path(tempfile.mkdtemp(prefix="anxin-bench-"))
    with District(work) as district:
        district.start_broker()
        district.start_hub()
        box = district.add_box("bench-box-001", heartbeat_interval=300)
        sent: dict[bytes, float] = {}
        acked: dict[bytes, float] = {}
        lock = threading.Lock()

        def on_transmit(frame: bytes, _now: float) -> None:
            with lock:
                sent.setdefault(frame, time.perf_counter())

        def on_event(event: object) -> None:
            if isinstance(event, Acked):
                with lock:
                    acked[event.frame] = time.perf_counter()

        sim = SimulatedReceiver(FdLink(box.receiver.master),
                                ReceiverSim(heartbeat_interval=300), on_event=on_event,
                                on_transmit=on_transmit)
        sim.start()
        # Warm-up: wait until alarmd has the port open and the chain is connected.
        warm = surgard.format_signal("01", "1", ContactIdMessage("9999", "18", 1, "602", "00",
                                                                 "000"))
        sim.send(warm)
        deadline = time.monotonic() + 60
        while not district.alarms("bench-box-001") and time.monotonic() < deadline:
            time.sleep(0.1)
        frames = {surgard.format_signal("01", "1", ContactIdMessage(
            f"{1000 + i}", "18", 1, "101", "01", "001")): f"{1000 + i}" for i in range(n)}
        by_account = {acct: frame for frame, acct in frames.items()}
        visible: dict[str, float] = {}
        t_start = time.perf_counter()
        for frame in frames:
            sim.send(frame)
        polls = []
        while len(visible) < n and time.perf_counter() - t_start < 300:
            p0 = time.perf_counter()
            since = urllib.parse.quote("2000-01-01T00:00:00+08:00")
            items = district.api(f"/api/v1/alarms?box_id=bench-box-001&limit=1000&since={since}"
                                 )["items"]
            seen_at = time.perf_counter()
            polls.append(seen_at - p0)
            for item in items:
                if item["account"] in by_account and item["account"] not in visible:
                    visible[item["account"]] = seen_at
            time.sleep(0.01)
        t_end = max(visible.values()) if visible else time.perf_counter()
        # Isolated alarms: one at a time on an idle chain (how residents press buttons).
        isolated = []
        for i in range(args.isolated):
            acct = f"{7000 + i}"
            frame = surgard.format_signal("01", "1", ContactIdMessage(acct, "18", 1, "101", "01",
                                                                      "002"))
            t0 = time.perf_counter()
            sim.send(frame)
            limit = t0 + 30
            since = urllib.parse.quote("2000-01-01T00:00:00+08:00")
            while time.perf_counter() < limit:
                items = district.api(f"/api/v1/alarms?box_id=bench-box-001&limit=5&since={since}"
                                     )["items"]
                if any(item["account"] == acct for item in items):
                    isolated.append(time.perf_counter() - t0)
                    break
                time.sleep(0.005)
            time.sleep(0.2)
        sim.stop()
        with lock:
            to_ack = [acked[f] - sent[f] for f in frames if f in acked and f in sent]
            to_hub = [visible[a] - sent[by_account[a]] for a in visible if by_account[a] in sent]
        acks_done = max(acked[f] for f in frames if f in acked)
        floor_commit = commit_floor(work / "floor")
        floor_broker = broker_floor(district.broker.host, district.broker.port)
    ms = 1000.0
    figures = {
        "alarms": n, "acked": len(to_ack), "visible_at_hub": len(to_hub),
        "frame_to_ack_p50_ms": statistics.median(to_ack) * ms,
        "frame_to_ack_p99_ms": pct(to_ack, 99) * ms,
        "frame_to_hub_api_p50_ms": statistics.median(to_hub) * ms,
        "frame_to_hub_api_p99_ms": pct(to_hub, 99) * ms,
        "isolated_frame_to_hub_api_p50_ms": statistics.median(isolated) * ms,
        "isolated_frame_to_hub_api_p99_ms": pct(isolated, 99) * ms,
        "ack_rate_per_s": len(to_ack) / (acks_done - t_start),
        "end_to_end_rate_per_s": len(to_hub) / (t_end - t_start),
        "api_poll_p50_ms": statistics.median(polls) * ms,
        "baseline_commit_p50_ms": statistics.median(floor_commit) * ms,
        "baseline_broker_rtt_p50_ms": statistics.median(floor_broker) * ms,
    }
    figures["ratio_ack_p50_to_commit_floor"] = (figures["frame_to_ack_p50_ms"]
                                                / figures["baseline_commit_p50_ms"])
    figures["ratio_isolated_hub_p50_to_broker_rtt"] = (
        figures["isolated_frame_to_hub_api_p50_ms"] / figures["baseline_broker_rtt_p50_ms"])
    figures["ratio_hub_p50_to_broker_rtt"] = (figures["frame_to_hub_api_p50_ms"]
                                              / figures["baseline_broker_rtt_p50_ms"])
    print(f"alarm path bench — {n} alarms, one box, real processes, this machine")
    for key, value in figures.items():
        print(f"  {key:32s} {value:10.2f}" if isinstance(value, float) else f"  {key:32s} {value:10d}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    ok = figures["acked"] == n and figures["visible_at_hub"] == n
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
