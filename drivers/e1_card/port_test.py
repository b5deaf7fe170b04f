"""A technician's test of an agent's phone on an FXS port (``anxin-box fxs-test URL``).

On site, before pbxd runs, the technician checks one port and its phone end to end:
the ringer rings, the caller ID shows, lifting the handset is seen, dial tone is heard,
the keys come through (out-of-band from the card or the simulator, or in-band DTMF in
the audio), and putting it down is seen. Exit status 0 when all of it worked.

``PortTest`` is the sans-I/O sequence, fed events and the time; ``run_port_test`` is
the shell over a real port (``dahdi://chan/N``) or a simulated one (``sim://PATH``):
it clocks the port every 20 ms, since the line clocks nothing on an idle FXS port.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from appliance.media.dtmf import DtmfDetector
from appliance.media.g711 import alaw_to_linear
from drivers.e1_card.fxs import FRAME_BYTES, Audio, Digit, FxsEvent, FxsPort, HookOff, HookOn
from drivers.e1_card.g711 import ALAW_IDLE

TICK: Final = 0.020
END_KEY: Final = "#"
KEY_TIMEOUT: Final = 15.0  # seconds without a key before the key step ends
HANG_UP_TIMEOUT: Final = 30.0


@dataclass
class PortTestResult:
    rang: bool = False
    answered_after: float | None = None
    keys: str = ""
    hung_up: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.answered_after is not None and self.hung_up and not self.problems


@dataclass(frozen=True)
class Step:
    """What the shell must do now: SAY a line to the technician, then the port calls."""

    say: str = ""
    ring: bool | None = None
    cid: tuple[str, str] | None = None
    tone: str | None = None


class PortTest:
    """ring → answered → dial tone → keys (# ends) → busy tone → hung up."""

    def __init__(self, *, cid_number: str, cid_name: str, ring_timeout: float, now: float) -> None:
        self.result = PortTestResult()
        self.state = "start"
        self.done = False
        self._cid = (cid_number, cid_name)
        self._ring_timeout = ring_timeout
        self._since = now
        self._last_key = now

    def start(self, off_hook: bool, now: float) -> list[Step]:
        if off_hook:
            self.state = "put_down"
            self._since = now
            return [Step(say="话机处于摘机状态，请先挂机 the handset is off hook: put it down first")]
        return self._ring(now)

    def _ring(self, now: float) -> list[Step]:
        self.state, self._since = "ringing", now
        self.result.rang = True
        number, name = self._cid
        return [Step(say=f"振铃中，来电显示应为 {number or '（无号码）'} {name} "
                         f"ringing, the display should show {number or '(no number)'} {name}",
                     cid=self._cid, ring=True)]

    def event(self, event: FxsEvent, now: float) -> list[Step]:
        if isinstance(event, HookOff):
            if self.state == "ringing":
                self.result.answered_after = now - self._since
                self.state, self._last_key = "keys", now
                return [Step(say=f"已摘机（振铃 {self.result.answered_after:.1f} 秒后） answered; "
                                 f"听到拨号音后请按几个键，按 {END_KEY} 结束 "
                                 f"press some keys after the dial tone, {END_KEY} to end",
                             ring=False, tone="dial")]
        elif isinstance(event, HookOn):
            if self.state == "put_down":
                return [Step(say="已挂机 on hook"), *self._ring(now)]
            if self.state in ("keys", "hang_up"):
                self.result.hung_up = True
                if self.state == "keys" and not self.result.keys:
                    self.result.problems.append("没有收到按键 no keys received")
                return self._finish("已挂机 on hook")
        elif isinstance(event, Digit):
            return self.key(event.digit, now)
        return []

    def key(self, digit: str, now: float) -> list[Step]:
        if self.state != "keys":
            return []
        self.result.keys += digit
        self._last_key = now
        steps = [Step(say=f"按键 key {digit}", tone="none" if len(self.result.keys) == 1 else None)]
        if digit == END_KEY:
            steps += self._ask_hang_up(now)
        return steps

    def _ask_hang_up(self, now: float) -> list[Step]:
        self.state, self._since = "hang_up", now
        return [Step(say=f"收到按键 keys {self.result.keys}；请挂机 hang up now", tone="busy")]

    def tick(self, now: float) -> list[Step]:
        if self.state == "ringing" and now - self._since >= self._ring_timeout:
            self.result.problems.append(f"振铃 {self._ring_timeout:.0f} 秒无人摘机 nobody answered "
                                        "(检查话机连线和振铃 check the wiring and the ringer)")
            return [Step(ring=False), *self._finish("无人接听 no answer")]
        if self.state == "keys" and now - self._last_key >= KEY_TIMEOUT:
            if not self.result.keys:
                self.result.problems.append("没有收到按键 no keys received")
            return self._ask_hang_up(now)
        if self.state in ("hang_up", "put_down") and now - self._since >= HANG_UP_TIMEOUT:
            self.result.problems.append(f"{HANG_UP_TIMEOUT:.0f} 秒未挂机 not put down")
            return self._finish("超时 timed out")
        return []

    def _finish(self, why: str) -> list[Step]:
        self.state, self.done = "done", True
        r = self.result
        verdict = "通过 PASSED" if r.ok else "未通过 FAILED: " + "; ".join(r.problems)
        return [Step(say=f"{why}。测试结果 result: 振铃 rang {'是' if r.rang else '否'}, "
                         f"摘机 answered {'是' if r.answered_after is not None else '否'}, "
                         f"按键 keys {r.keys or '（无）'}, "
                         f"挂机 hung up {'是' if r.hung_up else '否'} — {verdict}",
                     tone="none")]


def run_port_test(port: FxsPort, *, cid_number: str, cid_name: str, ring_timeout: float,
                  say: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> PortTestResult:
    """Run the test on an open PORT, saying each step; returns when it is over."""
    test = PortTest(cid_number=cid_number, cid_name=cid_name, ring_timeout=ring_timeout, now=clock())
    detector = DtmfDetector()  # keys in the audio, for a card without DTMF detection
    if not getattr(port, "connected", True):  # a simulated port: its handset connects to it
        say("等待话机连接 waiting for the handset to connect …")
        until = clock() + ring_timeout
        while not port.connected:  # type: ignore[attr-defined]
            if clock() > until:
                test.result.problems.append("没有话机连接 no handset connected")
                say("测试结果 result: 未通过 FAILED: 没有话机连接 no handset connected")
                return test.result
            port.read_event()
            time.sleep(TICK)
    off_hook = bool(getattr(port, "off_hook", False))

    def carry_out(steps: list[Step]) -> None:
        for step in steps:
            if step.say:
                say(step.say)
            if step.cid is not None:
                port.send_cid(*step.cid)
            if step.ring is not None:
                port.ring(step.ring)
            if step.tone is not None:
                port.tone(step.tone)

    carry_out(test.start(off_hook, clock()))
    silence = bytes([ALAW_IDLE]) * FRAME_BYTES
    next_tick = clock()
    while not test.done:
        # Wake on the port or at the next tick; read it either way (a simulated port's
        # descriptor changes when its handset connects).
        select.select([port.fileno()], [], [], max(0.0, next_tick - clock()))
        now = clock()
        while (event := port.read_event()) is not None and not test.done:
            if isinstance(event, Audio):
                samples = alaw_to_linear(np.frombuffer(event.samples, dtype=np.uint8))
                for digit in detector.feed(samples, now):
                    carry_out(test.key(digit, now))
            else:
                carry_out(test.event(event, now))
        if now >= next_tick:
            next_tick += TICK
            if next_tick < now:  # a stall: don't try to catch up
                next_tick = now + TICK
            port.write_audio(silence)  # the simulator's clock; on a card, 20 ms of silence
            carry_out(test.tick(now))
    return test.result
