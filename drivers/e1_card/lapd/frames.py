"""Q.921 (LAPD) frame codec: address + control + information, without flags and FCS.

Bit 1 is the least significant bit of an octet (Q.921 2.8). Layouts:

* address (3.2, Figure 5): octet 1 = SAPI (bits 8-3) | C/R (bit 2) | EA0 = 0 (bit 1);
  octet 2 = TEI (bits 8-2) | EA1 = 1 (bit 1). Only the two-octet address exists.
* control, modulo 128 (3.4, Table 5):
  I: ``N(S) << 1 | 0`` then ``N(R) << 1 | P``;
  S: ``0000 SS 01`` then ``N(R) << 1 | P/F`` -- RR 0x01, RNR 0x05, REJ 0x09;
  U: one octet ``MMM P/F MM 11`` -- SABME 0x6F, DM 0x0F, UI 0x03, DISC 0x43, UA 0x63,
  FRMR 0x87, XID 0xAF, each + 0x10 when P/F is set.
* C/R (Table 1): a command from the network has C/R = 1, from the user C/R = 0;
  responses the opposite. ``Frame.command`` carries the meaning, not the bit.

``encode_frame(frame, role)``: role is the sender (our side). ``decode_frame(data, role)``:
role is the receiver (our side); the frame came from the peer, which plays the other role.

Decoding errors raise ``FrameError`` (a ``RemoteProtocolError``) with the MDL-ERROR code
of Q.921 Appendix II: frames Q.921 2.9 calls invalid (too short, wrong address
extension bits) have ``invalid=True`` and are simply discarded by the data link; the
frame rejection conditions of 5.8.5 (undefined control field 'L', information field not
permitted 'M', wrong length 'N', information field above N201 'O') have
``invalid=False`` and make an established link re-establish.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from drivers.e1_card.errors import LocalProtocolError, RemoteProtocolError
from drivers.e1_card.roles import Role, check_role

SAPI_CALL_CONTROL: Final = 0
SAPI_MANAGEMENT: Final = 63  # TEI management (not used on PRI, decoded all the same)
TEI_PTP: Final = 0
TEI_GROUP: Final = 127  # broadcast data link
N201: Final = 260  # maximum octets in an information field (Q.921 5.9.3)
MODULUS: Final = 128  # extended (modulo 128) sequence numbers


class FrameKind(Enum):
    I = "I"  # noqa: E741 -- the frame is called I in Q.921
    RR = "RR"
    RNR = "RNR"
    REJ = "REJ"
    SABME = "SABME"
    DM = "DM"
    UI = "UI"
    DISC = "DISC"
    UA = "UA"
    FRMR = "FRMR"
    XID = "XID"


SUPERVISORY: Final = frozenset({FrameKind.RR, FrameKind.RNR, FrameKind.REJ})
# Control octet of each U frame with the P/F bit clear.
_U_CONTROL: Final = {
    FrameKind.SABME: 0x6F,
    FrameKind.DM: 0x0F,
    FrameKind.UI: 0x03,
    FrameKind.DISC: 0x43,
    FrameKind.UA: 0x63,
    FrameKind.FRMR: 0x87,
    FrameKind.XID: 0xAF,
}
_U_KIND: Final = {octet: kind for kind, octet in _U_CONTROL.items()}
_S_CONTROL: Final = {FrameKind.RR: 0x01, FrameKind.RNR: 0x05, FrameKind.REJ: 0x09}
_S_KIND: Final = {octet: kind for kind, octet in _S_CONTROL.items()}
_PF_BIT: Final = 0x10
# Which frames are only commands, only responses (Q.921 Table 5); the rest are either.
COMMAND_ONLY: Final = frozenset({FrameKind.I, FrameKind.SABME, FrameKind.DISC, FrameKind.UI})
RESPONSE_ONLY: Final = frozenset({FrameKind.UA, FrameKind.DM, FrameKind.FRMR})
WITH_INFO: Final = frozenset({FrameKind.I, FrameKind.UI, FrameKind.FRMR, FrameKind.XID})
FRMR_INFO_LENGTH: Final = 5  # modulo-128 FRMR information field (Figure 6)


@dataclass(frozen=True)
class Frame:
    """One LAPD frame. ``command`` is the C/R meaning after the role rule (True = command)."""

    sapi: int
    command: bool
    tei: int
    kind: FrameKind
    pf: bool = False
    ns: int | None = None
    nr: int | None = None
    info: bytes = b""

    def summary(self) -> str:
        """Short text for logs, e.g. ``I N(S)=3 N(R)=7 P cmd 12B``."""
        parts = [self.kind.value]
        if self.ns is not None:
            parts.append(f"N(S)={self.ns}")
        if self.nr is not None:
            parts.append(f"N(R)={self.nr}")
        if self.pf:
            parts.append("P" if self.command else "F")
        parts.append("cmd" if self.command else "rsp")
        if self.sapi != SAPI_CALL_CONTROL or self.tei != TEI_PTP:
            parts.append(f"SAPI={self.sapi} TEI={self.tei}")
        if self.info:
            parts.append(f"{len(self.info)}B")
        return " ".join(parts)


class FrameError(RemoteProtocolError):
    """A received frame Q.921 does not accept (2.9 invalid, or 5.8.5 frame rejection).

    ``mdl_code`` is the MDL-ERROR code ('L', 'M', 'N', 'O'); ``sapi``/``tei`` are None
    when the address could not be read; ``control`` holds the control octets seen (for
    an FRMR's "rejected frame control field"); ``command``/``pf`` as far as known.
    """

    def __init__(
        self,
        message: str,
        *,
        mdl_code: str,
        invalid: bool = False,
        sapi: int | None = None,
        tei: int | None = None,
        command: bool | None = None,
        pf: bool = False,
        control: bytes = b"",
    ) -> None:
        super().__init__(message)
        self.mdl_code = mdl_code
        self.invalid = invalid
        self.sapi = sapi
        self.tei = tei
        self.command = command
        self.pf = pf
        self.control = control


@dataclass(frozen=True)
class FrmrInfo:
    """The 5-octet FRMR information field of modulo-128 operation (Q.921 Figure 6).

    ``control``: the rejected frame's control field (2 octets; a U frame's second octet
    is 0). ``rejected_response``: the C/R bit, 1 when the rejected frame was a response.
    W: undefined control field; X: information field not permitted or wrong length (set
    together with W); Y: information field too long; Z: invalid N(R).
    """

    control: bytes
    vs: int
    vr: int
    rejected_response: bool
    w: bool = False
    x: bool = False
    y: bool = False
    z: bool = False

    def encode(self) -> bytes:
        control = (self.control + b"\x00\x00")[:2]
        flags = self.w | self.x << 1 | self.y << 2 | self.z << 3
        return control + bytes([(self.vs % MODULUS) << 1, (self.vr % MODULUS) << 1 | self.rejected_response,
                                flags])

    @classmethod
    def decode(cls, info: bytes) -> FrmrInfo:
        if len(info) != FRMR_INFO_LENGTH:
            raise RemoteProtocolError(f"FRMR information field of {len(info)} octets, expected 5")
        flags = info[4]
        return cls(info[:2], info[2] >> 1, info[3] >> 1, bool(info[3] & 1),
                   bool(flags & 1), bool(flags & 2), bool(flags & 4), bool(flags & 8))


def _cr_bit(command: bool, sender: Role) -> int:
    return int(command) if sender == "network" else int(not command)


def _check_encodable(frame: Frame) -> None:
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise LocalProtocolError(f"cannot encode {frame.kind.value} frame: {what}")

    need(0 <= frame.sapi < 64, f"SAPI {frame.sapi} is not 0..63")
    need(0 <= frame.tei < 128, f"TEI {frame.tei} is not 0..127")
    sequenced = frame.kind is FrameKind.I
    need((frame.ns is not None) == sequenced, "N(S) belongs to I frames only")
    if sequenced or frame.kind in SUPERVISORY:
        need(frame.nr is not None and 0 <= frame.nr < MODULUS, f"N(R) {frame.nr} is not 0..127")
    else:
        need(frame.nr is None, "U frames carry no N(R)")
    if frame.ns is not None:
        need(0 <= frame.ns < MODULUS, f"N(S) {frame.ns} is not 0..127")
    need(frame.kind in WITH_INFO or not frame.info, "no information field allowed")
    need(frame.command or frame.kind not in COMMAND_ONLY, "it is always a command")
    need(not frame.command or frame.kind not in RESPONSE_ONLY, "it is always a response")


def encode_frame(frame: Frame, role: Role) -> bytes:
    """The frame's octets as ``role`` (the sending side) transmits them, without FCS."""
    check_role(role)
    _check_encodable(frame)
    address = bytes([frame.sapi << 2 | _cr_bit(frame.command, role) << 1, frame.tei << 1 | 1])
    if frame.kind is FrameKind.I:
        assert frame.ns is not None and frame.nr is not None
        control = bytes([frame.ns << 1, frame.nr << 1 | frame.pf])
    elif frame.kind in SUPERVISORY:
        assert frame.nr is not None
        control = bytes([_S_CONTROL[frame.kind], frame.nr << 1 | frame.pf])
    else:
        control = bytes([_U_CONTROL[frame.kind] | (_PF_BIT if frame.pf else 0)])
    return address + control + bytes(frame.info)


def decode_frame(data: bytes, role: Role, *, n201: int = N201) -> Frame:
    """Decode a frame received by ``role`` (so sent by the other side); see FrameError."""
    check_role(role)
    data = bytes(data)
    if len(data) < 3:
        raise FrameError(f"frame of {len(data)} octets is shorter than address + control",
                         mdl_code="N", invalid=True)
    if data[0] & 0x01 or not data[1] & 0x01:
        raise FrameError(f"address field extension bits wrong ({data[:2].hex(' ')}): not a "
                         "two-octet address", mdl_code="N", invalid=True)
    sapi, tei = data[0] >> 2, data[1] >> 1
    cr = bool(data[0] & 0x02)
    command = cr if role == "user" else not cr  # the peer's Table 1 rule, read back
    c1 = data[2]

    def reject(what: str, code: str, *, pf: bool = False, control: bytes = data[2:4],
               invalid: bool = False) -> FrameError:
        return FrameError(what, mdl_code=code, invalid=invalid, sapi=sapi, tei=tei,
                          command=command, pf=pf, control=control)

    if not c1 & 0x01:  # I format
        if len(data) < 4:
            raise reject("I frame without its second control octet", "N", invalid=True)
        pf = bool(data[3] & 0x01)
        if not command:
            raise reject("I frame sent as a response (C/R bit): undefined", "L", pf=pf)
        info = data[4:]
        if len(info) > n201:
            raise reject(f"I frame information field of {len(info)} octets exceeds N201={n201}",
                         "O", pf=pf)
        return Frame(sapi, True, tei, FrameKind.I, pf, c1 >> 1, data[3] >> 1, info)
    if c1 & 0x03 == 0x01:  # S format
        if len(data) < 4:
            raise reject("supervisory frame without its second control octet", "N", invalid=True)
        pf = bool(data[3] & 0x01)
        kind = _S_KIND.get(c1)
        if kind is None:
            raise reject(f"undefined supervisory control field 0x{c1:02x}", "L")
        if len(data) > 4:
            raise reject(f"{kind.value} frame with a {len(data) - 4}-octet information field",
                         "M", pf=pf)
        return Frame(sapi, command, tei, kind, pf, None, data[3] >> 1)
    pf = bool(c1 & _PF_BIT)  # U format
    control = bytes([c1, 0])
    kind = _U_KIND.get(c1 & ~_PF_BIT)
    if kind is None:
        raise reject(f"undefined unnumbered control field 0x{c1:02x}", "L", control=control)
    if (kind in COMMAND_ONLY and not command) or (kind in RESPONSE_ONLY and command):
        side = "command" if command else "response"
        raise reject(f"{kind.value} sent as a {side} (C/R bit): undefined -- do both ends "
                     "play the same role?", "L", control=control)
    info = data[3:]
    if kind is FrameKind.FRMR and len(info) != FRMR_INFO_LENGTH:
        raise reject(f"FRMR with a {len(info)}-octet information field (5 expected)", "N",
                     pf=pf, control=control)
    if kind not in WITH_INFO and info:
        raise reject(f"{kind.value} frame with a {len(info)}-octet information field", "M",
                     pf=pf, control=control)
    if len(info) > n201:
        raise reject(f"{kind.value} information field of {len(info)} octets exceeds N201={n201}",
                     "O", pf=pf, control=control)
    return Frame(sapi, command, tei, kind, pf, None, None, info)
