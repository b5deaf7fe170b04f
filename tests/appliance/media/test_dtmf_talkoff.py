"""DTMF talk-off: no digit may be detected in speech (espeak-ng Mandarin and English) or music.

The corpora are made at test time: espeak-ng speaks varied texts in several voices,
speeds and pitches, sox turns that into 8 kHz 16-bit; the music is synthesised here
(melodies, chords, arpeggios and bass, every note with harmonics, several timbres), so
nothing copyrighted or large is committed. Both are fed through a DtmfBank of many
channels at once, as pbxd would, and through A-law as on the E1.

The builders are plain cached functions so test_dtmf_multimon.py can run multimon-ng
on exactly the same audio.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from appliance.media.dtmf import FRAME_SAMPLES, SAMPLE_RATE, ZERO_DBM0_PEAK, DtmfBank, DtmfLimits
from drivers.e1_card import g711

# Chinese characters through `-v cmn`, as the prompts are made. (espeak-ng 1.51's cmn voice
# reads many characters letter by letter from their pinyin: still a male voice speaking.)
MANDARIN_HANZI = [
    "您好，欢迎致电社区居家养老服务中心，请问有什么可以帮您？",
    "查询服务时间请按一，预约上门服务请按二，投诉建议请按三，人工服务请按零。",
    "王奶奶，今天天气转凉，出门记得多穿一件衣服，按时吃降压药。",
    "我们已经通知您的家属和社区医生，救护车大约十分钟以后到达。",
    "本中心的服务时间是每天上午八点到晚上八点，节假日照常服务。",
    "请您在听到提示音后留言，说完以后请挂机，我们会尽快给您回电。",
    "李大爷，您上个月的体检报告出来了，血糖有点高，要少吃甜食。",
    "感谢您的来电，请对本次服务做出评价，满意请按一，不满意请按二。",
    "明天上午九点，志愿者会上门帮您打扫卫生，顺便送一些蔬菜和水果。",
    "如果您感到胸口疼痛或者呼吸困难，请立即按下一键通的红色按钮。",
]
# Pinyin through `-v cmn-latn-pinyin`: espeak-ng's real Mandarin phonemes and tones.
MANDARIN_PINYIN = [
    "ni3 hao3, huan1 ying2 zhi4 dian4 she4 qu1 ju1 jia1 yang3 lao3 fu2 wu4 zhong1 xin1.",
    "qing3 wen4 nin2 jin1 tian1 shen1 ti3 zen3 me yang4? you3 mei2 you3 na3 li3 bu4 shu1 fu5?",
    "wo3 men5 ma3 shang4 pai4 ren2 guo4 qu4, qing3 nin2 bu2 yao4 zhao2 ji2, zuo4 xia4 xiu1 xi5.",
    "zhang1 a1 yi2, nin2 de5 er2 zi5 gang1 cai2 da3 dian4 hua4 lai2, shuo1 wan3 shang4 hui2 jia1.",
    "xia4 zhou1 yi1 xia4 wu3 san1 dian3, she4 qu1 you3 jian4 kang1 jiang3 zuo4, huan1 ying2 can1 jia1.",
    "shi2 er4 yue4 er4 shi2 hao4, ling2 ba1 liu4 qi1, san1 wu3 jiu3 si4, yi1 er4 san1 si4 wu3.",
    "lao3 ren2 jia1 yao4 duo1 he1 shui3, shao3 chi1 yan2, mei3 tian1 san4 bu4 ban4 ge4 xiao3 shi2.",
    "gan3 xie4 nin2 de5 nai4 xin1 deng3 dai4, xian4 zai4 wei4 nin2 zhuan3 jie1 ren2 gong1 fu2 wu4.",
]
ENGLISH = [
    "Hello, and welcome to the community elderly care service centre. How can we help you today?",
    "Press one for opening hours, two to book a home visit, three for complaints, or zero for an agent.",
    "Mrs Wang, it is getting colder, so please wear a warm coat and remember your blood pressure pills.",
    "We have called your daughter and the community doctor. The ambulance will arrive in ten minutes.",
    "Your call is important to us. Please hold the line, and an operator will be with you shortly.",
    "The quick brown fox jumps over the lazy dog, while five boxing wizards jump quickly.",
    "Numbers: zero, one, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve, nineteen.",
    "Oh really? That's wonderful news! Well, I suppose we should have tea, shouldn't we?",
    "She sells sea shells by the sea shore; the shells she sells are surely sea shells.",
    "Ahhh, mmm, oooh, eeee, hmmm. Yes, yes, no, no, maybe. Is anybody there? Hello? Hello!",
]
# (voice variant, words per minute, pitch 0-99): men's, women's and a child-like voice.
VOICES = [("", 165, 50), ("+f3", 140, 70), ("+m3", 200, 30), ("+f5", 120, 90), ("+m7", 180, 60)]

TICKS_PER_SECOND = SAMPLE_RATE // FRAME_SAMPLES


def _espeak_8k(voice: str, speed: int, pitch: int, text: str, work: Path) -> np.ndarray:
    wav = work / "speech.wav"
    raw = work / "speech.raw"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text],
                   check=True, capture_output=True)
    # norm -3: leave headroom so the resampler does not clip; then 8 kHz 16-bit signed mono.
    subprocess.run(["sox", str(wav), "-t", "raw", "-r", str(SAMPLE_RATE), "-e", "signed", "-b", "16",
                    "-c", "1", str(raw), "norm", "-3"], check=True, capture_output=True)
    return np.fromfile(raw, dtype="<i2")


@functools.cache
def speech_corpus(language: str) -> np.ndarray:
    """About ten minutes of LANGUAGE ('cmn' or 'en') speech, 8 kHz int16, in five voices."""
    plan = {  # (espeak voice, texts, voice variants)
        "cmn": [("cmn-latn-pinyin", MANDARIN_PINYIN, VOICES), ("cmn", MANDARIN_HANZI, VOICES[1:4])],
        "en": [("en", ENGLISH, VOICES), ("en-us", ENGLISH, VOICES)],
    }[language]
    pieces = []
    with tempfile.TemporaryDirectory() as tmp:
        for voice, texts, variants in plan:
            for variant, speed, pitch in variants:
                pieces += [_espeak_8k(voice + variant, speed, pitch, text, Path(tmp)) for text in texts]
    return np.concatenate(pieces)


def _note(freq: float, seconds: float, timbre: str, rng: np.random.Generator) -> np.ndarray:
    """One note with harmonics below 3.8 kHz, an envelope and (for some timbres) vibrato."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    slope = {"piano": 1.2, "organ": 0.8, "flute": 2.0, "strings": 1.0, "clarinet": 1.0}[timbre]
    vibrato = 1 + (0.006 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t)
                   if timbre in ("strings", "flute") else 0)
    phase = 2 * np.pi * np.cumsum(freq * vibrato) / SAMPLE_RATE
    wave = np.zeros(n)
    for k in range(1, 12):
        if k * freq > 3800:
            break
        amp = k ** -slope
        if timbre == "clarinet" and k % 2 == 0:
            amp *= 0.15  # mostly odd harmonics
        wave += amp * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    attack = np.minimum(1.0, t / 0.01)
    if timbre == "piano":
        envelope = attack * np.exp(-t * rng.uniform(2.0, 4.0))
    else:
        envelope = attack * np.minimum(1.0, (seconds - t) / 0.05).clip(0)
    return wave * envelope


def _midi(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _add(out: np.ndarray, start: int, wave: np.ndarray) -> None:
    end = min(len(out), start + len(wave))
    if end > start:
        out[start:end] += wave[:end - start]


def _piece(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Melody over chords, arpeggios and a bass line in a random key, tempo and instrumentation."""
    out = np.zeros(int(seconds * SAMPLE_RATE))
    beat = 60 / rng.uniform(70, 150)
    key = int(rng.integers(55, 67))
    scale = [0, 2, 4, 5, 7, 9, 11] if rng.random() < 0.6 else [0, 2, 3, 5, 7, 8, 10]
    melody_timbre, chord_timbre = rng.choice(["piano", "flute", "strings", "clarinet"], 2)
    progression = [0, 5, 3, 4, 0, 3, 4, 0]  # I vi IV V … in scale degrees
    t, bar = 0.0, 0
    while t < seconds:
        degree = progression[bar % len(progression)]
        chord = [key + 12 * ((degree + s) // 7) + scale[(degree + s) % 7] for s in (0, 2, 4, 6)]
        start = int(t * SAMPLE_RATE)
        for note in chord[:3 + int(rng.random() < 0.4)]:  # triad or seventh chord, sustained
            wave = 0.25 * _note(_midi(note), 4 * beat, str(chord_timbre), rng)
            _add(out, start, wave)
        bass = _note(_midi(chord[0] - 24), 4 * beat, "organ", rng) * 0.35
        _add(out, start, bass)
        for i in range(8):  # arpeggio in eighths, an octave up
            note = chord[i % 4 if i % 8 < 4 else 3 - i % 4] + 12
            wave = 0.2 * _note(_midi(note), beat, "piano", rng)
            s = start + int(i * beat / 2 * SAMPLE_RATE)
            _add(out, s, wave)
        m = 0.0
        while m < 4 * beat:  # melody: a random walk on the scale, octaves 5-6
            length = beat * float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
            step = int(rng.integers(0, 14))
            note = key + 12 + 12 * (step // 7) + scale[step % 7]
            wave = 0.45 * _note(_midi(note), length, str(melody_timbre), rng)
            s = start + int(m * SAMPLE_RATE)
            _add(out, s, wave)
            m += length
        t += 4 * beat
        bar += 1
    return out


@functools.cache
def music_corpus() -> np.ndarray:
    """Six minutes of generated music, 8 kHz int16, peaks at -3 dBFS."""
    rng = np.random.default_rng(20240605)
    pieces = []
    for _ in range(18):
        piece = _piece(20.0, rng)
        pieces.append(piece / np.max(np.abs(piece)) * 32768 * 10 ** (-3 / 20))
    return np.round(np.concatenate(pieces)).astype(np.int16)


def bank_detections(audio: np.ndarray, limits: DtmfLimits | None = None,
                    channels: int = 30) -> list[tuple[float, str]]:
    """Digits a DtmfBank finds in AUDIO cut into CHANNELS lanes: [(seconds into AUDIO, digit)]."""
    per_channel = -(-len(audio) // (channels * FRAME_SAMPLES)) * FRAME_SAMPLES
    padded = np.zeros(per_channel * channels, dtype=np.int16)
    padded[:len(audio)] = audio
    lanes = padded.reshape(channels, per_channel)
    bank = DtmfBank(channels, limits)
    found = []
    for tick in range(per_channel // FRAME_SAMPLES):
        frames = lanes[:, tick * FRAME_SAMPLES:(tick + 1) * FRAME_SAMPLES]
        for channel, digit in bank.feed(frames, tick / TICKS_PER_SECOND):
            found.append(((channel * per_channel + tick * FRAME_SAMPLES) / SAMPLE_RATE, digit))
    return found


def _level_dbm0(audio: np.ndarray) -> float:
    rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2))
    return 20 * np.log10(rms / (ZERO_DBM0_PEAK / np.sqrt(2)))


def _through_alaw(audio: np.ndarray) -> np.ndarray:
    """AUDIO encoded to A-law and back with drivers/e1_card/g711.py (tabulated for speed)."""
    encode = np.frombuffer(g711.linear_to_alaw(list(range(-32768, 32768))), dtype=np.uint8)
    decode = np.array(g711.DECODE, dtype=np.int16)
    return decode[encode[audio.astype(np.int32) + 32768]]


@pytest.fixture(scope="session")
def mandarin() -> np.ndarray:
    return speech_corpus("cmn")


@pytest.fixture(scope="session")
def english() -> np.ndarray:
    return speech_corpus("en")


@pytest.fixture(scope="session")
def music() -> np.ndarray:
    return music_corpus()


@pytest.mark.timeout(300)
def test_corpora_are_minutes_of_loud_audio(mandarin: np.ndarray, english: np.ndarray,
                                           music: np.ndarray) -> None:
    for audio in (mandarin, english, music):
        assert len(audio) >= 5 * 60 * SAMPLE_RATE
        assert -20 < _level_dbm0(audio) < -5  # at speaking level, not near silence


@pytest.mark.timeout(300)
def test_no_talk_off_on_mandarin_speech(mandarin: np.ndarray) -> None:
    assert bank_detections(mandarin) == []


@pytest.mark.timeout(300)
def test_no_talk_off_on_english_speech(english: np.ndarray) -> None:
    assert bank_detections(english) == []


@pytest.mark.timeout(300)
def test_no_talk_off_on_music(music: np.ndarray) -> None:
    assert bank_detections(music) == []


@pytest.mark.timeout(300)
@pytest.mark.parametrize("gain_db", [-15.0, 0.0, +6.0])
def test_no_talk_off_through_alaw_quieter_or_louder(mandarin: np.ndarray, english: np.ndarray,
                                                    music: np.ndarray, gain_db: float) -> None:
    """As on the E1 (A-law) and at other levels: quantisation and clipping must not make digits."""
    mixed = np.concatenate([mandarin, english, music]).astype(np.float64) * 10 ** (gain_db / 20)
    linear = np.clip(np.round(mixed), -32768, 32767).astype(np.int16)
    assert bank_detections(_through_alaw(linear), channels=60) == []


@pytest.mark.timeout(300)
def test_the_voice_comb_check_is_what_stops_high_voices(mandarin: np.ndarray, english: np.ndarray) -> None:
    """The corpus is hard enough to matter: without the comb probes high voices talk off.

    Two harmonics of a ~300 Hz voice (3·f0 ≈ 920 Hz, 4·f0 ≈ 1230 Hz) pass for "*"
    (941 + 1209 Hz) on every other check.
    """
    no_comb = DtmfLimits(max_comb_db=100.0)
    false_digits = bank_detections(mandarin, no_comb) + bank_detections(english, no_comb)
    assert false_digits
    assert {digit for _, digit in false_digits} <= set("*0#D")  # the 941 Hz row: 3rd harmonics
