"""The live figures syncd hands to the hub (CONTRACTS §6 `…/live`): what leaves the box, and when."""

from __future__ import annotations

import pytest

from appliance.sync.live import MIN_INTERVAL, LiveRelay, LiveViewError, hub_live

AT = "2026-12-01T14:00:00+08:00"


def pbxd_view(box_id: str = "box-001") -> dict:
    """What pbxd publishes on `pbx/live` (acd_service.live_view() + box id + trunks)."""
    return {
        "box_id": box_id, "at": 1234.5,
        "agents": [
            {"agent_id": "1001", "name": "王芳", "state": "busy", "state_zh": "通话", "reason": None,
             "seconds": 42.0, "call_id": "c1", "phone": "8001",
             "caller": {"name": "张阿姨", "address": "1-2-301"}},
            {"agent_id": "1002", "name": "李娜", "state": "ready", "state_zh": "空闲", "reason": None,
             "seconds": 3.5, "call_id": None, "phone": "8002", "caller": None},
            {"agent_id": "1003", "name": "赵强", "state": "not_ready", "state_zh": "示忙", "reason": "开会",
             "seconds": 600.0, "call_id": None, "phone": "8003", "caller": None},
        ],
        "waiting": [
            {"call_id": "c2", "queue": "emergency", "priority": "emergency", "position": 1, "wait_s": 12.5,
             "caller": {"name": "刘大爷", "phone": "13900000000"}, "ringing": ["sim:///p1"],
             "callback": False},
            {"call_id": "c3", "queue": "general", "priority": "other", "position": 2, "wait_s": 30.0,
             "caller": None, "ringing": [], "callback": True},
        ],
        "talking": {"c1": "sim:///p1"}, "supervising": [],
        "trunks": [
            {"name": "e1-1", "url": "sim:///x", "d_channel": "up", "span_state": "up", "alarms": [],
             "idle_channels": 29, "calls_in": 5, "last_change": "up"},
            {"name": "e1-2", "url": "dahdi://2", "d_channel": "down", "span_state": "alarm",
             "alarms": ["los"], "idle_channels": 0, "calls_in": 0, "last_change": "down: LOS"},
        ],
    }


def test_the_hub_gets_counts_states_and_waits_but_no_callers_files() -> None:
    live = hub_live("box-001", pbxd_view(), AT)
    assert (live["box_id"], live["at"], live["format"]) == ("box-001", AT, 1)
    assert (live["calls_waiting"], live["emergency_waiting"], live["longest_wait_s"]) == (2, 1, 30.0)
    assert live["agents_by_state"] == {"busy": 1, "ready": 1, "not_ready": 1}
    assert (live["trunks_up"], live["trunks_total"]) == (1, 2)
    assert live["agents"][2] == {"agent_id": "1003", "name": "赵强", "state": "not_ready",
                                 "state_zh": "示忙", "reason": "开会", "seconds": 600.0}
    assert live["waiting"][0] == {"queue": "emergency", "priority": "emergency", "position": 1,
                                  "wait_s": 12.5, "callback": False}
    assert live["trunks"][1] == {"name": "e1-2", "d_channel": "down", "span_state": "alarm",
                                 "alarms": ["los"], "idle_channels": 0}
    text = repr(live)
    assert "张阿姨" not in text and "13900000000" not in text and "1-2-301" not in text


def test_an_idle_box_has_zeros() -> None:
    live = hub_live("box-001", {"box_id": "box-001", "agents": [], "waiting": []}, AT)
    assert (live["calls_waiting"], live["longest_wait_s"], live["agents_by_state"], live["trunks_total"]) == \
        (0, 0, {}, 0)


@pytest.mark.parametrize(("view", "why"), [
    ([], "not a JSON object"),
    ({"box_id": "box-002", "agents": []}, "for box 'box-002', not 'box-001'"),
    ({"agents": []}, "for box None"),
    ({"box_id": "box-001", "agents": "many"}, "'agents' is not a list of objects"),
    ({"box_id": "box-001", "waiting": [1, 2]}, "'waiting' is not a list of objects"),
])
def test_what_is_not_this_boxs_wallboard_is_refused(view: object, why: str) -> None:
    with pytest.raises(LiveViewError, match=why):
        hub_live("box-001", view, AT)


def test_the_relay_sends_the_newest_at_most_every_interval() -> None:
    relay = LiveRelay()
    assert relay.take(0.0, connected=True) is None and relay.next_due(0.0) is None
    relay.offer("v1")
    assert relay.next_due(0.0) == 0.0
    assert relay.take(0.0, connected=True) == "v1"
    relay.offer("v2")
    relay.offer("v3")  # v2 is never sent: v3 is newer
    assert relay.take(1.0, connected=True) is None
    assert relay.next_due(1.0) == pytest.approx(MIN_INTERVAL - 1.0)
    assert relay.take(MIN_INTERVAL, connected=True) == "v3"
    assert relay.take(10.0, connected=True) is None


def test_figures_that_could_not_go_out_are_dropped_not_queued() -> None:
    relay = LiveRelay()
    relay.offer("old")
    assert relay.take(0.0, connected=False) is None
    assert relay.take(5.0, connected=True) is None  # back online: the old figures are not sent
    relay.offer("fresh")
    assert relay.take(5.0, connected=True) == "fresh"
