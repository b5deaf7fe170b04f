"""pysiaalarm (an independent DC-09 implementation) as the oracle, both ways.

Our Dc09Transmitter's frames go through pysiaalarm's own receive path
(BaseSIAServer.parse_and_check_event -> SIAEvent), and pysiaalarm's replies
(create_response) and pysiaalarm-encrypted messages come back through our cores.
pysiaalarm checks timestamps against the real clock, so these tests use time.time().
pysiaalarm uses its 16/24/32-character key's ASCII bytes as the AES key.
"""

from __future__ import annotations

import time

import pytest

# A test dependency (pyproject [test]): a missing oracle fails, it is never skipped.
from pysiaalarm import SIAAccount, SIAEvent
from pysiaalarm.base_server import BaseSIAServer
from pysiaalarm.utils import Counter, ResponseType

from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.dc09 import (
    Dc09Message,
    Dc09Receiver,
    Dc09Transmitter,
    Poll,
    format_timestamp,
)

ACCOUNT = "1111"
ASCII_KEY = "AAAAAAAAAAAAAAAA"  # pysiaalarm's test key: AES-128 with key bytes b"AAAA..."
EMERGENCY = ContactIdMessage(ACCOUNT, "18", 1, "101", "01", "003")


def oracle(key: str | None = None) -> BaseSIAServer:
    return BaseSIAServer({ACCOUNT: SIAAccount(ACCOUNT, key)}, Counter())


def our_key(key: str | None) -> bytes | None:
    return key.encode("ascii") if key else None


@pytest.mark.parametrize("key", [None, ASCII_KEY, "B" * 24, "C" * 32])
def test_pysiaalarm_accepts_our_messages_and_we_accept_its_acks(key):
    now = time.time()
    tx = Dc09Transmitter(ACCOUNT, key=our_key(key), receiver="1", prefix="2")
    server = oracle(key)
    cases = [
        (tx.adm_cid(EMERGENCY, now), "QA", "003"),
        (tx.sia_dcs("Nri1/BA201", now), "BA", "1"),
        (tx.sia_dcs("Nri2/OP005", now, extended=("X116.40", "Y39.90")), "OP", "2"),
        (tx.null(now), "RP", "0"),
    ]
    for frame, code, ri in cases:
        event = server.parse_and_check_event(frame)
        assert isinstance(event, SIAEvent), frame
        assert event.valid_message, "pysiaalarm computed another CRC"
        assert event.encrypted is (key is not None)
        assert event.response == ResponseType.ACK, (frame, event)
        assert (event.code, event.ri, event.account) == (code, ri, ACCOUNT)
        reply = tx.parse_response(event.create_response())
        assert reply.kind == "ACK" and reply.matches(Dc09Transmitter.seq_of(frame))
        assert reply.encrypted is (key is not None)
        if key:  # the encrypted ACK carries pysiaalarm's clock
            assert abs(reply.receiver_time - now) < 5


def test_pysiaalarm_agrees_on_our_length_field_and_adm_cid_fields():
    frame = Dc09Transmitter(ACCOUNT, receiver="1").adm_cid(EMERGENCY, time.time())
    event = SIAEvent.from_line(frame.decode("ascii").strip(), {ACCOUNT: SIAAccount(ACCOUNT)})
    assert int(event.length, 16) == len(event.full_message)
    assert (event.event_qualifier, event.event_type, event.partition) == ("1", "101", "01")


def test_we_read_pysiaalarms_nak():
    now = time.time()
    tx = Dc09Transmitter(ACCOUNT, key=our_key(ASCII_KEY), receiver="1")
    event = oracle(ASCII_KEY).parse_and_check_event(tx.adm_cid(EMERGENCY, now - 3600))
    assert event.response == ResponseType.NAK
    reply = tx.parse_response(event.create_response())
    assert reply.kind == "NAK" and not reply.encrypted and abs(reply.receiver_time - now) < 5


def _pysiaalarm_message(token: str, content: str, key: str | None, seq: str = "0042") -> bytes:
    """A frame whose encryption and CRC are pysiaalarm's (as its own test helper builds them)."""
    if key:
        helper = SIAEvent(sia_account=SIAAccount(ACCOUNT, key))
        content = helper.encrypt_content(content)
        token = "*" + token
    body = f'"{token}"{seq}R0L0#{ACCOUNT}[{content}'
    crc = SIAEvent._crc_calc(body)
    return f"\n{crc}{len(body):04X}{body}\r".encode("ascii")


@pytest.mark.parametrize("key", [None, ASCII_KEY, "D" * 32])
def test_we_accept_pysiaalarm_built_messages(key):
    now = time.time()
    ts = format_timestamp(now)
    rx = Dc09Receiver(keys={ACCOUNT: our_key(key)} if key else {})
    [sia] = rx.receive_datagram(_pysiaalarm_message("SIA-DCS", f"|Nri1/BA201]{ts}", key), now)
    assert isinstance(sia, Dc09Message) and sia.recognised and sia.encrypted is (key is not None)
    assert (sia.sia.code, sia.sia.zone, sia.sia.ri, sia.seq) == ("BA", "201", "1", "0042")
    [adm] = rx.receive_datagram(_pysiaalarm_message("ADM-CID", f"#{ACCOUNT}|1101 01 003]{ts}", key), now)
    assert isinstance(adm, Dc09Message) and adm.contact_id == EMERGENCY
    [poll] = rx.receive_datagram(_pysiaalarm_message("NULL", f"]{ts}", key, seq="0000"), now)
    assert isinstance(poll, Poll) and poll.account == ACCOUNT
    # and pysiaalarm's own receive path agrees with our ACK of its message
    event = oracle(key).parse_and_check_event(_pysiaalarm_message("SIA-DCS", f"|Nri1/BA201]{ts}", key))
    assert event.response == ResponseType.ACK


def test_pysiaalarm_hex_key_equivalence():
    # the same AES key given to us as hex (the DC-09 form) and to pysiaalarm as ASCII
    now = time.time()
    hex_key = ASCII_KEY.encode().hex()
    frame = Dc09Transmitter(ACCOUNT, key=hex_key, receiver="0").sia_dcs("Nri1/FA001", now)
    event = oracle(ASCII_KEY).parse_and_check_event(frame)
    assert event.response == ResponseType.ACK and event.code == "FA"
