"""The span backend interface: one E1's D-channel, its 32-timeslot media and its alarms.

The URL picks the backend, as pyserial's ``serial_for_url`` does:

- ``sim:///DIR`` — :class:`drivers.e1_card.sim.SimSpan`, the box side of CONTRACTS §3
  (the telco simulator, or libpri, owns DIR and listens);
- ``dahdi://N`` (or ``dahdi://span/N``) — ``drivers.e1_card.dahdi.DahdiSpan``, a real
  card; imported only when asked for, so the box runs without DAHDI installed.

The contract the asyncio shell (stack.py) relies on:

- D-channel frames cross this interface **without** FCS; the backend adds/strips it.
- ``read_dchannel()`` / ``read_media()`` never block: one item or None when nothing is
  pending — call them until None each time the fileno is readable.
- Link loss: the read or write that finds the backend gone raises :class:`SpanError`
  naming the span, the channel and the reason; ``state`` is then ``"down"`` (and
  ``alarms.los`` set), reads return None and writes raise ``SpanError`` until
  ``reopen()`` brings the backend back. ``reopen()`` raises ``SpanError`` with the OS
  reason while it cannot. Backends that are opened at construction (DAHDI) may leave it
  a no-op.
- The filenos are stable for the span's life (the simulator hands out an epoll fd that
  follows its reconnects), so a reader may stay registered across a reopen; removing
  and re-adding it is harmless.
- ``alarms``/``state`` are cheap snapshots, not events: poll them (after each read burst,
  or from a 1 s timer).

Media layout (both directions, one datagram per 20 ms): timeslot 0 to 31 in order,
160 A-law bytes each, 5,120 bytes; timeslots 0 and 16 carry no audio; idle is 0xD5.
:class:`MediaFrame` and :func:`timeslot_audio` read and build such buffers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Final

from drivers.e1_card.errors import SpanError
from drivers.e1_card.roles import D_TIMESLOT

__all__ = [
    "ALARM_NAMES",
    "ALAW_IDLE",
    "IDLE_MEDIA_FRAME",
    "MEDIA_FRAME_BYTES",
    "MEDIA_TIMESLOTS",
    "LOS",
    "NO_ALARMS",
    "SLOT_BYTES",
    "MediaFrame",
    "Span",
    "SpanAlarms",
    "open_span",
    "parse_span_url",
    "span_state",
    "timeslot_audio",
]

# -- media frame buffer ----------------------------------------------------------------------

MEDIA_TIMESLOTS: Final = 32
SLOT_BYTES: Final = 160  # 20 ms of A-law at 8 kHz
MEDIA_FRAME_BYTES: Final = MEDIA_TIMESLOTS * SLOT_BYTES
ALAW_IDLE: Final = 0xD5
IDLE_MEDIA_FRAME: Final = bytes([ALAW_IDLE]) * MEDIA_FRAME_BYTES
_NO_AUDIO_SLOTS: Final = (0, D_TIMESLOT)  # framing and the D-channel


def _check_timeslot(timeslot: int, *, audio: bool) -> None:
    if not 0 <= timeslot < MEDIA_TIMESLOTS:
        raise ValueError(f"timeslot must be 0-31, not {timeslot}")
    if audio and timeslot in _NO_AUDIO_SLOTS:
        raise ValueError(f"timeslot {timeslot} carries no audio")


def timeslot_audio(buf: bytes, timeslot: int) -> bytes:
    """The 160 bytes of TIMESLOT in a 5,120-byte media frame buffer."""
    if len(buf) != MEDIA_FRAME_BYTES:
        raise ValueError(f"a media frame is {MEDIA_FRAME_BYTES} bytes, not {len(buf)}")
    _check_timeslot(timeslot, audio=False)
    return bytes(buf[timeslot * SLOT_BYTES:(timeslot + 1) * SLOT_BYTES])


class MediaFrame:
    """A mutable 32 × 160-byte frame buffer, idle (0xD5) unless given DATA."""

    __slots__ = ("_buf",)

    def __init__(self, data: bytes | None = None) -> None:
        if data is None:
            self._buf = bytearray(IDLE_MEDIA_FRAME)
        elif len(data) != MEDIA_FRAME_BYTES:
            raise ValueError(f"a media frame is {MEDIA_FRAME_BYTES} bytes, not {len(data)}")
        else:
            self._buf = bytearray(data)

    def __getitem__(self, timeslot: int) -> bytes:
        return timeslot_audio(self._buf, timeslot)

    def __setitem__(self, timeslot: int, audio: bytes) -> None:
        """Set TIMESLOT's 160 bytes; timeslots 0 and 16 are refused (no audio there)."""
        _check_timeslot(timeslot, audio=True)
        if len(audio) != SLOT_BYTES:
            raise ValueError(f"a timeslot carries {SLOT_BYTES} bytes per frame, not {len(audio)}")
        self._buf[timeslot * SLOT_BYTES:(timeslot + 1) * SLOT_BYTES] = audio

    def clear(self, timeslot: int) -> None:
        self[timeslot] = bytes([ALAW_IDLE]) * SLOT_BYTES

    def __bytes__(self) -> bytes:
        return bytes(self._buf)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MediaFrame):
            return self._buf == other._buf
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        busy = [ts for ts in range(MEDIA_TIMESLOTS)
                if self._buf[ts * SLOT_BYTES:(ts + 1) * SLOT_BYTES] != IDLE_MEDIA_FRAME[:SLOT_BYTES]]
        return f"<MediaFrame non-idle timeslots={busy}>"


# -- alarms ----------------------------------------------------------------------------------

ALARM_NAMES: Final = ("los", "lof", "ais", "rai")


@dataclass(frozen=True)
class SpanAlarms:
    """The E1 layer-1 alarms (G.775/G.732): what the box sees on its receive side.

    los: loss of signal; lof: loss of frame alignment (both "red"); ais: all-ones from
    upstream ("blue"); rai: the far end reports it lost our signal ("yellow").
    """

    los: bool = False
    lof: bool = False
    ais: bool = False
    rai: bool = False

    @classmethod
    def from_names(cls, names: Iterable[str]) -> SpanAlarms:
        """SpanAlarms(ais=True) from ["ais"]; ValueError naming an unknown alarm."""
        if isinstance(names, str) or not isinstance(names, Iterable):
            raise ValueError(f"alarms must be a list of names, not {names!r}")
        chosen = list(names)
        unknown = [n for n in chosen if n not in ALARM_NAMES]
        if unknown:
            raise ValueError(f"unknown span alarm(s) {unknown}; known: {', '.join(ALARM_NAMES)}")
        return cls(**{name: True for name in chosen})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self) if getattr(self, f.name))

    @property
    def red(self) -> bool:
        return self.los or self.lof

    @property
    def yellow(self) -> bool:
        return self.rai

    @property
    def blue(self) -> bool:
        return self.ais

    @property
    def signal_lost(self) -> bool:
        """Nothing usable arrives (red or blue): the D-channel cannot work."""
        return self.red or self.blue

    def __bool__(self) -> bool:
        return bool(self.names)

    def __str__(self) -> str:
        return "+".join(self.names) or "none"


NO_ALARMS: Final = SpanAlarms()
LOS: Final = SpanAlarms(los=True)


# -- the interface -----------------------------------------------------------------------------


class Span(ABC):
    """One E1 span backend. A context manager; properties are read-only."""

    def __init__(self, url: str, name: str = "") -> None:
        self._url = url
        self._name = name or url

    @property
    def url(self) -> str:
        return self._url

    @property
    def name(self) -> str:
        """The configured span name (the URL when none was given), used in every message."""
        return self._name

    @abstractmethod
    def dchannel_fileno(self) -> int:
        """An fd that is readable when read_dchannel() may return a frame."""

    @abstractmethod
    def read_dchannel(self) -> bytes | None:
        """One received LAPD frame without its 2 FCS bytes, or None if none is pending."""

    @abstractmethod
    def write_dchannel(self, frame: bytes) -> None:
        """Send one LAPD frame (address, control, information; no FCS)."""

    @abstractmethod
    def media_fileno(self) -> int | None:
        """An fd readable when read_media() may return a frame buffer; None: no media."""

    @abstractmethod
    def read_media(self) -> bytes | None:
        """One received 5,120-byte frame buffer (timeslot-major), or None."""

    @abstractmethod
    def write_media(self, buf: bytes) -> None:
        """Send one 5,120-byte frame buffer; dropped quietly when no media path is up."""

    @property
    @abstractmethod
    def alarms(self) -> SpanAlarms:
        """The current layer-1 alarms (LOS while the backend is down)."""

    @property
    @abstractmethod
    def state(self) -> str:
        """One of "up", "alarm" (connected, an alarm is set), "down" (backend gone)."""

    @abstractmethod
    def close(self) -> None:
        """Release the backend; idempotent."""

    def reopen(self) -> None:
        """Bring a "down" backend back; SpanError with the reason while it cannot.

        This default suits backends whose device stays open across line faults.
        """
        if self.state == "down":
            raise SpanError(f"span {self.name} is down and its backend cannot be reopened")

    def __enter__(self) -> Span:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.url} {self.state}>"


def span_state(connected: bool, alarms: SpanAlarms) -> str:
    """The state rule every backend shares: "down" / "alarm" / "up"."""
    if not connected:
        return "down"
    return "alarm" if alarms else "up"


# -- URL dispatch ------------------------------------------------------------------------------


def parse_span_url(url: str) -> tuple[str, str]:
    """("sim", "/dir") or ("dahdi", "1") for a span URL; ValueError saying what is accepted.

    Config validation calls this, so a bad URL is reported before anything is opened.
    """
    if not isinstance(url, str):
        raise ValueError(f"span URL must be a string, not {url!r}")
    if url.startswith("sim://"):
        path = url[len("sim://"):]
        if not path.startswith("/") or path.rstrip("/") == "":
            raise ValueError(f"sim span URL needs an absolute directory (sim:///run/...), not {url!r}")
        return "sim", path.rstrip("/")
    if url.startswith("dahdi://"):
        # The DAHDI module knows its options (?dchan=, ?bchannels=); it imports no device.
        from drivers.e1_card.dahdi import parse_dahdi_span_url

        return "dahdi", str(parse_dahdi_span_url(url).spanno)
    raise ValueError(f"span URL must be sim:///DIR or dahdi://N, not {url!r}")


def open_span(url: str, *, name: str = "") -> Span:
    """The backend for URL. A sim span that finds no telco yet comes up "down" (see reopen)."""
    scheme, _where = parse_span_url(url)
    if scheme == "sim":
        from drivers.e1_card.sim import SimSpan

        return SimSpan(url, name=name)
    # Lazy: DAHDI's ioctls are only needed on a box with a card.
    from drivers.e1_card.dahdi import DahdiSpan

    return DahdiSpan(url, name=name)
