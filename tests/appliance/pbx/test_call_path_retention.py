"""pbxd's retention job (CallPath.run_retention): deletes, alarms the supervisor, pauses recording."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.cases.store import append_event, open_case
from appliance.config import load_config
from appliance.ivr.prompts import DEFAULT_PROMPTS, generate_prompts
from appliance.pbx.call_path import CallPath
from appliance.recording import index
from appliance.recording.container import RecordingError
from appliance.recording.keys import Keyring, generate_key, write_keyring
from appliance.recording.retention import GIB, MIB

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
FLOW = """
[ivr]
default_flow = "t"
[ivr.flows.t]
start = "bye"
[ivr.flows.t.nodes.bye]
type = "hangup"
prompt = "message_saved"
"""


@pytest.fixture
def call_path(tmp_path: Path) -> Iterator[CallPath]:
    data = tmp_path / "data"
    generate_prompts({"message_saved": DEFAULT_PROMPTS["message_saved"]}, data / "prompts", speed=450)
    keys = tmp_path / "secrets" / "rec.keys"
    keys.parent.mkdir()
    write_keyring(keys, Keyring([generate_key(1)]))
    config = tmp_path / "box.toml"
    config.write_text(f'[box]\nid = "ret-001"\ndata_dir = "{data}"\n[recording]\nkeys_file = "{keys}"\n'
                      + FLOW, encoding="utf-8")
    path = CallPath(load_config(config))
    yield path
    path.close()


def recording(cp: CallPath, name: str, days_ago: float, size: int = 1000) -> str:
    """An old recording as the call path leaves it (a real encrypted file and its index row)."""
    start = cp._recorder("call")
    assert start is not None
    rec = start(name, NOW - timedelta(days=days_ago), None)  # no live call: an old recording
    rec.write(b"\xd5" * 160, b"\xd5" * 160)
    rec.close()
    row = index.get_recording(cp.db, name)
    cp.db.execute("UPDATE recordings SET size = ? WHERE recording_id = ?", (size, name))
    return row.path


def test_old_recordings_go_oldest_first_and_an_open_case_keeps_its_own(call_path: CallPath) -> None:
    oldest = recording(call_path, "a", 90, size=1 * GIB)
    linked = recording(call_path, "b", 80, size=1 * GIB)
    older = recording(call_path, "c", 60, size=3 * GIB)
    young = recording(call_path, "d", 3, size=1 * GIB)
    case = open_case(call_path.db, origin="ret-001", kind="complaint", at=NOW, body={}).case_id
    index.link_case(call_path.db, "b", case)
    alarms: list[dict] = []
    call_path.on_alarm = alarms.append
    call_path.free_bytes = lambda _dir: 1 * GIB   # below low (2 GB): free up to target (4 GB)
    run = call_path.run_retention(NOW)
    assert run.deleted == ("a", "c")              # oldest expendable first, until 4 GB are free
    assert not Path(oldest).exists() and not Path(older).exists()
    assert Path(linked).exists() and Path(young).exists()
    assert alarms == [] and not call_path.recording_paused
    # Once the case is closed its recording is expendable like any other.
    append_event(call_path.db, origin="ret-001", case_id=case, type="closed", at=NOW, body={})
    call_path.free_bytes = lambda _dir: 1 * GIB
    assert call_path.run_retention(NOW).deleted == ("b",)


def test_a_full_disk_alarms_the_supervisor_pauses_recording_and_calls_go_on(call_path: CallPath) -> None:
    recording(call_path, "young", 2)
    alarms: list[dict] = []
    call_path.on_alarm = alarms.append
    call_path.free_bytes = lambda _dir: 100 * MIB   # below stop (512 MB), nothing may go
    run = call_path.run_retention(NOW)
    assert run.deleted == ()
    raised = [(a["alarm"], a["raised"]) for a in alarms]
    assert raised == [("recording_disk", True), ("recording_paused", True)]
    assert "录音存储空间不足" in alarms[0]["message"] and alarms[0]["protected_young"] == 1
    assert call_path.recording_paused
    start = call_path._recorder("call")
    assert start is not None
    with pytest.raises(RecordingError, match="录音已暂停"):
        start("during-pause", NOW, None)          # the IVR handler logs this and the call goes on
    assert index.list_recordings(call_path.db, call_id="during-pause") == []
    alarms.clear()
    call_path.free_bytes = lambda _dir: 5 * GIB
    call_path.run_retention(NOW)
    cleared = [(a["alarm"], a["raised"]) for a in alarms]
    assert cleared == [("recording_disk", False), ("recording_paused", False)]
    assert not call_path.recording_paused
