"""Sur-Gard automation output ("SG" computer protocol) as a sans-I/O stream parser.

The box plays the central-station automation computer. The receiver sends one frame
at a time, terminated by DC4 (0x14), and waits for ACK (0x06) or NAK (0x15) before it
sends the next (see CONTRACTS.md §5). Frames handled here::

    5RRL 18AAAAQXYZGGCCC<DC4>            Contact ID, 4-digit account (MLR2)
    5RRLLL 18AAAAQXYZGGCCC<DC4>          the same with a 3-digit line (System III/CPM)
    QRRLLL 58AAAAAAAAAAQXYZGGCCC<DC4>    Contact ID, 10-digit account
    1RRL           @    <DC4>            supervisory heartbeat (also 1RRLLL…)
    SRRL[#AAAA|Nri1BA01]<DC4>            SIA level 2/3 (DC-03) data block (also SRRLLL[…])

RR is the receiver number, L/LLL the line, Q the qualifier as a letter (E new event or
opening, R restore or closing, P previous event). The header width follows the
receiver's "output RRLLL digits" option, so the parser takes RR plus 1-3 line
characters, whatever is before the first space.

SIA frames ("SIA protocol 2" in the MLR2 manual, protocol 'S' in the SG automation
output protocol) carry the panel's SIA block between brackets: ``#`` and the account
(up to 16 characters), ``|``, the function block code (N new event, L listen-in), then
data packets separated by ``/``. A packet holds lower-case modifiers with a value (ri
area, id user, ti time, da date ...) and upper-case two-letter event codes followed by
a 0-4 digit zone/user number, e.g. ``Nri1BA01``, ``Nri1/BA201`` or
``Nda04-22-94ti16:02:15/id22/CL/PA31``. A block with exactly one event whose code has a
Contact ID equivalent (sia_codes.contact_id_for) becomes a Signal; anything else well
bracketed (unmapped code, several events, other block types, data we cannot place) is
Unrecognised, naming the SIA codes.

The parser classifies every complete frame as a Signal, a Heartbeat, an Unrecognised
frame (well framed, printable, a message type we do not decode: store it and ACK it,
because a receiver drops a message after repeated NAKs) or a Damaged frame (a
retransmission could fix it: NAK it). Deduplication is the box's job; RepeatFilter
helps it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from drivers.alarm_phone.contact_id import ContactIdError, ContactIdMessage
from drivers.alarm_phone.sia_codes import SIA_TO_CONTACT_ID, contact_id_for

__all__ = [
    "ACK",
    "DC4",
    "NAK",
    "Damaged",
    "Heartbeat",
    "RepeatFilter",
    "Signal",
    "SurGardEvent",
    "SurGardParser",
    "Unrecognised",
    "format_heartbeat",
    "format_sia_signal",
    "format_signal",
]

ACK: Final = b"\x06"
NAK: Final = b"\x15"
DC4: Final = b"\x14"

MAX_FRAME: Final = 512
"""Bytes (DC4 included) after which an unterminated frame is declared Damaged."""


@dataclass(frozen=True)
class SurGardEvent:
    """Base of the parser's events; raw is the exact frame, DC4 included."""

    raw: bytes


@dataclass(frozen=True)
class Signal(SurGardEvent):
    """A well-formed Contact ID frame, or a SIA frame translated to Contact ID."""

    receiver: str
    line: str
    message: ContactIdMessage


@dataclass(frozen=True)
class Heartbeat(SurGardEvent):
    """The receiver's supervisory heartbeat; ACK it."""

    receiver: str
    line: str


@dataclass(frozen=True)
class Unrecognised(SurGardEvent):
    """Complete, printable, DC4-terminated, but not a message we decode: store and ACK."""

    reason: str


@dataclass(frozen=True)
class Damaged(SurGardEvent):
    """Garbled, truncated or of the wrong length for its type: NAK so the receiver resends."""

    reason: str


# Contact ID frame after the protocol character: header, a space, the body.
# Qualifier: letters per the SG manuals; digits 1/3/6 accepted too (some receivers
# and gateways pass the DC-05 digit through). Hex fields accept lower case.
_CID_RE: Final = {
    n: re.compile(
        r"(?P<rr>[0-9A-Za-z]{2})(?P<line>[0-9A-Za-z]{1,3}) "
        rf"(?P<mt>\d\d)(?P<acct>{acct})"
        r"(?P<q>[ERPerp136])(?P<xyz>[0-9A-Fa-f]{3})(?P<gg>[0-9A-Fa-f]{2})(?P<ccc>[0-9A-Fa-f]{3})"
    )
    for n, acct in ((4, r"[0-9A-Fa-f]{4}"), (10, r" {0,6}[0-9A-Fa-f]{4,10}"))
}
_HEARTBEAT_RE: Final = re.compile(r"(?P<rr>[0-9A-Za-z]{2})(?P<line>[0-9A-Za-z]{1,3}) +@ *")
# Any frame that ends in a Contact ID body is a Contact ID frame, whatever its head
# says: used to call a frame with a mangled head Damaged rather than Unrecognised.
_CID_TAIL_RE: Final = re.compile(r" (18|98|58)[0-9A-F ]{4,10}[ERP136][0-9A-F]{8}$")

_QUALIFIERS: Final = {"E": 1, "R": 3, "P": 6, "1": 1, "3": 3, "6": 6}
_QUALIFIER_LETTERS: Final = {1: "E", 3: "R", 6: "P"}
# Headers are RR + L (MLR2, 3 chars) up to RR + LLL (System III, 5 chars); the
# body of a 4-digit Contact ID frame is 15 chars, of a 10-digit one 21.
_CID4_LENGTHS: Final = range(1 + 3 + 1 + 15, 1 + 5 + 1 + 15 + 1)  # 20..22
_CID10_LENGTHS: Final = range(1 + 3 + 1 + 21, 1 + 5 + 1 + 21 + 1)  # 26..28
# Sur-Gard protocol '1' frames (heartbeat, 4/3 basic signal, D6500 mode, Outel)
# are all 20 characters with a 1-digit line and 22 with a 3-digit line.
_PROTO1_LENGTHS: Final = range(20, 23)

_MIN_FRAME: Final = 8

_KNOWN_OTHER: Final = {
    "3": "SIA protocol 1 (protocol '3') is not decoded yet",
}

# SIA frame: header, then everything from the first '[' on (checked separately).
_SIA_HEAD_RE: Final = re.compile(r"(?P<rr>[0-9A-Za-z]{2})(?P<line>[0-9A-Za-z]{1,3})")
# A SIA block with its account behind a mangled head: Damaged, not Unrecognised.
_SIA_TAIL_RE: Final = re.compile(r"\[#[0-9A-Fa-f]{1,16}\|[^\[\]]*\] *$")
_SIA_ACCOUNT_RE: Final = re.compile(r"[0-9A-Fa-f]{1,16}")
# One field of a data packet: a lower-case modifier and its value, or an upper-case
# event code and its zone/user number.
_SIA_FIELD_RE: Final = re.compile(
    r"(?P<mod>[a-z]{2})(?P<val>[0-9:\-]*)|(?P<code>[A-Z]{2})(?P<addr>[0-9]*)"
)
_SIA_LISTEN_IN_RE: Final = re.compile(r"L[0-9]{1,3}")  # "/L90": stay on line 90 s
_SIA_EVENT_BLOCKS: Final = {"N": "new event", "L": "listen-in"}
_SIA_MAX_ZONE: Final = 4


def _is_printable(frame: bytes) -> bool:
    return all(0x20 <= b <= 0x7E for b in frame)


def _classify(raw: bytes) -> SurGardEvent:
    """Classify one complete frame; raw ends with DC4."""
    body = raw[:-1]
    if not _is_printable(body):
        bad = next(b for b in body if not 0x20 <= b <= 0x7E)
        return Damaged(raw, f"non-printable byte 0x{bad:02X} inside the frame")
    text = body.decode("ascii")
    if len(text) < _MIN_FRAME:
        # Every Sur-Gard message has at least protocol, receiver, line and data: a
        # scrap this short is line noise or a torn frame. NAKing it costs at most a
        # resend of the frame in flight, ACKing it could confirm the wrong frame.
        return Damaged(raw, f"fragment of {len(text)} characters")
    proto, rest = text[0], text[1:]
    if proto == "5":
        return _contact_id(raw, text, rest, 4, ("18", "98"))
    if proto == "Q":
        return _contact_id(raw, text, rest, 10, ("58", "18", "98"))
    if proto == "1":
        if len(text) not in _PROTO1_LENGTHS:
            return Damaged(raw, f"protocol '1' frame of {len(text)} characters (20-22 expected)")
        m = _HEARTBEAT_RE.fullmatch(rest)
        if m:
            return Heartbeat(raw, m["rr"], m["line"])
        return Unrecognised(
            raw, "Sur-Gard protocol '1' signal (4/3, D6500, Outel ...) is not decoded"
        )
    if proto == "S":
        return _sia(raw, text)
    if _CID_TAIL_RE.search(text.upper()):
        return Damaged(raw, f"Contact ID body behind an invalid header {text[:7]!r}")
    if _SIA_TAIL_RE.search(text):
        return Damaged(raw, f"SIA block behind an invalid header {text[:7]!r}")
    reason = _KNOWN_OTHER.get(proto, f"Sur-Gard protocol {proto!r} is not decoded")
    return Unrecognised(raw, reason)


def _contact_id(
    raw: bytes, text: str, rest: str, acct_len: int, mts: tuple[str, ...]
) -> SurGardEvent:
    lengths = _CID4_LENGTHS if acct_len == 4 else _CID10_LENGTHS
    if len(text) not in lengths:
        return Damaged(
            raw,
            f"Contact ID frame of {len(text)} characters "
            f"({lengths.start}-{lengths.stop - 1} expected)",
        )
    m = _CID_RE[acct_len].fullmatch(rest)
    if m is None or len(m["acct"]) != acct_len:
        return Damaged(raw, f"malformed Contact ID frame {text!r}")
    if m["mt"] not in mts:
        return Damaged(raw, f"Contact ID format identifier {m['mt']!r} (expected {'/'.join(mts)})")
    # '58' only names the 10-digit layout; the DC-05 message type behind it is 18.
    mt = "18" if m["mt"] == "58" else m["mt"]
    try:
        message = ContactIdMessage(
            account=m["acct"].lstrip(" ").upper(),  # short 10-digit accounts are space-padded
            message_type=mt,
            qualifier=_QUALIFIERS[m["q"].upper()],
            event_code=m["xyz"].upper(),
            partition=m["gg"].upper(),
            zone=m["ccc"].upper(),
        )
    except ContactIdError as exc:
        return Damaged(raw, f"invalid Contact ID content: {exc}")
    return Signal(raw, m["rr"], m["line"], message)


def _sia(raw: bytes, text: str) -> SurGardEvent:
    """A protocol 'S' frame: ``S`` RR L/LLL ``[`` block ``]`` (more blocks: Unrecognised)."""
    start = text.find("[")
    if start < 0:
        return Damaged(raw, "SIA frame without a '[' data block")
    head = _SIA_HEAD_RE.fullmatch(text, 1, start)
    if head is None:
        return Damaged(raw, f"invalid SIA header {text[:start]!r}")
    blocks, problem = _sia_blocks(text[start:].rstrip(" "))
    if problem:
        return Damaged(raw, f"SIA frame with {problem}")
    block = blocks[0]
    account, sep, data = block[1:].partition("|")
    if not block.startswith("#") or not sep:
        return Unrecognised(raw, f"SIA block without an account is not decoded: [{block}]")
    if not data:
        return Unrecognised(raw, f"SIA block for account {account!r} carries no data")
    function, data = data[0], data[1:]
    events, trouble = _sia_events(data)
    codes = ", ".join(code + addr for code, addr, _ in events) or "none"
    if len(blocks) > 1:
        n = len(blocks)
        return Unrecognised(raw, f"SIA frame with {n} data blocks (event codes: {codes}) is not decoded")
    if function not in _SIA_EVENT_BLOCKS:
        return Unrecognised(raw, f"SIA function block {function!r} (event codes: {codes}) is not decoded")
    if trouble:
        return Unrecognised(raw, f"SIA data {data!r} not understood: {trouble} (event codes: {codes})")
    if not events:
        return Unrecognised(raw, f"SIA data {data!r} carries no event code")
    if len(events) > 1:
        return Unrecognised(raw, f"SIA frame with {len(events)} events ({codes}) is not decoded")
    code, addr, user = events[0]
    zone = addr or user
    if code not in SIA_TO_CONTACT_ID:
        return Unrecognised(raw, f"SIA event code {code!r} (zone {zone or '-'}) has no Contact ID equivalent")
    if not _SIA_ACCOUNT_RE.fullmatch(account):
        return Unrecognised(raw, f"SIA event {code}{zone}: account {account!r} is not a hex account")
    # SIA zones run to 4 digits, often zero-padded ("0012"); Contact ID has 3.
    message = contact_id_for(code, account, (zone.lstrip("0") or "0") if zone else None)
    if message is None:
        return Unrecognised(raw, f"SIA event {code}{zone}: account {account!r} is not a Contact ID account")
    return Signal(raw, head["rr"], head["line"], message)


def _sia_blocks(tail: str) -> tuple[list[str], str]:
    """Split ``[a][b]`` into its block contents, or say why the brackets are broken."""
    blocks: list[str] = []
    i = 0
    while i < len(tail):
        if tail[i] != "[":
            return blocks, f"text {tail[i:]!r} outside its brackets"
        end = tail.find("]", i + 1)
        if end < 0:
            return blocks, "an unterminated '[' data block"
        content = tail[i + 1 : end]
        if "[" in content:
            return blocks, "unbalanced brackets"
        blocks.append(content)
        i = end + 1
    return blocks, ""


def _sia_events(data: str) -> tuple[list[tuple[str, str, str]], str]:
    """The (code, number, user) events of a SIA data string and a complaint ('' if none).

    A packet that is a bare number repeats the previous event code for another zone;
    an ``id`` user number stands in for the number of an event that has none (SIA sends
    openings/closings as ``id22/CL``; Contact ID carries the user in the zone field).
    """
    events: list[tuple[str, str, str]] = []
    trouble = ""
    user = ""
    for packet in data.split("/"):
        if packet.isdigit() and events:
            events.append((events[-1][0], packet, user))
            continue
        if _SIA_LISTEN_IN_RE.fullmatch(packet):
            continue
        pos = 0
        while pos < len(packet):
            m = _SIA_FIELD_RE.match(packet, pos)
            if m is None or m.end() == pos:
                return events, trouble or f"packet {packet!r} at {packet[pos:]!r}"
            pos = m.end()
            if m["mod"]:
                if m["mod"] == "id" and m["val"].isdigit():
                    user = m["val"]
                continue
            if len(m["addr"] or user) > _SIA_MAX_ZONE:
                number = m["addr"] or user
                trouble = trouble or f"number {number!r} of {m['code']} is longer than {_SIA_MAX_ZONE} digits"
            events.append((m["code"], m["addr"], user))
        if not packet:
            trouble = trouble or "empty packet"
    return events, trouble


class SurGardParser:
    """Splits a receiver's byte stream into SurGardEvents (h11 style).

    Feed bytes with receive_data(); call next_event() until it returns None (which
    means: need more data). Noise between frames (NUL, CR, LF, 0xFF, spaces, stray
    ACK/NAK/DC4) is dropped before a frame starts. If a frame carries garbage before a
    complete valid frame (a lost DC4, line noise), the valid frame is delivered and
    the garbage dropped. A frame with no DC4 within max_frame bytes is reported
    Damaged once; the parser then drops bytes up to the next DC4 unless they end in
    a valid frame.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        if max_frame < 32:
            raise ValueError(f"max_frame must be at least 32 bytes, got {max_frame}")
        self._buf = bytearray()
        self._max = max_frame
        self._resync = False  # dropping the tail of an overlong frame

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the serial line."""
        self._buf += data

    def next_event(self) -> SurGardEvent | None:
        """The next complete event, or None when more data is needed."""
        while True:
            self._skip_noise()
            end = self._buf.find(DC4, 0, self._max)
            if end < 0:
                if len(self._buf) < self._max:
                    return None
                raw = bytes(self._buf[: self._max])
                del self._buf[: self._max]
                if self._resync:
                    continue  # still the same runaway frame: reported already
                self._resync = True
                return Damaged(raw, f"no DC4 terminator within {self._max} bytes")
            raw = bytes(self._buf[: end + 1])
            del self._buf[: end + 1]
            event = self._frame(raw)
            if self._resync:
                # The tail of a runaway frame: keep only a valid frame at its end.
                self._resync = False
                if not isinstance(event, Signal | Heartbeat):
                    continue
            return event

    def _skip_noise(self) -> None:
        # A frame starts with a printable, non-space character; anything else is noise.
        i = 0
        buf = self._buf
        while i < len(buf) and not 0x21 <= buf[i] <= 0x7E:
            i += 1
        if i:
            del buf[:i]

    @staticmethod
    def _frame(raw: bytes) -> SurGardEvent:
        event = _classify(raw)
        if isinstance(event, Signal | Heartbeat):
            return event
        # Recover a complete valid frame behind leading garbage (e.g. the remains of
        # a frame whose DC4 was lost). Only Signal/Heartbeat count, so a damaged
        # frame is never mistaken for an unrecognised one.
        for i in range(1, len(raw) - 1):
            if raw[i] in b"5Q1S":
                candidate = _classify(raw[i:])
                if isinstance(candidate, Signal | Heartbeat):
                    return candidate
        return event


class RepeatFilter:
    """Tells whether a frame is an exact repeat of the previous one, within a window.

    Policy: a receiver resends a frame when our ACK was lost (timed out) and, after
    "computer fail", when the link comes back. Contact ID carries no sequence number,
    so a byte-identical frame arriving again within `window` seconds of the last time
    we saw it is taken as such a retransmission: the box ACKs it again without storing
    a second row. Feed it only frames the box stores (Signal, Unrecognised), not
    heartbeats or Damaged frames, in arrival order. A genuinely new identical event
    inside the window (the same button pressed twice within 30 s) is folded into the
    first one, which is harmless: its case is already open.
    """

    def __init__(self, window: float = 30.0) -> None:
        if window < 0:
            raise ValueError(f"window must be >= 0 seconds, got {window}")
        self.window = window
        self._last: bytes | None = None
        self._last_seen = 0.0

    def is_repeat(self, raw: bytes, now: float) -> bool:
        """Record raw as seen at now; True if it repeats the previous frame in time."""
        repeat = raw == self._last and now - self._last_seen <= self.window
        self._last = raw
        self._last_seen = now  # a chain of retries keeps the window open
        return repeat

    def reset(self) -> None:
        """Forget the previous frame (e.g. after the serial port was reopened)."""
        self._last = None


def format_signal(
    receiver: str, line: str, message: ContactIdMessage, three_digit_line: bool = False
) -> bytes:
    """The exact bytes a Sur-Gard receiver sends for message, DC4 included.

    A 4-digit account gives the '5' frame; a longer one the 10-digit 'Q' frame
    (format identifier 58, shorter accounts padded with leading spaces).
    """
    header = _header(receiver, line, three_digit_line)
    q = _QUALIFIER_LETTERS[message.qualifier]
    tail = f"{q}{message.event_code}{message.partition}{message.zone}"
    if len(message.account) == 4:
        text = f"5{header} {message.message_type}{message.account}{tail}"
    else:
        text = f"Q{header} 58{message.account:>10}{tail}"
    return text.encode("ascii") + DC4


def format_sia_signal(
    receiver: str,
    line: str,
    account: str,
    code: str,
    zone: str | None = None,
    *,
    area: str | None = None,
    three_digit_line: bool = False,
) -> bytes:
    """The exact bytes a Sur-Gard receiver sends for one SIA event, DC4 included.

    ``S`` + RR + L (or LLL) + ``[#account|N`` + optional ``ri<area>`` + code + zone +
    ``]``, the layout of the MLR2 manual's example ``SRRL[#1234|Nri1BA01]``.
    """
    header = _header(receiver, line, three_digit_line)
    if not _SIA_ACCOUNT_RE.fullmatch(account):
        raise ValueError(f"account must be 1-16 hex digits, got {account!r}")
    if len(code) != 2 or not code.isascii() or not code.isalpha() or not code.isupper():
        raise ValueError(f"SIA event code must be 2 upper-case letters, got {code!r}")
    zone = zone or ""
    if len(zone) > _SIA_MAX_ZONE or (zone and not (zone.isascii() and zone.isdigit())):
        raise ValueError(f"zone must be 0-{_SIA_MAX_ZONE} digits, got {zone!r}")
    if area is not None and (not area.isascii() or not area.isdigit() or len(area) > 4):
        raise ValueError(f"area must be 1-4 digits, got {area!r}")
    modifier = f"ri{area}" if area is not None else ""
    text = f"S{header}[#{account}|N{modifier}{code}{zone}]"
    return text.encode("ascii") + DC4


def format_heartbeat(receiver: str = "01", line: str = "1") -> bytes:
    """The receiver's heartbeat: ``1RRL`` + 11 spaces + ``@`` + 4 spaces + DC4."""
    text = "1" + _header(receiver, line, False) + " " * 11 + "@" + " " * 4
    return text.encode("ascii") + DC4


def _header(receiver: str, line: str, three_digit_line: bool) -> str:
    if len(receiver) != 2 or not receiver.isascii() or not receiver.isalnum():
        raise ValueError(f"receiver must be 2 alphanumeric characters, got {receiver!r}")
    if three_digit_line:
        line = line.rjust(3, "0")
    if not 1 <= len(line) <= 3 or not line.isascii() or not line.isalnum():
        raise ValueError(f"line must be 1-3 alphanumeric characters, got {line!r}")
    return receiver + line
