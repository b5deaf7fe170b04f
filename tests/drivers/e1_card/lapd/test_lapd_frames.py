"""Q.921 frame codec: byte vectors worked out from the bit layouts, C/R rule, errors.

How each vector is built (Q.921 3.2-3.4; bit 1 = least significant):
address octet 1 = SAPI << 2 | C/R << 1 | EA0(0); octet 2 = TEI << 1 | EA1(1).
C/R (Table 1): command network->user 1, user->network 0; responses the opposite.
U control = MMM P/F MM 11: SABME 011P1111 = 0x6F (+0x10 P), UA 011F0011 = 0x63,
DM 000F1111 = 0x0F, DISC 010P0011 = 0x43, UI 000P0011 = 0x03, FRMR 100F0111 = 0x87,
XID 101P1111 = 0xAF. S control = 0000 SS 01 then N(R) << 1 | P/F: RR SS=00 0x01,
RNR SS=01 0x05, REJ SS=10 0x09. I control = N(S) << 1 | 0 then N(R) << 1 | P.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.e1_card.errors import LocalProtocolError, RemoteProtocolError
from drivers.e1_card.lapd.frames import (
    COMMAND_ONLY,
    RESPONSE_ONLY,
    SUPERVISORY,
    WITH_INFO,
    Frame,
    FrameError,
    FrameKind,
    FrmrInfo,
    decode_frame,
    encode_frame,
)

K = FrameKind
# (sender role, frame, octets): each worked out by hand from the layouts above.
VECTORS = [
    ("user", Frame(0, True, 0, K.SABME, True), "00 01 7f"),  # user command: C/R 0
    ("network", Frame(0, True, 0, K.SABME, True), "02 01 7f"),  # network command: C/R 1
    ("network", Frame(0, False, 0, K.UA, True), "00 01 73"),  # network response: C/R 0
    ("user", Frame(0, False, 0, K.UA, True), "02 01 73"),  # user response: C/R 1
    ("user", Frame(0, False, 0, K.UA, False), "02 01 63"),
    ("user", Frame(0, False, 0, K.DM, True), "02 01 1f"),
    ("network", Frame(0, False, 0, K.DM, False), "00 01 0f"),
    ("user", Frame(0, True, 0, K.DISC, True), "00 01 53"),
    ("network", Frame(0, True, 0, K.DISC, True), "02 01 53"),
    # RR command P=1 N(R)=5 from the network: 02 01 | 01 | 5<<1|1 = 0b
    ("network", Frame(0, True, 0, K.RR, True, None, 5), "02 01 01 0b"),
    # the same octets from the user mean an RR *response* F=1 (user response: C/R 1)
    ("user", Frame(0, False, 0, K.RR, True, None, 5), "02 01 01 0b"),
    ("network", Frame(0, False, 0, K.RR, False, None, 0), "00 01 01 00"),
    ("user", Frame(0, True, 0, K.RNR, False, None, 127), "00 01 05 fe"),  # 127<<1 = fe
    ("network", Frame(0, False, 0, K.REJ, True, None, 64), "00 01 09 81"),  # 64<<1|1 = 81
    # I N(S)=3 N(R)=7 P=0 from the user: 3<<1 = 06, 7<<1 = 0e, then the Q.931 octets
    ("user", Frame(0, True, 0, K.I, False, 3, 7, bytes.fromhex("08 02 00 01 05")),
     "00 01 06 0e 08 02 00 01 05"),
    ("network", Frame(0, True, 0, K.I, True, 127, 0), "02 01 fe 01"),
    # UI on the broadcast data link (TEI 127: 127<<1|1 = ff) from the network
    ("network", Frame(0, True, 127, K.UI, False, info=b"\x08"), "02 ff 03 08"),
    # TEI management (SAPI 63: 63<<2 = fc; network command C/R 1 -> fe), identity check
    ("network", Frame(63, True, 127, K.UI, False, info=bytes.fromhex("0f 00 00 04 ff")),
     "fe ff 03 0f 00 00 04 ff"),
    ("network", Frame(0, False, 0, K.FRMR, True, info=bytes.fromhex("01 0a 00 0c 08")),
     "00 01 97 01 0a 00 0c 08"),
    ("user", Frame(0, True, 0, K.XID, False, info=b"\x82\x80"), "00 01 af 82 80"),
]


@pytest.mark.parametrize(("sender", "frame", "octets"), VECTORS,
                         ids=[f"{s}-{f.summary()}" for s, f, _ in VECTORS])
def test_vectors_encode_and_decode(sender: str, frame: Frame, octets: str) -> None:
    data = bytes.fromhex(octets)
    assert encode_frame(frame, sender) == data
    receiver = "network" if sender == "user" else "user"
    assert decode_frame(data, receiver) == frame


def test_the_same_octets_mean_command_or_response_by_direction() -> None:
    rr = bytes.fromhex("02 01 01 0b")  # C/R = 1
    assert decode_frame(rr, "user").command is True  # from the network: a command
    assert decode_frame(rr, "network").command is False  # from the user: a response


kinds = st.sampled_from(list(FrameKind))


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    kind = draw(kinds)
    if kind in COMMAND_ONLY:
        command = True
    elif kind in RESPONSE_ONLY:
        command = False
    else:
        command = draw(st.booleans())
    seq = st.integers(0, 127)
    ns = draw(seq) if kind is K.I else None
    nr = draw(seq) if kind is K.I or kind in SUPERVISORY else None
    if kind is K.FRMR:
        info = draw(st.binary(min_size=5, max_size=5))
    elif kind in WITH_INFO:
        info = draw(st.binary(max_size=260))
    else:
        info = b""
    return Frame(draw(st.integers(0, 63)), command, draw(st.integers(0, 127)), kind, draw(st.booleans()),
                 ns, nr, info)


@given(frames(), st.sampled_from(["user", "network"]))
def test_round_trip_both_roles(frame: Frame, sender: str) -> None:
    data = encode_frame(frame, sender)
    receiver = "network" if sender == "user" else "user"
    assert decode_frame(data, receiver) == frame
    cr = bool(data[0] & 0x02)
    assert cr == (frame.command if sender == "network" else not frame.command)
    assert data[0] & 0x01 == 0 and data[1] & 0x01 == 1


@given(st.binary(max_size=300), st.sampled_from(["user", "network"]))
def test_decode_never_raises_anything_but_frame_error(data: bytes, role: str) -> None:
    try:
        frame = decode_frame(data, role)
    except FrameError as exc:
        assert exc.mdl_code in "LMNO"
        assert isinstance(exc, RemoteProtocolError)
    else:  # what decodes re-encodes to the same octets
        sender = "network" if role == "user" else "user"
        assert encode_frame(frame, sender) == data


@pytest.mark.parametrize(("octets", "code", "invalid"), [
    ("", "N", True),
    ("00 01", "N", True),  # no control field
    ("01 01 7f", "N", True),  # EA0 = 1: one-octet address
    ("00 00 7f", "N", True),  # EA1 = 0: address would go on
    ("02 01 00", "N", True),  # I frame cut after its first control octet
    ("02 01 01", "N", True),  # RR without N(R)
    ("02 01 0d 00", "L", False),  # S frame with SS = 11 (SREJ is not LAPD)
    ("02 01 11 00", "L", False),  # S frame with reserved bits set
    ("02 01 0b", "L", False),  # U 0000 1011: no such frame
    ("02 01 e3", "L", False),  # U 1110 0011: no such frame
    ("00 01 7f", "L", False),  # SABME with the user's C/R bit, received by the user
    ("02 01 73", "L", False),  # UA as a command, received by the user
    ("00 01 00 00", "L", False),  # I frame as a response (network C/R 0)
    ("02 01 01 0b 00", "M", False),  # RR with an information field
    ("02 01 7f 00", "M", False),  # SABME with an information field
    ("00 01 87 00 00", "N", False),  # FRMR with 2 octets instead of 5
    ("02 01 00 00" + " 00" * 261, "O", False),  # I frame one octet above N201
    ("02 01 03" + " 00" * 261, "O", False),  # UI likewise
])
def test_invalid_frames_and_frame_rejection(octets: str, code: str, invalid: bool) -> None:
    with pytest.raises(FrameError) as caught:
        decode_frame(bytes.fromhex(octets), "user")
    assert caught.value.mdl_code == code
    assert caught.value.invalid is invalid


def test_i_frame_of_exactly_n201_octets_is_accepted_and_n201_is_a_parameter() -> None:
    data = bytes.fromhex("02 01 00 00") + bytes(260)
    assert len(decode_frame(data, "user").info) == 260
    with pytest.raises(FrameError, match="N201=100"):
        decode_frame(data, "user", n201=100)


def test_frame_error_keeps_what_an_frmr_needs() -> None:
    with pytest.raises(FrameError) as caught:
        decode_frame(bytes.fromhex("02 01 01 0b 00"), "user")  # RR P=1 command + junk
    err = caught.value
    assert (err.sapi, err.tei, err.command, err.pf, err.control) == (0, 0, True, True, b"\x01\x0b")


@pytest.mark.parametrize("frame", [
    Frame(0, False, 0, K.SABME, True),  # SABME is a command
    Frame(0, True, 0, K.UA, True),  # UA is a response
    Frame(0, True, 0, K.I, False, None, 0),  # I without N(S)
    Frame(0, True, 0, K.RR, False, 1, 0),  # RR with N(S)
    Frame(0, True, 0, K.RR, False, None, 128),  # N(R) out of range
    Frame(0, True, 0, K.DISC, True, None, 3),  # U frame with N(R)
    Frame(0, True, 0, K.DISC, True, info=b"x"),  # DISC with information
    Frame(64, True, 0, K.SABME, True),  # SAPI out of range
    Frame(0, True, 128, K.SABME, True),  # TEI out of range
])
def test_encode_refuses_frames_q921_does_not_define(frame: Frame) -> None:
    with pytest.raises(LocalProtocolError, match=frame.kind.value):
        encode_frame(frame, "user")


def test_encode_checks_role() -> None:
    with pytest.raises(ValueError, match="role"):
        encode_frame(Frame(0, True, 0, K.SABME, True), "carrier")  # type: ignore[arg-type]


def test_frmr_information_field_layout() -> None:
    # Rejected RR command (control 01 0b), our V(S)=5 V(R)=6, W+X set:
    # 01 0b | 5<<1 = 0a | 6<<1|C/R(0, a command) = 0c | W=bit1 X=bit2 -> 03
    info = FrmrInfo(b"\x01\x0b", 5, 6, rejected_response=False, w=True, x=True)
    assert info.encode() == bytes.fromhex("01 0b 0a 0c 03")
    assert FrmrInfo.decode(info.encode()) == info
    # A U frame's control is one octet, padded; Y = bit 3, Z = bit 4; C/R 1 = response
    assert FrmrInfo(b"\x63", 0, 127, True, y=True, z=True).encode() == bytes.fromhex("63 00 00 ff 0c")
    with pytest.raises(RemoteProtocolError):
        FrmrInfo.decode(b"\x00\x00\x00")


def test_summary_names_the_fields() -> None:
    assert Frame(0, True, 0, K.I, True, 3, 7, b"abc").summary() == "I N(S)=3 N(R)=7 P cmd 3B"
    assert Frame(0, False, 0, K.UA, True).summary() == "UA F rsp"
    assert "TEI=127" in Frame(0, True, 127, K.UI).summary()
