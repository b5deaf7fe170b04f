"""In-band Contact ID (DC-05): the box's InbandReceiver against the phone's InbandSender, frame by frame.

The simulated line between them codes every frame to A-law and back, takes 10 dB off
and adds white noise, both ways, as an E1 call to an elder's one-button phone would.
Timings are measured from the generated audio itself (burst edges and zero crossings),
and the phone's digits are read back by an independent decoder, multimon-ng.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from appliance.media import FRAME_SAMPLES, SAMPLE_RATE
from appliance.media.dsp import dbm0_to_peak, dbm0_to_rms
from appliance.media.dtmf import dtmf_tone
from appliance.media.g711 import alaw_to_linear, linear_to_alaw
from drivers.alarm_phone.contact_id import ContactIdMessage, encode_dtmf
from drivers.alarm_phone.inband import (
    CONTACT_ID_TO_DTMF,
    Finished,
    GaveUp,
    HandshakeHeard,
    InbandError,
    InbandReceiver,
    InbandSender,
    KissoffHeard,
    MessageReceived,
    MessageRejected,
    contact_id_to_keys,
    keys_to_contact_id,
)

TICK = FRAME_SAMPLES / SAMPLE_RATE
PANIC = ContactIdMessage("1234", "18", 1, "101", "00", "001")  # 紧急求助, zone 1
# Every hex digit DC-05 sends on a letter key, so the mapping is exercised end to end.
HEX = ContactIdMessage("1B2C", "18", 3, "101", "0D", "0EF")
MEDICAL = ContactIdMessage("0815", "18", 1, "100", "01", "002")


class Line:
    """One direction of the call: A-law both ends, GAIN_DB, white noise at NOISE_DBM0 (RMS)."""

    def __init__(self, seed: int, gain_db: float = -10.0, noise_dbm0: float = -45.0) -> None:
        self.rng = np.random.default_rng(seed)
        self.gain = 10 ** (gain_db / 20)
        self.noise = dbm0_to_rms(noise_dbm0)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        x = frame.astype(np.float64) * self.gain + self.rng.normal(0, self.noise, len(frame))
        return alaw_to_linear(linear_to_alaw(x))


@dataclass
class Call:
    """What a simulated call produced: each side's audio (before the line) and its events."""

    box_audio: np.ndarray
    phone_audio: np.ndarray
    box_events: list = field(default_factory=list)
    phone_events: list = field(default_factory=list)

    def box(self, kind: type) -> list:
        return [e for e in self.box_events if isinstance(e, kind)]

    def phone(self, kind: type) -> list:
        return [e for e in self.phone_events if isinstance(e, kind)]


Tamper = Callable[[np.ndarray, InbandSender], np.ndarray]


def run_call(receiver: InbandReceiver, sender: InbandSender | None, seconds: float, *,
             tamper: Tamper | None = None, seed: int = 7, stop_when_done: bool = True) -> Call:
    """Tick the two ends for up to SECONDS. The phone's frame reaches the box a tick later
    (as the line's answer to the box's clock does); TAMPER may change it on the way."""
    to_box, to_phone = Line(seed), Line(seed + 1)
    box_out, phone_out, box_events, phone_events = [], [], [], []
    heard_by_box = np.zeros(FRAME_SAMPLES, np.int16)
    for tick in range(round(seconds / TICK)):
        now = tick * TICK
        receiver.feed(to_box(heard_by_box), now)
        box_frame = receiver.next_frame(now)
        box_out.append(box_frame)
        if sender is not None:
            sender.feed(to_phone(box_frame), now)
            phone_frame = sender.next_frame(now)
            phone_out.append(phone_frame)
            heard_by_box = tamper(phone_frame, sender) if tamper else phone_frame
            phone_events += sender.events()
        else:
            heard_by_box = np.zeros(FRAME_SAMPLES, np.int16)
        box_events += receiver.events()
        if stop_when_done and receiver.finished and (sender is None or sender.done):
            break
    phone = np.concatenate(phone_out) if phone_out else np.zeros(0, np.int16)
    return Call(np.concatenate(box_out), phone, box_events, phone_events)


def bursts(audio: np.ndarray, threshold: float = 300.0) -> list[tuple[float, float, float]]:
    """(start s, end s, Hz) of each burst of sound in AUDIO: envelope by a 2 ms running max of
    |x|, frequency from zero crossings (meaningful for single tones only)."""
    loud = np.abs(audio.astype(np.float64)) > threshold
    # A sample within 8 of a loud one is inside the burst: closes the gaps at zero crossings.
    width = 16
    padded = np.concatenate([np.zeros(width, bool), loud, np.zeros(width, bool)])
    near = np.zeros(len(loud), bool)
    for shift in range(-width // 2, width // 2 + 1):
        near |= padded[width + shift:width + shift + len(loud)]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], near.astype(np.int8), [0]])))
    found = []
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        # The envelope overshoots each edge by up to 8 samples: trim to the first and last loud sample.
        inside = np.flatnonzero(loud[start:end])
        first, last = start + inside[0], start + inside[-1] + 1
        piece = audio[first:last].astype(np.float64)
        crossings = np.count_nonzero(np.diff(np.signbit(piece)))
        duration = (last - first) / SAMPLE_RATE
        found.append((first / SAMPLE_RATE, last / SAMPLE_RATE, crossings / 2 / duration))
    return found


def message_starts(audio: np.ndarray) -> list[float]:
    """Where each run of DTMF bursts (a message) begins, in s: bursts > 200 ms apart split runs."""
    found = bursts(audio)
    return [b[0] for i, b in enumerate(found) if i == 0 or b[0] - found[i - 1][1] > 0.2]


# -- the digits on the wire -----------------------------------------------------------------------


def test_dc05_digit_values_are_the_dtmf_keys_in_keypad_order() -> None:
    assert contact_id_to_keys("0123456789BCDEF") == "0123456789*#ABC"
    assert keys_to_contact_id("0123456789*#ABC") == "0123456789BCDEF"
    # Weights as a receiver sums the keys (value 10 is '0', then *, #, A, B, C = 11 … 15):
    weight = {**{str(v): v for v in range(1, 10)}, "0": 10, "*": 11, "#": 12, "A": 13, "B": 14, "C": 15}
    for message in (PANIC, HEX, MEDICAL):
        keys = contact_id_to_keys(encode_dtmf(message))
        assert sum(weight[k] for k in keys) % 15 == 0
    assert set(CONTACT_ID_TO_DTMF.values()) == set("0123456789*#ABC")
    with pytest.raises(InbandError, match="'D'"):
        keys_to_contact_id("12D4")
    with pytest.raises(InbandError, match="'A'"):
        contact_id_to_keys("12A4")


def test_sender_checks_its_messages() -> None:
    with pytest.raises(InbandError, match="16 digits"):
        InbandSender(["12341811010000"], 0.0)
    with pytest.raises(InbandError, match="not a Contact ID digit"):
        InbandSender(["123418110100001A"], 0.0)
    with pytest.raises(InbandError, match="at least one"):
        InbandSender([], 0.0)
    with pytest.raises(InbandError, match="shape"):
        InbandReceiver(0.0).feed(np.zeros(80, np.int16), 0.0)
    assert InbandSender([PANIC], 0.0).digits == (encode_dtmf(PANIC),)


# -- whole calls ------------------------------------------------------------------------------------


def test_one_message_through_alaw_gain_and_noise() -> None:
    receiver, sender = InbandReceiver(0.0), InbandSender([encode_dtmf(PANIC)], 0.0)
    call = run_call(receiver, sender, 10.0)
    (received,) = call.box(MessageReceived)
    assert received.message == PANIC and received.digits == encode_dtmf(PANIC)
    assert received.repeat is False and call.box(MessageRejected) == []
    (kissoff,) = call.phone(KissoffHeard)
    assert (kissoff.message_index, kissoff.attempt) == (0, 1)
    assert len(call.phone(HandshakeHeard)) == 1 and call.phone(GaveUp) == []
    (finished,) = call.box(Finished)
    assert finished.reason == "complete" and finished.messages == (PANIC,)
    assert "接收完毕" in finished.label
    assert (sender.sent, sender.failed, sender.done, receiver.finished) == (1, 0, True, True)
    # The voice path opens ≈ 1 s after the kissoff: the exchange is over within ≈ 5 s of answer.
    assert finished.at < 5.0


def test_two_messages_in_a_row() -> None:
    receiver = InbandReceiver(0.0)
    sender = InbandSender([encode_dtmf(PANIC), encode_dtmf(HEX)], 0.0)
    call = run_call(receiver, sender, 15.0)
    assert [e.message for e in call.box(MessageReceived)] == [PANIC, HEX]
    assert [e.keys for e in call.box(MessageReceived)][1] == "1*2#1831010A0BC" + encode_dtmf(HEX)[-1]
    assert [(k.message_index, k.attempt) for k in call.phone(KissoffHeard)] == [(0, 1), (1, 1)]
    (finished,) = call.box(Finished)
    assert finished.reason == "complete" and finished.messages == (PANIC, HEX)
    assert receiver.messages == (PANIC, HEX) and (sender.sent, sender.failed) == (2, 0)


def swap_digit(message: int, attempt: int, digit: int, key: str) -> Tamper:
    """Replace the tone of DIGIT of MESSAGE's ATTEMPT with KEY's on its way to the box."""
    other = dtmf_tone(key, on_ms=60_000, off_ms=0, level_dbm0=-7.0)  # phase-continuous across frames
    ticks = 0

    def tamper(frame: np.ndarray, sender: InbandSender) -> np.ndarray:
        nonlocal ticks
        ticks += 1
        if sender.sending != (message, attempt, digit):
            return frame
        start = (ticks - 1) * FRAME_SAMPLES
        return np.where(frame != 0, other[start:start + FRAME_SAMPLES], 0).astype(np.int16)
    return tamper


def test_corrupted_digit_fails_the_checksum_and_is_sent_again_and_stored_once() -> None:
    digits = encode_dtmf(PANIC)
    receiver, sender = InbandReceiver(0.0), InbandSender([digits], 0.0)
    # The 6th digit ('8' of the message type) arrives as '9' on the first attempt only.
    call = run_call(receiver, sender, 12.0, tamper=swap_digit(0, 1, 5, "9"))
    (rejected,) = call.box(MessageRejected)
    assert rejected.reason == "checksum" and rejected.digits == digits[:5] + "9" + digits[6:]
    assert "校验" in rejected.label
    (received,) = call.box(MessageReceived)
    assert received.message == PANIC and received.at > rejected.at
    # No kissoff for the bad copy: the only one the phone heard acknowledges attempt 2.
    (kissoff,) = call.phone(KissoffHeard)
    assert kissoff.attempt == 2
    kissoffs = [b for b in bursts(call.box_audio) if b[1] - b[0] > 0.5]
    assert len(kissoffs) == 1 and kissoffs[0][0] > received.at
    # DC-05: the phone repeats 1.25 s after its message ended; its two copies start ≈ 3 s apart.
    first, second = message_starts(call.phone_audio)
    assert 1.55 + 1.25 - 0.05 < second - first < 1.86 + 1.25 + 0.1
    assert call.box(Finished)[0].messages == (PANIC,)


def test_truncated_message_is_rejected_at_the_interdigit_timeout_then_repeated() -> None:
    digits = encode_dtmf(MEDICAL)

    def lose_the_end(frame: np.ndarray, sender: InbandSender) -> np.ndarray:
        sending = sender.sending
        if sending is not None and sending[:2] == (0, 1) and sending[2] >= 12:
            return np.zeros_like(frame)
        return frame

    receiver, sender = InbandReceiver(0.0), InbandSender([digits], 0.0)
    call = run_call(receiver, sender, 12.0, tamper=lose_the_end)
    (rejected,) = call.box(MessageRejected)
    assert rejected.reason == "length" and rejected.digits == digits[:12]
    assert [e.message for e in call.box(MessageReceived)] == [MEDICAL]
    assert call.phone(KissoffHeard)[0].attempt == 2


def test_a_short_message_and_then_silence_finishes_the_call() -> None:
    receiver = InbandReceiver(0.0)
    keys = contact_id_to_keys(encode_dtmf(PANIC))[:10]
    audio = np.concatenate([np.zeros(8000, np.int16), dtmf_tone(keys, 55, 55, -17.0)])
    audio = np.concatenate([audio, np.zeros(10 * SAMPLE_RATE - len(audio), np.int16)])
    events = []
    for tick, frame in enumerate(audio.reshape(-1, FRAME_SAMPLES)):
        receiver.feed(frame, tick * TICK)
        receiver.next_frame(tick * TICK)
        events += receiver.events()
    rejected, finished = events
    assert isinstance(rejected, MessageRejected) and rejected.digits == encode_dtmf(PANIC)[:10]
    # The 10th digit's report is ≈ 1 + 9 × 0.11 + 0.035 s in; rejected 0.25 s of silence later.
    assert 1.0 + 9 * 0.11 + 0.25 < rejected.at < 1.0 + 9 * 0.11 + 0.35
    assert isinstance(finished, Finished) and finished.reason == "phone_stopped"
    assert finished.at == pytest.approx(rejected.at + 2.0, abs=TICK + 1e-9)


def test_phone_that_never_answers_the_handshake() -> None:
    """Silence after two handshakes: Finished, and the caller gets the voice path."""
    receiver = InbandReceiver(0.0)
    assert receiver.get_timer() is None  # the handshake is still to go out
    call = run_call(receiver, None, 8.0)
    (finished,) = call.box(Finished)
    assert finished.reason == "no_handshake_reply" and finished.messages == ()
    # 0.5 s, handshake (0.3 s), 2 s for a digit, handshake again, 2 s: ≈ 5.1 s.
    assert finished.at == pytest.approx(5.1, abs=TICK + 1e-9)
    assert [round(b[2], -2) for b in bursts(call.box_audio)] == [1400, 2300, 1400, 2300]


def test_timer_api_moves_the_receiver_on_between_ticks() -> None:
    receiver = InbandReceiver(10.0)
    now = 10.0
    while receiver.get_timer() is None:
        receiver.next_frame(now)
        now += TICK
    # The handshake ended 0.8 s after answer; the phone has 2 s from there.
    assert receiver.get_timer() == pytest.approx(10.8 + 2.0)
    receiver.on_timer(receiver.get_timer())
    assert receiver.phase == "greeting"  # the second handshake
    assert receiver.events() == []


def test_wrong_checksum_every_time_ends_in_too_many_failures_and_the_phone_gives_up() -> None:
    digits = encode_dtmf(PANIC)
    bad = digits[:15] + ("1" if digits[15] != "1" else "2")
    receiver, sender = InbandReceiver(0.0), InbandSender([bad], 0.0)
    call = run_call(receiver, sender, 20.0)
    assert [e.reason for e in call.box(MessageRejected)] == ["checksum"] * 4
    (finished,) = call.box(Finished)
    assert finished.reason == "too_many_failures" and finished.messages == ()
    (gave_up,) = call.phone(GaveUp)
    assert (gave_up.attempts, gave_up.reason) == (4, "no_kissoff")
    assert call.phone(KissoffHeard) == [] and (sender.sent, sender.failed) == (0, 1)


def test_kissoff_shorter_than_400_ms_is_not_one() -> None:
    """A receiver whose kissoff is 300 ms: every copy arrives (repeat flagged), none is acknowledged."""
    receiver = InbandReceiver(0.0, kissoff_ms=300, max_messages=8)
    sender = InbandSender([encode_dtmf(PANIC)], 0.0)
    call = run_call(receiver, sender, 16.0)
    received = call.box(MessageReceived)
    assert len(received) == 4 and [r.repeat for r in received] == [False, True, True, True]
    assert call.phone(KissoffHeard) == [] and call.phone(GaveUp)[0].attempts == 4


def test_event_606_listen_in_follows_right_after_the_kissoff() -> None:
    listen_in = ContactIdMessage("1234", "18", 1, "606", "00", "000")
    receiver, sender = InbandReceiver(0.0), InbandSender([encode_dtmf(listen_in)], 0.0)
    call = run_call(receiver, sender, 8.0)
    (finished,) = call.box(Finished)
    assert finished.reason == "audio_follows"
    kissoff = [b for b in bursts(call.box_audio) if b[1] - b[0] > 0.5][-1]
    assert finished.at == pytest.approx(kissoff[1], abs=0.002)  # not a second later
    assert call.phone(KissoffHeard)


def test_max_messages_ends_the_exchange() -> None:
    receiver = InbandReceiver(0.0, max_messages=2)
    sender = InbandSender([encode_dtmf(m) for m in (PANIC, HEX, MEDICAL)], 0.0)
    call = run_call(receiver, sender, 12.0, stop_when_done=False)
    assert [e.message for e in call.box(MessageReceived)] == [PANIC, HEX]
    assert [e.reason for e in call.box(Finished)] == ["max_messages"]


# -- timings measured on the audio --------------------------------------------------------------------


def test_handshake_kissoff_and_dtmf_timing_meet_dc05() -> None:
    receiver = InbandReceiver(0.0)
    sender = InbandSender([encode_dtmf(PANIC), encode_dtmf(MEDICAL)], 0.0)
    call = run_call(receiver, sender, 12.0)
    box = bursts(call.box_audio)
    assert [round(b[2], -2) for b in box] == [1400, 2300, 1400, 1400]
    (hs1_start, hs1_end, hs1_hz), (hs2_start, hs2_end, hs2_hz) = box[:2]
    ms = 1000
    assert hs1_start * ms == pytest.approx(500, abs=1)  # DC-05: ≥ 0.5 s after answer
    assert (hs1_end - hs1_start) * ms == pytest.approx(100, abs=1)  # 100 ms ±5 %
    assert (hs2_start - hs1_end) * ms == pytest.approx(100, abs=1)
    assert (hs2_end - hs2_start) * ms == pytest.approx(100, abs=1)
    assert hs1_hz == pytest.approx(1400, rel=0.01) and hs2_hz == pytest.approx(2300, rel=0.01)
    kissoffs = box[2:]
    for start, end, hz in kissoffs:
        assert (end - start) * ms == pytest.approx(900, abs=1) and hz == pytest.approx(1400, rel=0.01)

    phone = bursts(call.phone_audio)
    assert len(phone) == 32  # two messages of 16 digits
    for first, second in zip(phone, phone[1:], strict=False):
        assert 0.050 <= first[1] - first[0] <= 0.060  # DC-05: 50-60 ms on
        if second is not phone[16]:
            assert 0.050 <= second[0] - first[1] <= 0.060  # and 50-60 ms off
    # DC-05: the first message 250-300 ms after the handshake, the next after the kissoff.
    assert 0.250 <= phone[0][0] - hs2_end <= 0.300
    assert 0.250 <= phone[16][0] - kissoffs[0][1] <= 0.300
    # The kissoff starts well within the 1.25 s the phone waits after its last tone.
    for message, kissoff in ((phone[:16], kissoffs[0]), (phone[16:], kissoffs[1])):
        assert 0.0 < kissoff[0] - message[-1][1] < 1.25


# -- sender's tone detection -----------------------------------------------------------------------


def handshake_audio(low_hz: float, high_hz: float, level_dbm0: float, order: str = "low-high") -> np.ndarray:
    t = np.arange(800) / SAMPLE_RATE
    peak = dbm0_to_peak(level_dbm0)
    low, high = peak * np.sin(2 * np.pi * low_hz * t), peak * np.sin(2 * np.pi * high_hz * t)
    first, second = (low, high) if order == "low-high" else (high, low)
    pieces = [np.zeros(1234), first, np.zeros(800), second, np.zeros(8000)]
    if order == "low-only":
        pieces = [np.zeros(1234), low, np.zeros(8800)]
    return np.concatenate(pieces)


@pytest.mark.parametrize("low_hz, high_hz, level_dbm0, order, heard", [
    (1400, 2300, -10, "low-high", True),
    (1400 * 1.05, 2300 * 0.95, -35, "low-high", True),  # DC-05's ±5 %, quiet line
    (1400 * 0.95, 2300 * 1.05, 0, "low-high", True),
    (1400, 2300, -10, "high-low", False),
    (1400, 2300, -10, "low-only", False),
    (1400 * 1.12, 2300, -10, "low-high", False),  # not the handshake's frequency
])
def test_sender_hears_the_handshake_at_any_gain_and_only_the_handshake(
        low_hz: float, high_hz: float, level_dbm0: float, order: str, heard: bool) -> None:
    audio = handshake_audio(low_hz, high_hz, level_dbm0, order)
    noise = Line(3, gain_db=0.0, noise_dbm0=level_dbm0 - 20)
    audio = np.concatenate([audio, np.zeros(-len(audio) % FRAME_SAMPLES)])
    sender = InbandSender([encode_dtmf(PANIC)], 0.0)
    for tick, frame in enumerate(audio.reshape(-1, FRAME_SAMPLES)):
        sender.feed(noise(frame), tick * TICK)
        sender.next_frame(tick * TICK)
    events = sender.events()
    assert any(isinstance(e, HandshakeHeard) for e in events) is heard
    if heard:
        end_of_handshake = (1234 + 2400) / SAMPLE_RATE
        assert events[0].at == pytest.approx(end_of_handshake + 0.03, abs=0.021)


def test_sender_without_a_handshake_gives_up_every_message() -> None:
    sender = InbandSender([encode_dtmf(PANIC), encode_dtmf(HEX)], 0.0, handshake_timeout=3.0)
    for tick in range(200):
        sender.feed(np.zeros(FRAME_SAMPLES, np.int16), tick * TICK)
        assert not sender.next_frame(tick * TICK).any()
    gave_up = sender.events()
    assert [(g.message_index, g.reason) for g in gave_up] == [(0, "no_handshake"), (1, "no_handshake")]
    assert sender.done and (sender.sent, sender.failed) == (0, 2)


# -- an independent decoder ---------------------------------------------------------------------------

MULTIMON_RATE = 22050


def multimon_keys(audio: np.ndarray) -> str:
    """The DTMF keys multimon-ng reads in AUDIO (8 kHz int16), resampled by sox to its 22050 Hz."""
    resampled = subprocess.run(
        ["sox", "-t", "raw", "-r", str(SAMPLE_RATE), "-e", "signed", "-b", "16", "-c", "1", "-",
         "-t", "raw", "-r", str(MULTIMON_RATE), "-e", "signed", "-b", "16", "-c", "1", "-"],
        input=audio.astype(np.int16).tobytes(), capture_output=True, check=True).stdout
    out = subprocess.run(["multimon-ng", "-q", "-c", "-a", "DTMF", "-t", "raw", "-"],
                         input=resampled, capture_output=True, check=True).stdout.decode()
    return "".join(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("DTMF:"))


@pytest.mark.timeout(60)
def test_multimon_ng_reads_the_same_digits_the_box_accepted() -> None:
    receiver = InbandReceiver(0.0)
    sender = InbandSender([encode_dtmf(HEX), encode_dtmf(PANIC)], 0.0)
    call = run_call(receiver, sender, 12.0)
    accepted = [e.digits for e in call.box(MessageReceived)]
    assert accepted == [encode_dtmf(HEX), encode_dtmf(PANIC)]
    keys = multimon_keys(call.phone_audio)
    assert keys == "".join(contact_id_to_keys(d) for d in accepted)
    assert [keys_to_contact_id(keys[:16]), keys_to_contact_id(keys[16:])] == accepted
    # And as the box heard it: through A-law, 10 dB down, with the line's noise.
    line = Line(11)
    heard = np.concatenate([line(f) for f in call.phone_audio.reshape(-1, FRAME_SAMPLES)])
    assert multimon_keys(heard) == keys
