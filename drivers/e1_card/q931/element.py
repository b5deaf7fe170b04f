"""The information-element base class, the raw fallback IE and the small codec helpers.

Every IE class (ies.py, numbers.py, channel.py) is a frozen dataclass that encodes its
*contents* (the octets after identifier and length) and decodes them back, raising
``RemoteProtocolError(cause=100, diagnostic=bytes([IE_ID]))`` on bad contents so the
message decoder can apply Q.931 5.8.6.2 (mandatory) or 5.8.7.2 (non-mandatory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NoReturn, Self

from drivers.e1_card.errors import RemoteProtocolError

INVALID_IE_CONTENTS = 100
MAX_CONTENTS = 255  # one length octet


class InformationElement:
    """Base of all IEs. Subclasses set IE_ID and implement encode/decode."""

    IE_ID: ClassVar[int]
    # The codeset an IE belongs to; only UnknownIE can be outside codeset 0.
    codeset: ClassVar[int] = 0

    def encode(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def decode(cls, contents: bytes) -> Self:
        raise NotImplementedError

    def identifier(self) -> int:
        """The IE identifier octet (for single-octet IEs the whole octet)."""
        return self.IE_ID

    def is_single_octet(self) -> bool:
        """Type 1 / type 2 IEs (identifier >= 0x80) carry no length octet."""
        return self.identifier() >= 0x80


IE = InformationElement


def bad_contents(cls: type[InformationElement], why: str) -> NoReturn:
    """Raise the Q.931 "invalid information element contents" error for one IE."""
    raise RemoteProtocolError(
        f"{cls.__name__} (IE 0x{cls.IE_ID:02X}): {why}",
        cause=INVALID_IE_CONTENTS,
        diagnostic=bytes([cls.IE_ID]),
    )


def ia5_decode(cls: type[InformationElement], octets: bytes) -> str:
    """IA5 digits/characters: bit 8 must be 0 (Q.931 4.5.10 ff.)."""
    if any(b & 0x80 for b in octets):
        bad_contents(cls, f"non-IA5 octet in {octets.hex()}")
    return octets.decode("ascii")


def ia5_encode(cls: type[InformationElement], text: str) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"{cls.__name__}: {text!r} is not IA5 (ASCII)") from None


def check_field(name: str, value: int, low: int, high: int) -> None:
    """Encode-side range check: our caller passed a value the field cannot hold."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, not {value!r}")


@dataclass(frozen=True)
class UnknownIE(InformationElement):
    """An IE this codec does not parse, kept as raw contents so it re-encodes identically.

    ``ie_id >= 0x80`` is a single-octet IE (the whole octet is the id, ``raw`` is empty).
    ``codeset`` is the codeset the IE was received in (0, or 4-7 after a shift);
    ``locking`` says whether a locking shift (0x9N) or a non-locking one (0x9N|8) put
    it there, so the encoder can rebuild the shift octets.
    """

    ie_id: int
    raw: bytes = b""
    codeset: int = 0  # type: ignore[misc]  # a field here, a class constant elsewhere
    locking: bool = False

    IE_ID: ClassVar[int] = -1

    def __post_init__(self) -> None:
        check_field("ie_id", self.ie_id, 0, 0xFF)
        check_field("codeset", self.codeset, 0, 7)
        if 0x90 <= self.ie_id <= 0x9F:
            raise ValueError("0x90-0x9F are shift octets: set codeset/locking instead")
        if self.ie_id >= 0x80 and self.raw:
            raise ValueError("a single-octet IE has no contents")
        if len(self.raw) > MAX_CONTENTS:
            raise ValueError("IE contents longer than 255 octets")

    def identifier(self) -> int:
        return self.ie_id

    def encode(self) -> bytes:
        return self.raw

    @classmethod
    def decode(cls, contents: bytes) -> Self:  # pragma: no cover - built by the decoder
        raise TypeError("UnknownIE is built by the message decoder with its ie_id")
