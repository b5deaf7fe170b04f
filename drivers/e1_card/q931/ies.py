"""Q.931 information elements (codeset 0) used on a EuroISDN PRI, and the IE registry.

Each IE is a frozen dataclass: ``encode()`` gives the contents (no identifier, no
length), ``decode(contents)`` parses them or raises ``RemoteProtocolError(cause=100,
diagnostic=bytes([IE_ID]))``. Party numbers live in numbers.py, channel identification
in channel.py; this module re-exports them so ``ies`` is the one import for callers.
Bit layouts are those of Q.931 §4.5 and ETSI EN 300 403-1 §4.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Self

from drivers.e1_card.q931.causes import Location
from drivers.e1_card.q931.channel import ChannelIdentification
from drivers.e1_card.q931.element import (
    IE,
    MAX_CONTENTS,
    InformationElement,
    UnknownIE,
    bad_contents,
    check_field,
    ia5_decode,
    ia5_encode,
)
from drivers.e1_card.q931.numbers import (
    CalledPartyNumber,
    CallingPartyNumber,
    ConnectedNumber,
    NumberingPlan,
    Presentation,
    Screening,
    TypeOfNumber,
)

__all__ = [
    "IE", "InformationElement", "UnknownIE", "IE_CLASSES", "decode_ie",
    "BearerCapability", "ChannelIdentification", "CallingPartyNumber", "CalledPartyNumber",
    "ConnectedNumber", "Cause", "ProgressIndicator", "CallState", "RestartIndicator",
    "Display", "SendingComplete", "Notification", "KeypadFacility", "Facility",
    "HighLayerCompatibility", "LowLayerCompatibility", "UserUser",
    "Capability", "Layer1", "Location", "TypeOfNumber", "NumberingPlan", "Presentation",
    "Screening", "Progress", "RestartClass",
    "SPEECH", "AUDIO_3K1", "UNRESTRICTED_DIGITAL", "ALAW", "ULAW",
    "UNKNOWN", "NATIONAL", "SUBSCRIBER", "ISDN", "ALLOWED", "RESTRICTED", "NOT_AVAILABLE",
    "USER_NOT_SCREENED", "NETWORK_PROVIDED",
    "USER", "PRIVATE_LOCAL", "PUBLIC_LOCAL", "TRANSIT", "PUBLIC_REMOTE", "PRIVATE_REMOTE",
    "BEYOND_INTERWORKING",
]

_EXT = 0x80


class Capability(IntEnum):
    """Information transfer capability, bearer capability octet 3."""

    SPEECH = 0x00
    UNRESTRICTED_DIGITAL = 0x08
    RESTRICTED_DIGITAL = 0x09
    AUDIO_3K1 = 0x10
    AUDIO_7K = 0x11
    VIDEO = 0x18


class Layer1(IntEnum):
    """User information layer 1 protocol, bearer capability octet 5."""

    V110 = 0x01
    ULAW = 0x02  # G.711 µ-law
    ALAW = 0x03  # G.711 A-law (China, Europe)
    G721 = 0x04
    H221 = 0x05


class Progress(IntEnum):
    """Progress description, progress indicator octet 4."""

    NOT_END_TO_END_ISDN = 1
    DESTINATION_NON_ISDN = 2
    ORIGINATION_NON_ISDN = 3
    RETURNED_TO_ISDN = 4
    INTERWORKING = 5
    INBAND_AVAILABLE = 8


class RestartClass(IntEnum):
    INDICATED_CHANNELS = 0
    SINGLE_INTERFACE = 6
    ALL_INTERFACES = 7


# Flat names for the common values (as docs/pri-stack.md writes them). The number and
# location INTERNATIONAL clash, so only TypeOfNumber.INTERNATIONAL / Location.INTERNATIONAL.
SPEECH, AUDIO_3K1 = Capability.SPEECH, Capability.AUDIO_3K1
UNRESTRICTED_DIGITAL = Capability.UNRESTRICTED_DIGITAL
ALAW, ULAW = Layer1.ALAW, Layer1.ULAW
UNKNOWN, NATIONAL, SUBSCRIBER = TypeOfNumber.UNKNOWN, TypeOfNumber.NATIONAL, TypeOfNumber.SUBSCRIBER
ISDN = NumberingPlan.ISDN
ALLOWED, RESTRICTED, NOT_AVAILABLE = Presentation.ALLOWED, Presentation.RESTRICTED, Presentation.NOT_AVAILABLE
USER_NOT_SCREENED, NETWORK_PROVIDED = Screening.USER_NOT_SCREENED, Screening.NETWORK_PROVIDED
USER, PRIVATE_LOCAL, PUBLIC_LOCAL = Location.USER, Location.PRIVATE_LOCAL, Location.PUBLIC_LOCAL
TRANSIT, PUBLIC_REMOTE, PRIVATE_REMOTE = Location.TRANSIT, Location.PUBLIC_REMOTE, Location.PRIVATE_REMOTE
BEYOND_INTERWORKING = Location.BEYOND_INTERWORKING


def _known(enum: type[IntEnum], value: int) -> int:
    try:
        return enum(value)
    except ValueError:
        return value


# Information transfer rate codes (octet 4) <-> kbit/s; 0 is the packet-mode code.
_RATES = {0x00: 0, 0x10: 64, 0x11: 128, 0x13: 384, 0x15: 1536, 0x17: 1920}
_RATE_CODES = {kbit: code for code, kbit in _RATES.items()}
_MODES = {0: "circuit", 2: "packet"}
_MODE_CODES = {name: code for code, name in _MODES.items()}


@dataclass(frozen=True)
class BearerCapability(InformationElement):
    """Bearer capability (0x04): speech A-law is ``04 03 80 90 A3``.

    ``layer1`` None omits octet 5 (as for unrestricted digital). ``layer1_extra`` holds
    octets 5a-5d (rate adaption etc.) and ``extra`` octets 6/7 (layer 2/3), both raw.
    """

    capability: int = Capability.SPEECH
    mode: str = "circuit"
    rate: int = 64
    layer1: int | None = Layer1.ALAW
    layer1_extra: bytes = b""
    extra: bytes = b""
    coding_standard: int = 0

    IE_ID: ClassVar[int] = 0x04

    def __post_init__(self) -> None:
        check_field("capability", self.capability, 0, 0x1F)
        check_field("coding_standard", self.coding_standard, 0, 3)
        if self.mode not in _MODE_CODES:
            raise ValueError(f"mode must be 'circuit' or 'packet', not {self.mode!r}")
        if self.rate not in _RATE_CODES:
            raise ValueError(f"rate must be one of {sorted(_RATE_CODES)} kbit/s, not {self.rate!r}")
        if self.layer1 is not None:
            check_field("layer1", self.layer1, 0, 0x1F)
        elif self.layer1_extra:
            raise ValueError("layer1_extra without layer1")
        elif self.extra and self.extra[0] >> 5 & 0x03 == 1:
            raise ValueError("extra octets must not start with a layer 1 octet; use layer1")
        # Octets 5a..: extension bit 0 on all but the last, as the decoder reads them.
        if self.layer1_extra and (
            not self.layer1_extra[-1] & _EXT or any(b & _EXT for b in self.layer1_extra[:-1])
        ):
            raise ValueError("layer1_extra: only the last octet may (and must) have ext bit 1")

    def encode(self) -> bytes:
        out = bytearray([
            _EXT | self.coding_standard << 5 | self.capability,
            _EXT | _MODE_CODES[self.mode] << 5 | _RATE_CODES[self.rate],
        ])
        if self.layer1 is not None:
            ext = 0 if self.layer1_extra else _EXT
            out.append(ext | 0x20 | self.layer1)  # layer 1 identifier 01
            out += self.layer1_extra
        return bytes(out + self.extra)

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        if len(contents) < 2:
            bad_contents(cls, "shorter than 2 octets")
        octet3, octet4 = contents[0], contents[1]
        if not octet3 & _EXT:
            bad_contents(cls, "octet 3 extension bit is 0")
        if not octet4 & _EXT:
            bad_contents(cls, "octet 4 extension bit is 0 (octets 4a/4b are not used)")
        mode = _MODES.get(octet4 >> 5 & 0x03)
        rate = _RATES.get(octet4 & 0x1F)
        if mode is None or rate is None:
            bad_contents(cls, f"unsupported transfer mode/rate octet 0x{octet4:02X}")
        pos, layer1, layer1_extra = 2, None, b""
        if pos < len(contents) and contents[pos] >> 5 & 0x03 == 1:  # layer 1 identifier
            octet5 = contents[pos]
            layer1 = _known(Layer1, octet5 & 0x1F)
            pos += 1
            if not octet5 & _EXT:
                end = pos
                while end < len(contents) and not contents[end] & _EXT:
                    end += 1
                if end >= len(contents):
                    bad_contents(cls, "octets 5a.. not terminated")
                layer1_extra, pos = contents[pos : end + 1], end + 1
        return cls(
            capability=_known(Capability, octet3 & 0x1F),
            mode=mode,
            rate=rate,
            layer1=layer1,
            layer1_extra=layer1_extra,
            extra=contents[pos:],
            coding_standard=octet3 >> 5 & 0x03,
        )


@dataclass(frozen=True)
class Cause(InformationElement):
    """Cause (0x08): DISCONNECT cause 16 from the local public network is ``08 02 82 90``.

    ``recommendation`` is the optional octet 3a (tolerated when received, normally None).
    """

    value: int
    location: int = Location.USER
    diagnostics: bytes = b""
    coding_standard: int = 0
    recommendation: int | None = None

    IE_ID: ClassVar[int] = 0x08

    def __post_init__(self) -> None:
        check_field("cause value", self.value, 0, 0x7F)
        check_field("location", self.location, 0, 0x0F)
        check_field("coding_standard", self.coding_standard, 0, 3)
        if self.recommendation is not None:
            check_field("recommendation", self.recommendation, 0, 0x7F)
        if len(self.diagnostics) > MAX_CONTENTS - 3:
            raise ValueError("cause diagnostics too long")

    def encode(self) -> bytes:
        octet3 = self.coding_standard << 5 | self.location
        if self.recommendation is None:
            head = [_EXT | octet3]
        else:
            head = [octet3, _EXT | self.recommendation]
        return bytes(head + [_EXT | self.value]) + self.diagnostics

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        if len(contents) < 2:
            bad_contents(cls, "shorter than 2 octets")
        octet3 = contents[0]
        pos, recommendation = 1, None
        if not octet3 & _EXT:
            recommendation = contents[1] & 0x7F
            pos = 2
            if len(contents) < 3:
                bad_contents(cls, "cause value missing after octet 3a")
        return cls(
            value=contents[pos] & 0x7F,
            location=_known(Location, octet3 & 0x0F),
            diagnostics=contents[pos + 1 :],
            coding_standard=octet3 >> 5 & 0x03,
            recommendation=recommendation,
        )


@dataclass(frozen=True)
class ProgressIndicator(InformationElement):
    """Progress indicator (0x1E): in-band info from the local network is ``1E 02 82 88``."""

    description: int
    location: int = Location.USER
    coding_standard: int = 0

    IE_ID: ClassVar[int] = 0x1E

    def __post_init__(self) -> None:
        check_field("progress description", self.description, 0, 0x7F)
        check_field("location", self.location, 0, 0x0F)
        check_field("coding_standard", self.coding_standard, 0, 3)

    def encode(self) -> bytes:
        return bytes([_EXT | self.coding_standard << 5 | self.location, _EXT | self.description])

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        if len(contents) < 2:
            bad_contents(cls, "shorter than 2 octets")
        return cls(
            description=_known(Progress, contents[1] & 0x7F),
            location=_known(Location, contents[0] & 0x0F),
            coding_standard=contents[0] >> 5 & 0x03,
        )


@dataclass(frozen=True)
class CallState(InformationElement):
    """Call state (0x14): coding standard (bits 8-7) and the state value U0..U25/N0..N25."""

    value: int
    coding_standard: int = 0

    IE_ID: ClassVar[int] = 0x14

    def __post_init__(self) -> None:
        check_field("call state", self.value, 0, 0x3F)
        check_field("coding_standard", self.coding_standard, 0, 3)

    def encode(self) -> bytes:
        return bytes([self.coding_standard << 6 | self.value])

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        if len(contents) != 1:
            bad_contents(cls, f"length {len(contents)}, expected 1")
        return cls(value=contents[0] & 0x3F, coding_standard=contents[0] >> 6)


@dataclass(frozen=True)
class RestartIndicator(InformationElement):
    """Restart indicator (0x79): class 0 indicated channels, 6 one interface, 7 all."""

    restart_class: int

    IE_ID: ClassVar[int] = 0x79

    def __post_init__(self) -> None:
        check_field("restart class", self.restart_class, 0, 7)

    def encode(self) -> bytes:
        return bytes([_EXT | self.restart_class])

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        if len(contents) != 1:
            bad_contents(cls, f"length {len(contents)}, expected 1")
        restart_class = contents[0] & 0x07
        if restart_class not in (0, 6, 7):
            bad_contents(cls, f"reserved restart class {restart_class}")
        return cls(restart_class=_known(RestartClass, restart_class))


@dataclass(frozen=True)
class Display(InformationElement):
    """Display (0x28): text for the user's display.

    Sent as IA5 when the text is ASCII, otherwise GB2312 (what Chinese exchanges use);
    other text raises ValueError. Received octets are decoded as GB2312 (ASCII is a
    subset), then UTF-8, then latin-1, so a display never fails a message; the received
    octets are kept (not compared) so a decoded Display re-encodes to the same octets.
    """

    text: str
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    IE_ID: ClassVar[int] = 0x28

    def encode(self) -> bytes:
        if self._wire is not None:
            return self._wire
        try:
            octets = self.text.encode("gb2312")  # ASCII stays ASCII
        except UnicodeEncodeError:
            raise ValueError(f"Display: {self.text!r} is neither IA5 nor GB2312") from None
        if len(octets) > MAX_CONTENTS:
            raise ValueError("Display: text longer than 255 octets")
        return octets

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        text = None
        for codec in ("gb2312", "utf-8"):
            try:
                text = contents.decode(codec)
                break
            except UnicodeDecodeError:
                pass
        display = cls(contents.decode("latin-1") if text is None else text)
        object.__setattr__(display, "_wire", bytes(contents))
        return display


@dataclass(frozen=True)
class SendingComplete(InformationElement):
    """Sending complete: the single octet 0xA1 (no contents)."""

    IE_ID: ClassVar[int] = 0xA1

    def encode(self) -> bytes:
        return b""

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        return cls()


@dataclass(frozen=True)
class Notification(InformationElement):
    """Notification indicator (0x27): 0 user suspended, 1 user resumed, 2 bearer change.

    ``info`` keeps any further octets (ETSI supplementary-service notifications) raw.
    """

    description: int
    info: bytes = b""

    IE_ID: ClassVar[int] = 0x27

    def __post_init__(self) -> None:
        check_field("notification description", self.description, 0, 0x7F)

    def encode(self) -> bytes:
        return bytes([_EXT | self.description]) + self.info

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        if not contents:
            bad_contents(cls, "empty")
        return cls(description=contents[0] & 0x7F, info=contents[1:])


@dataclass(frozen=True)
class KeypadFacility(InformationElement):
    """Keypad facility (0x2C): IA5 characters typed by the user (at least one)."""

    digits: str

    IE_ID: ClassVar[int] = 0x2C

    def __post_init__(self) -> None:
        if not self.digits:
            raise ValueError("KeypadFacility needs at least one character")

    def encode(self) -> bytes:
        return ia5_encode(type(self), self.digits)

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        if not contents:
            bad_contents(cls, "empty")
        return cls(ia5_decode(cls, contents))


@dataclass(frozen=True)
class _RawIE(InformationElement):
    """An IE we carry but never interpret: contents kept verbatim."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) > MAX_CONTENTS:
            raise ValueError(f"{type(self).__name__}: contents longer than 255 octets")

    def encode(self) -> bytes:
        return self.raw

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        return cls(bytes(contents))


@dataclass(frozen=True)
class Facility(_RawIE):
    """Facility (0x1C): supplementary-service APDUs (ROSE), passed through unparsed."""

    IE_ID: ClassVar[int] = 0x1C


@dataclass(frozen=True)
class HighLayerCompatibility(_RawIE):
    IE_ID: ClassVar[int] = 0x7D


@dataclass(frozen=True)
class LowLayerCompatibility(_RawIE):
    IE_ID: ClassVar[int] = 0x7C


@dataclass(frozen=True)
class UserUser(_RawIE):
    IE_ID: ClassVar[int] = 0x7E


IE_CLASSES: dict[int, type[InformationElement]] = {
    cls.IE_ID: cls
    for cls in (
        BearerCapability, ChannelIdentification, CallingPartyNumber, CalledPartyNumber,
        ConnectedNumber, Cause, ProgressIndicator, CallState, RestartIndicator, Display,
        SendingComplete, Notification, KeypadFacility, Facility, HighLayerCompatibility,
        LowLayerCompatibility, UserUser,
    )
}


def decode_ie(ie_id: int, contents: bytes, codeset: int = 0, locking: bool = False) -> InformationElement:
    """One IE from its identifier and contents; unknown ones (and other codesets) raw."""
    cls = IE_CLASSES.get(ie_id) if codeset == 0 else None
    if cls is None:
        return UnknownIE(ie_id, bytes(contents), codeset, locking)
    return cls.decode(contents)
