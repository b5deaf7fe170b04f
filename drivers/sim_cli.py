"""`anxin-sim`: the simulators as standalone tools (CONTRACTS §1)."""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import time

from drivers.alarm_phone import ademco685, surgard
from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.receiver_sim import Acked, ComputerFail, Nakked, ReceiverSim, TimedOut
from drivers.alarm_phone.simulator import FdLink, Pty, SerialLink, SimulatedReceiver

# What an elderly residents' estate sends in a day, roughly: tests and button presses.
DEMO_EVENTS = [("101", 1), ("602", 1), ("101", 1), ("100", 1), ("301", 1), ("301", 3),
               ("384", 1), ("384", 3), ("154", 1), ("602", 1), ("111", 1)]


def random_signal(rng: random.Random, fmt: str = "surgard") -> bytes:
    code, qualifier = rng.choice(DEMO_EVENTS)
    msg = ContactIdMessage(account=f"{rng.randint(1000, 1099):04d}", message_type="18",
                           qualifier=qualifier, event_code=code, partition="01",
                           zone=f"{rng.randint(1, 8):03d}")
    return format_contact_id(msg, fmt)


def format_contact_id(msg: ContactIdMessage, fmt: str) -> bytes:
    """The bytes a receiver of format FMT sends for MSG."""
    if fmt == "ademco685":
        return ademco685.format_signal("11", msg)
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
    cable: Pty | None = None
    if args.port == "pty":
        cable = Pty.open()
        link = FdLink(cable.master)
        print(f"模拟接警机已就绪 receiver on pty: {cable.path}", flush=True)
    else:
        try:
            link = SerialLink(args.port, args.baudrate)
        except Exception as exc:  # noqa: BLE001 - pyserial raises several kinds
            print(f"anxin-sim: cannot open {args.port}: {exc}", file=sys.stderr)
            return 1
    from drivers.alarm_phone.contact_id import decode_dtmf

    frames: list[bytes] = []
    for text in args.frame:
        frame = text.encode("ascii")
        if args.format == "ademco685":
            frames.append(frame if frame.startswith(b"\n") else b"\n" + frame.rstrip(b"\r") + b"\r")
        else:
            frames.append(frame if frame.endswith(surgard.DC4) else frame + surgard.DC4)
    for text in args.contact_id:
        try:
            frames.append(format_contact_id(decode_dtmf(text), args.format))
        except ValueError as exc:  # ContactIdError: say which message and why
            print(f"anxin-sim: --contact-id {text!r}: {exc}", file=sys.stderr)
            return 2
    for text in args.sia:
        if args.format != "surgard":
            print("anxin-sim: --sia is a Sur-Gard output format", file=sys.stderr)
            return 2
        account, _, rest = text.partition(":")
        code, _, zone = rest.partition(":")
        frames.append(surgard.format_sia_signal("01", "1", account, code, zone or None))
    done = threading.Event()
    pending = {"n": len(frames) + args.random}
    heartbeat = (ademco685.format_heartbeat() if args.format == "ademco685"
                 else surgard.format_heartbeat())

    def on_event(event: object) -> None:
        print(describe(event), flush=True)
        if isinstance(event, Acked) and event.frame != heartbeat:
            pending["n"] -= 1
            if pending["n"] <= 0 and args.exit_when_done:
                done.set()

    # The 685 waits 2 s for the computer's answer, a Sur-Gard 4 s (their manuals).
    ack_timeout = args.ack_timeout or (2.0 if args.format == "ademco685" else 4.0)
    core = ReceiverSim(ack_timeout=ack_timeout, max_attempts=args.attempts,
                       heartbeat_interval=args.heartbeat or None, heartbeat=heartbeat)
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
                sim.send(random_signal(rng, args.format))
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
        if cable is not None:
            cable.close()
    return 0


def dc09_communicator(args: argparse.Namespace) -> int:
    """An IP/GSM alarm communicator: sends DC-09 messages and waits for the receiver's answer."""
    import socket
    from urllib.parse import urlsplit

    from drivers.alarm_phone.contact_id import decode_dtmf
    from drivers.alarm_phone.dc09 import Dc09Transmitter, RemoteProtocolError

    target = urlsplit(args.target)
    if target.scheme not in ("tcp", "udp") or not target.hostname or not target.port:
        print(f"anxin-sim: --target must be tcp://HOST:PORT or udp://HOST:PORT, got {args.target!r}",
              file=sys.stderr)
        return 2
    tx = Dc09Transmitter(args.account, key=args.key or None,
                         crc_form="binary" if args.binary_crc else "hex")
    messages = [("ADM-CID", lambda c=c: tx.adm_cid(decode_dtmf(c), time.time()))
                for c in args.contact_id]
    messages += [("SIA-DCS", lambda d=d: tx.sia_dcs(d, time.time())) for d in args.sia]
    messages += [("NULL", lambda: tx.null(time.time()))] * args.null
    failed = 0
    for label, build in messages:
        answer = None
        for attempt in range(1, args.attempts + 1):
            frame = build()  # a retry is a new message with a fresh timestamp
            kind = socket.SOCK_STREAM if target.scheme == "tcp" else socket.SOCK_DGRAM
            try:
                with socket.socket(socket.AF_INET, kind) as s:
                    s.settimeout(args.timeout)
                    s.connect((target.hostname, target.port))
                    s.sendall(frame)
                    answer = tx.parse_response(s.recv(4096))
                    break
            except (OSError, RemoteProtocolError) as exc:
                print(f"{label} attempt {attempt}: 无应答 no answer ({exc})", flush=True)
        if answer is None:
            failed += 1
            print(f"{label}: 放弃 gave up after {args.attempts} attempts", flush=True)
            continue
        ok = answer.kind == "ACK"
        failed += not ok
        print(f"{label}: {answer.kind} {'已确认' if ok else '被拒绝'} seq={answer.seq}", flush=True)
    return 1 if failed else 0


def _run_simulator(app: object, args: argparse.Namespace) -> int:
    """Run a telco/handset simulator with commands from --script and stdin until quit/SIGTERM."""
    import asyncio
    from pathlib import Path

    from drivers.e1_card.command_feed import feed_commands

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, app.stop)  # type: ignore[attr-defined]
        queue: asyncio.Queue[str] = asyncio.Queue()
        feeder = asyncio.ensure_future(feed_commands(queue, Path(args.script) if args.script else None,
                                                     not args.no_stdin))
        try:
            await app.run(queue)  # type: ignore[attr-defined]
        finally:
            feeder.cancel()

    asyncio.run(main())
    return 0


def telco(args: argparse.Namespace) -> int:
    """The carrier's network side of a simulated E1 span (CONTRACTS §3)."""
    import logging
    from pathlib import Path

    from drivers.e1_card.errors import SpanError
    from drivers.e1_card.telco import TelcoSim

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        app = TelcoSim(Path(args.dir), answer=args.answer, answer_after=args.answer_after,
                       capture=Path(args.capture) if args.capture else None)
    except SpanError as exc:
        print(f"anxin-sim telco: {exc}", file=sys.stderr)
        return 1
    return _run_simulator(app, args)


def handset(args: argparse.Namespace) -> int:
    """An agent's analog phone on a simulated FXS port (CONTRACTS §4)."""
    from pathlib import Path

    from drivers.e1_card.handset import Handset

    app = Handset(Path(args.port), answer_after=args.answer_after, hangup_after=args.hangup_after)
    return _run_simulator(app, args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anxin-sim", description="Anxin simulators.")
    sub = p.add_subparsers(dest="tool", required=True)
    r = sub.add_parser("alarm-receiver",
                       help="a Sur-Gard central-station receiver on a serial port or pty")
    r.add_argument("--port", required=True,
                   help="pyserial URL or device path, or 'pty' to create a pty and print it")
    r.add_argument("--baudrate", type=int, default=9600)
    r.add_argument("--format", choices=["surgard", "ademco685"], default="surgard",
                   help="the receiver's computer-output format")
    r.add_argument("--sia", action="append", default=[], metavar="ACCOUNT:CODE[:ZONE]",
                   help="a Sur-Gard SIA frame, e.g. '1234:QA:3'")
    r.add_argument("--frame", action="append", default=[],
                   help="a raw Sur-Gard frame, e.g. '5011 185678E10100001' (DC4 added)")
    r.add_argument("--contact-id", action="append", default=[],
                   help="a 16-digit Contact ID message, e.g. '5678 18 1101 00 001 1'")
    r.add_argument("--random", type=int, default=0, help="send N random residents' signals")
    r.add_argument("--interval", type=float, default=5.0, help="seconds between random signals")
    r.add_argument("--seed", type=int, default=None)
    r.add_argument("--heartbeat", type=float, default=30.0, help="heartbeat interval, 0 = off")
    r.add_argument("--ack-timeout", type=float, default=None,
                   help="seconds to wait for ACK (default: 4 Sur-Gard, 2 Ademco 685)")
    r.add_argument("--attempts", type=int, default=4)
    r.add_argument("--exit-when-done", action="store_true",
                   help="exit once every given frame was ACKed")
    r.set_defaults(run=alarm_receiver)
    d = sub.add_parser("dc09-communicator",
                       help="an IP/GSM alarm communicator sending SIA DC-09 to a receiver")
    d.add_argument("--target", required=True, help="tcp://HOST:PORT or udp://HOST:PORT")
    d.add_argument("--account", required=True)
    d.add_argument("--key", help="AES key, hex (16/24/32 bytes); without it: clear text")
    d.add_argument("--contact-id", action="append", default=[],
                   help="send an ADM-CID message, e.g. '1234 18 1120 01 015 ?'")
    d.add_argument("--sia", action="append", default=[], help="send SIA-DCS data, e.g. 'Nri1/BA201'")
    d.add_argument("--null", type=int, default=0, help="send N NULL supervision polls")
    d.add_argument("--binary-crc", action="store_true", help="CRC as 2 raw bytes, like some panels")
    d.add_argument("--timeout", type=float, default=5.0)
    d.add_argument("--attempts", type=int, default=3)
    d.set_defaults(run=dc09_communicator)
    t = sub.add_parser("telco", help="the carrier's network side of a simulated E1 PRI span")
    t.add_argument("--dir", required=True, help="the span directory (dchan, media, ctl sockets)")
    t.add_argument("--answer", choices=["auto", "manual", "busy", "reject"], default="auto",
                   help="what to do with the box's outbound calls (busy = cause 17, reject = 21)")
    t.add_argument("--answer-after", type=float, default=0.5, help="seconds of ringing before auto-answer")
    t.add_argument("--capture", help="write the D-channel to this pcap (LINKTYPE_LINUX_LAPD)")
    t.add_argument("--script", help="a file of commands to run first (see docs/simulators.md)")
    t.add_argument("--no-stdin", action="store_true", help="do not read commands from stdin")
    t.add_argument("--verbose", action="store_true")
    t.set_defaults(run=telco)
    h = sub.add_parser("handset", help="an agent's analog phone on a simulated FXS port")
    h.add_argument("--port", required=True, help="the FXS port socket (the box listens there)")
    h.add_argument("--answer-after", type=float, default=None, help="lift the handset S s after ringing")
    h.add_argument("--hangup-after", type=float, default=None, help="hang up S s after lifting")
    h.add_argument("--script", help="a file of commands to run first")
    h.add_argument("--no-stdin", action="store_true", help="do not read commands from stdin")
    h.set_defaults(run=handset)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
