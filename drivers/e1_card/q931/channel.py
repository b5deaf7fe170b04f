"""Channel identification IE (0x18) in its primary-rate form (Q.931 4.5.13, EN 300 403).

  octet 3    ext=1 | int.id present | int.type (1 = primary) | spare 0 |
             pref/excl (1 = exclusive) | D-channel ind | info channel selection (2 bits:
             00 no channel, 01 as indicated in the following octets, 11 any channel)
  octet 3.1  interface identifier (only when "int.id present"; kept raw)
  octet 3.2  ext=1 | coding standard (00 CCITT) | number/map (0 = number) |
             channel type (0011 = B-channel units)                       -> 0x83
  octet 3.3  ext | channel number; several may follow, the last has ext = 1.
On an E1 the ETSI channel number *is* the timeslot (1-15, 17-31), so ``timeslots``
holds timeslot numbers; whether one is a valid B-channel is the call layer's business
(cause 82), not the codec's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from drivers.e1_card.q931.element import InformationElement, bad_contents, check_field

_EXT = 0x80
_INTERFACE_ID_PRESENT = 0x40
_PRIMARY = 0x20
_EXCLUSIVE = 0x08
_D_CHANNEL = 0x04
SELECT_NONE, SELECT_AS_INDICATED, SELECT_ANY = 0, 1, 3
_B_CHANNEL_UNITS = 0x03
_NUMBER_MAP = 0x10


@dataclass(frozen=True)
class ChannelIdentification(InformationElement):
    """Which B-channel(s) a call uses.

    Exactly one of: ``timeslots`` non-empty ("as indicated"), ``no_channel`` or
    ``any_channel``. ``exclusive`` is the pref/excl bit (False = preferred).
    ``d_channel`` is the D-channel indicator; ``interface_id`` the raw octets 3.1 (never
    sent by us on a single-interface PRI, tolerated when received).
    """

    timeslots: tuple[int, ...] = ()
    exclusive: bool = False
    no_channel: bool = False
    any_channel: bool = False
    d_channel: bool = False
    interface_id: bytes = b""

    IE_ID: ClassVar[int] = 0x18

    def __post_init__(self) -> None:
        forms = bool(self.timeslots) + self.no_channel + self.any_channel
        if forms != 1:
            raise ValueError(
                "ChannelIdentification needs exactly one of timeslots, no_channel, any_channel"
            )
        for ts in self.timeslots:
            check_field("timeslot", ts, 0, 0x7F)
        if len(self.timeslots) > 31:
            raise ValueError("at most 31 channel numbers")
        if self.interface_id and (
            not self.interface_id[-1] & _EXT or any(b & _EXT for b in self.interface_id[:-1])
        ):
            raise ValueError("interface_id: only the last octet may (and must) have ext bit 1")

    @property
    def selection(self) -> int:
        if self.no_channel:
            return SELECT_NONE
        if self.any_channel:
            return SELECT_ANY
        return SELECT_AS_INDICATED

    def encode(self) -> bytes:
        octet3 = _EXT | _PRIMARY | self.selection
        if self.interface_id:
            octet3 |= _INTERFACE_ID_PRESENT
        if self.exclusive:
            octet3 |= _EXCLUSIVE
        if self.d_channel:
            octet3 |= _D_CHANNEL
        out = bytearray([octet3]) + self.interface_id
        if self.timeslots:
            out.append(_EXT | _B_CHANNEL_UNITS)  # coding CCITT, number (not map), B-units
            out += bytes(self.timeslots[:-1])
            out.append(_EXT | self.timeslots[-1])
        return bytes(out)

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        if not contents:
            bad_contents(cls, "empty")
        octet3 = contents[0]
        if not octet3 & _EXT:
            bad_contents(cls, "octet 3 extension bit is 0")
        if not octet3 & _PRIMARY:
            bad_contents(cls, "interface type is basic, not primary rate")
        pos = 1
        interface_id = b""
        if octet3 & _INTERFACE_ID_PRESENT:
            end = pos
            while end < len(contents) and not contents[end] & _EXT:
                end += 1
            if end >= len(contents):
                bad_contents(cls, "interface identifier not terminated")
            interface_id = contents[pos : end + 1]
            pos = end + 1
        selection = octet3 & 0x03
        exclusive = bool(octet3 & _EXCLUSIVE)
        d_channel = bool(octet3 & _D_CHANNEL)
        if selection == 2:
            bad_contents(cls, "reserved information channel selection 10")
        if selection != SELECT_AS_INDICATED:
            # "no channel" / "any channel": nothing may follow but we tolerate trailing octets
            return cls(
                exclusive=exclusive,
                no_channel=selection == SELECT_NONE,
                any_channel=selection == SELECT_ANY,
                d_channel=d_channel,
                interface_id=interface_id,
            )
        if pos >= len(contents):
            bad_contents(cls, "channel indicated but octet 3.2 missing")
        octet32 = contents[pos]
        if octet32 >> 5 & 0x03 != 0:
            bad_contents(cls, "coding standard is not CCITT")
        if octet32 & _NUMBER_MAP:
            bad_contents(cls, "slot map form is not supported (ETSI uses channel numbers)")
        if octet32 & 0x0F != _B_CHANNEL_UNITS:
            bad_contents(cls, f"channel type {octet32 & 0x0F} is not B-channel units")
        numbers = contents[pos + 1 :]
        if not numbers:
            bad_contents(cls, "no channel number octet 3.3")
        # Each channel number ends a run; only the last must carry ext = 1.
        timeslots = tuple(b & 0x7F for b in numbers)
        if not numbers[-1] & _EXT:
            bad_contents(cls, "last channel number octet has extension bit 0")
        return cls(
            timeslots=timeslots,
            exclusive=exclusive,
            d_channel=d_channel,
            interface_id=interface_id,
        )
