"""Ademco 685 receiver computer output (Contact ID mode) as a sans-I/O stream parser.

The 685 (and receivers emulating it: MX8000 in 685 mode, VisorALARM, IP receivers
with a "685" automation output) sends one line at a time, LF first and CR last, and
waits up to 2 seconds for ACK (0x06) before the next; a NAK (0x15) or silence makes
it send the line again (see CONTRACTS.md §5). Lines handled here (``_`` is a space)::

    LF R G _ AAAA _ 18 _ Q XYZ _ GG _ F CCC CR     Contact ID (MX8000 manual fig. 8-4)
    LF R G _ OKAY _ @ _ CR                         link heartbeat (VisorALARM 685 mode)

R receiver number, G group/line (one character each), AAAA the 4-digit account
(hex, B-F), 18 the Contact ID identifier (98 accepted), Q the qualifier as the
manuals print it (E new event or opening, R restore or closing, P previous; the
DC-05 digits 1/3/6 accepted too), XYZ event, GG group/partition, F 'C' when CCC is
a zone ("contact") or 'U' when it is a user, CCC the zone or user number. Variants
accepted because emulators differ: no F character, one space before CR, and a
heartbeat with or without "OKAY".

Every complete line is a Signal, a Heartbeat, an Unrecognised line (well framed,
printable, a 685 message we do not decode such as Ademco High Speed or 4x2: store
and ACK it, because a receiver gives up on a message after repeated NAKs) or a
Damaged line (a retransmission could fix it: NAK it). The event classes are
surgard's, so the box handles both receivers with one code path.
"""

from __future__ import annotations

import re
from typing import Final

from drivers.alarm_phone.contact_id import ContactIdError, ContactIdMessage
from drivers.alarm_phone.surgard import (
    ACK,
    NAK,
    Damaged,
    Heartbeat,
    Signal,
    SurGardEvent,
    Unrecognised,
)

__all__ = [
    "ACK",
    "CR",
    "LF",
    "MAX_FRAME",
    "NAK",
    "Ademco685Parser",
    "Damaged",
    "Heartbeat",
    "Signal",
    "Unrecognised",
    "format_heartbeat",
    "format_signal",
]

LF: Final = b"\n"
CR: Final = b"\r"

MAX_FRAME: Final = 256
"""Bytes (LF and CR included) after which an unterminated line is declared Damaged."""

_LF: Final = 0x0A
_CR: Final = 0x0D

# Contact ID line between LF and CR. Hex fields accept lower case and 'A'
# (ContactIdMessage keeps an 'A' relayed from IP rather than lose the signal).
_CID_RE: Final = re.compile(
    r"(?P<r>[0-9A-Za-z])(?P<g>[0-9A-Za-z]) (?P<acct>[0-9A-Fa-f]{4}) (?P<mt>\d\d) "
    r"(?P<q>[ERPerp136])(?P<xyz>[0-9A-Fa-f]{3}) (?P<gg>[0-9A-Fa-f]{2}) "
    r"(?P<kind>[CUcu]?)(?P<ccc>[0-9A-Fa-f]{3}) ?"
)
# "RG AAAA 18 QXYZ GG CCC" is 22 characters; the F character and a trailing space
# add one each.
_CID_LENGTHS: Final = range(22, 25)
# A line that carries the Contact ID identifier followed by a qualifier is a
# Contact ID line, however mangled the rest: it is Damaged, not Unrecognised. The
# spaces around the identifier keep High Speed channel groups ("1815") and a
# receiver/group header of "18" from looking like one.
_CID_HINT_RE: Final = re.compile(r"\s(?:18|98)\s+[ERPerp136](?:[0-9A-Fa-f]|\s|$)")
_HEARTBEAT_RE: Final = re.compile(r"(?P<r>[0-9A-Za-z])(?P<g>[0-9A-Za-z]) (?:OKAY )?@ ?")

# Other 685 computer-output lines (MX8000 manual figs. 8-1 to 8-3): decoded by
# nobody yet, so stored and ACKed as Unrecognised.
_OTHER_FORMATS: Final = (
    (
        re.compile(r"\w\w [0-9A-F]{4} [0-9A-F]{4} [0-9A-F]{4} [0-9A-F]", re.ASCII),
        "Ademco High Speed message is not decoded",
    ),
    (re.compile(r"\w\w [0-9A-F]{4} [0-9A-F] {1,2}[0-9A-F]", re.ASCII), "4x2 message is not decoded"),
    (re.compile(r"\w\w [0-9A-F]{4} [0-9A-F]", re.ASCII), "3x1/4x1 message is not decoded"),
)
# The shortest 685 message ("RG AAAA E", low speed) has 9 characters.
_MIN_TEXT: Final = 9

_QUALIFIERS: Final = {"E": 1, "R": 3, "P": 6, "1": 1, "3": 3, "6": 6}
_QUALIFIER_LETTERS: Final = {1: "E", 3: "R", 6: "P"}

# Parser states.
_IDLE: Final = 0  # between lines: drop noise
_LINE: Final = 1  # inside a line that began with LF
_HEADLESS: Final = 2  # printable bytes with no LF before them
_DISCARD: Final = 3  # dropping the rest of an overlong line


def _has_content(body: bytes) -> bool:
    return any(0x21 <= b <= 0x7E for b in body)


def _classify(raw: bytes) -> SurGardEvent | None:
    """Classify one complete line raw = LF ... CR; None for an empty line (noise)."""
    body = raw[1:-1]
    if not _has_content(body):
        return None  # LF CR, LF spaces CR, LF NUL CR: no message in it
    bad = next((b for b in body if not 0x20 <= b <= 0x7E), None)
    if bad is not None:
        return Damaged(raw, f"non-printable byte 0x{bad:02X} inside the line")
    text = body.decode("ascii")
    m = _HEARTBEAT_RE.fullmatch(text)
    if m:
        return Heartbeat(raw, m["r"], m["g"])
    if _CID_HINT_RE.search(text):
        return _contact_id(raw, text)
    if len(text) < _MIN_TEXT:
        # Shorter than any 685 message: bytes were lost inside the line.
        return Damaged(raw, f"fragment of {len(text)} characters")
    upper = text.upper()
    for pattern, reason in _OTHER_FORMATS:
        if pattern.fullmatch(upper):
            return Unrecognised(raw, reason)
    return Unrecognised(raw, "not an Ademco 685 Contact ID line")


def _contact_id(raw: bytes, text: str) -> SurGardEvent:
    if len(text) not in _CID_LENGTHS:
        return Damaged(
            raw,
            f"Contact ID line of {len(text)} characters "
            f"({_CID_LENGTHS.start}-{_CID_LENGTHS.stop - 1} expected)",
        )
    m = _CID_RE.fullmatch(text)
    if m is None:
        return Damaged(raw, f"malformed Contact ID line {text!r}")
    if m["mt"] not in ("18", "98"):
        return Damaged(raw, f"Contact ID identifier {m['mt']!r} (expected 18/98)")
    try:
        message = ContactIdMessage(
            account=m["acct"].upper(),
            message_type=m["mt"],
            qualifier=_QUALIFIERS[m["q"].upper()],
            event_code=m["xyz"].upper(),
            partition=m["gg"].upper(),
            zone=m["ccc"].upper(),
        )
    except ContactIdError as exc:
        return Damaged(raw, f"invalid Contact ID content: {exc}")
    return Signal(raw, m["r"], m["g"], message)


class Ademco685Parser:
    """Splits a 685's byte stream into events (h11 style), like SurGardParser.

    Feed bytes with receive_data(); call next_event() until it returns None (which
    means: need more data). A line starts at LF and ends at CR. Between lines, bytes
    that cannot start one (NUL, CR, 0xFF, spaces, stray ACK/NAK) are dropped; an LF
    always starts a new line, so the remains of a line whose CR was lost are dropped
    when the receiver resends. Printable text ended by CR without an LF before it is
    Damaged (NAK: the receiver resends it whole). A line with no CR within
    max_frame bytes is reported Damaged once; the parser then drops bytes up to the
    next CR or LF.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        if max_frame < 32:
            raise ValueError(f"max_frame must be at least 32 bytes, got {max_frame}")
        self._in = bytearray()
        self._line = bytearray()
        self._state = _IDLE
        self._max = max_frame

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the serial line."""
        self._in += data

    def next_event(self) -> SurGardEvent | None:
        """The next complete event, or None when more data is needed."""
        buf = self._in
        i = 0
        event: SurGardEvent | None = None
        try:
            while event is None and i < len(buf):
                event = self._step(buf[i])
                i += 1
        finally:
            del buf[:i]
        return event

    def _step(self, b: int) -> SurGardEvent | None:
        line = self._line
        state = self._state
        if b == _LF:
            # A new line, whatever came before: in a line, its CR was lost and
            # the receiver is resending; in headless text or a runaway, we resync.
            line[:] = LF
            self._state = _LINE
            return None
        if state == _IDLE:
            if 0x21 <= b <= 0x7E:
                line[:] = bytes((b,))
                self._state = _HEADLESS
            return None
        if state == _DISCARD:
            if b == _CR:
                self._state = _IDLE
            return None
        line.append(b)
        if b == _CR:
            raw = bytes(line)
            line.clear()
            self._state = _IDLE
            if state == _LINE:
                return _classify(raw)
            return Damaged(raw, "line without its LF header")
        if len(line) >= self._max:
            raw = bytes(line)
            line.clear()
            self._state = _DISCARD
            return Damaged(raw, f"no CR terminator within {self._max} bytes")
        return None


def format_signal(
    group: str,
    message: ContactIdMessage,
    *,
    kind: str | None = None,
    digit_qualifier: bool = False,
    trailing_space: bool = False,
) -> bytes:
    """The exact bytes a 685 sends for message: ``LF RG AAAA 18 QXYZ GG FCCC CR``.

    group is the two-character header (receiver number, then group/line). kind is
    the F character: 'C' (zone) or 'U' (user); None picks 'U' for the 4xx
    open/close/access codes and 'C' otherwise, '' leaves it out. digit_qualifier
    sends 1/3/6 instead of E/R/P; trailing_space adds the space some receivers put
    before CR.
    """
    _check_group(group)
    if len(message.account) != 4:
        raise ValueError(f"a 685 line carries a 4-digit account, got {message.account!r}")
    if kind is None:
        kind = "U" if message.event_code.startswith("4") else "C"
    if kind not in ("C", "U", ""):
        raise ValueError(f"kind must be 'C', 'U' or '', got {kind!r}")
    q = str(message.qualifier) if digit_qualifier else _QUALIFIER_LETTERS[message.qualifier]
    text = (
        f"{group} {message.account} {message.message_type} {q}{message.event_code} "
        f"{message.partition} {kind}{message.zone}"
    )
    if trailing_space:
        text += " "
    return LF + text.encode("ascii") + CR


def format_heartbeat(group: str = "11") -> bytes:
    """The link heartbeat of 685 emulation: ``LF RG OKAY @ CR`` (a space before CR)."""
    _check_group(group)
    return LF + f"{group} OKAY @ ".encode("ascii") + CR


def _check_group(group: str) -> None:
    if len(group) != 2 or not group.isascii() or not group.isalnum():
        raise ValueError(f"group must be 2 alphanumeric characters (receiver, line), got {group!r}")
