"""Drive libpri as a real ISDN PRI peer: the ``pri_peer`` harness (pri_peer.c) from Python.

``compile_pri_peer(out_dir)`` builds the harness with gcc against the system libpri
(Debian ``libpri-dev``); ``LibpriPeer`` runs one harness process (one libpri D-channel,
network or user side), sends it commands and waits for its events with timeouts.

The D-channel is an AF_UNIX SOCK_SEQPACKET socket framed as CONTRACTS §3: one datagram =
one LAPD frame + 2 FCS bytes (the harness sends ``00 00``, ignores the 2 it receives).
Either role can ``--listen`` or ``--connect``, so libpri can be the telco (network side
listening at ``DIR/dchan``) or the box (user side connecting to our telco simulator).

Command line::

    pri_peer --role network|user [--switch euroisdn_e1] (--listen PATH | --connect PATH)
             [--auto-answer | --auto-reject CAUSE] [--pcap FILE] [--timer NAME=MS]...
             [--debug MASK | --quiet] [--connect-timeout SECONDS]

``--timer`` sets a libpri timer by its name (T200, T203, N200, K, T303, T305, T308,
T309, T310, T313, T316 …; values in ms or counts). ``--debug`` is a PRI_DEBUG_* mask,
default Q931_DUMP|Q921_STATE (0x25); ``--quiet`` = 0. libpri's trace goes to stderr.
``--pcap`` writes a LINKTYPE_LINUX_LAPD capture of every frame (tshark decodes it).

Commands (stdin, one per line; replies and events on stdout, one per line)::

    call ID CALLED CALLING|- [CHANNEL|any] [exclusive]   -> OK call id=ID   (ID 1..100000)
    proceeding ID | alerting ID [inband] | progress ID | answer ID   -> OK <verb> id=ID
    hangup ID [CAUSE]            -> OK hangup id=ID   (pri_hangup, cause default 16; on a
                                    SETUP not answered yet libpri would send nothing unless
                                    the cause is 1/34/44/81/82 (→ RELEASE COMPLETE), so the
                                    harness sends CALL PROCEEDING first, then DISCONNECT)
    reset CHANNEL                -> OK reset channel=C (RESTART for one B channel)
    restart                      -> OK restart, then RESTART_ACK per B channel and
                                    RESTART_DONE (libpri 1.6's pri_restart() sends nothing,
                                    so like Asterisk it restarts the 30 channels in turn)
    load N M [CALLED [CALLING]]  -> OK load n=N m=M … LOAD_DONE n= ok= failed= seconds= rate=
                                    (N user-side calls, M at a time: SETUP, on CONNECT clear
                                    at once; these calls emit no per-call events)
    auto off|answer|reject CAUSE -> OK auto <mode>   (what to do with each incoming SETUP)
    status                       -> STATUS up=0|1 connected=0|1 calls=N
    ping [TOKEN]                 -> PONG TOKEN
    quit (or EOF)                -> CPU user=SECONDS sys=SECONDS, then exit 0
    anything malformed           -> ERR <message>

Events::

    LISTENING path=P | CONNECTED | DISCONNECTED          the socket (listener bound, peer
                                                         connected, peer gone)
    UP | DOWN                                            PRI_EVENT_DCHAN_UP / _DOWN
    RING id=N channel=C requested=R exclusive=0|1 called=X calling=Y|- complete=0|1
    PROCEEDING id=N channel=C | SETUP_ACK id=N channel=C | PROGRESS id=N channel=C
    RINGING id=N channel=C | ANSWER id=N channel=C
    CONNECT_ACK id=N channel=C  (libpri 1.6 normally does not report the CONNECT ACK it gets)
    HANGUP_REQ id=N cause=C     DISCONNECT received; the harness answers it (pri_hangup:
                                RELEASE goes out)
    HANGUP id=N cause=C         RELEASE or an unexpected RELEASE COMPLETE received (libpri
                                answered RELEASE COMPLETE); also T303 etc. expiry
    HANGUP_ACK id=N             RELEASE COMPLETE received for the RELEASE we sent
    CLEARED id=N                libpri has freed the call: the last line of every call id
    RESTART channel=C | RESTART_ACK channel=C            (C = -1: whole interface)
    INFO id=N digits=D | KEYPAD id=N digits=D | CONFIG_ERR text | EVENT name=… id=N

Incoming calls get ids from 100001 upwards (RING); outgoing calls keep the caller's id.
Channels are E1 timeslots (1–15, 17–31); ``channel=-1`` means none/any yet. On RING the
harness picks the B channel: the requested one if free, else (unless exclusive) the lowest
free one; ``channel`` is that choice (-1 = none left), ``requested`` what the SETUP asked.
``--auto-answer`` answers each SETUP with CALL PROCEEDING, ALERTING and CONNECT.

libpri is created when the first peer connects (it sends SABME at once). A listening
harness accepts a new connection at any time (it replaces the old one, as a restarted box
would); a connecting one reconnects every 200 ms. libpri keeps its state across that and
may not report DOWN/UP when the new peer's SABME merely resets the link.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).with_name("pri_peer.c")
HEADER = Path("/usr/include/libpri.h")
DEFAULT_TIMEOUT = 5.0


class LibpriPeerError(Exception):
    """The harness could not be built or started, refused a command, or timed out."""


def compile_pri_peer(out_dir: Path) -> Path:
    """Build pri_peer.c into out_dir with gcc -O1 -Wall -Werror -lpri; return the binary."""
    if not HEADER.exists():
        raise LibpriPeerError(f"{HEADER} not found: install the Debian package 'libpri-dev' "
                              "(./anxin.sh does) to build the libpri interop harness")
    gcc = shutil.which("gcc")
    if gcc is None:
        raise LibpriPeerError("gcc not found: install 'gcc' to build the libpri interop harness")
    binary = out_dir / "pri_peer"
    proc = subprocess.run([gcc, "-O1", "-Wall", "-Werror", "-o", str(binary), str(SOURCE), "-lpri"],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise LibpriPeerError(f"compiling {SOURCE.name} failed (is 'libpri-dev' installed?):\n"
                              f"{proc.stderr}")
    return binary


@dataclass(frozen=True)
class PeerEvent:
    """One stdout line of the harness: its kind, key=value fields and free text."""

    kind: str
    fields: dict[str, str] = field(default_factory=dict)
    text: str = ""
    line: str = ""

    def int(self, name: str) -> int:
        return int(self.fields[name])

    def float(self, name: str) -> float:
        return float(self.fields[name])

    @classmethod
    def parse(cls, line: str) -> PeerEvent:
        kind, _, rest = line.partition(" ")
        fields = dict(tok.split("=", 1) for tok in rest.split() if "=" in tok)
        return cls(kind=kind, fields=fields, text=rest, line=line)


class LibpriPeer:
    """One pri_peer process. Events are kept in arrival order; expect() consumes them."""

    def __init__(self, binary: Path, *, role: str, socket_path: Path | str, listen: bool,
                 switch: str = "euroisdn_e1", auto_answer: bool = False,
                 auto_reject: int | None = None, pcap: Path | None = None,
                 timers: dict[str, int] | None = None, quiet: bool = False,
                 log_path: Path | None = None) -> None:
        if role not in ("network", "user"):
            raise ValueError(f"role must be 'network' or 'user', not {role!r}")
        if len(str(socket_path)) >= 108:
            raise ValueError(f"AF_UNIX path too long ({len(str(socket_path))} >= 108): {socket_path}")
        self.role, self.socket_path, self.listen = role, Path(socket_path), listen
        self.log_path = log_path or Path(f"{socket_path}.{role}.log")
        args = [str(binary), "--role", role, "--switch", switch,
                "--listen" if listen else "--connect", str(socket_path)]
        if auto_answer:
            args.append("--auto-answer")
        if auto_reject is not None:
            args += ["--auto-reject", str(auto_reject)]
        if pcap is not None:
            args += ["--pcap", str(pcap)]
        for name, value in (timers or {}).items():
            args += ["--timer", f"{name}={value}"]
        if quiet:
            args.append("--quiet")
        self.args = args
        self.events: list[PeerEvent] = []  # everything seen, for diagnostics
        self._pending: list[PeerEvent] = []
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[str] | None = None
        self._tokens = itertools.count(1)
        self._eof = False  # the harness closed stdout (exited)

    # ---- process lifetime ----

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> LibpriPeer:
        """Spawn the harness; return once it listens (or has connected)."""
        self._log = open(self.log_path, "w")  # a file, not a pipe: libpri's trace never blocks
        self._proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._log, text=True, bufsize=1)
        threading.Thread(target=self._read_stdout, name=f"pri_peer-{self.role}", daemon=True).start()
        self.expect("LISTENING" if self.listen else "CONNECTED", timeout=timeout)
        return self

    def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            event = PeerEvent.parse(line.rstrip("\n"))
            with self._cond:
                self.events.append(event)
                self._pending.append(event)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def quit(self, timeout: float = DEFAULT_TIMEOUT) -> tuple[float, float]:
        """Ask the harness to exit; return the (user, sys) CPU seconds it reports."""
        self.send("quit")
        cpu = self.expect("CPU", timeout=timeout)
        assert self._proc is not None
        self._proc.wait(timeout=timeout)
        return cpu.float("user"), cpu.float("sys")

    def stop(self) -> None:
        """Kill the process if it still runs (test teardown)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(timeout=10)
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                stream.close()
        self._log.close()

    def log(self, tail: int | None = None) -> str:
        """libpri's stderr trace (the last `tail` lines if given)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-tail:]) if tail else text

    # ---- talking to it ----

    def send(self, command: str) -> None:
        if self._proc is None or self._proc.stdin is None or self._proc.poll() is not None:
            raise LibpriPeerError(f"pri_peer ({self.role}) is not running; log tail:\n{self.log(40)}")
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()

    def expect(self, kind: str, timeout: float = DEFAULT_TIMEOUT, **fields: object) -> PeerEvent:
        """Wait for (and consume) the first pending event of `kind` whose fields match."""
        wanted = {k: str(v) for k, v in fields.items()}
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, event in enumerate(self._pending):
                    if event.kind == kind and all(event.fields.get(k) == v for k, v in wanted.items()):
                        del self._pending[i]
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    break
                self._cond.wait(min(left, 0.2))
        seen = "\n".join(e.line for e in self.events[-30:])
        raise LibpriPeerError(f"pri_peer ({self.role}): no {kind} {wanted or ''} within {timeout}s; "
                              f"last events:\n{seen}\nlog tail:\n{self.log(40)}")

    def pending(self, kind: str | None = None) -> list[PeerEvent]:
        """Events not consumed yet (of one kind if given), without waiting."""
        with self._cond:
            return [e for e in self._pending if kind is None or e.kind == kind]

    def command(self, line: str, timeout: float = DEFAULT_TIMEOUT) -> PeerEvent:
        """Send a command and wait for its OK (raises LibpriPeerError on ERR)."""
        verb = line.split()[0]
        self.send(line)
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                for i, event in enumerate(self._pending):
                    if event.kind == "ERR" or (event.kind == "OK" and event.text.split()[:1] == [verb]):
                        del self._pending[i]
                        if event.kind == "ERR":
                            raise LibpriPeerError(f"pri_peer ({self.role}) refused {line!r}: {event.text}")
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    raise LibpriPeerError(f"pri_peer ({self.role}): no reply to {line!r} in {timeout}s; "
                                          f"log tail:\n{self.log(40)}")
                self._cond.wait(min(left, 0.2))

    # ---- convenience wrappers ----

    def wait_up(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.expect("UP", timeout=timeout)

    def ping(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Barrier: commands sent before, and D-channel frames already received, are processed."""
        token = f"t{next(self._tokens)}"
        self.send(f"ping {token}")
        deadline = time.monotonic() + timeout
        while self.expect("PONG", timeout=max(deadline - time.monotonic(), 0.01)).text != token:
            pass

    def status(self) -> dict[str, int]:
        self.send("status")
        return {k: int(v) for k, v in self.expect("STATUS").fields.items()}

    def call(self, call_id: int, called: str, calling: str | None = None, *,
             channel: int | None = None, exclusive: bool = False) -> None:
        line = f"call {call_id} {called} {calling or '-'} {channel if channel else 'any'}"
        self.command(line + (" exclusive" if exclusive else ""))

    def proceeding(self, call_id: int) -> None:
        self.command(f"proceeding {call_id}")

    def alerting(self, call_id: int, inband: bool = False) -> None:
        self.command(f"alerting {call_id}" + (" inband" if inband else ""))

    def answer(self, call_id: int) -> None:
        self.command(f"answer {call_id}")

    def hangup(self, call_id: int, cause: int = 16) -> None:
        self.command(f"hangup {call_id} {cause}")

    def reset(self, channel: int) -> None:
        self.command(f"reset {channel}")

    def restart(self) -> None:
        self.command("restart")

    def auto(self, mode: str, cause: int | None = None) -> None:
        self.command(f"auto {mode}" + (f" {cause}" if cause is not None else ""))

    def load(self, n: int, m: int = 1, called: str = "100", calling: str = "200",
             timeout: float = 60.0) -> dict[str, float]:
        """Run the internal load generator; return LOAD_DONE's fields (n, ok, failed, seconds, rate)."""
        self.command(f"load {n} {m} {called} {calling}")
        done = self.expect("LOAD_DONE", timeout=timeout)
        return {k: float(v) for k, v in done.fields.items()}

