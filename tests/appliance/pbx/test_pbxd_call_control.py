"""pbxd's call control through the real daemon: outbound trunk legs and who hears whom.

`anxin-sim telco` is the carrier (it answers the box's outbound calls as ``b1``, ``b2`` …
after 0.5 s), `anxin-sim handset`s are the agents' phones; pbxd runs in this process.
Audio checks play a tone on one leg and look for it in what another leg recorded.
"""

from __future__ import annotations

import json
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from pbx_testkit import dial_code, general_queue, running_box, wait_queued, wait_until

from appliance.callers import blacklist
from appliance.pbx import control
from appliance.store import connect
from drivers.alarm_phone.contact_id import ContactIdMessage, encode_dtmf

pytestmark = pytest.mark.timeout(90)


def dominant_hz(path: Path, skip_s: float = 0.2) -> float:
    """The strongest frequency in a simulator's recording (8 kHz 16-bit mono WAV)."""
    with wave.open(str(path), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")[int(skip_s * 8000):]
    samples = samples.astype(float)
    assert len(samples) > 1600, f"{path}: only {len(samples)} samples recorded"
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    spectrum[:int(100 * len(samples) / 8000)] = 0  # below 100 Hz: DC and hum, not a tone
    return float(np.argmax(spectrum) * 8000 / len(samples))


MOBILE_OVERFLOW = general_queue('max_wait = 1', 'overflow = "mobile:13900001111"')


def test_nobody_logged_in_overflows_to_the_duty_mobile_over_an_outbound_call(tmp_path: Path) -> None:
    with running_box(tmp_path, MOBILE_OVERFLOW) as box:
        telco = box.telco
        box.call_in()
        # menu timeout 0.5 s → queue → max wait 1 s → the box dials the duty mobile.
        out = telco.expect("incoming", id="b1", timeout=15)
        assert out["called"] == "13900001111" and out["calling"] == "13800138000"  # the caller's ID shown
        telco.expect("answered", id="b1", timeout=10)
        telco.send(f"record c1 {tmp_path / 'caller.wav'}")
        telco.send(f"record b1 {tmp_path / 'mobile.wav'}")
        telco.send("play c1 tone 700 1.5")
        telco.send("play b1 tone 1300 1.5")
        time.sleep(2.0)
        telco.send("stop c1")
        telco.send("stop b1")
        assert abs(dominant_hz(tmp_path / "mobile.wav") - 700) < 15   # the mobile hears the caller
        assert abs(dominant_hz(tmp_path / "caller.wav") - 1300) < 15  # and the caller the mobile
        telco.send("hangup b1 16")          # the duty officer hangs up first: the survey follows
        telco.expect("released", id="b1")
        telco.send("hangup c1 16")
        telco.expect("released", id="c1")
        db = connect(box.data / "box.db")
        rows = wait_until(lambda: (r := db.execute("SELECT * FROM calls ORDER BY direction").fetchall())
                          and len(r) == 2 and r, what="both call records")
        inbound, outbound = rows
        assert (inbound["direction"], inbound["outcome"], inbound["agent"]) == \
            ("in", "agent", "mobile:13900001111")
        assert (outbound["direction"], outbound["called"], outbound["outcome"], outbound["flow"]) == \
            ("out", "13900001111", "answered", "out:mobile")
        assert outbound["talk_s"] >= 1.5 and outbound["recording_id"] == outbound["call_id"]
        kinds = [r[0] for r in db.execute("SELECT kind FROM queue_log WHERE call_id = ? ORDER BY id",
                                          (inbound["call_id"],))]
        assert kinds == ["joined", "overflowed"]
        overflowed = json.loads(db.execute(
            "SELECT data FROM queue_log WHERE kind = 'overflowed'").fetchone()[0])
        assert (overflowed["target"], overflowed["reason"]) == ("mobile:13900001111", "max_wait")


def test_a_waiting_caller_keeps_the_place_and_is_called_back_agent_first(tmp_path: Path) -> None:
    # No [acd]: the default queues; the phone's extension 8001 is an agent, logged in at start.
    with running_box(tmp_path) as box:
        telco = box.telco
        phone = box.handset()
        dial_code(phone, "*31#")                       # 示忙: not ready (休息)
        box.call_in()
        db = connect(box.data / "box.db")
        wait_queued(db)
        telco.send("play c1 tone 697+1209 0.12")      # 1: call me back (the queue's callback_key)
        telco.expect("hangup", id="c1", timeout=20)   # after "好的，轮到您时我们会给您回电"
        telco.expect("released", id="c1")
        dial_code(phone, "*2#")                        # ready again: the callback is at the head
        assert phone.expect("cid", timeout=20)["number"] == "13800138000"   # offered: the caller's number
        phone.send("off")                             # agent first, then the box dials the caller
        out = telco.expect("incoming", id="b1", timeout=10)
        assert out["called"] == "13800138000"
        telco.expect("answered", id="b1", timeout=10)
        phone.send(f"record {tmp_path / 'agent.wav'}")
        telco.send(f"record b1 {tmp_path / 'caller.wav'}")
        phone.send("play tone 1100 1.5")
        telco.send("play b1 tone 600 1.5")
        time.sleep(2.0)
        phone.send("stop")
        telco.send("stop b1")
        assert abs(dominant_hz(tmp_path / "agent.wav") - 600) < 15
        assert abs(dominant_hz(tmp_path / "caller.wav") - 1100) < 15
        phone.send("on")                              # the agent ends the callback
        telco.expect("hangup", id="b1", timeout=10)
        rows = wait_until(lambda: (r := db.execute("SELECT * FROM calls ORDER BY direction").fetchall())
                          and len(r) == 2 and r, what="both call records")
        inbound, outbound = rows
        assert (inbound["outcome"], inbound["queue"]) == ("callback", "general")
        assert (outbound["called"], outbound["outcome"], outbound["flow"], outbound["agent"]) == \
            ("13800138000", "answered", "out:callback", "8001")
        steps = [(r["kind"], r["agent_id"]) for r in db.execute(
            "SELECT kind, agent_id FROM queue_log WHERE call_id = ? ORDER BY id", (inbound["call_id"],))]
        assert steps[:2] == [("joined", None), ("callback_requested", None)]
        assert ("connected", "8001") in steps and ("completed", "8001") in steps
        assert ("abandoned", None) not in steps      # hanging up after asking is not an abandon


EMERGENCY_LINE = """
[acd]
emergency_numbers = ["96110"]
"""


def test_an_emergency_phone_calling_in_is_an_alarm_then_contact_id_then_ring_all(tmp_path: Path) -> None:
    message = ContactIdMessage("1234", "18", 1, "101", "01", "015")   # 紧急求助, zone 15
    with running_box(tmp_path, EMERGENCY_LINE, ports=2) as box:
        telco = box.telco
        phones = [box.handset(port=0), box.handset(port=1)]
        db = connect(box.data / "box.db")
        with db:  # the elder's one-button phone, registered on the trunk by its number
            db.execute("INSERT INTO elders (elder_id, name, phone, address, updated_at) VALUES "
                       "('E1', '张桂英', '02988880000', '幸福路 3 号', '2026-01-01T00:00:00+08:00')")
            db.execute("INSERT INTO alarm_devices (receiver, line, account, elder_id, kind) VALUES "
                       "('trunk', '13900002222', '1234', 'E1', 'one_button')")
        box.wait_trunk_up()
        telco.send("call c1 96101 13900002222")     # not the emergency line: the number makes it one
        telco.send(f"alarmphone c1 {encode_dtmf(message)}")
        telco.expect("answered", id="c1", timeout=10)
        kissoff = telco.expect("kissoff", id="c1", timeout=15)
        assert kissoff["digits"] == encode_dtmf(message)
        assert telco.expect("alarmphone_done", id="c1", timeout=10)["sent"] == 1
        # Then ring-all: both agents' phones ring with the caller's number; the first to lift wins.
        assert phones[0].expect("cid", timeout=10)["number"] == "13900002222"
        assert phones[1].expect("cid", timeout=10)["number"] == "13900002222"
        phones[1].send("off")
        phones[0].expect("ring", on=False, timeout=5)
        time.sleep(0.5)
        telco.send("hangup c1 16")
        telco.expect("released", id="c1")
        phones[1].send("on")
        signals = db.execute("SELECT * FROM alarm_signals ORDER BY received_at").fetchall()
        assert [(s["protocol"], s["account"], s["event_code"], s["zone"]) for s in signals] == \
            [("emergency_call", "1234", "101", "000"), ("contact_id_inband", "1234", "101", "015")]
        assert all(s["elder_id"] == "E1" and s["receiver"] == "trunk:span1" for s in signals)
        assert signals[0]["line"] == "13900002222"
        call = wait_until(lambda: db.execute("SELECT * FROM calls").fetchone(), what="the call record")
        # The alarm was committed before the box answered the call.
        assert signals[0]["received_at"] < call["answered_at"] < signals[1]["received_at"]
        assert (call["queue"], call["agent"], call["outcome"]) == ("emergency", "8002", "agent")
        lanes = [(r["lane"], r["kind"]) for r in db.execute(
            "SELECT lane, kind FROM outbox WHERE kind = 'alarm' ORDER BY seq")]
        assert lanes == [("alarm", "alarm"), ("alarm", "alarm")]
        body = json.loads(db.execute(
            "SELECT body FROM outbox WHERE kind = 'alarm' ORDER BY seq").fetchone()[0])
        assert body["elder"]["name"] == "张桂英" and body["life_safety"] and body["registered"]


def test_a_call_to_the_emergency_line_without_contact_id_goes_to_ring_all_after_the_handshake(
        tmp_path: Path) -> None:
    with running_box(tmp_path, EMERGENCY_LINE, ports=2) as box:
        telco = box.telco
        phones = [box.handset(port=0), box.handset(port=1)]
        box.wait_trunk_up()
        telco.send("call c1 96110 02955550000")     # somebody dials the emergency line by voice
        telco.expect("answered", id="c1", timeout=10)
        assert phones[0].expect("cid", timeout=15)["number"] == "02955550000"
        phones[1].expect("cid", timeout=5)
        phones[0].send("off")
        time.sleep(0.3)
        telco.send("hangup c1 16")
        telco.expect("released", id="c1")
        db = connect(box.data / "box.db")
        signal = db.execute("SELECT * FROM alarm_signals").fetchone()
        assert (signal["protocol"], signal["event_code"], signal["elder_id"]) == \
            ("emergency_call", "101", None)
        assert signal["account"] == "2955550000" and "拨打紧急号码" in signal["note"]


def tone_levels(path: Path, freqs: tuple[float, ...], skip_s: float = 0.2) -> dict[float, float]:
    """dB of each of FREQS above the recording's median spectrum (≥ 20 dB: clearly heard)."""
    with wave.open(str(path), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")[int(skip_s * 8000):]
    spectrum = np.abs(np.fft.rfft(samples.astype(float) * np.hanning(len(samples)))) + 1e-9
    floor = np.median(spectrum)
    bins = {f: int(round(f * len(samples) / 8000)) for f in freqs}
    return {f: 20 * np.log10(spectrum[b - 2:b + 3].max() / floor) for f, b in bins.items()}


PARTY_TONES = (650.0, 1050.0, 1750.0)   # caller, agent, supervisor: no one is another's intermodulation


def heard(path: Path) -> set[float]:
    """Which of the three parties' tones are in the recording: within 20 dB of its strongest
    (what leaks through a mix that excludes a party — window skirts, A-law noise — is ~50 dB down)."""
    levels = tone_levels(path, PARTY_TONES)
    loudest = max(levels.values())
    return {f for f, db in levels.items() if db >= max(loudest - 20, 20)}


def trunk_legs_hear(telco: object, tmp_path: Path, other: str) -> tuple[set[float], set[float]]:
    """The caller (c1) plays 650 Hz and the outbound leg OTHER 1750 Hz at once: what each heard."""
    legs = {"c1": (tmp_path / "caller.wav", 650), other: (tmp_path / f"{other}.wav", 1750)}
    for leg, (path, _) in legs.items():
        telco.send(f"record {leg} {path}")
    for leg, (_, freq) in legs.items():
        telco.send(f"play {leg} tone {freq} 1.2")
    time.sleep(1.5)
    for leg in legs:
        telco.send(f"stop {leg}")
    time.sleep(0.1)
    return heard(legs["c1"][0]), heard(legs[other][0])


AGENT_1001 = general_queue()


def test_a_supervisor_listens_whispers_barges_in_and_intercepts(tmp_path: Path) -> None:
    with running_box(tmp_path, AGENT_1001, ports=2) as box:
        telco = box.telco
        agent, supervisor = box.handset(port=0), box.handset(port=1)
        dial_code(agent, "*11001*2468#")
        box.call_in()
        assert agent.expect("cid", timeout=20)["number"] == "13800138000"
        agent.send("off")
        time.sleep(0.3)

        def ask(**request: object) -> dict:
            reply = control.request(box.daemon.control_path, request)
            assert reply["ok"], reply
            return reply

        live = ask(cmd="live")
        me = next(a for a in live["agents"] if a["agent_id"] == "1001")
        assert me["state"] == "busy" and me["caller"] == "13800138000" and me["state_zh"]
        ask(cmd="supervise", mode="listen", agent="1001", phone="8002", by="班长 李")
        assert supervisor.expect("cid", timeout=5)["name"] == "监听 1001"
        supervisor.send("off")
        time.sleep(0.3)
        assert ask(cmd="live")["supervising"][0]["mode"] == "listen"

        def round_of_tones(tag: str) -> tuple[set[float], set[float], set[float]]:
            """Caller 650 Hz, agent 1050 Hz, supervisor 1750 Hz: what each one hears."""
            files = {name: tmp_path / f"{tag}-{name}.wav" for name in ("caller", "agent", "supervisor")}
            telco.send(f"record c1 {files['caller']}")
            agent.send(f"record {files['agent']}")
            supervisor.send(f"record {files['supervisor']}")
            telco.send("play c1 tone 650 1.2")
            agent.send("play tone 1050 1.2")
            supervisor.send("play tone 1750 1.2")
            time.sleep(1.5)
            for tool, cmd in ((telco, "stop c1"), (agent, "stop"), (supervisor, "stop")):
                tool.send(cmd)
            time.sleep(0.2)
            return heard(files["caller"]), heard(files["agent"]), heard(files["supervisor"])

        c, a, s = PARTY_TONES
        assert round_of_tones("listen") == ({a}, {c}, {c, a})
        ask(cmd="supervise", mode="whisper", agent="1001", phone="8002")
        assert round_of_tones("whisper") == ({a}, {c, s}, {c, a})
        ask(cmd="supervise", mode="barge", agent="1001", phone="8002")
        assert round_of_tones("barge") == ({a, s}, {c, s}, {c, a})
        ask(cmd="supervise", mode="intercept", agent="1001", phone="8002")
        agent.expect("tone", name="busy", timeout=5)   # the agent is out of the call
        caller_hears, _, supervisor_hears = round_of_tones("intercept")
        assert (caller_hears, supervisor_hears) == ({s}, {c})
        telco.send("hangup c1 16")
        telco.expect("released", id="c1")
        supervisor.send("on")
        agent.send("on")
        db = connect(box.data / "box.db")
        moved = wait_until(lambda: db.execute(
            "SELECT * FROM queue_log WHERE kind = 'transferred'").fetchone(),
                           what="the transfer in the queue log")
        assert moved["agent_id"] == "1001" and json.loads(moved["data"])["to"] == "supervisor:8002"
        with pytest.raises(AssertionError, match="没有通话"):   # nobody to listen to now
            ask(cmd="supervise", mode="listen", agent="1001", phone="8002")
        assert ask(cmd="agent_state", agent="1001", state="not_ready", reason="会议")["state"] == "not_ready"


BLACKLISTED = "13300009999"


def test_a_blacklisted_number_is_refused_unanswered_and_still_logged(tmp_path: Path) -> None:
    with running_box(tmp_path) as box:
        telco = box.telco
        db = connect(box.data / "box.db")
        blacklist.add(db, BLACKLISTED, "reject", "骚扰电话", "班长 李", time.time())
        box.wait_trunk_up()
        telco.send(f"call c1 96101 {BLACKLISTED}")
        released = telco.expect("released", id="c1", timeout=10)
        assert released["cause"] == 21                      # call rejected, never answered
        call = wait_until(lambda: db.execute("SELECT * FROM calls").fetchone(), what="the call record")
        assert (call["caller"], call["outcome"], call["category"], call["answered_at"]) == \
            (BLACKLISTED, "blacklisted", "blacklist", None)
        assert blacklist.hits(db, BLACKLISTED) == 1


def music_share(path: Path) -> float:
    """Share of the recording's energy in the built-in hold music's band (280-620 Hz)."""
    with wave.open(str(path), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(float)
    power = np.abs(np.fft.rfft(samples)) ** 2
    hz = np.fft.rfftfreq(len(samples), 1 / 8000)
    return float(power[(hz > 280) & (hz < 620)].sum() / max(power[hz > 100].sum(), 1e-9))


def logged_in_agent(box: object) -> object:
    """Phone 0 with agent 1001 logged in (AGENT_1001's PIN)."""
    agent = box.handset(port=0)
    dial_code(agent, "*11001*2468#")
    return agent


def answered_then_flash(box: object, agent: object) -> dict:
    """A call in, answered on AGENT's phone, then a hook flash: the caller on hold, the agent
    hearing dial tone. The caller ID the phone showed."""
    box.call_in()
    cid = agent.expect("cid", timeout=20)
    agent.send("off")
    time.sleep(0.3)
    agent.send("flash")
    agent.expect("tone", name="dial", timeout=5)
    return cid


def test_hook_flash_consults_an_extension_makes_a_three_way_call_and_transfers(tmp_path: Path) -> None:
    with running_box(tmp_path, AGENT_1001, ports=2) as box:
        telco = box.telco
        agent, expert = logged_in_agent(box), box.handset(port=1)
        assert answered_then_flash(box, agent)["number"] == "13800138000"   # the caller held, with music
        telco.send(f"record c1 {tmp_path / 'held.wav'}")
        agent.send("play tone 1050 1.0")                  # the caller must not hear this
        time.sleep(1.2)
        telco.send("stop c1")
        time.sleep(0.1)
        assert music_share(tmp_path / "held.wav") > 0.8
        agent.send("dtmf 8002")                           # a complete extension dials at once
        ringing = expert.expect("cid", timeout=5)
        assert (ringing["number"], ringing["name"]) == ("13800138000", "转接")
        expert.send("off")
        time.sleep(0.3)
        c, a, s = PARTY_TONES

        def tones(tag: str, with_agent: bool = True) -> tuple[set[float], set[float], set[float]]:
            tools = {"caller": (telco, "c1 "), "agent": (agent, ""), "expert": (expert, "")}
            if not with_agent:
                del tools["agent"]                        # on hook: it has nothing to record
            freq = {"caller": c, "agent": a, "expert": s}
            files = {n: tmp_path / f"{tag}-{n}.wav" for n in tools}
            for n, (tool, call) in tools.items():
                tool.send(f"record {call}{files[n]}")
            for n, (tool, call) in tools.items():
                tool.send(f"play {call}tone {freq[n]:.0f} 1.2")
            time.sleep(1.5)
            for tool, call in tools.values():
                tool.send(f"stop {call}".strip())
            time.sleep(0.2)
            return tuple(heard(files[n]) if n in files else set() for n in ("caller", "agent", "expert"))

        caller, agent_hears, expert_hears = tones("consult")   # the caller still on hold
        assert (agent_hears, expert_hears) == ({s}, {a}) and c not in expert_hears
        assert not caller & {a, s}
        agent.send("flash")                               # 三方通话
        time.sleep(0.3)
        assert tones("three") == ({a, s}, {c, s}, {c, a})
        agent.send("on")                                  # the agent leaves: caller and expert go on
        time.sleep(0.3)
        caller, _, expert_hears = tones("transferred", with_agent=False)
        assert (caller, expert_hears) == ({s}, {c})
        expert.send("on")          # the expert hangs up: the caller goes on to the survey and its end
        telco.expect("hangup", id="c1", timeout=20)
        db = connect(box.data / "box.db")
        kinds = wait_until(lambda: (k := [r[0] for r in db.execute(
            "SELECT kind FROM queue_log WHERE call_id IS NOT NULL AND kind != 'offered' ORDER BY id")])
            and "transferred" in k and k, what="the transfer in the queue log")
        assert kinds[:4] == ["joined", "connected", "three_way", "transferred"]
        moved = db.execute("SELECT data FROM queue_log WHERE kind = 'transferred'").fetchone()[0]
        assert json.loads(moved)["to"] == "attended:8002"


def test_hook_flash_blind_transfer_to_an_outside_number(tmp_path: Path) -> None:
    with running_box(tmp_path, AGENT_1001, telco_args=("--answer", "manual")) as box:
        telco = box.telco
        agent = logged_in_agent(box)
        answered_then_flash(box, agent)
        agent.send("dtmf 913900001111#")                  # 9 + the family member's mobile
        out = telco.expect("incoming", id="b1", timeout=10)
        assert out["called"] == "13900001111"
        agent.send("on")                                  # hang up while it rings: blind transfer
        time.sleep(0.5)
        telco.send("answer b1")
        telco.expect("answered", id="b1", timeout=10)
        time.sleep(0.2)
        assert trunk_legs_hear(telco, tmp_path, "b1") == ({1750.0}, {650.0})   # caller and family
        telco.send("hangup c1 16")                        # the caller hangs up: the family leg is cleared
        telco.expect("hangup", id="b1", timeout=10)
        db = connect(box.data / "box.db")
        moved = wait_until(lambda: db.execute("SELECT data FROM queue_log WHERE kind = 'transferred'")
                           .fetchone(), what="the transfer")
        assert json.loads(moved[0])["to"] == "blind:13900001111"


SHORT_RING = general_queue("ring_timeout = 3", "wrapup = 1")


def test_a_blind_transfer_to_an_extension_nobody_answers_goes_back_to_the_queue(tmp_path: Path) -> None:
    with running_box(tmp_path, SHORT_RING, ports=2) as box:
        telco = box.telco
        agent, colleague = logged_in_agent(box), box.handset(port=1)
        answered_then_flash(box, agent)
        agent.send("dtmf 8002")
        assert colleague.expect("cid", timeout=5)["name"] == "转接"
        colleague.expect("ring", on=True, timeout=5)
        agent.send("on")                                  # hang up while it rings: blind transfer
        started = time.monotonic()
        colleague.expect("ring", on=False, timeout=10)    # nobody there: it stops after ring_timeout …
        assert time.monotonic() - started >= 2.0
        again = agent.expect("cid", timeout=15)           # … and the caller is offered again
        assert again["number"] == "13800138000"
        agent.send("off")
        db = connect(box.data / "box.db")
        kinds = wait_until(lambda: (k := [r[0] for r in db.execute(
            "SELECT kind FROM queue_log WHERE call_id IS NOT NULL AND kind != 'offered' ORDER BY id")])
            and k.count("connected") == 2 and k, what="the caller connected again")
        calls = [k for k in kinds if not k.startswith("wrapup")]   # the agent's own wrap-up aside
        assert calls == ["joined", "connected", "transferred", "joined", "connected"]
        moved = db.execute("SELECT data FROM queue_log WHERE kind = 'transferred'").fetchone()[0]
        assert json.loads(moved)["to"] == "blind:8002"
        telco.send("hangup c1 16")


ANNOUNCING = general_queue('announce_every = 30')


def test_a_waiting_caller_hears_the_position_announcement_from_the_number_prompts(tmp_path: Path) -> None:
    from appliance.ivr.number_speech import PROMPT_NAMES, announcement_prompts
    from appliance.ivr.prompts import find_prompt, read_prompt
    from appliance.media.g711 import linear_to_alaw

    with running_box(tmp_path, ANNOUNCING, extra_prompts=tuple(sorted(PROMPT_NAMES))) as box:
        telco = box.telco
        box.call_in()
        db = connect(box.data / "box.db")
        telco.send(f"record c1 {tmp_path / 'waiting.wav'}")
        wait_queued(db)
        time.sleep(4.0)                               # the announcement (1 agent logged out: no wait said)
        telco.send("stop c1")
        time.sleep(0.1)
        # Nobody is logged in: position 1, expected wait unknown → "您是下一位，请您耐心等候。"
        names = announcement_prompts(1, 0)
        expected = b"".join(read_prompt(find_prompt(n, box.data / "prompts")) for n in names)
        with wave.open(str(tmp_path / "waiting.wav"), "rb") as wav:
            got = linear_to_alaw(np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")).tobytes()
        assert expected[:2000] in got                 # the prompts, sample for sample, after the menu
        telco.send("hangup c1 16")
        telco.expect("released", id="c1")


NO_SHORT_ABANDON = general_queue('short_abandon = 0')


def test_an_abandoned_call_becomes_a_task_the_agent_calls_back_with_star_5(tmp_path: Path) -> None:
    with running_box(tmp_path, NO_SHORT_ABANDON) as box:
        telco = box.telco
        agent = logged_in_agent(box)
        dial_code(agent, "*32#")                          # 会议: nobody answers the next call
        box.call_in()
        db = connect(box.data / "box.db")
        wait_queued(db)
        telco.send("hangup c1 16")                       # gives up waiting: 未接来电
        telco.expect("released", id="c1")
        task = wait_until(lambda: db.execute("SELECT * FROM callback_tasks").fetchone(), what="the task")
        assert (task["number"], task["reason"], task["agent_id"], task["closed_at"]) == \
            ("13800138000", "abandoned", "1001", None)   # round-robin over who is logged in: 1001
        listed = control.request(box.daemon.control_path, {"cmd": "tasks"})
        assert [t["task_id"] for t in listed["tasks"]] == [task["task_id"]]
        moved = control.request(box.daemon.control_path, {"cmd": "task_reassign", "task": task["task_id"],
                                                          "agent": "1001", "by": "班长 李"})
        assert moved["ok"] and moved["task"]["agent_id"] == "1001"   # already 1001's: unchanged
        refused = control.request(box.daemon.control_path, {"cmd": "task_reassign", "task": task["task_id"],
                                                            "agent": "9999"})
        assert not refused["ok"] and "9999" in refused["error"]
        agent.send("off")
        agent.expect("tone", name="dial", timeout=5)
        agent.send("dtmf *5#")                           # call back my oldest task
        out = telco.expect("incoming", id="b1", timeout=10)
        assert out["called"] == "13800138000"
        telco.expect("answered", id="b1", timeout=10)
        closed = wait_until(lambda: db.execute(
            "SELECT * FROM callback_tasks WHERE closed_at IS NOT NULL").fetchone(), what="the task closed")
        assert (closed["outcome"], closed["closed_by"]) == ("reached", "1001")
        agent.send("on")
        telco.expect("hangup", id="b1", timeout=10)
        kinds = [r[0] for r in db.execute("SELECT kind FROM queue_log WHERE kind LIKE 'task_%' ORDER BY id")]
        assert kinds == ["task_created", "task_closed"]
        assert control.request(box.daemon.control_path, {"cmd": "tasks"})["response_rate"] == 1.0


MOBILE_AGENT = """
[[acd.queues]]
name = "general"
[[acd.agents]]
agent_id = "1009"
name = "值班 刘"
mobile = "13911112222"
skills = { general = 0 }
"""


def test_a_mobile_agent_takes_queue_calls_on_an_outbound_call(tmp_path: Path) -> None:
    with running_box(tmp_path, MOBILE_AGENT, telco_args=("--answer", "manual")) as box:
        telco = box.telco
        box.wait_trunk_up()
        reply = control.request(box.daemon.control_path, {"cmd": "agent_state", "agent": "1009",
                                                          "state": "mobile", "by": "班长 李"})
        assert reply["ok"] and reply["mobile"] == "13911112222"
        telco.send("call c1 96101 13800138000")
        telco.expect("answered", id="c1")
        out = telco.expect("incoming", id="b1", timeout=20)   # the offer rings the duty officer's mobile
        assert (out["called"], out["calling"]) == ("13911112222", "13800138000")
        telco.send("answer b1")
        telco.expect("answered", id="b1")
        time.sleep(0.2)
        assert trunk_legs_hear(telco, tmp_path, "b1") == ({1750.0}, {650.0})   # caller and mobile agent
        telco.send("hangup b1 16")                       # the mobile agent ends the call
        telco.expect("released", id="b1")
        db = connect(box.data / "box.db")
        done = wait_until(lambda: db.execute("SELECT * FROM queue_log WHERE kind = 'completed'").fetchone(),
                          what="the call completed")
        assert done["agent_id"] == "1009" and json.loads(done["data"])["by"] == "agent"
        login = db.execute("SELECT data FROM queue_log WHERE kind = 'logged_in'").fetchone()[0]
        assert json.loads(login)["device"] == "mobile:13911112222"
        telco.send("hangup c1 16")
        telco.expect("released", id="c1")


def test_phones_call_each_other_dial_out_with_9_and_click_to_call(tmp_path: Path) -> None:
    # Default [acd]: each phone an agent (8001, 8002), logged in and ready at start.
    with running_box(tmp_path, ports=2) as box:
        telco = box.telco
        one, two = box.handset(port=0), box.handset(port=1)
        box.wait_trunk_up()
        one.send("off")
        one.expect("tone", name="dial", timeout=5)
        one.send("dtmf 8002")                            # 内部通话
        one.expect("tone", name="ringback", timeout=5)
        assert two.expect("cid", timeout=5)["number"] == "8001"
        two.send("off")
        time.sleep(0.3)
        live = control.request(box.daemon.control_path, {"cmd": "live"})
        busy = {a["agent_id"]: (a["state"], a["reason"]) for a in live["agents"]}
        # While they talk the ACD offers them nothing.
        assert busy == {"8001": ("not_ready", "内部通话"), "8002": ("not_ready", "内部通话")}
        one.send(f"record {tmp_path / 'one.wav'}")
        two.send(f"record {tmp_path / 'two.wav'}")
        one.send("play tone 650 1.0")
        two.send("play tone 1750 1.0")
        time.sleep(1.3)
        one.send("stop")
        two.send("stop")
        time.sleep(0.1)
        assert heard(tmp_path / "one.wav") == {1750.0} and heard(tmp_path / "two.wav") == {650.0}
        two.send("on")
        one.expect("tone", name="busy", timeout=5)
        one.send("on")
        time.sleep(0.2)
        states = {a["agent_id"]: a["state"] for a in control.request(box.daemon.control_path,
                                                                     {"cmd": "live"})["agents"]}
        assert states == {"8001": "ready", "8002": "ready"}  # back to ready after the internal call

        one.send("off")
        one.expect("tone", name="dial", timeout=5)
        one.send("dtmf 902988880000#")                   # 9 + an outside number
        out = telco.expect("incoming", id="b1", timeout=10)
        assert out["called"] == "02988880000"
        telco.expect("answered", id="b1", timeout=10)
        time.sleep(0.3)
        telco.send("hangup b1 16")
        one.expect("tone", name="busy", timeout=5)
        one.send("on")

        reply = control.request(box.daemon.control_path, {"cmd": "dial", "phone": "8002",
                                                          "number": "13700001111", "by": "班长 李"})
        assert reply["ok"], reply
        ring = two.expect("cid", timeout=5)              # the agent's phone rings first …
        assert (ring["number"], ring["name"]) == ("13700001111", "外呼")
        two.send("off")                                  # … then the box dials the number
        assert telco.expect("incoming", id="b2", timeout=10)["called"] == "13700001111"
        telco.expect("answered", id="b2", timeout=10)
        two.send("on")
        telco.expect("hangup", id="b2", timeout=10)
        db = connect(box.data / "box.db")
        outs = wait_until(lambda: (r := db.execute(
            "SELECT called, flow, outcome, agent FROM calls WHERE direction = 'out' ORDER BY started_at")
            .fetchall()) and len(r) == 2 and r, what="both outbound call records")
        assert [tuple(r) for r in outs] == [("02988880000", "out:agent", "answered", "8001"),
                                            ("13700001111", "out:click_to_call", "answered", "8002")]
        internal = db.execute("SELECT * FROM calls WHERE direction = 'internal'").fetchone()
        assert (internal["caller"], internal["called"], internal["outcome"], internal["ended_by"]) == \
            ("8001", "8002", "answered", "callee") and internal["talk_s"] >= 1.0


def test_the_agents_offer_on_the_bus_carries_the_callers_file_and_history(tmp_path: Path, mosquitto) -> None:
    import paho.mqtt.client as mqtt

    from appliance.pbx.cdr import CallRecord, store_call

    seen: list[tuple[str, dict]] = []
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-offer-watcher")
    watcher.on_message = lambda _c, _u, msg: seen.append((msg.topic, json.loads(msg.payload)))
    watcher.connect(mosquitto.host, mosquitto.port)
    watcher.subscribe("anxin/local/pbx/#")
    watcher.loop_start()
    try:
        with running_box(tmp_path, bus_url=mosquitto.url) as box:
            telco = box.telco
            phone = box.handset()
            db = connect(box.data / "box.db")
            with db:
                db.execute("INSERT INTO elders (elder_id, name, phone, address, category, updated_at) "
                           "VALUES ('E7', '李秀兰', '13800138000', '和平里 12 号', 'vip', "
                           "'2026-01-01T00:00:00+08:00')")
            store_call(db, CallRecord(call_id="old-1", direction="in", started_at="2026-11-30T09:00:00+08:00",
                                      ended_at="2026-11-30T09:03:00+08:00", outcome="agent",
                                      caller="13800138000", agent="8001", queue="general", talk_s=170.0))
            box.wait_trunk_up()
            telco.send("call c1 96101 13800138000")
            telco.expect("answered", id="c1")
            ring = phone.expect("cid", timeout=20)
            assert (ring["number"], ring["name"]) == ("13800138000", "李秀兰")   # caller ID with the name
            offer = wait_until(lambda: next((p for t, p in seen if t == "anxin/local/pbx/agent/8001/offer"),
                                            None), what="the offer on the local bus")
            profile = offer["profile"]
            assert (profile["category"], profile["elder"]["name"], profile["elder"]["address"]) == \
                ("vip", "李秀兰", "和平里 12 号")
            assert [h["call_id"] for h in profile["history"]] == ["old-1"]   # 来电历史
            phone.send("off")
            wait_until(lambda: any(t == "anxin/local/pbx/live" and p["talking"] for t, p in seen),
                       what="the wallboard showing the call", timeout=10)
            telco.send("hangup c1 16")
            telco.expect("released", id="c1")
    finally:
        watcher.loop_stop()
        watcher.disconnect()


def test_a_blacklisted_number_with_announce_hears_the_announcement_then_is_cleared(tmp_path: Path) -> None:
    with running_box(tmp_path, extra_prompts=("blocked",)) as box:
        telco = box.telco
        db = connect(box.data / "box.db")
        blacklist.add(db, BLACKLISTED, "announce", "反复骚扰", "班长 李", time.time())
        box.wait_trunk_up()
        telco.send(f"call c1 96101 {BLACKLISTED}")
        telco.expect("answered", id="c1", timeout=10)   # answered: the caller is told, not just refused
        telco.send(f"record c1 {tmp_path / 'told.wav'}")
        assert telco.expect("hangup", id="c1", timeout=20)["cause"] == 16
        telco.expect("released", id="c1")
        with wave.open(str(tmp_path / "told.wav"), "rb") as wav:
            spoken = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        assert np.abs(spoken.astype(float)).mean() > 100   # the announcement, not silence
        call = wait_until(lambda: db.execute("SELECT * FROM calls").fetchone(), what="the call record")
        assert (call["outcome"], call["category"], call["flow"]) == ("blacklisted", "blacklist", "blacklist")
        assert call["queue"] is None                      # it never reached an agent


CALLBACK_OVERFLOW = general_queue('max_wait = 1', 'overflow = "callback"')


def test_a_max_wait_overflow_to_callback_tells_the_caller_and_makes_a_task(tmp_path: Path) -> None:
    with running_box(tmp_path, CALLBACK_OVERFLOW) as box:
        telco = box.telco
        box.call_in()
        telco.send(f"record c1 {tmp_path / 'told.wav'}")
        telco.expect("hangup", id="c1", timeout=20)      # "好的，轮到您时我们会给您回电" then goodbye
        telco.expect("released", id="c1")
        with wave.open(str(tmp_path / "told.wav"), "rb") as wav:
            spoken = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        assert len(spoken) > 8000 and np.abs(spoken[-8000:].astype(float)).mean() > 50   # speech at the end
        db = connect(box.data / "box.db")
        task = wait_until(lambda: db.execute("SELECT * FROM callback_tasks").fetchone(), what="the task")
        assert (task["number"], task["reason"], task["agent_id"]) == ("13800138000", "overflow", None)
        call = wait_until(lambda: db.execute("SELECT * FROM calls").fetchone(), what="the call record")
        assert call["outcome"] == "callback"


def test_a_supervisor_logs_an_agent_in_on_a_desk_phone(tmp_path: Path) -> None:
    with running_box(tmp_path, general_queue(), ports=2) as box:
        phone = box.handset(port=1)
        box.wait_trunk_up()

        def ask(**request: object) -> dict:
            return control.request(box.daemon.control_path, request)

        assert not ask(cmd="agent_state", agent="1001", state="login")["ok"]   # on which phone?
        unknown = ask(cmd="agent_state", agent="1001", state="login", phone="8009")
        assert "no such extension" in unknown["error"]
        reply = ask(cmd="agent_state", agent="1001", state="login", phone="8002", by="班长 李")
        assert reply["ok"] and reply["state"] == "ready"
        assert not ask(cmd="agent_state", agent="1001", state="login", phone="8002")["ok"]   # already in
        box.telco.send("call c1 96101 13800138000")
        box.telco.expect("answered", id="c1")
        assert phone.expect("cid", timeout=20)["number"] == "13800138000"   # offered on 8002
        box.telco.send("hangup c1 16")
        box.telco.expect("released", id="c1")
