"""alarmd's DC-09 receiver on real sockets: commit, then ACK; NAK; DUH; supervision."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.alarm.dc09_listener import Dc09Listener
from appliance.config import AlarmReceiverConfig
from appliance.registry import import_csv
from appliance.store import connect, fetch_batch, open_store
from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.dc09 import Dc09Transmitter

pytestmark = pytest.mark.timeout(30)
KEY = "000102030405060708090A0B0C0D0E0F"
PANIC = ContactIdMessage("1234", "18", 1, "120", "01", "015")


def start(tmp_path: Path, transport: str = "tcp", **overrides: object) -> Iterator[Dc09Listener]:
    conn = open_store(tmp_path)
    roster = tmp_path / "roster.csv"
    roster.write_text("account,elder_id,name,phone\n1234,E001,王秀英,13912345678\n", encoding="utf-8")
    import_csv(conn, roster)
    conn.close()
    keys = tmp_path / "dc09-keys.toml"
    keys.write_text(f'[keys]\n"1234" = "{KEY}"\n', encoding="utf-8")
    keys.chmod(0o600)
    settings = {"name": "ip", "protocol": "dc09", "port": f"{transport}://127.0.0.1:0",
                "keys_file": keys, **overrides}
    stop = threading.Event()
    listener = Dc09Listener(AlarmReceiverConfig(**settings), "box-1", tmp_path / "box.db", stop)
    listener.start()
    deadline = time.monotonic() + 5
    while listener.bound_port is None and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield listener
    finally:
        stop.set()
        listener.join(5)


@pytest.fixture
def tcp(tmp_path: Path) -> Iterator[Dc09Listener]:
    yield from start(tmp_path)


def exchange(listener: Dc09Listener, frame: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", listener.bound_port), timeout=5) as s:
        s.sendall(frame)
        return s.recv(4096)


def rows(tmp_path: Path) -> list[tuple]:
    return [tuple(r) for r in connect(tmp_path / "box.db").execute(
        "SELECT protocol, account, event_code, zone, note FROM alarm_signals ORDER BY id")]


def test_encrypted_adm_cid_is_committed_then_acked(tcp: Dc09Listener, tmp_path: Path) -> None:
    tx = Dc09Transmitter("1234", key=KEY)
    reply = exchange(tcp, tx.adm_cid(PANIC, time.time()))
    response = tx.parse_response(reply)
    assert response.kind == "ACK" and response.encrypted and response.matches("0001")
    assert rows(tmp_path) == [("dc09", "1234", "120", "015", None)]
    [record] = fetch_batch(connect(tmp_path / "box.db"), "alarm", 10)
    assert record.body["life_safety"] is True
    assert record.body["registered"] and record.body["elder"]["name"] == "王秀英"


def test_clear_text_from_unkeyed_account_accepted_and_flagged(tcp: Dc09Listener,
                                                              tmp_path: Path) -> None:
    tx = Dc09Transmitter("5678", crc_form="binary")
    msg = ContactIdMessage("5678", "18", 1, "101", "00", "001")
    assert tx.parse_response(exchange(tcp, tx.adm_cid(msg, time.time()))).kind == "ACK"
    assert rows(tmp_path) == [("dc09", "5678", "101", "001",
                               "unencrypted; 未登记设备 unregistered device")]


def test_stale_timestamp_gets_nak_and_nothing_is_stored(tcp: Dc09Listener, tmp_path: Path) -> None:
    tx = Dc09Transmitter("1234", key=KEY)
    reply = exchange(tcp, tx.adm_cid(PANIC, time.time() - 3600))
    assert tx.parse_response(reply).kind == "NAK"
    assert rows(tmp_path) == []


def test_clear_text_from_keyed_account_gets_duh(tcp: Dc09Listener, tmp_path: Path) -> None:
    tx = Dc09Transmitter("1234")  # the panel forgot its key
    assert tx.parse_response(exchange(tcp, tx.adm_cid(PANIC, time.time()))).kind == "DUH"
    assert rows(tmp_path) == []


def test_retransmission_acked_again_stored_once(tcp: Dc09Listener, tmp_path: Path) -> None:
    tx = Dc09Transmitter("1234", key=KEY)
    frame = tx.adm_cid(PANIC, time.time())
    for _ in range(2):
        assert tx.parse_response(exchange(tcp, frame)).kind == "ACK"
    assert len(rows(tmp_path)) == 1


def test_two_frames_split_across_tcp_reads(tcp: Dc09Listener, tmp_path: Path) -> None:
    tx = Dc09Transmitter("1234", key=KEY)
    stream = tx.adm_cid(PANIC, time.time()) + tx.adm_cid(
        ContactIdMessage("1234", "18", 3, "120", "01", "015"), time.time())
    with socket.create_connection(("127.0.0.1", tcp.bound_port), timeout=5) as s:
        for i in range(0, len(stream), 7):
            s.sendall(stream[i:i + 7])
            time.sleep(0.002)
        got = b""
        while got.count(b"\r") < 2:
            got += s.recv(4096)
    assert [r[2] for r in rows(tmp_path)] == ["120", "120"]


def test_udp_datagram(tmp_path: Path) -> None:
    gen = start(tmp_path, "udp")
    listener = next(gen)
    try:
        tx = Dc09Transmitter("1234", key=KEY)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(tx.adm_cid(PANIC, time.time()), ("127.0.0.1", listener.bound_port))
            reply, _ = s.recvfrom(4096)
        assert tx.parse_response(reply).kind == "ACK"
        assert rows(tmp_path)[0][:3] == ("dc09", "1234", "120")
    finally:
        gen.close()


def test_silent_communicator_raises_trouble_and_null_poll_closes_it(tmp_path: Path) -> None:
    gen = start(tmp_path, poll_interval=0.5)
    listener = next(gen)
    try:
        db = connect(tmp_path / "box.db")
        deadline = time.monotonic() + 10
        while not fetch_batch(db, "alarm", 10):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        [opened] = fetch_batch(db, "alarm", 10)
        assert (opened.body["type"], opened.body["state"], opened.body["account"]) == (
            "fail_to_check_in", "open", "1234")
        tx = Dc09Transmitter("1234", key=KEY)
        assert tx.parse_response(exchange(listener, tx.null(time.time()))).kind == "ACK"
        states = [r.body["state"] for r in fetch_batch(db, "alarm", 10)]
        assert states[:2] == ["open", "closed"]
    finally:
        gen.close()


def test_sia_dcs_report_becomes_an_alarm(tcp: Dc09Listener, tmp_path: Path) -> None:
    tx = Dc09Transmitter("1234", key=KEY)
    assert tx.parse_response(exchange(tcp, tx.sia_dcs("Nri1/QA003", time.time()))).kind == "ACK"
    assert tx.parse_response(exchange(tcp, tx.sia_dcs("Nri1/ZZ003", time.time()))).kind == "ACK"
    [(proto, account, code, zone, note), unknown] = rows(tmp_path)
    assert (proto, account, code, zone) == ("dc09", "1234", "101", "003")
    assert note.startswith("SIA-DCS QA zone 003")
    assert unknown[2] is None and "SIA-DCS ZZ" in unknown[4]  # kept, shown, never dropped
    bodies = [r.body for r in fetch_batch(connect(tmp_path / "box.db"), "alarm", 10)]
    assert bodies[0]["life_safety"] and bodies[0]["event_zh"] == "紧急求助"
    assert not bodies[1]["recognised"]
