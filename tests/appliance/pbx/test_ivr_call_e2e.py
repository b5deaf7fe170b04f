"""The issue-5 cores together on the simulated E1: telco → box PriSpan → IvrCallHandler.

The telco (network role) calls the box over real SOCK_SEQPACKET sockets, media clocked
every 20 ms in real time; the box's handler answers, plays the default flow's prompts
(generated with espeak-ng, spoken fast so the real-time line keeps the test short),
hears DTMF through its DtmfBank and records the call into an encrypted .arec.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tempfile
import wave
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from appliance.acd.model import AcdConfig, AgentState, OverflowRule, QueueConfig, default_acd
from appliance.config.model import FxsPortConfig
from appliance.ivr import engine
from appliance.ivr.flows import IvrConfig, MenuNode, load_default_ivr
from appliance.ivr.prompts import DEFAULT_PROMPTS, find_prompt, generate_prompts, read_prompt
from appliance.media.dtmf import DtmfBank, dtmf_tone
from appliance.media.g711 import alaw_to_linear
from appliance.pbx.acd_service import AcdService, agents_for_phones
from appliance.pbx.agents import AgentPhones
from appliance.pbx.ivr_call import IvrCallHandler
from appliance.recording.container import RecordingMeta, RecordingReader, RecordingWriter
from appliance.recording.keys import Keyring, generate_key
from drivers.e1_card.handset import Handset
from drivers.e1_card.sim import SimSpan
from drivers.e1_card.sim_fxs import SimFxsPort
from drivers.e1_card.stack import PriSpan
from drivers.e1_card.telco import TelcoSim

pytestmark = pytest.mark.timeout(60)

# A Wednesday morning, not a holiday: the default flow's hours node leads to the main menu.
OPEN_HOURS = datetime(2026, 3, 11, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
KEY = generate_key(1)


def acd_for(port: SimFxsPort, acd: AcdConfig | None = None, queue_log: list | None = None) -> AcdService:
    """The ACD with one agent (8001) logged in on PORT: each desk phone is an agent."""
    config, bindings = agents_for_phones(acd or default_acd(), [FxsPortConfig(port.url, "8001")])
    return AcdService(config, AgentPhones([port]), bindings,
                      store=queue_log.extend if queue_log is not None else None)


def consultation_key(config: IvrConfig) -> str:
    menu = config.flow.nodes["main_menu"]
    assert isinstance(menu, MenuNode)
    return next(key for key, target in menu.options.items() if target == "consultation")


@pytest.fixture(scope="module")
def prompt_dir() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="anxin-prompts-"))
    generate_prompts(DEFAULT_PROMPTS, directory, speed=400)
    return directory


class Lines:
    """The telco's JSON event lines, to wait on."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def write(self, text: str) -> None:
        self.events += [json.loads(line) for line in text.splitlines() if line.strip()]

    def flush(self) -> None:
        pass

    async def wait_for(self, event: str, timeout: float = 10.0, **match: object) -> dict:
        async def look() -> dict:
            while True:
                for item in self.events:
                    if item["event"] == event and all(item.get(k) == v for k, v in match.items()):
                        return item
                await asyncio.sleep(0.01)
        return await asyncio.wait_for(look(), timeout)


async def until(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout)


@pytest.fixture
async def line() -> AsyncIterator[tuple[TelcoSim, Lines, PriSpan]]:
    directory = Path(tempfile.mkdtemp(prefix="anxin-ivr-span-", dir="/tmp"))
    out = Lines()
    telco = TelcoSim(directory, out=out, answer_after=0.1)
    runner = asyncio.ensure_future(telco.run())
    await out.wait_for("ready")
    box = PriSpan(SimSpan(f"sim://{directory}"), "user", name="span1")
    await box.start()
    await box.wait_link_up()
    await out.wait_for("link", up=True)
    try:
        yield telco, out, box
    finally:
        await box.close()
        telco.stop()
        await asyncio.wait_for(runner, 5)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


def read_wav16(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def write_wav16(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(samples.astype("<i2").tobytes())


def digits_in(alaw: bytes) -> list[str]:
    pcm = alaw_to_linear(np.frombuffer(alaw, dtype=np.uint8))
    bank, found = DtmfBank(1), []
    for i in range(pcm.size // 160):
        found += [d for _, d in bank.feed(pcm[i * 160:(i + 1) * 160].reshape(1, 160), i * 0.02)]
    return found


async def test_consultation_key_reaches_the_general_queue_and_is_recorded(
        line, prompt_dir: Path, tmp_path: Path) -> None:
    telco, out, box = line
    config = load_default_ivr(prompt_dir=prompt_dir)
    key = consultation_key(config)
    queue_node = config.flow.nodes["consultation"]
    recordings: list[Path] = []

    def recorder(name: str, started: datetime, _call: object) -> RecordingWriter:
        recordings.append(tmp_path / f"{name}.arec")
        return RecordingWriter(recordings[-1], KEY, RecordingMeta(name, started, chunk_frames=800))

    handler = IvrCallHandler(box, config, recorder_factory=recorder, epoch_at_start=OPEN_HOURS)
    task = asyncio.ensure_future(handler.run())
    try:
        await telco.execute("call c1 96101 13800138000")
        await out.wait_for("answered", id="c1")
        await telco.execute(f"record c1 {tmp_path / 'heard.wav'}")
        await until(lambda: any(c.prompt == "main_menu" for c in handler.calls.values()))
        await asyncio.sleep(0.5)  # half a second into the menu, the caller presses the key
        tone = tmp_path / "key.wav"
        write_wav16(tone, dtmf_tone(key, on_ms=100, off_ms=100))
        pressed_at = telco.calls["c1"].recorded  # samples the telco has recorded so far
        await telco.execute(f"play c1 file {tone}")
        await out.wait_for("released", id="c1", timeout=20)
        await until(lambda: not handler.calls, timeout=5)
    finally:
        task.cancel()

    (call_id, outcome), = handler.outcomes.items()
    assert outcome == engine.ToQueue(queue_node.queue, 0)  # type: ignore[attr-defined]
    assert queue_node.queue == "general"  # type: ignore[attr-defined]
    call = handler.finished[call_id]
    assert call.digits == [key]
    assert "main_menu" in call.session.trail and call.session.trail[-1] == "consultation"  # type: ignore[union-attr]

    # What the box sent, as the telco heard it: speech before the key was pressed.
    heard = read_wav16(tmp_path / "heard.wav")
    assert pressed_at > 8000
    assert rms(heard[:pressed_at]) > 500

    # The encrypted recording: caller left (the key), box right (the prompts, bit-exact).
    assert len(recordings) == 1
    with RecordingReader(recordings[0], Keyring([KEY])) as reader:
        left, right = reader.read_all()
    assert digits_in(left) == [key]
    assert digits_in(right) == []
    welcome = read_prompt(find_prompt("welcome", prompt_dir))  # type: ignore[arg-type]
    assert right[:len(welcome)] == welcome
    assert rms(alaw_to_linear(np.frombuffer(right, dtype=np.uint8))) > 500
    assert rms(alaw_to_linear(np.frombuffer(left[:8000], dtype=np.uint8))) < 50  # caller silent at first


async def test_no_input_retries_then_reaches_an_agent(line, prompt_dir: Path) -> None:
    telco, out, box = line
    config = load_default_ivr(prompt_dir=prompt_dir)
    flow = config.flow
    menu = flow.nodes["main_menu"]
    assert isinstance(menu, MenuNode) and menu.retries == 2 and menu.timeout_next == "agent"
    # The default's 6 s per attempt is the elders' time; the path is the same with 0.5 s.
    quick_menu = dataclasses.replace(menu, timeout=0.5)
    fast = dataclasses.replace(flow, nodes={**flow.nodes, "main_menu": quick_menu})
    handler = IvrCallHandler(box, fast, prompt_dir, epoch_at_start=OPEN_HOURS)
    task = asyncio.ensure_future(handler.run())
    try:
        await telco.execute("call c1 96101 13800138000")
        await out.wait_for("released", id="c1", timeout=45)
        await until(lambda: not handler.calls, timeout=5)
    finally:
        task.cancel()

    (call_id, outcome), = handler.outcomes.items()
    assert outcome == engine.ToQueue("general", 0)
    call = handler.finished[call_id]
    plays = [a.prompt for a in call.actions if isinstance(a, engine.Play)]
    assert plays == ["welcome", "recording_notice", "main_menu", "no_input", "main_menu",
                     "no_input", "main_menu", "to_agent"]
    assert call.digits == []
    assert call.session.trail[-2:] == ["main_menu", "agent"]  # type: ignore[union-attr]


def dominant_hz(samples: np.ndarray) -> float:
    """The strongest frequency of 8 kHz linear SAMPLES (FFT with a Hann window)."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / 8000)[int(np.argmax(spectrum))])


def linear(alaw: bytes) -> np.ndarray:
    return alaw_to_linear(np.frombuffer(alaw, dtype=np.uint8))


async def test_agent_answers_talks_hangs_up_and_the_caller_rates_the_call(
        line, prompt_dir: Path, tmp_path: Path) -> None:
    telco, out, box = line
    config = load_default_ivr(prompt_dir=prompt_dir)
    key = consultation_key(config)
    sockets = Path(tempfile.mkdtemp(prefix="anxin-fxs-", dir="/tmp"))
    port = SimFxsPort(f"sim://{sockets}/agent1")
    phone_out = Lines()
    handset = Handset(port.path, answer_after=0.3, out=phone_out)
    phone_task = asyncio.ensure_future(handset.run())
    recordings: list[Path] = []

    def recorder(name: str, started: datetime, _call: object) -> RecordingWriter:
        recordings.append(tmp_path / f"{name}.arec")
        return RecordingWriter(recordings[-1], KEY, RecordingMeta(name, started, chunk_frames=800))

    acd = acd_for(port)
    acd.start()
    handler = IvrCallHandler(box, config, recorder_factory=recorder, epoch_at_start=OPEN_HOURS, acd=acd)
    task = asyncio.ensure_future(handler.run())
    try:
        await phone_out.wait_for("connected")
        await telco.execute("call c1 96101 13800138000")
        await out.wait_for("answered", id="c1")
        await telco.execute(f"record c1 {tmp_path / 'heard.wav'}")
        await until(lambda: any(c.prompt == "main_menu" for c in handler.calls.values()))
        await asyncio.sleep(0.3)
        tone = tmp_path / "key.wav"
        write_wav16(tone, dtmf_tone(key, on_ms=100, off_ms=100))
        await telco.execute(f"play c1 file {tone}")

        # The ACD rings the longest-idle agent's phone with the caller's number; the agent picks up.
        cid = await phone_out.wait_for("cid", timeout=20)
        ringing_heard = telco.calls["c1"].recorded
        await phone_out.wait_for("hook", state="off", timeout=5)
        await until(lambda: any(c.bridged for c in handler.calls.values()), timeout=5)
        call = next(iter(handler.calls.values()))
        bridged_tick, bridged_heard = call.ticks, telco.calls["c1"].recorded // 160
        await handset.execute(f"record {tmp_path / 'agent.wav'}")
        await telco.execute("play c1 tone 1000 1.4")
        await handset.execute("play tone 1700 1.4")
        await asyncio.sleep(1.5)
        await handset.execute("on")  # the agent hangs up: the survey follows

        await until(lambda: call.prompt == "survey", timeout=10)
        write_wav16(tone, dtmf_tone("1", on_ms=100, off_ms=100))
        await telco.execute(f"play c1 file {tone}")
        await out.wait_for("released", id="c1", timeout=20)
        await until(lambda: not handler.calls, timeout=5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        acd.stop()  # its readers off the port first
        handset.stop()
        await asyncio.wait_for(phone_task, 5)
        port.close()

    assert cid["number"] == "13800138000"
    assert handler.outcomes[call.call_id] == engine.ToQueue("general", 0)
    assert call.agent_port == port.url
    assert call.survey == engine.SurveyResult(1, "满意")
    assert call.session is not None and call.session.trail[-3:] == ["consultation", "survey", "survey_thanks"]
    plays = [a.prompt for a in call.actions if isinstance(a, engine.Play)]
    assert plays[-2:] == ["survey", "survey_thanks"]

    # While the phone rings the caller hears ringback (450 Hz, the first second is on).
    heard = read_wav16(tmp_path / "heard.wav")
    assert dominant_hz(heard[ringing_heard + 400:ringing_heard + 2000]) == pytest.approx(450, abs=10)
    # 0.3–1.2 s into the bridge both tones are on, whatever the scheduling jitter.
    window = slice(int(0.3 * 8000), int(1.2 * 8000))
    assert dominant_hz(heard[bridged_heard * 160:][window]) == pytest.approx(1700, abs=10)
    agent_heard = read_wav16(tmp_path / "agent.wav")
    assert dominant_hz(agent_heard[window]) == pytest.approx(1000, abs=10)

    with RecordingReader(recordings[0], Keyring([KEY])) as reader:
        left, right = reader.read_all()
    start = bridged_tick * 160
    assert dominant_hz(linear(left[start:])[window]) == pytest.approx(1000, abs=10)
    assert dominant_hz(linear(right[start:])[window]) == pytest.approx(1700, abs=10)
    welcome = read_prompt(find_prompt("welcome", prompt_dir))  # type: ignore[arg-type]
    assert right[:len(welcome)] == welcome
    assert digits_in(left) == [key, "1"]


async def test_nobody_answers_and_the_flow_falls_back(line, prompt_dir: Path) -> None:
    telco, out, box = line
    config = load_default_ivr(prompt_dir=prompt_dir)
    key = consultation_key(config)
    sockets = Path(tempfile.mkdtemp(prefix="anxin-fxs-", dir="/tmp"))
    port = SimFxsPort(f"sim://{sockets}/agent1")
    phone_out = Lines()
    handset = Handset(port.path, out=phone_out)  # rings, nobody picks up
    phone_task = asyncio.ensure_future(handset.run())
    # Rings 1 s, then the agent is paused (未接) and after 2 s of waiting the call overflows.
    general = QueueConfig("general", ring_timeout=1.0, max_wait=2.0, overflow=OverflowRule("hangup"))
    queue_log: list = []
    acd = acd_for(port, AcdConfig((general,)), queue_log)
    acd.start()
    handler = IvrCallHandler(box, config, epoch_at_start=OPEN_HOURS, acd=acd)
    task = asyncio.ensure_future(handler.run())
    try:
        await phone_out.wait_for("connected")
        await telco.execute("call c1 96101 13800138000")
        await until(lambda: any(c.prompt == "main_menu" for c in handler.calls.values()))
        tone = Path(tempfile.mkdtemp(prefix="anxin-key-")) / "key.wav"
        write_wav16(tone, dtmf_tone(key, on_ms=100, off_ms=100))
        await telco.execute(f"play c1 file {tone}")
        await phone_out.wait_for("ring", on=True, timeout=20)
        await out.wait_for("released", id="c1", timeout=20)
        await until(lambda: not handler.calls, timeout=5)
        await phone_out.wait_for("ring", on=False, timeout=5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        acd.stop()  # its readers off the port first
        handset.stop()
        await asyncio.wait_for(phone_task, 5)
        port.close()

    (call_id, outcome), = handler.outcomes.items()
    assert outcome == engine.ToQueue("general", 0)
    call = handler.finished[call_id]
    assert call.agent_port is None and call.survey is None
    # The consultation node has no fallback: the engine ends the call with the reason.
    assert call.session is not None and call.session.end_reason == "max_wait"
    agent = acd.engine.agent("8001")
    assert (agent.state, agent.reason) == (AgentState.NOT_READY, "未接")   # app_queue's autopause
    kinds = [e.kind for e in queue_log if e.call_id == call.name or e.agent_id == "8001"]
    assert kinds == ["logged_in", "joined", "offered", "ring_no_answer", "paused", "overflowed"]
