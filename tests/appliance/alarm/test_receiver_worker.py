"""The receiver worker on a real pty: ACK only after commit, NAK for damage, repeats."""

import os
import select
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.alarm.receivers import ReceiverWorker
from appliance.config import AlarmReceiverConfig
from appliance.store import connect, fetch_batch, open_store
from drivers.alarm_phone import surgard
from provisioning.district import Pty

FRAME = b"5011 185678E10100001\x14"

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def link(tmp_path: Path) -> Iterator[tuple[Pty, ReceiverWorker, Path]]:
    yield from start_worker(tmp_path)


def start_worker(tmp_path: Path, before_start=None, **cfg_overrides: object
                 ) -> Iterator[tuple[Pty, ReceiverWorker, Path]]:
    conn = open_store(tmp_path)
    if before_start:
        before_start(conn)
    conn.close()
    port = Pty.open()
    stop = threading.Event()
    settings = {"name": "main", "protocol": "surgard", "port": port.path,
                "heartbeat_interval": 1.0, **cfg_overrides}
    cfg = AlarmReceiverConfig(**settings)
    worker = ReceiverWorker(cfg, "box-1", tmp_path / "box.db", stop)
    worker.busy_timeout_ms = 500  # fail fast when the tests lock the database
    worker.stale_repeat_window = 0.3
    worker.start()
    deadline = time.monotonic() + 5
    while not worker.state.port_open and time.monotonic() < deadline:
        time.sleep(0.01)  # pyserial flushes input on open: write only after it
    try:
        yield port, worker, tmp_path / "box.db"
    finally:
        stop.set()
        worker.join(5)
        port.close()


def read_reply(port: Pty, timeout: float) -> bytes:
    ready, _, _ = select.select([port.master], [], [], timeout)
    return os.read(port.master, 64) if ready else b""


def test_frame_is_committed_before_ack(link: tuple[Pty, ReceiverWorker, Path]) -> None:
    port, _, db = link
    os.write(port.master, FRAME)
    assert read_reply(port, 5) == surgard.ACK
    # The moment we hold the ACK, the row and its outbox record must already be there.
    reader = connect(db)
    row = reader.execute("SELECT account, event_code, qualifier, zone, raw FROM alarm_signals"
                         ).fetchone()
    assert tuple(row) == ("5678", "101", "new", "001", FRAME)
    [record] = fetch_batch(reader, "alarm", 10)
    assert record.kind == "alarm" and record.body["event_zh"]
    assert record.body["life_safety"] is True and record.body["raw_hex"] == FRAME.hex()


def test_no_ack_while_the_database_cannot_commit(link: tuple[Pty, ReceiverWorker, Path]) -> None:
    port, _, db = link
    blocker = sqlite3.connect(str(db), isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # nobody else can write now
    os.write(port.master, FRAME)
    assert read_reply(port, 0.3) == b""  # still waiting for the lock (busy timeout 0.5 s)
    blocker.execute("COMMIT")
    assert read_reply(port, 5) == surgard.ACK
    assert connect(db).execute("SELECT COUNT(*) FROM alarm_signals").fetchone()[0] == 1


def test_damaged_frame_is_nakked_and_not_stored(link: tuple[Pty, ReceiverWorker, Path]) -> None:
    port, _, db = link
    os.write(port.master, b"5011 18\x01\x02E10100001\x14")
    assert read_reply(port, 5) == surgard.NAK
    conn = connect(db)
    assert conn.execute("SELECT COUNT(*) FROM alarm_signals").fetchone()[0] == 0
    assert conn.execute("SELECT frames_damaged FROM receiver_status").fetchone()[0] == 1


def test_unrecognised_frame_is_stored_and_acked(link: tuple[Pty, ReceiverWorker, Path]) -> None:
    port, _, db = link
    frame = b"9011 SOMETHING NEW\x14"
    os.write(port.master, frame)
    assert read_reply(port, 5) == surgard.ACK
    row = connect(db).execute("SELECT recognised, raw, note FROM alarm_signals").fetchone()
    assert row[0] == 0 and row[1] == frame and row[2]


def test_repeat_after_lost_ack_is_acked_but_stored_once(
        link: tuple[Pty, ReceiverWorker, Path]) -> None:
    port, _, db = link
    for _ in range(3):
        os.write(port.master, FRAME)
        assert read_reply(port, 5) == surgard.ACK
        time.sleep(0.5)  # a real receiver retransmits only after its ACK timeout
    conn = connect(db)
    assert tuple(conn.execute("SELECT COUNT(*), SUM(repeats) FROM alarm_signals").fetchone()) == (1, 2)
    assert len(fetch_batch(conn, "alarm", 10)) == 1


def test_heartbeat_acked_and_silence_raises_link_trouble(
        link: tuple[Pty, ReceiverWorker, Path]) -> None:
    port, worker, db = link
    os.write(port.master, surgard.format_heartbeat())
    assert read_reply(port, 5) == surgard.ACK
    deadline = time.monotonic() + 10
    while worker.state.link_up and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not worker.state.link_up  # 2 × 1 s without a frame
    os.write(port.master, surgard.format_heartbeat())
    assert read_reply(port, 5) == surgard.ACK
    conn = connect(db)
    kinds = [(r.kind, r.body["state"]) for r in fetch_batch(conn, "alarm", 10)]
    assert kinds == [("device_trouble", "open"), ("device_trouble", "closed")]
    assert conn.execute("SELECT COUNT(*) FROM device_troubles WHERE closed_at IS NOT NULL"
                        ).fetchone()[0] == 1


def test_database_locked_past_busy_timeout_no_ack_and_worker_survives(
        link: tuple[Pty, ReceiverWorker, Path]) -> None:
    port, worker, db = link
    blocker = sqlite3.connect(str(db), isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    os.write(port.master, FRAME)
    assert read_reply(port, 1.5) == b""  # the commit failed after 0.5 s: no ACK
    assert worker.is_alive()
    blocker.execute("COMMIT")
    os.write(port.master, FRAME)  # the receiver's retransmission
    assert read_reply(port, 5) == surgard.ACK
    assert connect(db).execute("SELECT COUNT(*) FROM alarm_signals").fetchone()[0] == 1


def test_copy_sent_while_we_were_committing_gets_no_second_ack(
        link: tuple[Pty, ReceiverWorker, Path]) -> None:
    port, _, db = link
    blocker = sqlite3.connect(str(db), isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    os.write(port.master, FRAME)
    os.write(port.master, FRAME)  # retransmitted before our ACK could go out
    time.sleep(0.2)
    blocker.execute("COMMIT")
    replies = b""
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        replies += read_reply(port, 0.1)
    assert replies == surgard.ACK  # one answer: a second one would ACK the next frame
    nxt = b"5011 181234E60200000\x14"
    os.write(port.master, nxt)
    assert read_reply(port, 5) == surgard.ACK
    rows = connect(db).execute("SELECT account, repeats FROM alarm_signals ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [("5678", 1), ("1234", 0)]


def test_trouble_open_before_restart_is_closed_by_first_frame(tmp_path: Path) -> None:
    from datetime import datetime

    from appliance.alarm.intake import set_trouble

    def open_trouble(conn: sqlite3.Connection) -> None:
        set_trouble(conn, box_id="box-1", type="receiver_link", subject="main", open=True,
                    at=datetime.now().astimezone(), detail="before restart")

    gen = start_worker(tmp_path, open_trouble)
    port, worker, db = next(gen)
    try:
        assert not worker.state.link_up
        os.write(port.master, surgard.format_heartbeat())
        assert read_reply(port, 5) == surgard.ACK
        conn = connect(db)
        states = [r.body["state"] for r in fetch_batch(conn, "alarm", 10)]
        assert states == ["open", "closed"]
        assert worker.state.link_up
    finally:
        gen.close()


def outbox_kinds(db: Path) -> list[tuple[str, str]]:
    return [(r.kind, r.body.get("type") or r.body.get("event_code"))
            + ((r.body["state"],) if r.kind == "device_trouble" else ())
            for r in fetch_batch(connect(db), "alarm", 100)]


def test_ac_loss_trouble_commits_with_its_signal_and_restore_closes_it(
        link: tuple[Pty, ReceiverWorker, Path]) -> None:
    port, _, db = link
    os.write(port.master, b"5011 181001E30101004\x14")
    assert read_reply(port, 5) == surgard.ACK
    assert outbox_kinds(db) == [("alarm", "301"), ("device_trouble", "ac_loss", "open")]
    time.sleep(0.4)
    os.write(port.master, b"5011 181001R30101004\x14")
    assert read_reply(port, 5) == surgard.ACK
    assert outbox_kinds(db)[2:] == [("alarm", "301"), ("device_trouble", "ac_loss", "closed")]
    body = fetch_batch(connect(db), "alarm", 100)[1].body
    assert body["account"] == "1001" and body["subject"] == "main:1001"


def test_silent_device_raises_fail_to_check_in_until_its_next_test(tmp_path: Path) -> None:
    gen = start_worker(tmp_path, test_interval=1.0, test_grace=0.5)
    port, worker, db = next(gen)
    try:
        os.write(port.master, b"5011 181002E60201000\x14")  # periodic test
        assert read_reply(port, 5) == surgard.ACK
        deadline = time.monotonic() + 10
        while ("device_trouble", "fail_to_check_in", "open") not in outbox_kinds(db):
            assert time.monotonic() < deadline, outbox_kinds(db)
            time.sleep(0.1)
        # 603 (periodic RF test): a byte-identical 602 within 30 s would be a retransmission.
        os.write(port.master, b"5011 181002E60301000\x14")
        assert read_reply(port, 5) == surgard.ACK
        assert outbox_kinds(db)[-1] == ("device_trouble", "fail_to_check_in", "closed")
        body = fetch_batch(connect(db), "alarm", 100)[0].body
        assert body["priority"] == 3  # a test is routine
    finally:
        gen.close()


def test_ademco685_receiver_is_read_stored_and_acked(tmp_path: Path) -> None:
    from drivers.alarm_phone import ademco685
    from drivers.alarm_phone.contact_id import ContactIdMessage

    gen = start_worker(tmp_path, protocol="ademco685")
    port, _, db = next(gen)
    try:
        frame = ademco685.format_signal("11", ContactIdMessage("7777", "18", 1, "101", "00", "015"))
        os.write(port.master, b"\x00\xff" + frame)  # line noise first
        assert read_reply(port, 5) == surgard.ACK
        os.write(port.master, ademco685.format_heartbeat())
        assert read_reply(port, 5) == surgard.ACK
        os.write(port.master, b"\n11 7777 18 E1\x0201 00 C015\r")  # damaged in transit
        assert read_reply(port, 5) == surgard.NAK
        row = connect(db).execute("SELECT protocol, account, event_code, zone, raw "
                                  "FROM alarm_signals").fetchone()
        assert tuple(row) == ("ademco685", "7777", "101", "015", frame)
    finally:
        gen.close()


def test_registered_and_unregistered_accounts(tmp_path: Path) -> None:
    from appliance.registry import import_csv

    def roster(conn: sqlite3.Connection) -> None:
        path = tmp_path / "roster.csv"
        path.write_text("account,elder_id,name,address\n5678,E001,王秀英,渭城区文林路12号\n",
                        encoding="utf-8")
        import_csv(conn, path)

    gen = start_worker(tmp_path, roster)
    port, _, db = next(gen)
    try:
        os.write(port.master, FRAME)  # account 5678: registered
        assert read_reply(port, 5) == surgard.ACK
        os.write(port.master, b"5011 184444E10100002\x14")  # nobody's device
        assert read_reply(port, 5) == surgard.ACK
        known, unknown = [r.body for r in fetch_batch(connect(db), "alarm", 10)]
        assert known["registered"] and known["elder"]["address"] == "渭城区文林路12号"
        assert not unknown["registered"] and unknown["elder"] is None
        assert unknown["note"] == "未登记设备 unregistered device"
        assert unknown["life_safety"]  # an unregistered panic is still a panic
        ids = [r[0] for r in connect(db).execute("SELECT elder_id FROM alarm_signals ORDER BY id")]
        assert ids == ["E001", None]
    finally:
        gen.close()


def test_sia_in_surgard_frame_is_an_alarm(link: tuple[Pty, ReceiverWorker, Path]) -> None:
    port, _, db = link
    frame = surgard.format_sia_signal("01", "1", "1234", "QA", "3")
    os.write(port.master, frame)
    assert read_reply(port, 5) == surgard.ACK
    row = connect(db).execute("SELECT recognised, account, event_code, qualifier, zone, raw "
                              "FROM alarm_signals").fetchone()
    assert tuple(row) == (1, "1234", "101", "new", "003", frame)
