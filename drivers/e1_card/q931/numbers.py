"""Party-number IEs: calling (0x6C), called (0x70) and connected (0x4C) number.

Layout (Q.931 4.5.8 / 4.5.10, EN 300 403; connected number per EN 300 097):
  octet 3   ext | type of number (3 bits) | numbering plan (4 bits)
  octet 3a  ext=1 | presentation (2) | spare 000 | screening (2)   -- calling/connected
  octet 4.. number digits, IA5, bit 8 = 0
Octet 3a is optional on the wire (absent means presentation allowed, user-provided not
screened); we always send it for calling and connected numbers, as libpri does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self

from drivers.e1_card.q931.element import (
    MAX_CONTENTS,
    InformationElement,
    bad_contents,
    check_field,
    ia5_decode,
    ia5_encode,
)


class TypeOfNumber(IntEnum):
    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER = 4
    ABBREVIATED = 6


def ton_name(ton: int) -> str:
    """'national', 'subscriber', … (numbering.TONS); a value Q.931 does not name is 'unknown'."""
    try:
        return TypeOfNumber(ton).name.lower()
    except ValueError:
        return "unknown"


def ton_from_name(name: str) -> TypeOfNumber:
    """The inverse of ton_name: 'national' → TypeOfNumber.NATIONAL (ValueError names the choices)."""
    try:
        return TypeOfNumber[name.upper()]
    except KeyError:
        raise ValueError(f"ton {name!r} is not one of "
                         f"{', '.join(t.name.lower() for t in TypeOfNumber)}") from None


class NumberingPlan(IntEnum):
    UNKNOWN = 0
    ISDN = 1  # E.164
    DATA = 3  # X.121
    TELEX = 4  # F.69
    NATIONAL = 8
    PRIVATE = 9


class Presentation(IntEnum):
    ALLOWED = 0
    RESTRICTED = 1
    NOT_AVAILABLE = 2  # number not available due to interworking


class Screening(IntEnum):
    USER_NOT_SCREENED = 0
    USER_VERIFIED_PASSED = 1
    USER_VERIFIED_FAILED = 2
    NETWORK_PROVIDED = 3


def _enum_or_int(enum: type[IntEnum], value: int) -> int:
    """Known values become enum members (readable in logs); reserved ones stay ints."""
    try:
        return enum(value)
    except ValueError:
        return value


def _check_digits(cls: type[InformationElement], digits: str, room: int) -> bytes:
    octets = ia5_encode(cls, digits)
    if len(octets) > room:
        raise ValueError(f"{cls.__name__}: number longer than {room} digits")
    return octets


@dataclass(frozen=True)
class CalledPartyNumber(InformationElement):
    """Called party number (0x70); digits as dialled, e.g. "96101"."""

    digits: str
    ton: int = TypeOfNumber.UNKNOWN
    npi: int = NumberingPlan.ISDN

    IE_ID: ClassVar[int] = 0x70

    def __post_init__(self) -> None:
        check_field("ton", self.ton, 0, 7)
        check_field("npi", self.npi, 0, 15)

    def encode(self) -> bytes:
        digits = _check_digits(type(self), self.digits, MAX_CONTENTS - 1)
        return bytes([0x80 | self.ton << 4 | self.npi]) + digits

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        if not contents:
            bad_contents(cls, "empty")
        octet3 = contents[0]
        if not octet3 & 0x80:
            bad_contents(cls, "octet 3 extension bit is 0 (no octet 3a in a called number)")
        return cls(
            digits=ia5_decode(cls, contents[1:]),
            ton=_enum_or_int(TypeOfNumber, octet3 >> 4 & 0x07),
            npi=_enum_or_int(NumberingPlan, octet3 & 0x0F),
        )


@dataclass(frozen=True)
class _PresentedNumber(InformationElement):
    """Common part of calling and connected number: octet 3a carries presentation."""

    digits: str
    ton: int = TypeOfNumber.UNKNOWN
    npi: int = NumberingPlan.ISDN
    presentation: int = Presentation.ALLOWED
    screening: int = Screening.USER_NOT_SCREENED

    def __post_init__(self) -> None:
        check_field("ton", self.ton, 0, 7)
        check_field("npi", self.npi, 0, 15)
        check_field("presentation", self.presentation, 0, 3)
        check_field("screening", self.screening, 0, 3)

    def encode(self) -> bytes:
        digits = _check_digits(type(self), self.digits, MAX_CONTENTS - 2)
        octet3 = self.ton << 4 | self.npi  # ext 0: octet 3a follows
        octet3a = 0x80 | self.presentation << 5 | self.screening
        return bytes([octet3, octet3a]) + digits

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        if not contents:
            bad_contents(cls, "empty")
        octet3 = contents[0]
        presentation, screening, start = Presentation.ALLOWED, Screening.USER_NOT_SCREENED, 1
        if not octet3 & 0x80:
            if len(contents) < 2:
                bad_contents(cls, "octet 3a announced but missing")
            octet3a = contents[1]
            if not octet3a & 0x80:
                bad_contents(cls, "octet 3a extension bit is 0")
            presentation = _enum_or_int(Presentation, octet3a >> 5 & 0x03)
            screening = _enum_or_int(Screening, octet3a & 0x03)
            start = 2
        return cls(
            digits=ia5_decode(cls, contents[start:]),
            ton=_enum_or_int(TypeOfNumber, octet3 >> 4 & 0x07),
            npi=_enum_or_int(NumberingPlan, octet3 & 0x0F),
            presentation=presentation,
            screening=screening,
        )


@dataclass(frozen=True)
class CallingPartyNumber(_PresentedNumber):
    """Calling party number (0x6C), e.g. CallingPartyNumber("13800138000", ton=NATIONAL)."""

    IE_ID: ClassVar[int] = 0x6C


@dataclass(frozen=True)
class ConnectedNumber(_PresentedNumber):
    """Connected number (0x4C, COLP), same layout as the calling party number."""

    IE_ID: ClassVar[int] = 0x4C
