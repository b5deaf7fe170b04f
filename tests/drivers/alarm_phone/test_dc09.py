"""SIA DC-09 receiver and transmitter cores: framing, crypto, decisions, supervision."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.dc09 import (
    Dc09Message,
    Dc09Receiver,
    Dc09Transmitter,
    LocalProtocolError,
    Poll,
    Rejected,
    RemoteProtocolError,
    build_frame,
    crc16,
    format_timestamp,
    parse_adm_cid,
    parse_sia_dcs,
    parse_timestamp,
)
from drivers.alarm_phone.dc09.crypto import decrypt_hex, encrypt_hex, parse_key, split_pad

NOW = 1_708_462_800.0  # 2024-02-20 21:00:00 UTC
KEY128 = "00112233445566778899AABBCCDDEEFF"
KEY192 = KEY128 + "0123456789ABCDEF"
KEY256 = KEY128 * 2
BURGLARY = ContactIdMessage("1234", "18", 1, "401", "01", "015")

# Frames captured from real panels (published in an open-source receiver's comments):
# hex CRC (PROSEC, Hikvision) and 2-byte binary CRC, most significant byte first (OPAX).
REAL_HEX = [
    b'B0970029"NULL"0000L000#0809[]_21:00:01,02-20-2024',
    b'F68B003B"ADM-CID"0028L0#9757[#9757|1602 00 000]_20:59:45,02-20-2024',
    b'B4330036"SIA-DCS"0442L000#36214[36214|NRP]_00:00:00,02-21-2024',
    b'3F60003C"SIA-DCS"0001L0#51449[#51449|Nri0000/LR]_21:26:19,12-20-2023',
    b'7B620035"SIA-DCS"0005L000#3044[3044|NOP1]_00:03:31,12-21-2023',
    b'99820040"ADM-CID"1937R15L1#21401[#21401|1602 00 000]_20:59:59,02-20-2024',
    b'F92F0043"ADM-CID"0020R7896L7896#3456[#3456|1407 00 001]_17:01:14,07-26-2024',
]
REAL_BINARY = [
    b'\xc5\x5b002A"NULL"0000R8L0#41213[]_21:00:10,02-20-2024',
    b'\xc1\x7e003E"ADM-CID"0379R0L0#10064[10064|1602 00 000]_00:00:43,02-21-2024',
]


def fixed_pad(n: int) -> str:
    return "P" * n


def frame_time(raw: bytes) -> float:
    stamp = parse_timestamp(raw[raw.rindex(b"_") : -1].decode() if raw.endswith(b"\r") else "")
    assert stamp is not None
    return stamp


def drain(rx: Dc09Receiver) -> list:
    out = []
    while (ev := rx.next_event()) is not None:
        out.append(ev)
    return out


# -- CRC, framing, timestamps -----------------------------------------------------------


def test_crc16_arc_check_value():
    assert crc16(b"123456789") == 0xBB3D
    assert crc16(b"") == 0


@pytest.mark.parametrize("line", REAL_HEX)
def test_real_hex_crc_frames_are_accepted(line):
    raw = b"\n" + line + b"\r"
    assert crc16(line[8:]) == int(line[:4], 16)
    [ev] = Dc09Receiver().receive_datagram(raw, frame_time(raw) + 5)
    assert isinstance(ev, Dc09Message | Poll)
    assert ev.response.startswith(b"\n") and b'"ACK"' in ev.response


@pytest.mark.parametrize("line", REAL_BINARY)
def test_real_binary_crc_frames_are_accepted_and_answered_in_binary(line):
    raw = b"\n" + line + b"\r"
    [ev] = Dc09Receiver().receive_datagram(raw, frame_time(raw))
    assert isinstance(ev, Dc09Message | Poll)
    ack = ev.response
    assert ack[7:8] == b'"'  # binary CRC in the reply too
    assert int.from_bytes(ack[1:3], "big") == crc16(ack[7:-1])


def test_real_frames_decode():
    rx = Dc09Receiver()
    adm = b"\n" + REAL_HEX[6] + b"\r"
    [msg] = rx.receive_datagram(adm, frame_time(adm))
    assert msg.contact_id == ContactIdMessage("3456", "18", 1, "407", "00", "001")
    assert (msg.receiver, msg.prefix, msg.account, msg.seq) == ("7896", "7896", "3456", "0020")
    sia = b"\n" + REAL_HEX[3] + b"\r"
    [msg] = rx.receive_datagram(sia, frame_time(sia))
    assert (msg.sia.code, msg.sia.ri) == ("LR", "0000")
    op = b"\n" + REAL_HEX[4] + b"\r"
    [msg] = rx.receive_datagram(op, frame_time(op))
    assert (msg.sia.code, msg.sia.zone) == ("OP", "1")
    opax = b"\n" + REAL_BINARY[1] + b"\r"
    [msg] = rx.receive_datagram(opax, frame_time(opax))
    assert msg.contact_id.event_code == "602" and msg.contact_id.account == "10064"


def test_timestamp_round_trip():
    assert format_timestamp(NOW) == "_21:00:00,02-20-2024"
    assert parse_timestamp("_21:00:00,02-20-2024") == NOW
    assert parse_timestamp("_25:00:00,02-20-2024") is None
    assert parse_timestamp("21:00:00,02-20-2024") is None


def test_build_frame_length_and_crc():
    body = b'"NULL"0000R0L0#1234[]'
    frame = build_frame(body)
    assert frame == b"\n" + b"%04X" % crc16(body) + b"%04X" % len(body) + body + b"\r"
    assert build_frame(body, "binary")[1:3] == crc16(body).to_bytes(2, "big")


# -- payloads ---------------------------------------------------------------------------


def test_sia_dcs_blocks():
    ev = parse_sia_dcs("#1234|Nri1/BA201")
    assert (ev.code, ev.zone, ev.ri, ev.new) == ("BA", "201", "1", True)
    ev = parse_sia_dcs("#123456|Nri1CL0^VX FRONTE ^")
    assert (ev.code, ev.zone, ev.ri, ev.text) == ("CL", "0", "1", "VX FRONTE")
    ev = parse_sia_dcs("Nti12:30/id7/ri2/OP001")
    assert (ev.code, ev.zone, ev.ri, ev.ti, ev.id) == ("OP", "001", "2", "12:30", "7")
    assert parse_sia_dcs("NRP").code == "RP"
    assert parse_sia_dcs("|Nri1/CL501").code == "CL"
    assert parse_sia_dcs("hello") is None


def test_adm_cid_blocks():
    assert parse_adm_cid("#1234|1401 01 015", None) == BURGLARY
    assert parse_adm_cid("|1401 01 015", "1234") == BURGLARY
    assert parse_adm_cid("1234|3401 01 015", None).qualifier == 3
    assert parse_adm_cid("#AAA|1130 01 003", None).account == "0AAA"
    assert parse_adm_cid("#1234|9401 01 015", None) is None
    assert parse_adm_cid("#1234|garbage", None) is None


# -- crypto -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", [KEY128, KEY192, KEY256, b"AAAAAAAAAAAAAAAA"])
def test_encrypt_pads_at_front_with_separator(key):
    raw = parse_key(key)
    text = "#1234|Nri1/BA201]_21:00:00,02-20-2024"
    hex_text = encrypt_hex(raw, text, fixed_pad)
    plain = decrypt_hex(raw, hex_text)
    assert len(plain) % 16 == 0
    pad_len = len(plain) - len(text) - 1
    assert 1 <= pad_len <= 16
    assert plain == b"P" * pad_len + b"|" + text.encode()
    assert split_pad(plain) == text.encode()


def test_bad_keys_are_local_errors():
    with pytest.raises(LocalProtocolError, match="'9'"):
        Dc09Receiver(keys={"9": "0011"})
    with pytest.raises(LocalProtocolError):
        parse_key("not hex at all!!")
    with pytest.raises(LocalProtocolError):
        Dc09Transmitter("12", key=KEY128)


# -- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("crc_form", ["hex", "binary"])
@pytest.mark.parametrize("key", [None, KEY128, KEY192, KEY256])
def test_round_trip(crc_form, key):
    tx = Dc09Transmitter("1234", key=key, receiver="12", prefix="3", crc_form=crc_form)
    rx = Dc09Receiver(keys={"1234": key} if key else {})
    frames = [
        tx.adm_cid(BURGLARY, NOW),
        tx.sia_dcs("Nri1/BA201", NOW, extended=("X116.4", "Y39.9")),
        tx.null(NOW),
    ]
    evs = [ev for f in frames for ev in rx.receive_datagram(f, NOW + 3)]
    adm, sia, poll = evs
    assert isinstance(adm, Dc09Message) and adm.contact_id == BURGLARY and adm.recognised
    assert adm.encrypted is (key is not None) and adm.timestamp == NOW
    assert (adm.seq, adm.receiver, adm.prefix, adm.account) == ("0001", "12", "3", "1234")
    assert sia.sia.code == "BA" and sia.extended == ("X116.4", "Y39.9") and sia.seq == "0002"
    assert isinstance(poll, Poll) and poll.account == "1234" and poll.now == NOW + 3
    for ev, seq in ((adm, "0001"), (sia, "0002"), (poll, "0000")):
        reply = tx.parse_response(ev.response)
        assert reply.kind == "ACK" and reply.matches(seq) and reply.encrypted is (key is not None)
        assert reply.receiver_time == NOW + 3
        assert (reply.receiver, reply.prefix, reply.account) == ("12", "3", "1234")


def test_tcp_stream_split_and_coalesced():
    tx = Dc09Transmitter("1234", key=KEY128, crc_form="binary")
    frames = [tx.adm_cid(BURGLARY, NOW) for _ in range(5)] + [tx.null(NOW)]
    stream = b"".join(frames)
    rx = Dc09Receiver(keys={"1234": KEY128})
    for i in range(0, len(stream), 7):
        rx.receive_data(stream[i : i + 7], NOW)
    evs = drain(rx)
    assert [type(e) for e in evs] == [Dc09Message] * 5 + [Poll]
    assert [e.seq for e in evs[:5]] == ["0001", "0002", "0003", "0004", "0005"]
    rx.receive_data(b"\r\n" + stream + b"\n", NOW)  # stray line ends are ignored
    assert len(drain(rx)) == 6


def test_binary_crc_bytes_that_are_lf_or_cr_do_not_break_framing():
    seen = set()
    for n in range(400):
        tx = Dc09Transmitter("1234", crc_form="binary", first_seq=n + 1)
        frame = tx.sia_dcs("Nri1/BA201", NOW)
        if b"\n" in frame[1:3] or b"\r" in frame[1:3]:
            rx = Dc09Receiver()
            rx.receive_data(frame[:2], NOW)
            rx.receive_data(frame[2:] + frame, NOW)
            evs = drain(rx)
            assert len(evs) == 2 and all(isinstance(e, Dc09Message) for e in evs)
            seen.add(n)
    assert seen  # at least one such CRC was exercised


# -- decisions --------------------------------------------------------------------------


def test_crc_error_is_ignored_without_response():
    frame = bytearray(Dc09Transmitter("1234").adm_cid(BURGLARY, NOW))
    frame[-5] ^= 1  # flip a bit in the timestamp
    [ev] = Dc09Receiver().receive_datagram(bytes(frame), NOW)
    assert isinstance(ev, Rejected) and ev.response is None and "CRC" in ev.reason


def test_length_error_is_ignored_without_response():
    frame = Dc09Transmitter("1234").adm_cid(BURGLARY, NOW)
    bad = frame[:5] + b"%04X" % (int(frame[5:9], 16) - 1) + frame[9:]
    [ev] = Dc09Receiver().receive_datagram(bad, NOW)
    assert isinstance(ev, Rejected) and ev.response is None


@pytest.mark.parametrize("key", [None, KEY128])
@pytest.mark.parametrize("skew", [-21.0, 41.0, 3600.0])
def test_timestamp_outside_window_gets_clear_nak_with_receiver_time(key, skew):
    tx = Dc09Transmitter("1234", key=key)
    rx = Dc09Receiver(keys={"1234": key} if key else {})
    [ev] = rx.receive_datagram(tx.adm_cid(BURGLARY, NOW), NOW + skew)
    assert isinstance(ev, Rejected) and "window" in ev.reason
    assert ev.response == build_frame(f'"NAK"0000R0L0A0[]{format_timestamp(NOW + skew)}'.encode())
    reply = tx.parse_response(ev.response)
    assert reply.kind == "NAK" and not reply.encrypted and reply.receiver_time == NOW + skew


@pytest.mark.parametrize("skew", [-20.0, 0.0, 40.0])
def test_timestamp_inside_window_is_accepted(skew):
    tx = Dc09Transmitter("1234", key=KEY128)
    [ev] = Dc09Receiver(keys={"1234": KEY128}).receive_datagram(tx.adm_cid(BURGLARY, NOW), NOW + skew)
    assert isinstance(ev, Dc09Message)


def test_plain_message_without_timestamp_is_accepted():
    frame = Dc09Transmitter("1234").adm_cid(BURGLARY, None)
    assert b"_" not in frame
    [ev] = Dc09Receiver().receive_datagram(frame, NOW)
    assert isinstance(ev, Dc09Message) and ev.timestamp is None and ev.contact_id == BURGLARY


def test_unknown_key_gets_duh():
    tx = Dc09Transmitter("5678", key=KEY128)
    [ev] = Dc09Receiver(keys={"1234": KEY128}).receive_datagram(tx.adm_cid(BURGLARY, NOW), NOW)
    assert isinstance(ev, Rejected) and "without a key" in ev.reason
    reply = tx.parse_response(ev.response)
    assert reply.kind == "DUH" and reply.seq == "0001" and not reply.encrypted


def test_wrong_key_gets_duh():
    tx = Dc09Transmitter("1234", key=KEY256)
    [ev] = Dc09Receiver(keys={"1234": KEY128}).receive_datagram(tx.null(NOW), NOW)
    assert isinstance(ev, Rejected) and tx.parse_response(ev.response).kind == "DUH"


def test_require_encryption_and_keyed_account_refuse_clear_text():
    frame = Dc09Transmitter("1234").adm_cid(BURGLARY, NOW)
    [ev] = Dc09Receiver(require_encryption=True).receive_datagram(frame, NOW)
    assert isinstance(ev, Rejected) and b'"DUH"0001' in ev.response
    [ev] = Dc09Receiver(keys={"1234": KEY128}).receive_datagram(frame, NOW)
    assert isinstance(ev, Rejected) and b'"DUH"' in ev.response
    [ev] = Dc09Receiver(keys={"9999": KEY128}).receive_datagram(frame, NOW)
    assert isinstance(ev, Dc09Message) and not ev.encrypted


def test_unrecognised_payload_is_kept_and_acked():
    tx = Dc09Transmitter("1234")
    [ev] = Dc09Receiver().receive_datagram(tx.build("SIA-DCS", "#1234|something odd", NOW), NOW)
    assert isinstance(ev, Dc09Message) and not ev.recognised and ev.payload == "#1234|something odd"
    assert tx.parse_response(ev.response).kind == "ACK"


def test_unknown_id_token_is_kept_and_duhed():
    tx = Dc09Transmitter("1234")
    [ev] = Dc09Receiver().receive_datagram(tx.build("ACR-SF", "#1234|xyz", NOW), NOW)
    assert isinstance(ev, Dc09Message) and not ev.recognised and ev.id_token == "ACR-SF"
    assert tx.parse_response(ev.response).kind == "DUH"


def test_response_sent_to_receiver_is_rejected_silently():
    ack = build_frame(b'"ACK"0001R0L0#1234[]')
    [ev] = Dc09Receiver().receive_datagram(ack, NOW)
    assert isinstance(ev, Rejected) and ev.response is None


def test_transmitter_rejects_bad_replies():
    tx = Dc09Transmitter("1234")
    with pytest.raises(RemoteProtocolError):
        tx.parse_response(b"garbage")
    good = build_frame(b'"ACK"0001R0L0#1234[]')
    with pytest.raises(RemoteProtocolError, match="CRC"):
        tx.parse_response(good[:-2] + b"}\r")
    with pytest.raises(RemoteProtocolError):
        tx.parse_response(build_frame(b'"SIA-DCS"0001R0L0#1234[]'))


def test_sequence_wraps_from_9999_to_0001():
    tx = Dc09Transmitter("1234", first_seq=9999)
    assert [Dc09Transmitter.seq_of(tx.sia_dcs("NRP", NOW)) for _ in range(2)] == ["9999", "0001"]


# -- supervision ------------------------------------------------------------------------


def test_null_supervision_overdue_with_fake_clock():
    rx = Dc09Receiver(null_intervals={"1234": 90.0, "5678": 90.0})
    tx = Dc09Transmitter("1234")
    t = NOW
    assert rx.overdue(t) == []
    [poll] = rx.receive_datagram(tx.null(t + 60), t + 60)
    assert isinstance(poll, Poll)
    assert rx.overdue(t + 91) == ["5678"]  # never heard since the clock started
    assert rx.overdue(t + 150) == ["5678"]
    assert rx.overdue(t + 151) == ["1234", "5678"]
    rx.receive_datagram(tx.adm_cid(BURGLARY, t + 160), t + 160)  # any message restarts the timer
    assert rx.overdue(t + 200) == ["5678"] and rx.last_heard("1234") == t + 160


def test_rejected_messages_do_not_count_as_heard():
    rx = Dc09Receiver(null_intervals={"1234": 30.0})
    rx.overdue(NOW)
    rx.receive_datagram(Dc09Transmitter("1234").null(NOW), NOW + 100)  # stale: NAKed
    assert rx.overdue(NOW + 100) == ["1234"]


# -- robustness -------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=50))
def test_random_bytes_never_raise(data, chunk):
    rx = Dc09Receiver(keys={"1234": KEY128})
    rx.receive_datagram(data, NOW)
    for i in range(0, len(data), chunk):
        rx.receive_data(data[i : i + chunk], NOW)
    for ev in drain(rx):
        assert ev.raw
    with pytest.raises(RemoteProtocolError):
        Dc09Transmitter("1234", key=KEY128).parse_response(b"\x00" + data)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=200), st.binary(max_size=3))
def test_mutated_frames_never_raise(pos, noise):
    frame = Dc09Transmitter("1234", key=KEY128).adm_cid(BURGLARY, NOW)
    mutated = frame[:pos] + noise + frame[pos + len(noise) :]
    rx = Dc09Receiver(keys={"1234": KEY128})
    evs = rx.receive_datagram(mutated, NOW)
    if mutated != frame:
        assert not any(isinstance(e, Dc09Message) and e.raw != frame for e in evs)
