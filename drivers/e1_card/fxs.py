"""The FXS port interface: an agent's analog phone, as the box's PBX sees it.

One port is one phone line. The box reads what the phone does (hook switch, flash,
DTMF, 20 ms of audio) as frozen events and drives it (ring, caller ID, call-progress
tone, audio). The URL picks the backend:

- ``sim:///PATH`` — :class:`drivers.e1_card.sim.SimFxsPort` (CONTRACTS §4): the box
  listens at PATH and a simulated handset (``anxin-sim handset``) connects;
- ``dahdi://chan/N`` — ``drivers.e1_card.dahdi.DahdiFxsPort``, a DAHDI FXS channel,
  imported only when asked for.

Reading: ``read_event()`` never blocks; call it until None each time ``fileno()`` is
readable (one datagram may yield several events, e.g. several DTMF digits). The fileno
is stable for the port's life. Driving the phone while no phone is there (simulator:
no handset connected) is not an error: a line with nothing plugged in rings nobody.
Audio is 160 bytes of A-law per call, the port's 20 ms clock tick.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DTMF_DIGITS",
    "FRAME_BYTES",
    "TONES",
    "Audio",
    "Digit",
    "Flash",
    "FxsEvent",
    "FxsPort",
    "HookOff",
    "HookOn",
    "check_audio",
    "check_digits",
    "check_tone",
    "open_fxs",
    "parse_fxs_url",
]

FRAME_BYTES: Final = 160  # 20 ms of A-law
TONES: Final = ("dial", "busy", "ringback", "congestion", "none")
DTMF_DIGITS: Final = "0123456789*#ABCD"


# -- events (phone → box) ----------------------------------------------------------------------


@dataclass(frozen=True)
class FxsEvent:
    """Base of what a phone does."""


@dataclass(frozen=True)
class HookOff(FxsEvent):
    """The handset was lifted."""


@dataclass(frozen=True)
class HookOn(FxsEvent):
    """The handset was put down (or the phone went away while off-hook)."""


@dataclass(frozen=True)
class Flash(FxsEvent):
    """A hook flash (register recall: transfer, hold)."""


@dataclass(frozen=True)
class Digit(FxsEvent):
    """One DTMF digit signalled out of band: 0-9, *, #, A-D."""

    digit: str


@dataclass(frozen=True)
class Audio(FxsEvent):
    """160 bytes (20 ms) of A-law from the phone's microphone."""

    samples: bytes


# -- argument checks shared by the backends ---------------------------------------------------


def check_tone(name: str) -> str:
    if name not in TONES:
        raise ValueError(f"tone must be one of {', '.join(TONES)}, not {name!r}")
    return name


def check_audio(frame: bytes) -> bytes:
    if len(frame) != FRAME_BYTES:
        raise ValueError(f"an FXS audio frame is {FRAME_BYTES} bytes of A-law, not {len(frame)}")
    return bytes(frame)


def check_digits(digits: str) -> str:
    """DIGITS upper-cased; ValueError unless it is one or more DTMF digits."""
    if not isinstance(digits, str) or not digits:
        raise ValueError(f"DTMF digits must be a non-empty string, not {digits!r}")
    upper = digits.upper()
    bad = sorted({d for d in upper if d not in DTMF_DIGITS})
    if bad:
        raise ValueError(f"not DTMF digits: {''.join(bad)!r} in {digits!r}")
    return upper


# -- the interface -----------------------------------------------------------------------------


class FxsPort(ABC):
    """One FXS line. A context manager; url is read-only."""

    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def url(self) -> str:
        return self._url

    @abstractmethod
    def fileno(self) -> int:
        """An fd readable when read_event() may return something."""

    @abstractmethod
    def read_event(self) -> FxsEvent | None:
        """The next HookOff / HookOn / Flash / Digit / Audio, or None."""

    @abstractmethod
    def ring(self, on: bool) -> None:
        """Start or stop ringing (the cadence is the phone's/the card's business)."""

    @abstractmethod
    def send_cid(self, number: str, name: str = "") -> None:
        """Caller ID for the call about to ring (sent before or between rings)."""

    @abstractmethod
    def tone(self, name: str) -> None:
        """Play a call-progress tone: one of TONES ("none" stops it)."""

    @abstractmethod
    def write_audio(self, frame: bytes) -> None:
        """160 bytes of A-law to the earpiece."""

    @abstractmethod
    def close(self) -> None:
        """Release the port; idempotent."""

    def __enter__(self) -> FxsPort:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


# -- URL dispatch ------------------------------------------------------------------------------


def parse_fxs_url(url: str) -> tuple[str, str]:
    """("sim", "/path") or ("dahdi", "N"); ValueError saying what is accepted."""
    if not isinstance(url, str):
        raise ValueError(f"FXS URL must be a string, not {url!r}")
    if url.startswith("sim://"):
        path = url[len("sim://"):]
        if not path.startswith("/") or path.endswith("/"):
            raise ValueError(f"sim FXS URL needs an absolute socket path (sim:///run/...), not {url!r}")
        return "sim", path
    if url.startswith("dahdi://chan/"):
        number = url[len("dahdi://chan/"):]
        if number.isdigit() and int(number) >= 1:
            return "dahdi", str(int(number))
    raise ValueError(f"FXS URL must be sim:///PATH or dahdi://chan/N, not {url!r}")


def open_fxs(url: str) -> FxsPort:
    """The backend for URL; the sim port starts listening at once."""
    scheme, _where = parse_fxs_url(url)
    if scheme == "sim":
        from drivers.e1_card.sim import SimFxsPort

        return SimFxsPort(url)
    from drivers.e1_card.dahdi import DahdiFxsPort

    return DahdiFxsPort(url)
