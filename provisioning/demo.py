"""`anxin-demo`: a whole simulated district on the embedded defaults.

SQLite hub, a private Mosquitto on a free port, one box (alarmd + syncd) whose alarm
receiver is a simulated Sur-Gard on a pty, sending residents' signals and heartbeats.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from drivers.alarm_phone.receiver_sim import Acked, ReceiverSim
from drivers.alarm_phone.simulator import FdLink, SimulatedReceiver
from drivers.sim_cli import describe, random_signal
from provisioning.district import District, DistrictError
from provisioning.mosquitto import BrokerError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anxin-demo",
                                description="Run a simulated Anxin district (安心演示区).")
    p.add_argument("--workdir", type=Path, help="where data and logs go (default: a temp dir)")
    p.add_argument("--boxes", type=int, default=1, help="how many community boxes")
    p.add_argument("--interval", type=float, default=5.0,
                   help="seconds between simulated residents' signals per box")
    p.add_argument("--duration", type=float, default=0,
                   help="stop after this many seconds (0 = until Ctrl-C)")
    p.add_argument("--seed", type=int, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="anxin-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    district = District(workdir)
    receivers: list[SimulatedReceiver] = []
    acked = {"n": 0}
    try:
        print("正在启动安心演示区 Starting the Anxin demo district …", flush=True)
        district.start_broker()
        district.start_hub()
        password = secrets.token_urlsafe(9)
        district.hub_cli("create-user", "demo", "--password", password, "--role",
                         "district_staff", "--display-name", "演示用户")
        import random
        rng = random.Random(args.seed)
        for i in range(1, args.boxes + 1):
            box = district.add_box(f"demo-box-{i:03d}", heartbeat_interval=30.0, trunk=True)

            def on_event(event: object, box_id: str = box.box_id) -> None:
                if isinstance(event, Acked) and not event.frame.startswith(b"1"):
                    acked["n"] += 1
                print(f"[{box_id}] {describe(event)}", flush=True)

            sim = SimulatedReceiver(FdLink(box.receiver.master), ReceiverSim(), on_event=on_event)
            sim.start()
            receivers.append(sim)
        print(
            "\n安心演示区已运行 The Anxin demo district is running\n"
            f"  区级平台 Hub web:  {district.hub_url}/alarms   "
            f"(用户 user: demo  密码 password: {password})\n"
            f"  接口 API:          {district.hub_url}/api/v1/alarms   "
            f"(Authorization: Bearer {district.token})\n"
            f"  接口文档 OpenAPI:  {district.hub_url}/api/v1/openapi.json\n"
            f"  MQTT broker:       {district.broker.url}\n"
            + "".join(f"  社区设备 Box:      {b.box_id}  (alarm receiver on {b.receiver.path}; "
                      f"E1 中继 trunk: simulated telco at {b.span_dir})\n"
                      for b in district.boxes.values())
            + f"  数据与日志 Data and logs: {workdir}\n"
            "按 Ctrl-C 停止 Press Ctrl-C to stop\n", flush=True)
        for b in district.boxes.values():
            status, until = district.trunk_status(b.box_id), time.monotonic() + 15
            while "D-channel up" not in status and time.monotonic() < until and not stop.is_set():
                time.sleep(0.3)
                status = district.trunk_status(b.box_id)
            print(f"[{b.box_id}] 中继 trunk {status}", flush=True)
        deadline = time.monotonic() + args.duration if args.duration else None
        while not stop.is_set():
            for sim in receivers:
                sim.send(random_signal(rng))
            if stop.wait(args.interval):
                break
            if deadline and time.monotonic() >= deadline:
                break
        at_hub = len(district.alarms())
        print(f"\n演示结束 Demo finished: {acked['n']} signals acknowledged by the boxes, "
              f"{at_hub} alarms at the hub", flush=True)
        return 0 if at_hub > 0 or not args.duration else 1
    except KeyboardInterrupt:
        print("\n已停止 Stopped", flush=True)
        return 0
    except (DistrictError, BrokerError) as exc:
        print(f"anxin-demo: {exc}", file=sys.stderr)
        return 1
    finally:
        for sim in receivers:
            sim.stop()
        district.stop()


if __name__ == "__main__":
    sys.exit(main())
