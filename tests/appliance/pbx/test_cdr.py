from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.pbx.cdr import CallRecord, get_call, stamp, store_call
from appliance.store import fetch_batch, open_store

START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC).timestamp()


def record(**fields: object) -> CallRecord:
    base = dict(call_id="span1-261201100000-3", direction="in", started_at=stamp(START),
                ended_at=stamp(START + 60.5), outcome="agent", caller="13800138000", called="96101",
                queue="general", agent="sim:///run/fxs1", talk_s=42.0, survey_score=1, survey_label="满意")
    base.update(fields)
    return CallRecord(**base)  # type: ignore[arg-type]


def test_a_call_record_is_stored_and_queued_for_the_hub_together(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    rec = record()
    store_call(conn, rec)
    assert get_call(conn, rec.call_id) == rec
    [queued] = fetch_batch(conn, "bulk", 10)
    assert (queued.kind, queued.id, queued.at) == ("call", rec.call_id, rec.ended_at)
    assert queued.body["survey_score"] == 1 and queued.body["caller"] == "13800138000"
    assert rec.started_at.startswith("2026-12-01T10:00:00") and rec.started_at.endswith("+08:00")


def test_the_same_call_twice_is_refused_and_queues_nothing_more(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    store_call(conn, record())
    with pytest.raises(Exception, match="UNIQUE"):
        store_call(conn, record(outcome="abandoned"))
    assert len(fetch_batch(conn, "bulk", 10)) == 1


def test_bad_fields_name_the_call_and_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"span1-261201100000-3: outcome must be one of"):
        record(outcome="lost")
    with pytest.raises(ValueError, match="direction"):
        record(direction="sideways")
    with pytest.raises(KeyError):
        get_call(open_store(tmp_path), "nope")
