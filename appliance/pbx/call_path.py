"""What pbxd does with a call: the IVR to the agents' phones, when the box has phones.

Built from the config at start (a bad flow, a missing prompt or an FXS port that cannot
be opened stops pbxd with a message that names it; a missing recording key does not:
calls go on unrecorded, loudly). A box without `[[telephony.fxs]]` has no one to put a
call through to, so its trunks keep refusing calls with cause 34 (trunks.py).

Everything a call leaves behind goes to box.db on pbxd's own connection: the index row
of each recording (opened before the first chunk, finished at hang-up), the case a
message opens (投诉留言), and the call record (CDR) when the call is released — each in
the transaction that queues it for the hub. The recording retention job runs here too
(`run_retention`, on a worker thread with its own connection): it deletes what may go,
alarms the supervisor when the disk stays short, and pauses recording (calls go on)
when the disk is nearly full.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.acd.model import default_acd
from appliance.alarm.intake import count_repeat
from appliance.callers.recognition import CallerProfile, recognise
from appliance.cases.store import is_case_open, open_case
from appliance.clock import SHANGHAI, iso
from appliance.config import Config
from appliance.ivr import engine
from appliance.ivr.engine import CallerInfo
from appliance.ivr.flows import BranchCallerNode, Flow, HangupNode, IvrConfig, QueueNode, load_default_ivr
from appliance.ivr.number_speech import PROMPT_NAMES as NUMBER_PROMPTS
from appliance.ivr.prompts import check_prompts, find_prompt
from appliance.pbx.acd_service import AcdService, agents_for_phones
from appliance.pbx.agents import AgentPhones
from appliance.pbx.callback_tasks import load_book, store_task_events
from appliance.pbx.cdr import CallRecord, stamp, store_call
from appliance.pbx.emergency_calls import EmergencyCall, classify, store_call_alarm, store_inband
from appliance.pbx.ivr_call import CALLBACK_CONFIRM, IvrCall, IvrCallHandler, LoopClock
from appliance.pbx.outbound import OutboundError, OutboundOwner, OutCall, outbound_record
from appliance.pbx.phone_features import NumberingPlanError
from appliance.pbx.queue_log import store_events
from appliance.recording import index
from appliance.recording.container import RecordingError, RecordingMeta, RecordingWriter
from appliance.recording.keys import Keyring, load_keyring
from appliance.recording.retention import (
    DiskAlarm,
    PauseRecording,
    ResumeRecording,
    RetentionPlanner,
    RetentionPolicy,
    RetentionRun,
    run_retention,
)
from appliance.store import open_store
from drivers.alarm_phone import inband
from drivers.e1_card.errors import PriError
from drivers.e1_card.fxs import FxsPort, open_fxs
from drivers.e1_card.stack import PriSpan

log = logging.getLogger("pbxd.calls")


class CallPathError(ValueError):
    """The call path cannot be built from this config: says what to fix."""


class IndexedRecording:
    """A RecordingWriter whose box.db row follows it: added at open, finished at close."""

    def __init__(self, conn: sqlite3.Connection, writer: RecordingWriter, recording_id: str) -> None:
        self.conn, self.writer, self.recording_id = conn, writer, recording_id

    def write(self, left: bytes, right: bytes) -> None:
        self.writer.write(left, right)

    def close(self) -> None:
        self.writer.close()  # raises if the final chunk could not be written: the row stays 'recording'
        try:
            index.finish_recording(self.conn, self.recording_id, duration_s=round(self.writer.duration_s, 3),
                                   size=self.writer.size, at=datetime.now(UTC))
        except (sqlite3.Error, RecordingError) as exc:
            log.error("录音 %s: 索引无法更新: %s", self.recording_id, exc)

    def abort(self) -> None:
        self.writer.abort()


class CallPath:
    """The IVR, prompts, recording and agents' phones of one box, and what calls leave in box.db."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.ivr: IvrConfig = config.ivr or load_default_ivr(check_prompt_files=False)
        self.prompt_dir = self.ivr.prompt_dir or config.box.data_dir / "prompts"
        acd_config = config.acd or default_acd()
        wanted = self.ivr.flow.prompts()
        used = {getattr(node, "queue", None) for node in self.ivr.flow.nodes.values()}
        if any(q.callback_key or (q.overflow is not None and q.overflow.kind == "callback")
               for q in acd_config.queues if q.name in used):
            wanted.add(CALLBACK_CONFIRM)  # a waiting caller who asks for a callback is told so
        if any(q.announce_every for q in acd_config.queues if q.name in used):
            wanted |= NUMBER_PROMPTS      # 您前面还有N位: the announcements' fixed parts
        missing = check_prompts(wanted, self.prompt_dir)
        if missing:
            raise CallPathError(f"IVR prompts missing in {self.prompt_dir}: {', '.join(sorted(missing))} "
                                f"(run: anxin-box prompts generate --config {config.source or 'box.toml'})")
        self.db = open_store(config.box.data_dir)
        interrupted = index.mark_interrupted(self.db)
        if interrupted:
            log.warning("%d 条录音在上次停机时未写完 (interrupted): %s", len(interrupted),
                        ", ".join(interrupted))
        self.ports: list[FxsPort] = []
        try:
            for fxs in config.fxs:
                self.ports.append(open_fxs(fxs.url))
        except Exception as exc:
            self.close()
            raise CallPathError(f"FXS port: {exc}") from exc
        acd, bindings = agents_for_phones(acd_config, config.fxs)
        queues = {q.name for q in acd.queues}
        for node in self.ivr.flow.nodes.values():
            queue = getattr(node, "queue", None)
            if isinstance(queue, str) and queue not in queues:
                self.close()
                raise CallPathError(f"IVR node {node.name!r} sends calls to queue {queue!r}, which is not in "
                                    f"[[acd.queues]] ({', '.join(sorted(queues))})")
        self.publish: Callable[[str, dict[str, Any]], None] = lambda _topic, _payload: None
        # Emergency calls skip the menus: straight to the emergency queue (ring-all).
        self.emergency_flow = emergency_flow(acd.emergency_queue) if acd.emergency_queue else None
        # A blacklisted 'announce' caller: the flow's own blacklist branch if it has one, else ours.
        self.flow_screens_blacklist = any(isinstance(n, BranchCallerNode) and "blacklist" in n.routes
                                          for n in self.ivr.flow.nodes.values())
        self.handlers: list[IvrCallHandler] = []   # one per span, in config order
        self.profiles: dict[str, CallerProfile] = {}   # number → its latest recognition
        # One time line for the queue log, the call records and the IVR's timers.
        self.clock = LoopClock()
        try:
            self.acd = AcdService(acd, AgentPhones(self.ports), bindings, clock=self.clock,
                                  store=lambda events: store_events(self.db, events),
                                  publish=lambda topic, payload: self.publish(topic, payload),
                                  dialer=self.dial, extensions={f.extension: f.url for f in config.fxs},
                                  profile_of=self.profile_body, tasks=load_book(self.db),
                                  store_tasks=lambda book, events: store_task_events(self.db, book, events),
                                  store_call=lambda record: store_call(self.db, record))
        except NumberingPlanError as exc:   # e.g. an extension 9xxx: 9 is the way out
            self.close()
            raise CallPathError(f"[[telephony.fxs]] extension: {exc}") from exc
        rec = config.recording
        self.recordings_dir = rec.dir or config.box.data_dir / "recordings"
        self.planner = RetentionPlanner(RetentionPolicy(
            keep_days=rec.keep_days, max_days=rec.max_days, low_free_bytes=rec.low_free_bytes,
            target_free_bytes=rec.target_free_bytes, stop_free_bytes=rec.stop_free_bytes))
        self.recording_paused = False   # set by the retention job when the disk is nearly full
        self.on_alarm: Callable[[dict[str, Any]], None] = lambda _alarm: None
        self.free_bytes: Callable[[Path], int] | None = None  # disk free space; None = the real disk
        self._retention_lock = threading.Lock()
        self.keyring: Keyring | None = None
        if rec.keys_file is None:
            log.error("未配置录音密钥 no [recording] keys_file: calls are NOT recorded")
        else:
            self.keyring = load_keyring(rec.keys_file, recordings_dir=self.recordings_dir)
        # Made even without a key: the retention job measures this disk's free space.
        self.recordings_dir.mkdir(parents=True, exist_ok=True)

    # -- recordings ----------------------------------------------------------------------------
    def _recorder(self, kind: str) -> Callable[[str, datetime], IndexedRecording] | None:
        if self.keyring is None:
            return None
        keyring = self.keyring

        def start(name: str, at: datetime, call: IvrCall | None) -> IndexedRecording:
            if self.recording_paused:
                raise RecordingError("磁盘将满, 录音已暂停 (recording paused: disk nearly full)")
            path = self.recordings_dir / f"{at:%Y%m%d-%H%M%S}-{name}.arec"
            writer = RecordingWriter(path, keyring.current, RecordingMeta(call_id=name, started_at=at))
            try:
                index.add_recording(self.db, recording_id=name, kind=kind, path=str(path), started_at=at,
                                    key_id=keyring.current.key_id,
                                    call_id=call.name if call else None,
                                    caller=call.caller if call else None,
                                    callee=call.called if call else None)
            except (sqlite3.Error, RecordingError) as exc:
                writer.abort()
                path.unlink(missing_ok=True)
                raise RecordingError(f"indexing recording {name}: {exc}") from exc
            return IndexedRecording(self.db, writer, name)

        return start

    # -- cases and call records --------------------------------------------------------------------
    def _open_case(self, call: IvrCall, action: engine.CreateCase) -> str:
        at = datetime.fromtimestamp(action.at, UTC)
        event = open_case(self.db, origin=self.config.box.id, kind=action.kind, at=at, body={
            "source": "ivr_message", "call_id": call.name, "caller": action.caller,
            "category": action.category, "elder_id": action.elder_id,
            "recording_id": action.recording or None, "duration_s": action.duration,
            "flow": action.flow, "node": action.node})
        if action.recording:
            index.link_case(self.db, action.recording, event.case_id)
        log.info("工单 %s 已创建: %s 留言 (%s)", event.case_id, action.caller or "无号码", call.name)
        return event.case_id

    def _store_call(self, call: IvrCall) -> None:
        store_call(self.db, call_record(call))

    def handler_for(self, span: PriSpan) -> IvrCallHandler:
        handler = IvrCallHandler(span, self.ivr, self.prompt_dir, clock=self.clock,
                                 recorder_factory=self._recorder("call"),
                              message_factory=self._recorder("message"), acd=self.acd,
                              caller_lookup=self.caller_info, on_case=self._open_case,
                              on_finished=self._store_call,
                              emergency_check=self._emergency_check, emergency_flow=self.emergency_flow,
                              screen=self._screen, blocked_flow=BLOCKED_FLOW,
                              inband_factory=new_inband_receiver, on_inband=self._inband_event,
                              on_outbound_finished=self._store_outbound, dialer=self.dial)
        self.handlers.append(handler)
        return handler

    def dial(self, number: str, owner: OutboundOwner, *, purpose: str, calling: str | None = None,
             agent: str | None = None) -> OutCall:
        """An outbound call on the first span with its D-channel up and a free B-channel.
        Raises OutboundError when no trunk can take it (the owner then falls back)."""
        for handler in self.handlers:
            if handler.outbound.can_dial():
                try:
                    return handler.outbound.dial(number, owner, purpose=purpose, calling=calling, agent=agent)
                except (ValueError, PriError) as exc:
                    raise OutboundError(f"外呼 {number}: {exc}") from exc
        raise OutboundError(f"外呼 {number}: 没有可用的中继 "
                            "(no trunk with its D-channel up and a free channel)")

    def _store_outbound(self, leg: OutCall) -> None:
        store_call(self.db, outbound_record(leg))

    # -- emergency phones calling in ------------------------------------------------------------------
    def _emergency_check(self, call: IvrCall) -> EmergencyCall | None:
        """Before the answer: is the call an alarm? If so its signal is committed now."""
        emergency = classify(self.db, call.caller, call.called, self.acd.config.emergency_numbers)
        if emergency is None:
            return None
        stored = store_call_alarm(self.db, emergency, span=call.span or "", at=datetime.now(SHANGHAI),
                                  box_id=self.config.box.id)
        call.alarm_ids.append(stored.signal_id)
        log.warning("紧急呼叫 %s: %s, 报警 %s (老人 %s)", call.name, emergency.reason_zh, stored.signal_id,
                    emergency.elder.name if emergency.elder else "未登记")
        self.publish("alarm/new", {**stored.body, "call_id": call.name})
        return emergency

    def _inband_event(self, call: IvrCall, event: object) -> None:
        """An in-band Contact ID event: a good message is committed (before its kissoff)."""
        emergency = call.emergency
        assert isinstance(emergency, EmergencyCall)
        if isinstance(event, inband.MessageReceived) and event.repeat and call.alarm_ids:
            # The phone missed our kissoff and sent it again: counted on the first, not a new alarm.
            count_repeat(self.db, call.alarm_ids[-1])
            log.info("紧急呼叫 %s: 带内报文重发 %s (已计数)", call.name, event.digits)
        elif isinstance(event, inband.MessageReceived):
            stored = store_inband(self.db, event.digits, event.message, emergency, span=call.span or "",
                                  at=datetime.now(SHANGHAI), box_id=self.config.box.id)
            call.alarm_ids.append(stored.signal_id)
            log.warning("紧急呼叫 %s: 带内 Contact ID %s (%s), 报警 %s", call.name, event.digits,
                        stored.body["event_zh"], stored.signal_id)
            self.publish("alarm/new", {**stored.body, "call_id": call.name})
        elif isinstance(event, inband.MessageRejected):
            log.warning("紧急呼叫 %s: 带内报文无效, 不发送 kissoff (%s): %r", call.name, event.label,
                        event.digits)
        elif isinstance(event, inband.Finished):
            log.info("紧急呼叫 %s: 带内 Contact ID 结束: %s, %d 条", call.name, event.label,
                     len(event.messages))

    def caller_info(self, number: str | None) -> CallerInfo:
        """Who calls, from the registry replica and the blacklist (appliance/callers): the
        flow branches on the category; the profile (elder's file, history) goes with the
        call to the agent's pop-up."""
        profile = self.recognise(number)
        return CallerInfo(number, profile.category, profile.elder_id)

    def recognise(self, number: str | None) -> CallerProfile:
        """Never raises (recognition logs and degrades to 'unknown'); kept for the offer."""
        profile = recognise(self.db, number, datetime.now(UTC))
        if number:
            self.profiles[number] = profile
            while len(self.profiles) > 256:   # only calls in progress need theirs
                self.profiles.pop(next(iter(self.profiles)))
        return profile

    def profile_body(self, number: str | None) -> dict[str, Any] | None:
        profile = self.profiles.get(number or "")
        return profile.to_body() if profile is not None else None

    def _screen(self, call: IvrCall) -> str | None:
        """Before the answer: a blacklisted number with action 'reject' is refused (cause 21).
        'announce' numbers are answered and the flow's blacklist branch plays its prompt."""
        if call.emergency is not None:
            return None  # an alarm is never refused
        profile = self.recognise(call.caller)
        reason = profile.blacklist.reason if profile.blacklist else ""
        if profile.blocked == "announce" and not self.flow_screens_blacklist:
            if find_prompt(BLOCKED_PROMPT, self.prompt_dir) is None:   # never silence: refuse instead
                log.error("骚扰电话 %s: 提示音 %s 缺失, 改为拒接", call.caller, BLOCKED_PROMPT)
                return "reject"
            log.warning("骚扰电话 %s: 播放提示后挂机 (blacklisted, announcement): %s", call.caller, reason)
            return "announce"
        if profile.blocked == "reject":
            log.warning("骚扰电话 %s 已拒接 (blacklisted, rejected): %s", call.caller, reason)
            return "reject"
        return None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """On the running loop: the ACD and the agents' phones (one set for every span)."""
        self.acd.start()

    def stop(self) -> None:
        self.acd.stop()

    def close(self) -> None:
        for port in self.ports:
            port.close()
        self.db.close()

    # -- retention (a worker thread, its own connection) --------------------------------------------
    def run_retention(self, now: datetime | None = None) -> RetentionRun:
        with self._retention_lock:
            conn = open_store(self.config.box.data_dir)
            try:
                result = run_retention(conn, self.planner, recordings_dir=self.recordings_dir,
                                       now=now or datetime.now(UTC),
                                       is_case_open=lambda case_id: is_case_open(conn, case_id),
                                       free_bytes=self.free_bytes)
            finally:
                conn.close()
        for error in result.errors:
            log.error("录音清理: %s", error)
        for action in result.alarms:
            if isinstance(action, PauseRecording):
                self.recording_paused = True
                log.error("%s", action.message)
            elif isinstance(action, ResumeRecording):
                self.recording_paused = False
                log.warning("磁盘空间已恢复 (剩余 %d 字节): 恢复录音", action.free_bytes)
            if isinstance(action, DiskAlarm):
                (log.error if action.raised else log.warning)("%s", action.message)
            self.on_alarm(retention_alarm(action))
        return result


def emergency_flow(queue: str) -> Flow:
    """The flow of an emergency call: the emergency queue at emergency priority, no prompts."""
    node = QueueNode(name="emergency", queue=queue, priority=10)
    return Flow(name="emergency_call", start="emergency", nodes={"emergency": node},
                description="一键通紧急呼叫: 直接振铃所有坐席")


BLOCKED_PROMPT = "blocked"   # 对不起，您的来电暂时无法受理
BLOCKED_FLOW = Flow(
    name="blacklist", start="blocked", description="骚扰电话: 提示后挂机",
    nodes={"blocked": HangupNode(name="blocked", prompt=(BLOCKED_PROMPT,), reason="blacklist")})


def new_inband_receiver(now: float) -> inband.InbandReceiver:
    return inband.InbandReceiver(now)


def retention_alarm(action: object) -> dict[str, Any]:
    """The supervisor's view of a retention alarm (local bus `pbx/alarm/recording_disk`)."""
    if isinstance(action, DiskAlarm):
        return {"alarm": "recording_disk", "raised": action.raised, "free_bytes": action.free_bytes,
                "low_free_bytes": action.low_free_bytes, "protected_young": action.protected_young,
                "protected_by_case": action.protected_by_case, "message": action.message}
    if isinstance(action, PauseRecording):
        return {"alarm": "recording_paused", "raised": True, "free_bytes": action.free_bytes,
                "message": action.message}
    assert isinstance(action, ResumeRecording)
    return {"alarm": "recording_paused", "raised": False, "free_bytes": action.free_bytes,
            "message": "录音已恢复"}


def call_record(call: IvrCall) -> CallRecord:
    """The CDR of a released call."""
    session = call.session
    caller = session.caller if session is not None else None
    queue = next((a.queue for a in call.actions if isinstance(a, engine.ToQueue)), None)
    if call.refused == "reject" or (caller is not None and caller.category == "blacklist"):
        outcome = "blacklisted"
    elif call.agent_at is not None:
        outcome = "agent"
    elif call.callback_requested:
        outcome = "callback"
    elif call.case_id is not None or call.message_id is not None:
        outcome = "message"
    elif call.answered_at is None:
        outcome = "refused"
    elif call.queued_at is not None:
        outcome = "abandoned" if call.ended_by == "caller" else "no_answer"
    else:
        outcome = "ivr"
    ended = call.ended_at if call.ended_at is not None else call.started_at
    return CallRecord(
        call_id=call.name, direction="in", span=call.span, timeslot=call.timeslot,
        caller=call.caller, called=call.called,
        category=caller.category if caller else ("blacklist" if call.refused else None),
        elder_id=caller.elder_id if caller else None,
        started_at=stamp(call.started_at) or iso(datetime.now(SHANGHAI)), answered_at=stamp(call.answered_at),
        ended_at=stamp(ended) or "", ended_by=call.ended_by, outcome=outcome,
        flow=session.flow.name if session is not None else None, digits="".join(call.digits) or None,
        queue=queue,
        queue_wait_s=round((call.agent_at or ended) - call.queued_at, 3) if call.queued_at else None,
        agent=call.agent_id or call.agent_port,
        talk_s=round((call.agent_left_at or ended) - call.agent_at, 3) if call.agent_at else None,
        survey_score=call.survey.score if call.survey else None,
        survey_label=call.survey.label if call.survey else None,
        recording_id=call.name if call.answered_at is not None and call.recorded else None,
        message_recording_id=call.message_id, case_id=call.case_id)
