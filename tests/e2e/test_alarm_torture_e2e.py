"""Torture: alarmd is SIGKILLed at random moments while a receiver sends 2,000 alarms.

Afterwards every alarm is in box.db exactly once, and every ACK the receiver saw
corresponds to a committed row (ACK only after commit, CONTRACTS §5).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from appliance.store import connect
from drivers.alarm_phone import surgard
from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.receiver_sim import Acked, ReceiverSim
from drivers.alarm_phone.simulator import FdLink, SimulatedReceiver
from provisioning.district import Proc, Pty

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ALARMS = 2000


def frames(n: int) -> list[bytes]:
    rng = random.Random(20261122)
    codes = [("101", 1), ("100", 1), ("602", 1), ("301", 1), ("301", 3), ("384", 1)]
    out = []
    for i in range(n):
        code, q = rng.choice(codes)
        # Distinct account/zone per alarm so that "exactly once" is checkable by raw bytes.
        out.append(surgard.format_signal("01", "1", ContactIdMessage(
            f"{i // 1000 + 1:01d}{i % 1000:03d}", "18", q, code, "01", f"{i % 997:03d}")))
    return out


def test_sigkill_at_random_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "box"
    receiver = Pty.open()
    config = tmp_path / "box.toml"
    config.write_text(
        f'[box]\nid = "torture-001"\ndata_dir = "{data}"\n'
        '[bus]\nmqtt_url = "mqtt://127.0.0.1:9"\n'  # no local bus: the alarm path is alone
        f'[[alarm.receivers]]\nname = "main"\nprotocol = "surgard"\nport = "{receiver.path}"\n'
        "heartbeat_interval = 30\n", encoding="utf-8")
    alarmd = Proc("alarmd", [os.sys.executable, "-m", "appliance.cli", "alarmd", "--config",
                             str(config)], {**os.environ}, tmp_path / "alarmd.log")
    alarmd.start()
    acked: list[bytes] = []
    sim = SimulatedReceiver(
        FdLink(receiver.master),
        # A short ACK timeout keeps the test quick; many attempts so the receiver never
        # declares computer fail while alarmd is being restarted.
        ReceiverSim(ack_timeout=1.5, max_attempts=1000, heartbeat_interval=5.0),
        on_event=lambda e: acked.append(e.frame) if isinstance(e, Acked) else None)
    all_frames = frames(ALARMS)
    wanted = set(all_frames)
    done = threading.Event()
    kills = 0
    rng = random.Random(7)
    sim.start()
    for f in all_frames:
        sim.send(f)
    try:
        deadline = time.monotonic() + 480
        while time.monotonic() < deadline:
            if len(wanted.intersection(acked)) == ALARMS:
                done.set()
                break
            time.sleep(rng.uniform(0.2, 1.2))
            if kills < 25:
                alarmd.stop(signal.SIGKILL)
                kills += 1
                time.sleep(rng.uniform(0.0, 0.3))
                alarmd.start()
    finally:
        sim.stop()
        alarmd.stop()
        receiver.close()
    assert done.is_set(), (f"only {len(wanted.intersection(acked))} of {ALARMS} ACKed after "
                           f"{kills} kills\n{alarmd.log_tail()}")
    assert kills >= 10
    conn = connect(data / "box.db")
    stored = Counter(bytes(r[0]) for r in conn.execute("SELECT raw FROM alarm_signals"))
    missing = [f for f in set(acked) if f in wanted and stored[f] == 0]
    assert missing == [], f"ACKed but not committed: {missing[:3]}"
    dupes = {f: n for f, n in stored.items() if n > 1}
    assert dupes == {}, f"stored more than once: {list(dupes.items())[:3]}"
    assert set(stored) == wanted
    outbox = conn.execute("SELECT COUNT(*) FROM outbox WHERE lane = 'alarm' AND kind = 'alarm'"
                          ).fetchone()[0]
    assert outbox == ALARMS  # each with its outbox record, none lost, none doubled
