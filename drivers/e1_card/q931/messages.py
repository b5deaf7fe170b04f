"""Q.931 messages: the header, the IE list with codeset shifts, and the §5.8 checks.

Wire layout (Q.931 §4): protocol discriminator 0x08 | call reference length (2 on a
PRI) | flag + 15-bit call reference value | message type | information elements.
The decoder applies the Q.931 5.8 error handling that belongs to the codec and tells
the call layer, through the exception's ``cause``, what to answer:

* too short, wrong protocol discriminator, bad call reference length → ``cause=None``
  (the message is ignored, 5.8.1–5.8.3.1);
* unknown message type → 97 (5.8.4);
* mandatory IE missing, or an unrecognised "comprehension required" IE → 96 (5.8.6.1,
  5.8.7.1); mandatory IE with bad contents → 100 (5.8.6.2);
* a non-mandatory IE with bad contents is dropped and its id listed in
  ``Message.bad_ies`` (5.8.7.2: the call layer may send STATUS cause 100);
* unrecognised non-mandatory IEs are kept as ``UnknownIE`` and listed by
  ``Message.unrecognised_ies`` (5.8.7.1: STATUS cause 99 if the call layer wishes);
* IEs out of order are accepted (5.8.5.1); a repeated IE that may not repeat keeps
  its first occurrence only (5.8.5.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeVar

from drivers.e1_card.errors import RemoteProtocolError
from drivers.e1_card.q931.causes import (
    INVALID_IE_CONTENTS,
    MANDATORY_IE_MISSING,
    MESSAGE_TYPE_NONEXISTENT,
)
from drivers.e1_card.q931.ies import (
    IE,
    IE_CLASSES,
    BearerCapability,
    CallState,
    Cause,
    ChannelIdentification,
    Facility,
    Notification,
    ProgressIndicator,
    RestartIndicator,
    UnknownIE,
    decode_ie,
)
from drivers.e1_card.roles import Role

PROTOCOL_DISCRIMINATOR = 0x08
CALL_REF_LEN = 2  # primary rate: 15-bit call reference value + flag
MAX_CALL_REF = 0x7FFF
# A message must fit one I-frame: Q.921's N201 is 260 octets (no segmentation on a PRI).
MAX_MESSAGE_OCTETS = 260
GLOBAL_CALL_REF = 0
DUMMY_CALL_REF = -1  # the length-0 "dummy" call reference (decoded; encodable)

_IEType = TypeVar("_IEType", bound=IE)


class MessageType(IntEnum):
    ALERTING = 0x01
    CALL_PROCEEDING = 0x02
    PROGRESS = 0x03
    SETUP = 0x05
    CONNECT = 0x07
    SETUP_ACKNOWLEDGE = 0x0D
    CONNECT_ACKNOWLEDGE = 0x0F
    DISCONNECT = 0x45
    RESTART = 0x46
    RELEASE = 0x4D
    RESTART_ACKNOWLEDGE = 0x4E
    RELEASE_COMPLETE = 0x5A
    FACILITY = 0x62
    NOTIFY = 0x6E
    STATUS_ENQUIRY = 0x75
    INFORMATION = 0x7B
    STATUS = 0x7D


# Unconditionally mandatory IEs in both directions (EN 300 403-1 §3, Q.931 §3.1).
# Conditional ones (channel id in the first answer to SETUP, cause in the first
# clearing message, channel id in RESTART class 0) are the call layer's to check.
MANDATORY: dict[MessageType, tuple[type[IE], ...]] = {
    MessageType.ALERTING: (),
    MessageType.CALL_PROCEEDING: (),
    MessageType.PROGRESS: (ProgressIndicator,),
    MessageType.SETUP: (BearerCapability,),
    MessageType.CONNECT: (),
    MessageType.SETUP_ACKNOWLEDGE: (),
    MessageType.CONNECT_ACKNOWLEDGE: (),
    MessageType.DISCONNECT: (Cause,),
    MessageType.RESTART: (RestartIndicator,),
    MessageType.RELEASE: (),
    MessageType.RESTART_ACKNOWLEDGE: (RestartIndicator,),
    MessageType.RELEASE_COMPLETE: (),
    MessageType.FACILITY: (Facility,),
    MessageType.NOTIFY: (Notification,),
    MessageType.STATUS_ENQUIRY: (),
    MessageType.INFORMATION: (),
    MessageType.STATUS: (Cause, CallState),
}
# Additionally mandatory when the network sends the message (SETUP n→u on a PRI must
# name the channel; from the user its absence means "any channel").
MANDATORY_NETWORK_TO_USER: dict[MessageType, tuple[type[IE], ...]] = {
    MessageType.SETUP: (ChannelIdentification,),
}

# How often an IE may occur in one message (5.8.5.2: later copies are ignored).
# Progress indicator: twice (EN 300 403 SETUP/ALERTING/...); bearer capability twice
# with a repeat indicator; facility and IEs we do not parse: no limit.
MAX_REPEAT: dict[type[IE], int] = {ProgressIndicator: 2, BearerCapability: 2, Facility: 255, UnknownIE: 255}

# Codeset-0 IEs Q.931 / EN 300 403 define that we keep raw: "recognised" (no cause 99).
STANDARD_RAW_IES = frozenset({
    0x00, 0x01, 0x10, 0x20, 0x29, 0x34, 0x40, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x4A,
    0x4D, 0x6D, 0x71, 0x73, 0x74, 0x76, 0x78, 0xA0,
}) | frozenset(range(0xB0, 0xC0)) | frozenset(range(0xD0, 0xE0))


def mandatory_ies(msg_type: MessageType | int, sender: Role | None = None) -> tuple[type[IE], ...]:
    """The IEs a message of this type must carry when sent by ``sender`` (None: either)."""
    try:
        mtype = MessageType(msg_type)
    except ValueError:
        return ()
    required = MANDATORY.get(mtype, ())
    if sender == "network":
        required += MANDATORY_NETWORK_TO_USER.get(mtype, ())
    return required


@dataclass(frozen=True)
class Message:
    """One Q.931 message.

    ``from_originator`` is the inverted call-reference flag: True when the sender is the
    side that allocated the call reference. ``call_ref=0`` is the global call reference,
    ``DUMMY_CALL_REF`` the length-0 dummy one. ``bad_ies`` lists identifiers of
    non-mandatory IEs the decoder dropped for bad contents (answer STATUS cause 100).
    """

    type: MessageType | int
    call_ref: int
    from_originator: bool
    ies: tuple[IE, ...] = ()
    bad_ies: tuple[int, ...] = field(default=())

    def get(self, ie_class: type[_IEType]) -> _IEType | None:
        """The first IE of this class, or None."""
        for ie in self.ies:
            if isinstance(ie, ie_class):
                return ie
        return None

    def get_all(self, ie_class: type[_IEType]) -> tuple[_IEType, ...]:
        return tuple(ie for ie in self.ies if isinstance(ie, ie_class))

    @property
    def unrecognised_ies(self) -> tuple[int, ...]:
        """Codeset-0 IE ids neither parsed nor known to Q.931 (for STATUS cause 99)."""
        return tuple(
            ie.ie_id for ie in self.ies
            if isinstance(ie, UnknownIE) and ie.codeset == 0 and ie.ie_id not in STANDARD_RAW_IES
        )

    @property
    def name(self) -> str:
        """"SETUP", "RELEASE COMPLETE", … (or "0x42" for a type we do not know)."""
        try:
            return MessageType(self.type).name.replace("_", " ")
        except ValueError:
            return f"0x{int(self.type):02X}"

    def __str__(self) -> str:
        ies = ", ".join(repr(ie) for ie in self.ies)
        who = "orig" if self.from_originator else "dest"
        return f"{self.name} cr={self.call_ref}/{who} [{ies}]"


class InvalidMessage(RemoteProtocolError):
    """A message decode_message refused; carries what could be read of it.

    ``call_ref``/``from_originator``/``message_type`` are None when the header itself
    was unreadable (then ``cause`` is None too: ignore the message). ``message`` is the
    message as far as it decoded (bad mandatory IEs left out) for 96/100, so the call
    layer can still act on it (e.g. DISCONNECT without cause → treat as cause 31).
    """

    def __init__(
        self,
        text: str,
        *,
        cause: int | None,
        diagnostic: bytes = b"",
        call_ref: int | None = None,
        from_originator: bool | None = None,
        message_type: int | None = None,
        message: Message | None = None,
    ) -> None:
        super().__init__(text, cause=cause, diagnostic=diagnostic)
        self.call_ref = call_ref
        self.from_originator = from_originator
        self.message_type = message_type
        self.message = message


def _encode_ie(ie: IE) -> bytes:
    ie_id = ie.identifier()
    if ie.is_single_octet():
        return bytes([ie_id])
    contents = ie.encode()
    if len(contents) > 255:
        raise ValueError(f"{type(ie).__name__}: contents longer than 255 octets")
    return bytes([ie_id, len(contents)]) + contents


def encode_message(msg: Message) -> bytes:
    """The message octets: header, codeset-0 IEs in ascending id order, then shifted IEs."""
    out = bytearray([PROTOCOL_DISCRIMINATOR])
    if msg.call_ref == DUMMY_CALL_REF:
        out.append(0)
    else:
        if not 0 <= msg.call_ref <= MAX_CALL_REF:
            raise ValueError(f"call reference must be 0..{MAX_CALL_REF}, not {msg.call_ref}")
        flag = 0x00 if msg.from_originator else 0x80
        out += bytes([CALL_REF_LEN, flag | msg.call_ref >> 8, msg.call_ref & 0xFF])
    if not 0 < int(msg.type) <= 0x7F:
        raise ValueError(f"message type must be 1..127, not {msg.type}")
    out.append(int(msg.type))
    # sorted() is stable: repeated IEs (two progress indicators) keep their order.
    for ie in sorted((ie for ie in msg.ies if ie.codeset == 0), key=lambda ie: ie.identifier()):
        out += _encode_ie(ie)
    locked = 0
    for ie in (ie for ie in msg.ies if ie.codeset != 0):
        if getattr(ie, "locking", False):
            if locked != ie.codeset:
                out.append(0x90 | ie.codeset)
                locked = ie.codeset
        else:
            out.append(0x98 | ie.codeset)
        out += _encode_ie(ie)
    return bytes(out)


@dataclass
class _RawIE:
    ie_id: int
    contents: bytes
    codeset: int
    locking: bool
    truncated: bool = False


def _split_ies(body: bytes) -> list[_RawIE]:
    """Cut the IE part into (id, contents) applying locking / non-locking shifts."""
    items: list[_RawIE] = []
    locked, once = 0, None
    pos = 0
    while pos < len(body):
        octet = body[pos]
        if octet & 0x80:
            pos += 1
            if octet & 0xF0 == 0x90:  # shift: bit 4 set = non-locking
                if octet & 0x08:
                    once = octet & 0x07
                else:
                    locked = octet & 0x07
                continue
            contents, truncated = b"", False
        else:
            if pos + 1 >= len(body):
                contents, truncated = b"", True
                pos = len(body)
            else:
                length = body[pos + 1]
                contents = body[pos + 2 : pos + 2 + length]
                truncated = len(contents) < length
                pos += 2 + length
        codeset = locked if once is None else once
        items.append(_RawIE(octet, contents, codeset, once is None and codeset != 0, truncated))
        once = None
    return items


def _ie_class(item: _RawIE) -> type[IE]:
    return (IE_CLASSES.get(item.ie_id) if item.codeset == 0 else None) or UnknownIE


def _header(data: bytes) -> tuple[int, bool, int]:
    """(call_ref, from_originator, offset of the message type) or InvalidMessage(None)."""
    if len(data) < 3:
        raise InvalidMessage(f"message too short ({len(data)} octets)", cause=None)
    if data[0] != PROTOCOL_DISCRIMINATOR:
        raise InvalidMessage(f"protocol discriminator 0x{data[0]:02X} is not Q.931", cause=None)
    cr_len = data[1]
    if cr_len not in (0, CALL_REF_LEN):  # also rejects bits 8-5 not 0000
        raise InvalidMessage(f"call reference length octet 0x{cr_len:02X} is not PRI", cause=None)
    if len(data) < 3 + cr_len:
        raise InvalidMessage("message too short for its call reference", cause=None)
    if cr_len == 0:
        return DUMMY_CALL_REF, True, 2
    call_ref = (data[2] & 0x7F) << 8 | data[3]
    return call_ref, not data[2] & 0x80, 4


def decode_message(data: bytes, *, sender: Role | None = None) -> Message:
    """Parse one Q.931 message; raises InvalidMessage (a RemoteProtocolError).

    ``sender`` is the role of the side that sent it ("network" when we are the user),
    which decides the direction-specific mandatory IEs; None checks only the common ones.
    """
    call_ref, from_originator, pos = _header(bytes(data))
    raw_type = data[pos]
    context = {"call_ref": call_ref, "from_originator": from_originator, "message_type": raw_type}
    try:
        mtype = MessageType(raw_type)
    except ValueError:
        raise InvalidMessage(
            f"message type 0x{raw_type:02X} non-existent or not implemented",
            cause=MESSAGE_TYPE_NONEXISTENT, **context,
        ) from None
    required = mandatory_ies(mtype, sender)
    ies: list[IE] = []
    counts: dict[type[IE], int] = {}
    bad: list[int] = []
    bad_mandatory: list[int] = []
    comprehension: list[int] = []
    for item in _split_ies(bytes(data[pos + 1 :])):
        cls = _ie_class(item)
        if counts.get(cls, 0) >= MAX_REPEAT.get(cls, 1):
            continue  # 5.8.5.2: only the first occurrence counts
        try:
            if item.truncated:
                raise RemoteProtocolError("IE runs past the end of the message", cause=INVALID_IE_CONTENTS)
            ie = decode_ie(item.ie_id, item.contents, item.codeset, item.locking)
        except RemoteProtocolError:
            (bad_mandatory if cls in required else bad).append(item.ie_id)
            continue
        if cls is UnknownIE and item.codeset == 0 and item.ie_id < 0x10:
            if item.ie_id not in STANDARD_RAW_IES:
                comprehension.append(item.ie_id)  # ids 0000xxxx: "comprehension required"
        counts[cls] = counts.get(cls, 0) + 1
        ies.append(ie)
    msg = Message(mtype, call_ref, from_originator, tuple(ies), tuple(bad))
    missing = [cls.IE_ID for cls in required if counts.get(cls, 0) == 0 and cls.IE_ID not in bad_mandatory]
    if missing or comprehension:
        ids = bytes(missing + comprehension)
        raise InvalidMessage(
            f"{msg.name}: mandatory IE missing / not understood: {ids.hex()}",
            cause=MANDATORY_IE_MISSING, diagnostic=ids, message=msg, **context,
        )
    bad_mandatory = [cls.IE_ID for cls in required if counts.get(cls, 0) == 0 and cls.IE_ID in bad_mandatory]
    if bad_mandatory:
        ids = bytes(bad_mandatory)
        raise InvalidMessage(
            f"{msg.name}: mandatory IE with invalid contents: {ids.hex()}",
            cause=INVALID_IE_CONTENTS, diagnostic=ids, message=msg, **context,
        )
    return msg


__all__ = [
    "PROTOCOL_DISCRIMINATOR", "CALL_REF_LEN", "GLOBAL_CALL_REF", "DUMMY_CALL_REF", "MAX_CALL_REF",
    "MessageType", "Message", "InvalidMessage", "MANDATORY", "MANDATORY_NETWORK_TO_USER",
    "MAX_REPEAT", "STANDARD_RAW_IES", "mandatory_ies", "encode_message", "decode_message",
]
