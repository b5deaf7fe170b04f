"""The .arec container: round trip, tampering, truncation, reordering, splicing, keys."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.recording import container
from appliance.recording.container import (
    RecordingError,
    RecordingMeta,
    RecordingReader,
    RecordingWriter,
    Tampered,
    Truncated,
    UnsupportedVersion,
    WrongKey,
)
from appliance.recording.keys import Keyring, RecordingKey, generate_key
from drivers.e1_card import g711

KEY = RecordingKey(7, bytes(range(32)))
RING = Keyring([KEY])
STARTED = datetime(2025, 3, 1, 9, 30, 15, 250_000, tzinfo=UTC)


def record(path: Path, left: bytes, right: bytes, *, chunk_frames: int = 160, tick: int = 160,
           key: RecordingKey = KEY, call_id: str = "call-0001", close: bool = True) -> RecordingWriter:
    writer = RecordingWriter(path, key, RecordingMeta(call_id, STARTED, chunk_frames))
    for i in range(0, len(left), tick):
        writer.write(left[i:i + tick], right[i:i + tick])
    if close:
        writer.close()
    else:
        writer.abort()  # as if the power went: no final chunk
    return writer


def caller_and_agent(seconds: float) -> tuple[bytes, bytes]:
    """Different tones per side, so a swap of channels cannot go unnoticed."""
    return g711.tone((697.0,), seconds, dbm0=-10), g711.tone((1477.0,), seconds, dbm0=-13)


def read(path: Path, keyring: Keyring = RING, **kw: bool) -> tuple[bytes, bytes]:
    with RecordingReader(path, keyring) as reader:
        return reader.read_all(**kw)


def header_len(call_id: str = "call-0001") -> int:
    return container._FIXED.size + len(call_id.encode()) + 12 + 48


def flip(path: Path, offset: int, out: Path, mask: int = 0x01) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    out.write_bytes(bytes(data))
    return out


def chunk_spans(path: Path) -> list[tuple[int, int]]:
    """(start, end) of each chunk (length word included) in the file."""
    data, pos, spans = path.read_bytes(), header_len(), []
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big") & 0x7FFF_FFFF
        spans.append((pos, pos + 4 + length))
        pos += 4 + length
    return spans


def test_round_trip_keeps_each_channel_and_the_header(tmp_path: Path) -> None:
    left, right = caller_and_agent(1.5)
    writer = record(tmp_path / "a.arec", left, right, chunk_frames=8000)
    assert writer.duration_s == pytest.approx(1.5)
    with RecordingReader(tmp_path / "a.arec", RING) as reader:
        got_left, got_right = reader.read_all()
        assert reader.duration_s == pytest.approx(1.5)
        assert reader.truncation is None
        assert reader.header.call_id == "call-0001"
        assert reader.header.key_id == 7
        assert reader.header.started_at == STARTED
    assert got_left == left and got_right == right
    assert got_left != got_right


def test_ticks_of_any_size_cross_chunk_boundaries(tmp_path: Path) -> None:
    left, right = caller_and_agent(0.3)
    record(tmp_path / "a.arec", left, right, chunk_frames=333, tick=97)
    assert read(tmp_path / "a.arec") == (left, right)


def test_numpy_ticks_are_accepted(tmp_path: Path) -> None:
    left = np.arange(800, dtype=np.uint8)
    right = np.full(800, 0xD5, dtype=np.uint8)
    with RecordingWriter(tmp_path / "a.arec", KEY, RecordingMeta("c", STARTED, 160)) as writer:
        for i in range(0, 800, 160):
            writer.write(left[i:i + 160], right[i:i + 160])
    assert read(tmp_path / "a.arec") == (left.tobytes(), right.tobytes())


@pytest.mark.parametrize("frames", [0, 160, 480, 481])
def test_empty_and_exact_multiple_lengths(tmp_path: Path, frames: int) -> None:
    left, right = bytes([1]) * frames, bytes([2]) * frames
    record(tmp_path / "a.arec", left, right, chunk_frames=160)
    assert read(tmp_path / "a.arec") == (left, right)
    # full chunks are sealed at once, so the final chunk holds only the rest (maybe nothing)
    assert len(chunk_spans(tmp_path / "a.arec")) == frames // 160 + 1


def test_unequal_channels_are_refused(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path / "a.arec", KEY, RecordingMeta("c", STARTED)) as writer, \
            pytest.raises(ValueError, match="equally long"):
        writer.write(b"\x00" * 160, b"\x00" * 159)


def test_sixteen_bit_samples_are_not_mistaken_for_alaw(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path / "a.arec", KEY, RecordingMeta("c", STARTED)) as writer, \
            pytest.raises(ValueError, match="uint8"):
        writer.write(np.zeros(160, dtype=np.int16), np.zeros(160, dtype=np.int16))


def test_a_full_disk_raises_and_leaves_a_truncated_file(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path / "a.arec", KEY, RecordingMeta("c", STARTED, 160))
    writer.write(b"\x01" * 320, b"\x02" * 320)  # two chunks sealed

    def full(data: bytes) -> int:
        raise OSError(28, "No space left on device")

    writer._file.write = full  # type: ignore[method-assign]
    with pytest.raises(RecordingError, match="writing chunk 2: No space left"):
        writer.write(b"\x03" * 160, b"\x04" * 160)
    with pytest.raises(RecordingError, match="No space left"):
        writer.close()  # the final chunk cannot be written either: closed without it
    with pytest.raises(Truncated, match="no final chunk"):
        read(tmp_path / "a.arec")
    assert read(tmp_path / "a.arec", allow_truncated=True) == (b"\x01" * 320, b"\x02" * 320)


def test_never_overwrites_and_is_private(tmp_path: Path) -> None:
    record(tmp_path / "a.arec", b"", b"")
    assert stat.S_IMODE((tmp_path / "a.arec").stat().st_mode) == 0o600
    with pytest.raises(RecordingError, match="creating recording"):
        RecordingWriter(tmp_path / "a.arec", KEY, RecordingMeta("c", STARTED))


def test_write_after_close_is_an_error(tmp_path: Path) -> None:
    writer = record(tmp_path / "a.arec", b"", b"")
    with pytest.raises(RecordingError, match="write after close"):
        writer.write(b"\x00", b"\x00")


def test_fsync_per_chunk_and_at_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(container.os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    record(tmp_path / "a.arec", b"\x00" * 800, b"\x00" * 800, chunk_frames=160)
    # header + file's directory, 5 full chunks, the final chunk's close
    assert len(calls) == 2 + 5 + 1


def test_sync_every_zero_leaves_fsync_to_the_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(container.os, "fsync", lambda fd: calls.append(fd))
    writer = RecordingWriter(tmp_path / "a.arec", KEY, RecordingMeta("c", STARTED, 160), sync_every_chunks=0)
    for _ in range(5):
        writer.write(b"\x00" * 160, b"\x00" * 160)
    assert len(calls) == 2  # header and directory only
    writer.sync()
    writer.close()
    assert len(calls) == 4


def test_same_audio_twice_gives_unrelated_ciphertext(tmp_path: Path) -> None:
    left, right = caller_and_agent(0.1)
    record(tmp_path / "a.arec", left, right)
    record(tmp_path / "b.arec", left, right)
    a, b = (tmp_path / "a.arec").read_bytes(), (tmp_path / "b.arec").read_bytes()
    n = header_len()
    assert a[38:46] != b[38:46]  # nonce prefix
    assert a[n - 48:n] != b[n - 48:n]  # wrapped per-file key
    assert a[n + 4:n + 40] != b[n + 4:n + 40]


# --- tampering -----------------------------------------------------------------------

def expected_for_header_byte(offset: int) -> type[RecordingError]:
    if 6 <= offset < 7:
        return UnsupportedVersion
    if 26 <= offset < 38:  # key id, key check value
        return WrongKey
    return Tampered  # magic, format fields, time, nonce prefix, call id, wrap nonce, wrapped key


def test_every_header_byte_is_covered(tmp_path: Path) -> None:
    left, right = caller_and_agent(0.05)
    record(tmp_path / "a.arec", left, right)
    for offset in range(header_len()):
        bad = flip(tmp_path / "a.arec", offset, tmp_path / "bad.arec")
        with pytest.raises(expected_for_header_byte(offset)):
            read(bad)


@pytest.mark.parametrize("where", ["length", "body", "tag"])
def test_every_chunk_byte_region_is_covered(tmp_path: Path, where: str) -> None:
    left, right = caller_and_agent(0.1)  # 5 full chunks and an empty final one
    record(tmp_path / "a.arec", left, right)
    for i, (start, end) in enumerate(chunk_spans(tmp_path / "a.arec")):
        offset = {"length": start + 3, "body": start + 4, "tag": end - 1}[where]
        if where == "body" and end - start == 4 + 16:
            continue  # the empty final chunk has no body, only its tag
        bad = flip(tmp_path / "a.arec", offset, tmp_path / "bad.arec")
        with pytest.raises(Tampered, match=f"chunk {i}"):
            read(bad)


def test_final_flag_cannot_be_moved(tmp_path: Path) -> None:
    left, right = caller_and_agent(0.1)
    record(tmp_path / "a.arec", left, right)
    spans = chunk_spans(tmp_path / "a.arec")
    # claim that chunk 2 is the last: its tag was computed with final = 0
    bad = flip(tmp_path / "a.arec", spans[2][0], tmp_path / "bad.arec", mask=0x80)
    with pytest.raises(Tampered, match="chunk 2"):
        read(bad)


def test_swapped_dropped_duplicated_and_trailing_chunks(tmp_path: Path) -> None:
    left, right = caller_and_agent(0.1)
    record(tmp_path / "a.arec", left, right)
    data = (tmp_path / "a.arec").read_bytes()
    spans = chunk_spans(tmp_path / "a.arec")
    head, parts = data[:spans[0][0]], [data[s:e] for s, e in spans]
    cases = {
        "swapped": [parts[1], parts[0], *parts[2:]],
        "dropped": [parts[0], *parts[2:]],
        "duplicated": [parts[0], parts[0], *parts[1:]],
    }
    for name, chunks in cases.items():
        (tmp_path / f"{name}.arec").write_bytes(head + b"".join(chunks))
        with pytest.raises(Tampered, match="authentication failed"):
            read(tmp_path / f"{name}.arec")
    (tmp_path / "tail.arec").write_bytes(data + b"\x00")
    with pytest.raises(Tampered, match="after the final chunk"):
        read(tmp_path / "tail.arec")


def test_chunks_spliced_between_files_are_detected(tmp_path: Path) -> None:
    left, right = caller_and_agent(0.1)
    record(tmp_path / "a.arec", left, right)
    record(tmp_path / "b.arec", right, left)  # same key, same call id, same layout
    a, b = (tmp_path / "a.arec").read_bytes(), (tmp_path / "b.arec").read_bytes()
    sa, sb = chunk_spans(tmp_path / "a.arec"), chunk_spans(tmp_path / "b.arec")
    spliced = a[:sa[2][0]] + b[sb[2][0]:sb[2][1]] + a[sa[2][1]:]
    (tmp_path / "s.arec").write_bytes(spliced)
    with pytest.raises(Tampered, match="chunk 2"):
        read(tmp_path / "s.arec")
    (tmp_path / "h.arec").write_bytes(a[:header_len()] + b[header_len():])  # a's header, b's audio
    with pytest.raises(Tampered, match="chunk 0"):
        read(tmp_path / "h.arec")


def test_not_a_recording(tmp_path: Path) -> None:
    (tmp_path / "x.arec").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    with pytest.raises(Tampered, match="not an .arec"):
        read(tmp_path / "x.arec")


# --- keys -------------------------------------------------------------------------

def test_wrong_key_is_named_as_such(tmp_path: Path) -> None:
    record(tmp_path / "a.arec", b"\x00" * 160, b"\x00" * 160)
    with pytest.raises(WrongKey, match="not in the keyring"):
        read(tmp_path / "a.arec", Keyring([generate_key(1)]))
    with pytest.raises(WrongKey, match="not the one this file was sealed with"):
        read(tmp_path / "a.arec", Keyring([generate_key(7)]))  # another box's key 7


def test_rotated_keyring_reads_old_and_new(tmp_path: Path) -> None:
    new = generate_key(8)
    ring = Keyring([KEY, new])
    assert ring.current == new
    record(tmp_path / "old.arec", b"\x01" * 200, b"\x02" * 200)
    record(tmp_path / "new.arec", b"\x03" * 200, b"\x04" * 200, key=ring.current)
    assert read(tmp_path / "old.arec", ring) == (b"\x01" * 200, b"\x02" * 200)
    assert read(tmp_path / "new.arec", ring) == (b"\x03" * 200, b"\x04" * 200)
    with pytest.raises(WrongKey):
        read(tmp_path / "new.arec")  # the old keyring lacks key 8


# --- truncation ---------------------------------------------------------------------

def test_power_cut_loses_only_the_open_chunk(tmp_path: Path) -> None:
    left, right = caller_and_agent(0.11)  # 5 sealed chunks of 20 ms and 80 frames pending
    record(tmp_path / "a.arec", left, right, close=False)
    with pytest.raises(Truncated, match=r"truncated after 0\.1 s: no final chunk") as info:
        read(tmp_path / "a.arec")
    assert info.value.intact_chunks == 5
    assert info.value.intact_seconds == pytest.approx(0.1)
    got_left, got_right = read(tmp_path / "a.arec", allow_truncated=True)
    assert (got_left, got_right) == (left[:800], right[:800])


def test_every_cut_is_detected_and_the_intact_part_exported(tmp_path: Path) -> None:
    left, right = caller_and_agent(0.07)  # 3 full chunks, a final chunk of 80 frames
    record(tmp_path / "a.arec", left, right)
    data = (tmp_path / "a.arec").read_bytes()
    spans = chunk_spans(tmp_path / "a.arec")
    for cut in range(len(data)):
        (tmp_path / "cut.arec").write_bytes(data[:cut])
        with pytest.raises(Truncated):
            read(tmp_path / "cut.arec")
        if cut < header_len():
            with pytest.raises(Truncated, match="header incomplete"):
                read(tmp_path / "cut.arec", allow_truncated=True)
            continue
        whole = sum(1 for _, end in spans if end <= cut)
        assert read(tmp_path / "cut.arec", allow_truncated=True) == (left[:160 * whole],
                                                                     right[:160 * whole])


@settings(max_examples=60, deadline=None)
@given(frames=st.integers(0, 2000), chunk_frames=st.integers(1, 700), tick=st.integers(1, 400),
       cut_fraction=st.floats(0, 1, exclude_max=True))
def test_property_any_prefix_is_truncated_never_wrong(tmp_path_factory: pytest.TempPathFactory,
                                                      frames: int, chunk_frames: int, tick: int,
                                                      cut_fraction: float) -> None:
    d = tmp_path_factory.mktemp("p")
    rng = np.random.default_rng(frames * 7919 + chunk_frames)
    left, right = rng.integers(0, 256, frames, dtype=np.uint8).tobytes(), \
        rng.integers(0, 256, frames, dtype=np.uint8).tobytes()
    record(d / "a.arec", left, right, chunk_frames=chunk_frames, tick=tick)
    data = (d / "a.arec").read_bytes()
    assert read(d / "a.arec") == (left, right)
    cut = int(cut_fraction * len(data))
    (d / "cut.arec").write_bytes(data[:cut])
    with pytest.raises(Truncated):
        read(d / "cut.arec")
    if cut >= header_len():
        got_left, got_right = read(d / "cut.arec", allow_truncated=True)
        n = len(got_left)
        assert n % chunk_frames == 0 and (got_left, got_right) == (left[:n], right[:n])


@settings(max_examples=150, deadline=None)
@given(offset_fraction=st.floats(0, 1, exclude_max=True), mask=st.integers(1, 255))
def test_property_no_changed_byte_goes_unnoticed(tmp_path_factory: pytest.TempPathFactory,
                                                 offset_fraction: float, mask: int) -> None:
    d = tmp_path_factory.mktemp("f")
    left, right = caller_and_agent(0.07)
    record(d / "a.arec", left, right)
    size = (d / "a.arec").stat().st_size
    bad = flip(d / "a.arec", int(offset_fraction * size), d / "bad.arec", mask)
    for allow in (False, True):  # not even the "export what is intact" path lets it through
        with pytest.raises((Tampered, WrongKey, UnsupportedVersion)):
            read(bad, allow_truncated=allow)
