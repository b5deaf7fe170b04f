"""`anxin-box fxs-test`: the technician's phone test, as a sequence and against a simulated port."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.e1_card.errors import SpanError
from drivers.e1_card.fxs import Digit, HookOff, HookOn
from drivers.e1_card.port_test import HANG_UP_TIMEOUT, KEY_TIMEOUT, PortTest
from drivers.e1_card.sim_fxs import CallerId, Ring, SimHandsetLink, Tone


def new_test(ring_timeout: float = 30.0) -> PortTest:
    return PortTest(cid_number="13800138000", cid_name="ANXIN TEST", ring_timeout=ring_timeout, now=0.0)


def test_a_working_phone_passes_ring_answer_keys_hang_up() -> None:
    test = new_test()
    [ring] = test.start(False, 0.0)
    assert (ring.ring, ring.cid) == (True, ("13800138000", "ANXIN TEST")) and "13800138000" in ring.say
    [answered] = test.event(HookOff(), 4.5)
    assert (answered.ring, answered.tone) == (False, "dial") and "4.5" in answered.say
    assert test.event(Digit("1"), 6.0)[0].tone == "none"  # the first key stops the dial tone
    assert test.event(Digit("2"), 6.5)[0].tone is None
    *_, ask = test.event(Digit("#"), 7.0)
    assert ask.tone == "busy" and "12#" in ask.say
    [done] = test.event(HookOn(), 9.0)
    assert test.done and test.result.ok and "通过 PASSED" in done.say
    assert (test.result.answered_after, test.result.keys) == (4.5, "12#")


def test_nobody_answering_fails_and_says_what_to_check() -> None:
    test = new_test(ring_timeout=10.0)
    test.start(False, 0.0)
    assert test.tick(9.9) == []
    stop, done = test.tick(10.0)
    assert stop.ring is False and test.done and not test.result.ok
    assert "检查话机连线" in test.result.problems[0] and "未通过 FAILED" in done.say


def test_a_phone_off_hook_at_the_start_is_put_down_first() -> None:
    test = new_test()
    [ask] = test.start(True, 0.0)
    assert ask.ring is None and "请先挂机" in ask.say
    _, ring = test.event(HookOn(), 3.0)
    assert ring.ring is True and test.state == "ringing"


def test_no_keys_is_a_failure_even_when_put_down() -> None:
    test = new_test()
    test.start(False, 0.0)
    test.event(HookOff(), 1.0)
    [ask] = test.tick(1.0 + KEY_TIMEOUT)
    assert ask.tone == "busy"
    test.event(HookOn(), 20.0)
    assert test.done and not test.result.ok and test.result.problems == ["没有收到按键 no keys received"]


def test_never_put_down_times_out() -> None:
    test = new_test()
    test.start(False, 0.0)
    test.event(HookOff(), 1.0)
    test.event(Digit("#"), 2.0)
    assert test.tick(2.0 + HANG_UP_TIMEOUT - 0.1) == []
    test.tick(2.0 + HANG_UP_TIMEOUT)
    assert test.done and not test.result.ok and "未挂机" in test.result.problems[0]


def handset_events(link: SimHandsetLink, seconds: float) -> list[object]:
    seen, until = [], time.monotonic() + seconds
    while time.monotonic() < until:
        event = link.read_event()
        if event is None:
            time.sleep(0.01)
        elif isinstance(event, Ring | CallerId | Tone):
            seen.append(event)
    return seen


@pytest.mark.timeout(60)
def test_the_command_against_a_simulated_port_and_handset(tmp_path: Path) -> None:
    path = tmp_path / "fxs1"
    tool = subprocess.Popen([sys.executable, "-m", "appliance.cli", "fxs-test", f"sim://{path}",
                             "--ring-timeout", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                link = SimHandsetLink(path)
                link.read_event()  # connects
                break
            except SpanError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with link:
            first = handset_events(link, 1.0)
            assert CallerId("13800138000", "ANXIN TEST") in first and Ring(True) in first
            link.hook_off()
            assert Tone("dial") in handset_events(link, 0.5)
            link.dtmf("42#")
            assert Tone("busy") in handset_events(link, 0.5)
            link.hook_on()
            out, err = tool.communicate(timeout=15)
    finally:
        if tool.poll() is None:
            tool.kill()
    assert tool.returncode == 0, out + err
    assert "按键 keys 42#" in out and "通过 PASSED" in out and "来电显示应为 13800138000" in out


def test_a_bad_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from appliance.cli import main

    assert main(["fxs-test", "tel://1"]) == 2
    assert "fxs-test" in capsys.readouterr().err
