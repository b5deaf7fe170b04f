"""`anxin-demo`: a whole simulated district on the embedded defaults.

SQLite hub, a private Mosquitto on a free port, boxes (alarmd + pbxd + syncd). Each box's
alarm receiver is a simulated Sur-Gard on a pty, sending residents' signals and
heartbeats; its E1 trunk is a simulated carrier (`anxin-sim telco`) and its agents'
phones are simulated handsets (`anxin-sim handset`). Every ``--call-interval`` seconds
the carrier brings in a call from a random Chinese number: the box's IVR answers (the
default flow, appliance/ivr/default_flows.toml), the caller presses a key in-band, an
agent's phone rings and is lifted, the agent hangs up after a short talk, the caller
rates the service (满意度评价) and the box clears the call and writes its call record.
After hours every fourth caller leaves a message instead (投诉留言 → a case).

Every ``--emergency-every``-th call is an elder's one-button phone (一键通) calling the
centre's emergency line (``[acd] emergency_numbers`` of the box): each box's registry
(imported from ``registry.csv`` in its data dir) has a few elders whose phone is
registered on the trunk (``alarm_devices`` receiver ``trunk``, line = the phone's number).
The box stores the call's alarm before it answers, receives the phone's in-band Contact ID
(`anxin-sim telco`'s ``alarmphone``), then rings every agent; one answers, talks, hangs up,
and the box clears the call (an emergency has no survey). Both alarms go to the hub.

`CallScript` is what the callers and agents do: a sans-I/O core fed with the simulators'
JSON events and the time, giving back commands for them and the lines to print.
`BoxCalls` is its shell, one thread per box.
"""

from __future__ import annotations

import argparse
import queue
import random
import secrets
import shlex
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance.clock import SHANGHAI, now_local
from appliance.media.dtmf import digit_frequencies
from appliance.registry import COLUMNS as REGISTRY_COLUMNS
from drivers.alarm_phone.contact_id import EVENT_CODES, ContactIdMessage, encode_dtmf
from drivers.alarm_phone.receiver_sim import Acked, ReceiverSim
from drivers.alarm_phone.simulator import FdLink, SimulatedReceiver
from drivers.sim_cli import describe, random_signal
from provisioning.district import Box, District, DistrictError
from provisioning.mosquitto import BrokerError

# The centre's hotline as the carrier delivers it (12349: the elderly-care service line).
CENTRE_NUMBER = "12349"
# The centre's one-button line (一键通专线): the hotline with a suffix, as the carrier delivers it.
EMERGENCY_NUMBER = CENTRE_NUMBER + "1"
EMERGENCY_EVERY = 5  # calls 5, 10, … of each box are emergency call-ins (0: none)
AREA_CODE = "29"  # Xi'an, as in the demo box's [[telephony.spans]] area_code
# A key as the telco's `play ID tone LOW+HIGH` wants it, from the media engine's DTMF table.
DTMF = {key: "+".join(f"{f:.0f}" for f in digit_frequencies(key)) for key in "0123456789*#"}
DTMF_SECONDS = 0.12
# What the default flow does with a key: open hours (main menu) and after hours.
OPEN_KEYS = {"1": "紧急求助 emergency", "2": "咨询服务 consultation", "0": "人工服务 agent"}
AFTER_HOURS_KEYS = {"0": "人工服务 agent (0 works in every menu)", "2": "留言 leave a message"}
SURVEY_KEY, SURVEY_LABEL = "1", "满意 satisfied"
MESSAGE_EVERY = 4  # after hours, calls 4, 8, … leave a message; the others ask for an agent
MOBILE_PREFIXES = [f"13{d}" for d in range(10)] + [f"15{d}" for d in (0, 1, 2, 3, 5, 6, 7, 8, 9)] \
    + [f"18{d}" for d in range(10)]
OTHER_AREAS = {"10": "北京", "21": "上海", "22": "天津", "20": "广州", "28": "成都", "27": "武汉",
               "571": "杭州", "755": "深圳", "371": "郑州", "931": "兰州"}
# Speech for the simulated people (generated like the prompts; tones when espeak is missing).
VOICES = {
    "agent_hello": "您好，社区养老服务中心，请讲。",
    "caller_request": "你好，我想预约明天的助餐服务。",
    "caller_message": "你好，我家楼道的灯坏了，请派人来看看。",
    "caller_emergency": "我在家里摔倒了，起不来了，快来帮帮我。",
}
VOICE_SPEED = 190


# -- the core: what callers and agents do --------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    """A caller's number as the box shows it (dialable) and as the carrier sends it."""

    number: str       # 13812345678, 02158880000, 02988881234
    digits: str       # what the SETUP carries: 13812345678, 2158880000, 88881234
    ton: str          # its type of number: national or subscriber
    kind: str         # for the printed line


def random_caller(rng: random.Random, area_code: str = AREA_CODE) -> Caller:
    """A mobile (13x/15x/18x), a landline of another area, or a local landline."""
    pick = rng.random()
    if pick < 0.6:
        number = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        return Caller(number, number, "national", "手机 mobile")
    subscriber = f"{rng.randint(2, 8)}{rng.randrange(10**7):07d}"
    if pick < 0.85:
        area = rng.choice(sorted(OTHER_AREAS))
        return Caller(f"0{area}{subscriber}", area + subscriber, "national",
                      f"{OTHER_AREAS[area]}座机 landline")
    return Caller(f"0{area_code}{subscriber}", subscriber, "subscriber", "本地座机 local landline")


# Each box's elders with a one-button phone: name, address, who to call, what the button sends.
DEMO_ELDERS = (
    ("张桂英", "莲湖区青年路 12 号 3 单元 201 室", "张伟（儿子）", "101"),
    ("李秀兰", "新城区长乐西路 88 号 1 单元 502 室", "李娜（女儿）", "100"),
    ("王德福", "碑林区南稍门 5 号院 2 号楼 301 室", "王强（儿子）", "101"),
)


@dataclass(frozen=True)
class EmergencyPhone:
    """An elder's one-button phone (一键通), registered on the box's trunk by its number."""

    number: str          # its own (SIM) number: the caller ID the box sees
    account: str         # the Contact ID account it reports in-band (4 digits)
    event_code: str      # what its button sends: 101 紧急求助 or 100 医疗求助
    elder_id: str
    name: str
    address: str
    home_phone: str
    emergency_contact: str
    emergency_phone: str

    @property
    def message(self) -> ContactIdMessage:
        return ContactIdMessage(self.account, "18", 1, self.event_code, "01", "001")  # zone 1: the button

    @property
    def digits(self) -> str:
        return encode_dtmf(self.message)

    @property
    def event_zh(self) -> str:
        event = EVENT_CODES.get(self.event_code)
        return event.zh if event else self.event_code


def demo_emergency_phones(box_number: int) -> list[EmergencyPhone]:
    """The one-button phones of demo box BOX_NUMBER (1, 2, …): the same ones on every run.
    Accounts 2BBK stay clear of the serial residents' 1000-1099 (drivers/sim_cli.py)."""
    b = box_number % 100
    return [EmergencyPhone(number=f"1390029{b:02d}{k:02d}", account=f"2{b:02d}{k}", event_code=code,
                           elder_id=f"DEMO-{box_number:03d}-{k:02d}", name=name, address=f"西安市{address}",
                           home_phone=f"029-8526{b:02d}{k:02d}", emergency_contact=contact,
                           emergency_phone=f"1380029{b:02d}{k:02d}")
            for k, (name, address, contact, code) in enumerate(DEMO_ELDERS, start=1)]


def write_registry(path: Path, phones: Sequence[EmergencyPhone]) -> Path:
    """PHONES as the registry CSV a technician imports (appliance/registry.py's columns)."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=REGISTRY_COLUMNS)
        writer.writeheader()
        for phone in phones:
            writer.writerow({"account": phone.account, "receiver": "trunk", "line": phone.number,
                             "elder_id": phone.elder_id, "name": phone.name, "phone": phone.home_phone,
                             "address": phone.address, "emergency_contact": phone.emergency_contact,
                             "emergency_phone": phone.emergency_phone,
                             "notes": f"一键通 one-button phone {phone.number}, 按键发送 {phone.event_code} "
                                      f"{phone.event_zh}"})
    return path


@dataclass(frozen=True)
class Timing:
    """Seconds of what the callers hear and say (from the prompt and voice files)."""

    greeting: float = 9.2          # welcome + recording_notice
    leave_message: float = 7.2
    agent_hello: float = 3.0
    caller_request: float = 3.0
    caller_message: float = 3.5
    caller_emergency: float = 3.5
    voices: Mapping[str, Path] = field(default_factory=dict)  # name → file; tones without


@dataclass(frozen=True)
class ToTelco:
    line: str


@dataclass(frozen=True)
class ToPhone:
    extension: str
    line: str


@dataclass(frozen=True)
class Say:
    text: str


Action = ToTelco | ToPhone | Say

# Call states. Each waits either for a step of ours (``due``) or for the box (``deadline``).
DIALLING, GREETING, QUEUED, AGENT_SPEAKS, CALLER_SPEAKS, AGENT_HANGING_UP, SURVEY = (
    "dialling", "greeting", "queued", "agent_speaks", "caller_speaks", "agent_hanging_up", "survey")
TALKING = (AGENT_SPEAKS, CALLER_SPEAKS, AGENT_HANGING_UP)
MESSAGE_PROMPT, SPEAKING, CLOSING, ENDING, CLEARED = (
    "message_prompt", "speaking", "closing", "ending", "cleared")
INBAND = "inband"  # an emergency phone's Contact ID exchange, before the agents ring
WAITING_FOR = {
    DIALLING: "IVR 应答 the IVR to answer",
    INBAND: "带内 Contact ID 结束 the in-band Contact ID to finish",
    QUEUED: "坐席接听 an agent to answer",
    AGENT_HANGING_UP: "坐席挂机 the agent's hang-up",
    CLOSING: "设备挂机 the box to clear the call",
    ENDING: "释放 the release",
    CLEARED: "释放 the release",
}


@dataclass
class DemoCall:
    id: str
    caller: Caller
    placed_at: float
    open_hours: bool
    key: str
    state: str = DIALLING
    due: float | None = None        # our next step
    deadline: float | None = None   # the box must have acted by then
    extension: str | None = None    # the agent's phone that took it
    answered_at: float | None = None
    keyed_at: float | None = None
    agent_at: float | None = None
    said_end: bool = False
    emergency: EmergencyPhone | None = None   # an elder's one-button phone calling in

    @property
    def label(self) -> str:
        return f"{self.id} {self.caller.number}"


@dataclass
class CallCounts:
    placed: int = 0
    answered_by_ivr: int = 0   # answered by the box (its IVR, or an emergency call straight to ring-all)
    answered_by_agents: int = 0
    surveys: int = 0
    messages: int = 0
    emergency: int = 0   # of the placed: one-button phones calling the emergency line
    kissoffs: int = 0    # their in-band Contact ID messages the box acknowledged
    completed: int = 0   # the box cleared it after the goodbye, as the flow ends a call
    timed_out: int = 0
    failed: int = 0      # the box refused or cleared it where the script did not expect it


@dataclass
class PhoneState:
    last_cid: str | None = None
    busy_with: str | None = None   # call id


class CallScript:
    """The callers of one box (on its telco) and its agents (on its handsets), sans I/O.

    Feed it ``place(now, open_hours)`` to bring in a call, the simulators' events with
    ``on_telco`` / ``on_phone``, and ``on_timer(now)`` at ``next_timer()``; carry out
    ``actions()`` in order. Time is any monotonic clock in seconds. With EMERGENCY_PHONES
    and EMERGENCY_EVERY = N, calls N, 2N, … come from those phones (in turn) to
    EMERGENCY_NUMBER, each sending its Contact ID message in-band once answered.
    """

    def __init__(self, extensions: Sequence[str], rng: random.Random, timing: Timing | None = None, *,
                 centre_number: str = CENTRE_NUMBER, area_code: str = AREA_CODE,
                 emergency_phones: Sequence[EmergencyPhone] = (), emergency_every: int = 0,
                 emergency_number: str = EMERGENCY_NUMBER,
                 answer_timeout: float = 10.0, agent_timeout: float = 45.0,
                 close_timeout: float = 25.0, release_timeout: float = 5.0,
                 inband_timeout: float = 20.0) -> None:
        if emergency_every < 0:
            raise ValueError(f"emergency_every must be >= 0 (0 = no emergency calls), got {emergency_every}")
        self.phones = {ext: PhoneState() for ext in extensions}
        self.rng, self.timing = rng, timing or Timing()
        self.centre_number, self.area_code = centre_number, area_code
        self.emergency_phones, self.emergency_every = tuple(emergency_phones), emergency_every
        self.emergency_number, self.inband_timeout = emergency_number, inband_timeout
        self.answer_timeout, self.agent_timeout = answer_timeout, agent_timeout
        self.close_timeout, self.release_timeout = close_timeout, release_timeout
        self.calls: dict[str, DemoCall] = {}
        self.counts = CallCounts()
        self._out: list[Action] = []

    # -- verbs -----------------------------------------------------------------------------
    def actions(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    @property
    def live(self) -> int:
        return len(self.calls)

    def next_timer(self) -> float | None:
        times = [t for c in self.calls.values() for t in (c.due, c.deadline) if t is not None]
        return min(times, default=None)

    def place(self, now: float, open_hours: bool) -> DemoCall:
        self.counts.placed += 1
        n = self.counts.placed
        if self.emergency_phones and self.emergency_every and n % self.emergency_every == 0:
            return self._place_emergency(now, open_hours)
        if open_hours:
            key = self.rng.choice(sorted(OPEN_KEYS))
        else:
            key = "2" if n % MESSAGE_EVERY == 0 else "0"
        call = DemoCall(f"c{n}", random_caller(self.rng, self.area_code), now, open_hours, key)
        call.deadline = now + self.answer_timeout
        self.calls[call.id] = call
        c = call.caller
        hours = "工作时间 open hours" if open_hours else "非工作时间 after hours"
        self._say(call, f"来电 {c.kind} → {self.centre_number} ({hours})  incoming call", label=True)
        self._telco(f"call {call.id} {self.centre_number} {c.digits} ton={c.ton}")
        return call

    def _place_emergency(self, now: float, open_hours: bool) -> DemoCall:
        phone = self.emergency_phones[self.counts.emergency % len(self.emergency_phones)]
        self.counts.emergency += 1
        caller = Caller(phone.number, phone.number, "national", "一键通 one-button phone")
        call = DemoCall(f"c{self.counts.placed}", caller, now, open_hours, key="", emergency=phone)
        call.deadline = now + self.answer_timeout
        self.calls[call.id] = call
        self._say(call, f"一键通紧急呼叫 {phone.name}（{phone.address}）按下按钮 → {self.emergency_number}, "
                        f"带内 Contact ID {phone.event_code} {phone.event_zh} "
                        f"(账号 account {phone.account})  emergency call-in", label=True)
        self._telco(f"call {call.id} {self.emergency_number} {phone.number} ton=national")
        self._telco(f"alarmphone {call.id} {phone.digits}")
        return call

    def finish(self, now: float) -> None:
        """The demo ends: every caller still on the line hangs up."""
        for call in list(self.calls.values()):
            if call.state not in (ENDING, CLEARED):
                self._say(call, "演示结束，主叫挂机 demo ending: the caller hangs up")
                self._end(call, now)

    def on_timer(self, now: float) -> None:
        for call in list(self.calls.values()):
            if call.due is not None and now >= call.due:
                call.due = None
                self._step(call, now)
            elif call.deadline is not None and now >= call.deadline:
                call.deadline = None
                self._timed_out(call, now)

    # -- the carrier's events --------------------------------------------------------------------
    def on_telco(self, event: Mapping[str, Any], now: float) -> None:
        kind = event.get("event")
        if kind == "error":
            self._out.append(Say(f"模拟电信局端报错 telco error: {event.get('command', '')!r}: "
                                 f"{event.get('message')}"))
            return
        call = self.calls.get(str(event.get("id", "")))
        if call is None:
            return
        if kind == "answered" and call.state == DIALLING and call.emergency is not None:
            self.counts.answered_by_ivr += 1  # answered by the box (its alarm already stored)
            call.answered_at = now
            call.state, call.deadline = INBAND, now + self.inband_timeout
            self._say(call, "设备应答（报警已记录），带内 Contact ID 握手 the box answers (alarm stored): "
                            "in-band Contact ID handshake")
        elif kind == "kissoff":
            self.counts.kissoffs += 1
            self._say(call, f"设备确认音 kissoff: 报警 {event.get('digits')} 已送达 the box acknowledged "
                            f"the alarm (attempt {event.get('attempt')})")
        elif kind == "alarmphone_gave_up":
            self._say(call, f"一键通放弃发送 the phone gave up {event.get('digits')}: {event.get('reason')}")
        elif kind == "alarmphone_done":
            ringing = call.state == INBAND  # (an agent may have lifted already)
            if ringing:
                call.state, call.deadline = QUEUED, now + self.agent_timeout
                call.keyed_at = now
            then = " → 振铃所有坐席 ringing all agents" if ringing else ""
            self._say(call, f"带内报警发送完毕 Contact ID done (sent {event.get('sent')}, "
                            f"failed {event.get('failed')}){then}")
        elif kind == "answered" and call.state == DIALLING:
            self.counts.answered_by_ivr += 1
            call.answered_at = now
            call.state, call.deadline = GREETING, None
            # An elder in a hurry presses during the greeting (the flow takes it as the
            # menu's key); others wait for the menu.
            call.due = now + self.rng.uniform(1.5, self.timing.greeting + 1.5)
            self._say(call, f"IVR 应答，欢迎语 the IVR answers: greeting, "
                            f"{'主菜单 main menu' if call.open_hours else '非工作时间菜单 after-hours menu'}")
        elif kind == "hangup":
            self._box_cleared(call, event, now)
        elif kind == "released":
            if not call.said_end:
                self._box_cleared(call, event, now)
            self._free_phone(call)
            del self.calls[call.id]

    def _box_cleared(self, call: DemoCall, event: Mapping[str, Any], now: float) -> None:
        cause = (f"cause {event.get('cause')} {event.get('text') or ''}".strip()
                 if event.get("cause") is not None else "no cause")
        took = f"{now - call.placed_at:.1f} s"
        if call.state == CLOSING:
            self.counts.completed += 1
            self._say(call, f"通话结束，设备挂机 call ended, cleared by the box ({cause}; 共 {took})")
        elif call.state == ENDING:
            self._say(call, f"已挂机 released ({cause})")
        elif call.state != CLEARED:
            self.counts.failed += 1
            self._say(call, f"设备挂断 the box cleared the call while {call.state} ({cause}; {took})")
        call.said_end = True
        call.state, call.due = CLEARED, None
        call.deadline = now + self.release_timeout
        self._free_phone(call)

    # -- the agents' phones ---------------------------------------------------------------------
    def on_phone(self, extension: str, event: Mapping[str, Any], now: float) -> None:
        phone = self.phones.get(extension)
        if phone is None:
            return
        kind = event.get("event")
        if kind == "cid":
            phone.last_cid = str(event.get("number") or "")
        elif kind == "hook" and event.get("state") == "off":
            call = self._call_for_cid(phone.last_cid)
            if call is None or phone.busy_with is not None:
                # Lifted for a call another phone took, or one that is gone: put it down.
                self._out.append(ToPhone(extension, "on"))
                return
            self.counts.answered_by_agents += 1
            phone.busy_with, call.extension = call.id, extension
            call.state, call.deadline, call.agent_at = AGENT_SPEAKS, None, now
            call.due = now + self.timing.agent_hello + 0.3  # then the caller says what they want
            if call.emergency is not None:  # for an emergency what counts is since the button
                after = f"{now - call.placed_at:.1f} s after the button 按键呼叫后"
            else:
                after = f"{now - (call.keyed_at or now):.1f} s after the key 按键后"
            self._say(call, f"→ 坐席 {extension} 接听 agent {extension} answers ({after})", label=True)
            self._play_phone(extension, "agent_hello")
        elif kind == "hook" and event.get("state") == "on":
            call = self.calls.get(phone.busy_with or "")
            if call is None or call.extension != extension or call.state not in TALKING:
                if call is None:
                    phone.busy_with = None
                return  # a phone put down that carried no call of ours
            phone.busy_with = None
            talk = now - (call.agent_at or now)
            if call.emergency is not None:  # the emergency flow has no survey: the box clears
                call.state, call.deadline = CLOSING, now + self.close_timeout
                self._say(call, f"坐席 {extension} 挂机，通话 {talk:.1f} 秒 "
                                f"agent hangs up after {talk:.1f} s → 设备挂机 the box clears the call")
                return
            call.state, call.deadline = SURVEY, None
            call.due = now + 1.5  # into the survey prompt, which a key interrupts
            self._say(call, f"坐席 {extension} 挂机，通话 {talk:.1f} 秒 agent hangs up after {talk:.1f} s "
                            f"→ 满意度评价 survey")
        elif kind == "disconnected":
            self._out.append(Say(f"坐席话机 {extension} 断开 phone disconnected: {event.get('message')}"))

    def _call_for_cid(self, number: str | None) -> DemoCall | None:
        if not number:
            return None
        # INBAND too: the agents' ringing may be heard before the phone's "done".
        waiting = [c for c in self.calls.values() if c.state in (QUEUED, INBAND) and c.extension is None]
        # The box shows the number after its translation rules: match that, or what was sent.
        return next((c for c in waiting if c.caller.number == number), None) or next(
            (c for c in waiting if number.endswith(c.caller.digits)), None)

    def _free_phone(self, call: DemoCall) -> None:
        if call.extension is None:
            return
        phone = self.phones[call.extension]
        if phone.busy_with == call.id:
            phone.busy_with = None
            self._out.append(ToPhone(call.extension, "on"))  # the agent puts the phone down

    # -- the script's own steps -----------------------------------------------------------------
    def _step(self, call: DemoCall, now: float) -> None:
        if call.state == GREETING:
            meaning = (OPEN_KEYS if call.open_hours else AFTER_HOURS_KEYS)[call.key]
            self._say(call, f"主叫按 {call.key}（{meaning}）caller presses {call.key}")
            self._key(call, call.key)
            call.keyed_at = now
            if call.open_hours or call.key != "2":
                call.state, call.deadline = QUEUED, now + self.agent_timeout
            else:  # the message prompt starts at once (a key in the greeting answers the menu)
                call.state = MESSAGE_PROMPT
                call.due = now + self.timing.leave_message + 1.0
        elif call.state == AGENT_SPEAKS:
            emergency = call.emergency is not None
            self._play_telco(call, "caller_emergency" if emergency else "caller_request")
            call.state = CALLER_SPEAKS
            said = self.timing.caller_emergency if emergency else self.timing.caller_request
            call.due = now + said + self.rng.uniform(0.5, 2.0)
        elif call.state == CALLER_SPEAKS:
            call.state, call.deadline = AGENT_HANGING_UP, now + self.release_timeout
            if call.extension is not None:
                self._out.append(ToPhone(call.extension, "on"))
        elif call.state == SURVEY:
            self.counts.surveys += 1
            self._say(call, f"主叫评价 {SURVEY_KEY}（{SURVEY_LABEL}）caller rates the service {SURVEY_KEY}")
            self._key(call, SURVEY_KEY)
            call.state, call.deadline = CLOSING, now + self.close_timeout
        elif call.state == MESSAGE_PROMPT:
            self.counts.messages += 1
            self._say(call, f"主叫留言 {self.timing.caller_message:.1f} 秒 caller leaves a message")
            self._play_telco(call, "caller_message")
            call.state, call.due = SPEAKING, now + self.timing.caller_message + 0.5
        elif call.state == SPEAKING:
            self._say(call, "主叫按 # 结束留言 caller presses # to end the message")
            self._key(call, "#")
            call.state, call.deadline = CLOSING, now + self.close_timeout

    def _timed_out(self, call: DemoCall, now: float) -> None:
        what = WAITING_FOR.get(call.state, call.state)
        if call.state in (ENDING, CLEARED):
            self._say(call, f"超时 timed out waiting for {what}: 放弃 given up")
            self._free_phone(call)
            del self.calls[call.id]
            return
        self.counts.timed_out += 1
        self._say(call, f"超时 timed out waiting for {what}: 主叫挂机 the caller hangs up")
        self._end(call, now)

    def _end(self, call: DemoCall, now: float) -> None:
        self._telco(f"hangup {call.id} 16")
        self._free_phone(call)
        call.state, call.due, call.deadline = ENDING, None, now + self.release_timeout

    # -- output ----------------------------------------------------------------------------
    def _say(self, call: DemoCall, text: str, label: bool = False) -> None:
        sep = " " if label else ": "
        self._out.append(Say(f"{call.label}{sep}{text}"))

    def _telco(self, line: str) -> None:
        self._out.append(ToTelco(line))

    def _key(self, call: DemoCall, key: str) -> None:
        self._telco(f"play {call.id} tone {DTMF[key]} {DTMF_SECONDS}")

    def _play_telco(self, call: DemoCall, voice: str) -> None:
        path = self.timing.voices.get(voice)
        self._telco(f"play {call.id} file {shlex.quote(str(path))}" if path
                    else f"play {call.id} tone 440 1.5")

    def _play_phone(self, extension: str, voice: str) -> None:
        path = self.timing.voices.get(voice)
        self._out.append(ToPhone(extension, f"play file {shlex.quote(str(path))}" if path
                                 else "play tone 520 1.5"))


# -- the shell: one thread per box -----------------------------------------------------------------

def prompt_seconds(path: Path | None, default: float) -> float:
    """How long a prompt/voice file plays (A-law, 8000 bytes a second); DEFAULT if unreadable."""
    from appliance.ivr.prompts import PromptError, read_prompt

    if path is None:
        return default
    try:
        return len(read_prompt(path)) / 8000
    except (PromptError, OSError):
        return default


def make_voices(directory: Path) -> dict[str, Path]:
    """The simulated people's speech (espeak-ng Mandarin); {} if it cannot be made."""
    from appliance.ivr.prompts import PromptError, find_prompt, generate_prompts

    try:
        generate_prompts(VOICES, directory, speed=VOICE_SPEED)
    except (PromptError, OSError) as exc:
        print(f"模拟语音无法生成，改用提示音 simulated voices unavailable, using tones: {exc}", flush=True)
        return {}
    found = {name: find_prompt(name, directory) for name in VOICES}
    return {name: path for name, path in found.items() if path is not None}


def box_timing(box: Box, voices: Mapping[str, Path]) -> Timing:
    from appliance.ivr.prompts import find_prompt

    def seconds(name: str, default: float) -> float:
        return prompt_seconds(find_prompt(name, box.prompt_dir), default)

    return Timing(greeting=seconds("welcome", 4.4) + seconds("recording_notice", 4.8),
                  leave_message=seconds("leave_message", 7.2),
                  agent_hello=prompt_seconds(voices.get("agent_hello"), 1.5),
                  caller_request=prompt_seconds(voices.get("caller_request"), 1.5),
                  caller_message=prompt_seconds(voices.get("caller_message"), 1.5),
                  caller_emergency=prompt_seconds(voices.get("caller_emergency"), 1.5),
                  voices=dict(voices))


def hours_of(box: Box) -> Callable[[float], bool]:
    """Whether the box's IVR is open at an epoch time: the calendar of the flow it runs."""
    from appliance.config import load_config
    from appliance.ivr.flows import load_default_ivr

    ivr = load_config(box.config_path).ivr or load_default_ivr(check_prompt_files=False)
    calendar = ivr.flow.calendar
    return (lambda now: calendar.is_open(now)) if calendar is not None else (lambda now: True)


def add_demo_box(district: District, number: int, *, phones: int,
                 emergency_number: str = EMERGENCY_NUMBER) -> tuple[Box, list[EmergencyPhone]]:
    """Demo box NUMBER with its trunk, PHONES agents' phones and the emergency line, its
    one-button phones imported into its registry before its daemons start; started."""
    box = district.add_box(f"demo-box-{number:03d}", heartbeat_interval=30.0, trunk=True,
                           phones=phones, emergency_numbers=[emergency_number], start=False)
    emergency_phones = demo_emergency_phones(number)
    district.import_registry(box.box_id, write_registry(box.data_dir / "registry.csv", emergency_phones))
    district.start_box(box)
    return box, emergency_phones


class BoxCalls(threading.Thread):
    """Runs a CallScript against one box's telco and phones until ``stop`` is set."""

    def __init__(self, box: Box, script: CallScript, interval: float, stop: threading.Event,
                 is_open: Callable[[float], bool], records_before: int = 0, signals_before: int = 0) -> None:
        super().__init__(name=f"{box.box_id}-calls", daemon=True)
        self.box, self.script, self.interval, self.stop = box, script, interval, stop
        self.is_open = is_open
        # box.db may hold an earlier run's calls and alarms (--workdir)
        self.records_before, self.signals_before = records_before, signals_before
        self.abandon = False  # Ctrl-C: the simulators got SIGINT too, no caller is left to hang up
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        assert box.telco is not None
        box.telco.listeners.append(lambda e: self.events.put(("", e)))
        for phone in box.phones:
            phone.handset.listeners.append(lambda e, x=phone.extension: self.events.put((x, e)))

    def run(self) -> None:
        next_call = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_call:
                self.script.place(now, self.is_open(time.time()))
                next_call = now + self.interval
            self.script.on_timer(now)
            self._carry_out()
            wake = min(next_call, self.script.next_timer() or next_call)
            self._pump(max(0.0, min(wake - time.monotonic(), 0.25)))
        if self.abandon:
            return
        # The end: the callers hang up; wait (bounded) for the box to release their calls.
        self.script.finish(time.monotonic())
        self._carry_out()
        until = time.monotonic() + self.script.release_timeout
        while self.script.live and time.monotonic() < until:
            self._pump(0.1)
            self.script.on_timer(time.monotonic())
            self._carry_out()

    def _pump(self, timeout: float) -> None:
        try:
            source, event = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            now = time.monotonic()
            if source:
                self.script.on_phone(source, event, now)
            else:
                self.script.on_telco(event, now)
            self._carry_out()
            try:
                source, event = self.events.get_nowait()
            except queue.Empty:
                return

    def _carry_out(self) -> None:
        for action in self.script.actions():
            try:
                if isinstance(action, Say):
                    print(f"[{self.box.box_id}] {action.text}", flush=True)
                elif isinstance(action, ToTelco):
                    assert self.box.telco is not None
                    self.box.telco.send(action.line)
                else:
                    phone = next(p for p in self.box.phones if p.extension == action.extension)
                    phone.handset.send(action.line)
            except DistrictError as exc:  # a simulator died: say so, the demo goes on
                if not self.stop.is_set():  # at the end (Ctrl-C reaches them too) it is no news
                    print(f"[{self.box.box_id}] 模拟器无法执行 simulator command failed: {exc}", flush=True)


# -- the command ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anxin-demo",
                                description="Run a simulated Anxin district (安心演示区).")
    p.add_argument("--workdir", type=Path, help="where data and logs go (default: a temp dir)")
    p.add_argument("--boxes", type=int, default=1, help="how many community boxes")
    p.add_argument("--interval", type=float, default=5.0,
                   help="seconds between simulated residents' signals per box")
    p.add_argument("--call-interval", type=float, default=20.0,
                   help="seconds between simulated calls per box (0 = no calls)")
    p.add_argument("--emergency-every", type=int, default=EMERGENCY_EVERY,
                   help="every Nth call per box is an elder's one-button phone calling the emergency "
                        f"line {EMERGENCY_NUMBER} with in-band Contact ID (0 = none)")
    p.add_argument("--phones", type=int, default=2, help="agents' phones per box")
    p.add_argument("--duration", type=float, default=0,
                   help="stop after this many seconds (0 = until Ctrl-C)")
    p.add_argument("--seed", type=int, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.call_interval < 0:
        print("anxin-demo: --call-interval must be >= 0 seconds (0 = no calls)", file=sys.stderr)
        return 2
    if args.emergency_every < 0:
        print("anxin-demo: --emergency-every must be >= 0 (0 = no emergency calls)", file=sys.stderr)
        return 2
    if not 1 <= args.phones <= 99:
        print("anxin-demo: --phones must be 1..99", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="anxin-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    district = District(workdir)
    receivers: list[SimulatedReceiver] = []
    callers: list[BoxCalls] = []
    emergency_phones: dict[str, list[EmergencyPhone]] = {}
    calls_stop = threading.Event()
    acked = {"n": 0}
    started = now_local()
    try:
        print("正在启动安心演示区 Starting the Anxin demo district …", flush=True)
        district.start_broker()
        district.start_hub()
        password = secrets.token_urlsafe(9)
        # "--password=…": a random password may start with "-", which argparse reads as an option.
        district.hub_cli("create-user", "demo", f"--password={password}", "--role",
                         "district_staff", "--display-name", "演示用户")
        rng = random.Random(args.seed)
        for i in range(1, args.boxes + 1):
            box, registered = add_demo_box(district, i, phones=args.phones)
            emergency_phones[box.box_id] = registered

            def on_event(event: object, box_id: str = box.box_id) -> None:
                if isinstance(event, Acked) and not event.frame.startswith(b"1"):
                    acked["n"] += 1
                print(f"[{box_id}] {describe(event)}", flush=True)

            sim = SimulatedReceiver(FdLink(box.receiver.master), ReceiverSim(), on_event=on_event)
            sim.start()
            receivers.append(sim)
        print(
            "\n安心演示区已运行 The Anxin demo district is running\n"
            f"  区级平台 Hub web:  {district.hub_url}/alarms   "
            f"(用户 user: demo  密码 password: {password})\n"
            f"  实时看板 Wallboard: {district.hub_url}/live\n"
            f"  接口 API:          {district.hub_url}/api/v1/alarms   "
            f"(Authorization: Bearer {district.token})\n"
            f"  接口文档 OpenAPI:  {district.hub_url}/api/v1/openapi.json\n"
            f"  MQTT broker:       {district.broker.url}\n"
            + "".join(f"  社区设备 Box:      {b.box_id}  (alarm receiver on {b.receiver.path}; "
                      f"E1 中继 trunk: simulated telco at {b.span_dir}, 热线 hotline {CENTRE_NUMBER}; "
                      f"坐席话机 agents' phones {', '.join(p.extension for p in b.phones)}; "
                      f"一键通专线 emergency line {EMERGENCY_NUMBER})\n"
                      f"    一键通 one-button phones (registry {b.data_dir / 'registry.csv'}): "
                      + ", ".join(f"{e.name} {e.number} (账号 {e.account}, {e.event_code})"
                                  for e in emergency_phones[b.box_id]) + "\n"
                      for b in district.boxes.values())
            + f"  数据与日志 Data and logs: {workdir}\n"
            "按 Ctrl-C 停止 Press Ctrl-C to stop\n", flush=True)
        for b in district.boxes.values():
            status, until = district.trunk_status(b.box_id), time.monotonic() + 15
            while "D-channel up" not in status and time.monotonic() < until and not stop.is_set():
                time.sleep(0.3)
                status = district.trunk_status(b.box_id)
            print(f"[{b.box_id}] 中继 trunk {status}", flush=True)
            connected = district.wait_phones(b.box_id, timeout=15)
            missing = [p.extension for p in b.phones if p.extension not in connected]
            print(f"[{b.box_id}] 坐席话机 agents' phones: {', '.join(connected) or '无 none'} "
                  "已接通 connected" + (f"; {', '.join(missing)} 未接通 NOT connected" if missing else ""),
                  flush=True)
        if args.call_interval > 0 and not stop.is_set():
            voices = make_voices(workdir / "voices")
            for b in district.boxes.values():
                # Its own RNG: the residents' signals stay the same sequence for a seed.
                calls_rng = random.Random(None if args.seed is None else f"{args.seed}-calls-{b.box_id}")
                script = CallScript([p.extension for p in b.phones], calls_rng, box_timing(b, voices),
                                    emergency_phones=emergency_phones[b.box_id],
                                    emergency_every=args.emergency_every)
                callers.append(BoxCalls(b, script, args.call_interval, calls_stop, hours_of(b),
                                        records_before=len(district.call_records(b.box_id)),
                                        signals_before=len(district.alarm_signals(b.box_id))))
            for caller in callers:
                caller.start()
        deadline = time.monotonic() + args.duration if args.duration else None
        while not stop.is_set():
            for sim in receivers:
                sim.send(random_signal(rng))
            if stop.wait(args.interval):
                break
            if deadline and time.monotonic() >= deadline:
                break
        finish_calls(callers, calls_stop)
        at_hub = len(district.alarms())
        print(f"\n演示结束 Demo finished: {acked['n']} signals acknowledged by the boxes, "
              f"{at_hub} alarms at the hub", flush=True)
        records = print_call_summary(district, callers)
        print_hub_figures(district, started)
        placed = sum(c.script.counts.placed for c in callers)
        ok = at_hub > 0 and (placed == 0 or records > 0)
        return 0 if ok or not args.duration else 1
    except KeyboardInterrupt:
        print("\n已停止 Stopped", flush=True)
        for caller in callers:
            caller.abandon = True
        return 0
    except (DistrictError, BrokerError) as exc:
        print(f"anxin-demo: {exc}", file=sys.stderr)
        return 1
    finally:
        finish_calls(callers, calls_stop)
        for sim in receivers:
            sim.stop()
        district.stop()


def finish_calls(callers: list[BoxCalls], calls_stop: threading.Event) -> None:
    """Stop placing calls; the callers still on the line hang up (bounded wait)."""
    calls_stop.set()
    for caller in callers:
        if caller.ident is not None:  # started
            caller.join(caller.script.release_timeout + 5.0)


def print_call_summary(district: District, callers: list[BoxCalls]) -> int:
    """One line of counts per box; returns how many call records the boxes wrote."""
    total = 0
    for caller in callers:
        box_id, counts = caller.box.box_id, caller.script.counts
        # The call record is written when the call is released: give pbxd a moment.
        until = time.monotonic() + 3.0
        rows = district.call_records(box_id)[caller.records_before:]
        while len(rows) < counts.answered_by_ivr and time.monotonic() < until:
            time.sleep(0.2)
            rows = district.call_records(box_id)[caller.records_before:]
        outcomes: dict[str, int] = {}
        for row in rows:
            outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
        total += len(rows)
        by_outcome = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "none"
        print(f"通话 Calls [{box_id}]: {counts.placed} placed 呼入, {counts.answered_by_agents} answered "
              f"by agents 坐席接听, {counts.surveys} surveys 评价, {counts.messages} messages 留言, "
              f"{counts.timed_out} timed out 超时; {len(rows)} call records in box.db 通话记录 "
              f"({by_outcome})", flush=True)
        if counts.emergency:
            print_emergency_summary(district, caller, rows)
    return total


def print_hub_figures(district: District, started: datetime) -> None:
    """The district's figures for this run, as the hub's report gives them (the boxes' queue
    logs may still be on their way: syncd sends them within a second or two)."""
    since = started.astimezone(SHANGHAI).replace(tzinfo=None).isoformat(timespec="seconds")
    try:
        kpi = district.api(f"/api/v1/reports/kpi?from={since}")
    except (OSError, ValueError) as exc:
        print(f"区级平台报表 Hub figures: ? ({exc})", flush=True)
        return
    calls = kpi["calls"]

    def share(value: float | None) -> str:
        return "—" if value is None else f"{100 * value:.0f} %"

    def seconds(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f} s"

    print(f"区级平台报表 Hub figures: {calls['offered']} calls queued 排队, "
          f"{calls['answered']} answered 接通, "
          f"service level 接通率 ({kpi['sl_seconds']:.0f} s) {share(calls['service_level'])}, "
          f"ASA 平均应答 {seconds(calls['asa_s'])}, AHT 平均处理 {seconds(calls['aht_s'])}, "
          f"abandoned 放弃 {share(calls['abandon_rate'])}; occupancy 占用率 {share(kpi['occupancy'])}",
          flush=True)


def print_emergency_summary(district: District, caller: BoxCalls, rows: list[dict[str, Any]]) -> None:
    """What the one-button calls left: their alarms in box.db and at the hub, their call records."""
    from appliance.pbx.emergency_calls import CALL_PROTOCOL, INBAND_PROTOCOL, TRUNK_RECEIVER

    box_id, counts = caller.box.box_id, caller.script.counts
    signals = district.alarm_signals(box_id)[caller.signals_before:]
    by_call = sum(1 for s in signals if s["protocol"] == CALL_PROTOCOL)
    inband = sum(1 for s in signals if s["protocol"] == INBAND_PROTOCOL)
    try:
        at_hub: int | str = sum(1 for a in district.alarms(box_id)
                                if str(a.get("receiver") or "").startswith(f"{TRUNK_RECEIVER}:"))
    except (OSError, ValueError) as exc:
        at_hub = f"? ({exc})"
    emergency_rows = sum(1 for r in rows if r.get("queue") == "emergency")
    print(f"一键通 Emergency call-ins [{box_id}]: {counts.emergency} placed 呼入, "
          f"{counts.kissoffs} Contact ID acknowledged 已确认; "
          f"box.db: {by_call} {CALL_PROTOCOL} + {inband} {INBAND_PROTOCOL} alarms 报警, "
          f"{emergency_rows} call records in queue emergency; "
          f"hub 区级平台: {at_hub} trunk alarms", flush=True)


if __name__ == "__main__":
    sys.exit(main())
