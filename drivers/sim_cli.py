"""`anxin-sim`: the simulators as standalone tools (CONTRACTS §1)."""

from __future__ import annotations

import argparse
import os
import pty
import random
import signal
import sys
import termios
import threading
import tty

from drivers.alarm_phone import surgard
from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.receiver_sim import Acked, ComputerFail, Nakked, ReceiverSim, TimedOut
from drivers.alarm_phone.simulator import FdLink, SerialLink, SimulatedReceiver

# What an elderly residents' estate sends in a day, roughly: tests and button presses.
DEMO_EVENTS = [("101", 1), ("602", 1), ("101", 1), ("100", 1), ("301", 1), ("301", 3),
               ("384", 1), ("384", 3), ("154", 1), ("602", 1), ("111", 1)]


def random_signal(rng: random.Random) -> bytes:
    code, qualifier = rng.choice(DEMO_EVENTS)
    msg = ContactIdMessage(account=f"{rng.randint(1000, 1099):04d}", message_type="18",
                           qualifier=qualifier, event_code=code, partition="01",
                           zone=f"{rng.randint(1, 8):03d}")
    return surgard.format_signal("01", "1", msg)


def describe(event: object) -> str:
    frame = getattr(event, "frame", b"")
    text = frame.rstrip(surgard.DC4).decode("ascii", "replace")
    if isinstance(event, Acked):
        return f"ACK  已确认 {text!r} attempts={event.attempts} latency={event.latency * 1000:.1f}ms"
    if isinstance(event, Nakked):
        return f"NAK  被拒收 {text!r} attempt={event.attempt}"
    if isinstance(event, TimedOut):
        return f"TIMEOUT 超时无应答 {text!r} attempt={event.attempt}"
    if isinstance(event, ComputerFail):
        return f"COMPUTER FAIL 自动化主机故障 {text!r}, retry at +{event.retry_at:.0f}"
    return repr(event)


def alarm_receiver(args: argparse.Namespace) -> int:
    if args.port == "pty":
        master, slave = pty.openpty()
        tty.setraw(slave, termios.TCSANOW)
        link = FdLink(master, owns=True)
        print(f"模拟接警机已就绪 receiver on pty: {os.ttyname(slave)}", flush=True)
    else:
        try:
            link = SerialLink(args.port, args.baudrate)
        except Exception as exc:  # noqa: BLE001 - pyserial raises several kinds
            print(f"anxin-sim: cannot open {args.port}: {exc}", file=sys.stderr)
            return 1
    frames: list[bytes] = []
    for text in args.frame:
        frame = text.encode("ascii")
        frames.append(frame if frame.endswith(surgard.DC4) else frame + surgard.DC4)
    for text in args.contact_id:
        from drivers.alarm_phone.contact_id import decode_dtmf
        frames.append(surgard.format_signal("01", "1", decode_dtmf(text)))
    done = threading.Event()
    pending = {"n": len(frames) + args.random}

    def on_event(event: object) -> None:
        print(describe(event), flush=True)
        if isinstance(event, Acked) and not event.frame.startswith(b"1"):
            pending["n"] -= 1
            if pending["n"] <= 0 and args.exit_when_done:
                done.set()

    core = ReceiverSim(ack_timeout=args.ack_timeout, max_attempts=args.attempts,
                       heartbeat_interval=args.heartbeat or None)
    sim = SimulatedReceiver(link, core, on_event=on_event)
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    sim.start()
    for frame in frames:
        sim.send(frame)
    rng = random.Random(args.seed)
    try:
        sent = 0
        while not done.is_set():
            if sent < args.random:
                sim.send(random_signal(rng))
                sent += 1
                done.wait(args.interval)
            else:
                if args.exit_when_done and pending["n"] <= 0:
                    break
                done.wait(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        link.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anxin-sim", description="Anxin simulators.")
    sub = p.add_subparsers(dest="tool", required=True)
    r = sub.add_parser("alarm-receiver",
                       help="a Sur-Gard central-station receiver on a serial port or pty")
    r.add_argument("--port", required=True,
                   help="pyserial URL or device path, or 'pty' to create a pty and print it")
    r.add_argument("--baudrate", type=int, default=9600)
    r.add_argument("--frame", action="append", default=[],
                   help="a raw Sur-Gard frame, e.g. '5011 185678E10100001' (DC4 added)")
    r.add_argument("--contact-id", action="append", default=[],
                   help="a 16-digit Contact ID message, e.g. '5678 18 1101 00 001 1'")
    r.add_argument("--random", type=int, default=0, help="send N random residents' signals")
    r.add_argument("--interval", type=float, default=5.0, help="seconds between random signals")
    r.add_argument("--seed", type=int, default=None)
    r.add_argument("--heartbeat", type=float, default=30.0, help="heartbeat interval, 0 = off")
    r.add_argument("--ack-timeout", type=float, default=4.0)
    r.add_argument("--attempts", type=int, default=4)
    r.add_argument("--exit-when-done", action="store_true",
                   help="exit once every given frame was ACKed")
    r.set_defaults(run=alarm_receiver)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
