"""pbxd and the carrier agree on the B-channels after a crash; one call's fault stays its own.

- `StartupRestart` (appliance/pbx/trunks.py), the sans-I/O decision: what RESTART a
  trunk owes, when, and what settles it.
- The trunk service on a real simulated line (an in-process `TelcoSim`, the stack with
  short T316): the carrier that never acknowledges, then does.
- pbxd as a process (`anxin-box pbxd --config`) killed with SIGKILL mid-call and started
  again: the carrier (`anxin-sim telco`) sees the RESTART, its calls go, all 30 B-channels
  are idle, and a new call is answered and reaches the agent's phone.
- A D-channel drop with a call up (telco `drop`): no RESTART, the call survives.
- A call whose handling raises leaves a concurrent call untouched.
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pbx_testkit import DIGIT, box_config, running_box, wait_until

from appliance.config import SpanConfig
from appliance.pbx import control, trunks
from appliance.pbx.call_path import CallPath
from appliance.pbx.trunks import SendRestart, StartupRestart, TrunkService
from appliance.store import connect
from drivers.e1_card.q931.timers import Q931Timers
from drivers.e1_card.roles import B_TIMESLOTS
from drivers.e1_card.stack import PriSpan
from drivers.e1_card.telco import TelcoSim
from provisioning.sim_tools import SimTool

ALL = B_TIMESLOTS  # the 30 B-channels of an E1


# -- StartupRestart: the decision, with a fake clock ------------------------------------------

def test_the_first_link_up_restarts_the_whole_interface_and_later_ones_do_not() -> None:
    plan = StartupRestart(ALL, retry_after=30.0)
    assert plan.state == "pending"
    assert plan.link_up(10.0) == SendRestart(None)
    assert plan.state == "restarting"
    # The link resets before the ACK: the RESTART may be lost with it, so it goes again.
    assert plan.link_up(11.0) == SendRestart(None)
    assert not plan.restarted(ALL, [ALL], 11.2)  # the carrier's own RESTART: ours still waits
    assert plan.restarted(ALL, [], 11.5)
    assert (plan.state, plan.sends, plan.done_at, plan.sent_at) == ("done", 2, 11.5, 11.0)
    assert plan.link_up(50.0) is None  # a re-establishment mid-operation owes nothing
    assert not plan.restarted((5,), [], 51.0)


def test_a_restart_the_stack_gave_up_is_retried_channel_by_channel() -> None:
    plan = StartupRestart(ALL, retry_after=30.0)
    plan.link_up(0.0)
    plan.failed(ALL, 240.0)
    assert plan.state == "failed" and plan.retry_at == 270.0 and plan.given_up == set(ALL)
    assert plan.due(269.9, link_up=True) is None
    assert plan.due(270.0, link_up=False) is None  # no link: its coming back sends it
    assert plan.link_up(275.0) == SendRestart(ALL)  # one RESTART per channel now
    assert plan.state == "restarting" and plan.retry_at is None
    pending = [(ts,) for ts in ALL]
    for ts in ALL[:-1]:
        pending.remove((ts,))
        assert not plan.restarted((ts,), pending, 276.0)
    plan.failed((ALL[-1],), 515.0)
    assert plan.state == "failed" and plan.given_up == {ALL[-1]}
    assert not plan.restarted((3,), [], 520.0)  # another channel's restart: 31 is still out
    assert plan.due(545.0, link_up=True) == SendRestart((ALL[-1],))
    assert plan.restarted((ALL[-1],), [], 546.0) and plan.state == "done"


def test_the_carriers_restart_settles_what_we_owe_and_failed_channel_restarts_are_taken_over() -> None:
    plan = StartupRestart(ALL)
    assert not plan.restarted((7,), [], 1.0)  # the carrier restarted one channel: 29 still owed
    assert plan.owed == set(ALL) - {7}
    assert plan.restarted(ALL, [], 1.5)  # then the interface: nothing left to send
    assert plan.link_up(2.0) is None and plan.sends == 0
    # The stack's own channel restart (after T308 twice) fails: the trunk retries it.
    plan.failed((9,), 100.0)
    assert plan.state == "failed" and plan.due(130.0, link_up=True) == SendRestart((9,))
    assert plan.restarted((9,), [], 131.0) and plan.state == "done"


# -- the trunk service on a simulated line: a carrier that will not acknowledge ----------------

@pytest.mark.timeout(30)
async def test_a_carrier_that_does_not_acknowledge_gets_the_restart_again_per_channel(
        monkeypatch: pytest.MonkeyPatch) -> None:
    directory = Path(tempfile.mkdtemp(prefix="anxin-rst-", dir="/tmp"))
    seen: list[dict] = []

    class Out:
        def write(self, text: str) -> None:
            seen.extend(json.loads(line) for line in text.splitlines() if line.strip())

        def flush(self) -> None:
            pass

    async def telco_event(event: str, **match: object) -> dict:
        while True:
            for item in seen:
                if item["event"] == event and all(item.get(k) == v for k, v in match.items()):
                    return item
            await asyncio.sleep(0.02)

    telco = TelcoSim(directory, out=Out())  # type: ignore[arg-type]
    deaf = telco.span.q931.restarts
    answer = deaf._on_restart
    monkeypatch.setattr(deaf, "_on_restart", lambda msg: None)  # RESTART goes unanswered
    monkeypatch.setattr(trunks, "PriSpan", functools.partial(
        PriSpan, q931_options={"timers": Q931Timers(t316=0.2)}))
    monkeypatch.setattr(trunks, "RESTART_RETRY", 0.5)
    runner = asyncio.ensure_future(telco.run(asyncio.Queue()))
    states: list[dict] = []
    service = TrunkService((SpanConfig(name="span1", url=f"sim://{directory}"),), on_state=states.append)
    try:
        await service.start()

        async def state_is(wanted: str) -> dict:
            while service.states()[0]["restart"] != wanted:
                await asyncio.sleep(0.01)
            return service.states()[0]

        await asyncio.wait_for(state_is("restarting"), 5)
        # A call offered while the channels are in maintenance: the stack refuses it (44,
        # the channel the carrier named is not available); call control never sees it.
        await telco.execute("call c1 96101 88881234")
        assert (await asyncio.wait_for(telco_event("released", id="c1"), 5))["cause"] == 44
        failed = await asyncio.wait_for(state_is("failed"), 5)
        assert failed["restart_failed_channels"] == list(ALL) and failed["idle_channels"] == 0
        assert "restart failed: 30 B-channels out of service" in failed["last_change"]
        assert "failed" in {s["restart"] for s in states}  # published on the bus too
        assert service.trunks["span1"].calls_in == 0
        monkeypatch.setattr(deaf, "_on_restart", answer)  # the carrier answers from now on
        done = await asyncio.wait_for(state_is("done"), 5)
        assert done["idle_channels"] == 30 and done["restart_failed_channels"] == []
        restarted = [e for e in seen if e["event"] == "restarted"]
        assert sorted(ts for e in restarted for ts in e["timeslots"]) == list(ALL)  # one per channel
        assert service.trunks["span1"].restart.sends == 2
        await telco.execute("call c2 96101 88881234")  # now it reaches the trunk (34: no call control)
        assert (await asyncio.wait_for(telco_event("released", id="c2"), 5))["cause"] == 34
        assert service.trunks["span1"].calls_in == 1
    finally:
        await service.stop()
        telco.stop()
        await asyncio.wait_for(runner, 5)


# -- pbxd killed mid-call ----------------------------------------------------------------------

@contextmanager
def pbxd_process(config: Path, log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "pbxd", "--config", str(config)],
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def trunk_state(sock: Path) -> dict | None:
    try:
        return control.request(sock, {"cmd": "status"}, timeout=2)["trunks"][0]
    except (OSError, KeyError, IndexError):
        return None


def telco_status(telco: SimTool) -> dict:
    telco.send("status")
    return telco.expect("status")


@pytest.mark.timeout(120)
def test_pbxd_killed_mid_call_restarts_the_interface_when_it_comes_back(tmp_path: Path) -> None:
    span_dir = Path(tempfile.mkdtemp(prefix="anxin-pbxr-", dir="/tmp"))
    data = Path(tempfile.mkdtemp(prefix="anxin-pbxrd-", dir="/tmp"))
    port = span_dir / "fxs1"
    config = box_config(tmp_path, span_dir, port, data)
    sock = control.socket_path(data)
    log = tmp_path / "pbxd.log"
    telco = SimTool("telco", "--dir", str(span_dir))
    phones: list[SimTool] = []

    def handset() -> SimTool:
        phone = SimTool("handset", "--port", str(port), "--answer-after", "0.3")
        phones.append(phone)
        phone.expect("connected", timeout=20)
        return phone

    try:
        telco.expect("ready")
        with pbxd_process(config, log) as first:
            wait_until(lambda: (trunk_state(sock) or {}).get("restart") == "done", timeout=30,
                       what="the first pbxd's trunk up and restarted")
            telco.expect("restarted", timeout=5)  # a fresh start restarts, even with nothing stuck
            phone = handset()
            telco.send("call c1 96101 13800138000")
            telco.send("call c2 96101 13800138001")
            telco.expect("answered", id="c1", timeout=10)
            telco.expect("answered", id="c2", timeout=10)
            phone.expect("hook", state="off", timeout=20)  # one call is with the agent, one queued
            up = telco_status(telco)
            assert set(up["calls"]) == {"c1", "c2"} and len(up["idle_timeslots"]) == 28
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        telco.expect("link", up=False, timeout=10)
        phone.expect("disconnected", timeout=10)
        assert telco.take("released") is None  # the carrier still holds both calls
        assert telco.take("restarted") is None

        started = time.monotonic()
        with pbxd_process(config, log):
            wait_until(lambda: (trunk_state(sock) or {}).get("d_channel") == "up", timeout=30,
                       what="the second pbxd's D-channel up")
            link_up_s = time.monotonic() - started
            restarted = telco.expect("restarted", timeout=10)
            assert restarted["timeslots"] == list(ALL)  # the whole interface, class "all"
            causes = {c: telco.expect("released", id=c, timeout=10)["cause"] for c in ("c1", "c2")}
            idle = wait_until(lambda: len((s := telco_status(telco))["idle_timeslots"]) == 30 and s,
                              timeout=10, what="all 30 B-channels idle at the carrier")
            all_idle_s = time.monotonic() - started
            assert idle["calls"] == {} and idle["link_up"] is True
            trunk = wait_until(lambda: (s := trunk_state(sock)) and s["restart"] == "done" and s,
                               timeout=10, what="the trunk's restart done")
            assert trunk["idle_channels"] == 30
            assert trunk["last_change"] == "up: restarted, 30 B-channels idle"
            # A new call works end to end: answered by the box, put through to the agent.
            phone = handset()
            telco.send("call c3 96101 13800138002")
            telco.expect("answered", id="c3", timeout=10)
            assert phone.expect("cid", timeout=20)["number"] == "13800138002"
            phone.expect("hook", state="off", timeout=10)
            telco.send("hangup c3 16")
            assert telco.expect("released", id="c3", timeout=10)["cause"] == 16
        text = log.read_text(encoding="utf-8")
        assert text.count("重启全部 30 个B信道") == 2  # one RESTART per start, in Chinese and English
        assert text.count("RESTART the whole interface (30 B-channels), attempt 1") == 2
        assert text.count("重启完成, 30 个B信道空闲") == 2
        db = connect(data / "box.db")
        done = db.execute("SELECT caller, outcome FROM calls WHERE caller = '13800138002'").fetchone()
        assert done is not None and done["outcome"] == "agent"
        print(f"\npbxd start → D-channel up {link_up_s:.2f} s, → carrier all 30 B-channels idle "
              f"{all_idle_s:.2f} s; the carrier released c1/c2 with causes {causes}")
    finally:
        for phone in phones:
            phone.stop()
        telco.stop()


# -- pbxd in this process (pbx_testkit.running_box): link drop, a faulty call ------------------

def on_loop(box, read):
    """READ() run on pbxd's loop thread (the stack's state is the loop's alone)."""
    async def run():
        return read()
    return asyncio.run_coroutine_threadsafe(run(), box.daemon.loop).result(5)


def stack_calls(box) -> list[tuple[str, tuple[str, ...]]]:
    """(call state, running timers) of each call in the box's Q.931."""
    span = box.daemon.trunks.trunks["span1"].span
    return on_loop(box, lambda: [(c.state.name, c.timers.names()) for c in span.q931.calls])


@pytest.mark.timeout(60)
def test_a_d_channel_drop_with_a_call_up_sends_no_restart_and_the_call_goes_on(tmp_path: Path) -> None:
    with running_box(tmp_path) as box:
        telco = box.telco
        phone = box.handset("--answer-after", "0.3")
        box.wait_trunk_up()
        telco.expect("restarted")  # the start's own RESTART
        telco.send("call c1 96101 13800138000")
        telco.expect("answered", id="c1")
        phone.expect("hook", state="off", timeout=20)  # caller and agent talk
        trunk = box.daemon.trunks.trunks["span1"]
        up_since = trunk.up_since
        telco.send("drop")  # DISC: layer 2 goes, both sides bring it back (Q.931 5.8.9)
        telco.expect("link", up=False)
        telco.expect("link", up=True, timeout=10)
        wait_until(lambda: trunk.up_since not in (None, up_since), what="the box's D-channel back")
        # Both sides stopped T309 and asked after the call (STATUS ENQUIRY): it is still active.
        wait_until(lambda: stack_calls(box) == [("ACTIVE", ())], what="the call active, no timers")
        assert telco.take("restarted") is None and telco.take("released") is None
        state = control.request(box.daemon.control_path, {"cmd": "status"})["trunks"][0]
        assert (state["restart"], state["d_channel"], state["idle_channels"]) == ("done", "up", 29)
        assert trunk.restart.sends == 1
        assert set(telco_status(telco)["calls"]) == {"c1"}
        assert "RESTART" not in state["last_change"]
        telco.send("hangup c1 16")  # the call ends as any call does, recorded with the agent
        assert telco.expect("released", id="c1")["cause"] == 16
        db = connect(box.data / "box.db")
        call = wait_until(lambda: db.execute("SELECT * FROM calls").fetchone(), what="the call record")
        assert (call["outcome"], call["ended_by"], call["agent"]) == ("agent", "caller", "8001")


@pytest.mark.timeout(60)
def test_a_call_whose_handling_fails_leaves_a_concurrent_call_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lookup = CallPath.caller_info

    def faulty(self: CallPath, number: str | None):
        if number == "13900000000":
            raise RuntimeError("injected fault: caller lookup")
        return lookup(self, number)

    monkeypatch.setattr(CallPath, "caller_info", faulty)  # bound into the handler at start
    with running_box(tmp_path) as box:
        telco = box.telco
        phone = box.handset("--answer-after", "0.3")
        box.wait_trunk_up()
        telco.send("call bad 96101 13900000000")
        telco.send("call good 96101 13800138000")
        telco.expect("answered", id="bad")
        telco.expect("answered", id="good")
        assert phone.expect("cid", timeout=20)["number"] == "13800138000"
        phone.expect("hook", state="off", timeout=10)
        time.sleep(0.3)
        phone.send("on")  # the agent is done: the survey, the caller keys 1, the box says goodbye
        time.sleep(1.0)
        telco.send(f"play good tone {DIGIT['1']} 0.12")
        telco.expect("hangup", id="good", timeout=20)
        telco.expect("released", id="good", timeout=10)
        assert box.daemon.trunks.failures == 1 and box.daemon.trunks.watching()
        assert box.daemon.healthy()   # one call's fault is not a reason to restart pbxd
        # The faulty call was cleared at once with 41 (temporary failure), not left in silence.
        assert telco.expect("hangup", id="bad", timeout=5)["cause"] == 41
        telco.expect("released", id="bad", timeout=5)
        assert telco_status(telco)["calls"] == {}
        db = connect(box.data / "box.db")
        rows = wait_until(lambda: len(r := db.execute("SELECT * FROM calls ORDER BY caller").fetchall()) == 2
                          and r, what="both call records")
        good, bad = rows[0], rows[1]
        assert (good["caller"], good["outcome"], good["survey_score"]) == ("13800138000", "agent", 1)
        assert (bad["caller"], bad["ended_by"]) == ("13900000000", "box")
