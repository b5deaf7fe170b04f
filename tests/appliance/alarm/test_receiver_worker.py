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
    open_store(tmp_path).close()
    port = Pty.open()
    stop = threading.Event()
    cfg = AlarmReceiverConfig(name="main", protocol="surgard", port=port.path,
                              heartbeat_interval=1.0)
    worker = ReceiverWorker(cfg, "box-1", tmp_path / "box.db", stop)
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
    assert read_reply(port, 1.5) == b""  # silence: the receiver will retransmit
    blocker.execute("COMMIT")
    assert read_reply(port, 12) == surgard.ACK
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
