"""The `.arec` container: a call recording sealed with AES-256-GCM in authenticated chunks.

Layout (docs/recording.md gives every byte; all integers big-endian):

    header   magic "ANXREC" | version 1 | codec 6 (A-law) | channels 2 | reserved 0 |
             sample rate | chunk frames | started_at (ms since 1970 UTC) | key id |
             key check value (8) | nonce prefix (8) | call id length + call id (UTF-8) |
             wrap nonce (12) | wrapped file key (32 + 16 tag)
    chunk*   u32 (bit 31 = final, bits 0-30 = sealed length) | AES-256-GCM(ciphertext ‖ tag)

Envelope: every file has its own random 256-bit data key (DEK), sealed by a key derived
from the box key (keys.py) with the header bytes before it as associated data, so the
header is authenticated before any audio is read. Chunk i is sealed under the DEK with
nonce = nonce prefix ‖ u32 i and associated data = SHA-256(header) ‖ u32 i ‖ final flag:
a chunk moved to another place, taken from another file, altered, or a file missing its
final chunk all fail with a named error. NIST SP 800-38D §8: a (key, nonce) pair is never
reused because the DEK is fresh per file and the counter never repeats within it.

The writer seals a chunk as soon as it holds `chunk_frames` frames (1 s by default) and
hands it to the OS at once, so a crash of the process loses at most the chunk being
filled; fsync (every `sync_every_chunks` and at close) bounds what a power cut loses.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

if TYPE_CHECKING:
    from appliance.recording.keys import Keyring, RecordingKey

MAGIC = b"ANXREC"
VERSION = 1
CODEC_ALAW = 6  # the same number as WAVE_FORMAT_ALAW, on purpose
CHANNELS = 2  # caller left, agent (or the box, for messages) right
SAMPLE_RATE = 8000
DEFAULT_CHUNK_FRAMES = 8000  # 1 s: a power cut or crash costs at most about this much
MAX_CHUNK_FRAMES = 80_000  # 10 s: bounds what a reader holds in memory per chunk
TAG_BYTES = 16
FINAL_BIT = 0x8000_0000
MAX_CHUNKS = 0xFFFF_FFFF  # the counter is 32 bits: 136 years of 1 s chunks
ALAW_SILENCE = 0xD5

# magic, version, codec, channels, reserved, rate, chunk frames, started ms, key id,
# key check, nonce prefix, call id length — then call id, wrap nonce, wrapped DEK.
_FIXED = struct.Struct(">6sBBBBIIqI8s8sB")
_WRAP_NONCE_BYTES = 12
_WRAPPED_BYTES = 32 + TAG_BYTES
_CHUNK_PREFIX = struct.Struct(">I")


class RecordingError(Exception):
    """A recording cannot be written or read; the message says which file and why."""


class Truncated(RecordingError):
    """The file ends early (power cut, full disk, copy cut short). What came before is intact."""

    def __init__(self, path: Path | str, where: str, intact_chunks: int = 0, intact_seconds: float = 0.0):
        self.path, self.where = str(path), where
        self.intact_chunks, self.intact_seconds = intact_chunks, intact_seconds
        super().__init__(f"{path}: 录音不完整，完整部分 {intact_seconds:.1f} 秒 "
                         f"(truncated after {intact_seconds:.1f} s: {where})")


class Tampered(RecordingError):
    """Bytes of the file were altered, reordered or spliced in: nothing of that part is trusted."""

    def __init__(self, path: Path | str, region: str, reason: str):
        self.path, self.region, self.reason = str(path), region, reason
        super().__init__(f"{path}: 录音已被篡改或损坏 (tampered: {region}: {reason})")


class WrongKey(RecordingError):
    """The keyring has no key this file was sealed with (another box's key file, or a lost key)."""

    def __init__(self, path: Path | str, key_id: int, reason: str):
        self.path, self.key_id = str(path), key_id
        super().__init__(f"{path}: 密钥不匹配 (wrong key: key id {key_id}: {reason})")


class UnsupportedVersion(RecordingError):
    """Written by a newer release (or the version byte is damaged)."""


@dataclass(frozen=True)
class RecordingMeta:
    """What the writer puts in the clear header. Caller numbers stay in box.db only."""

    call_id: str
    started_at: datetime  # timezone-aware: the moment the call was answered
    chunk_frames: int = DEFAULT_CHUNK_FRAMES

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError("RecordingMeta.started_at must be timezone-aware")
        if len(self.call_id.encode("utf-8")) > 255:
            raise ValueError(f"call id {self.call_id[:40]!r}… is longer than 255 bytes")
        if not 1 <= self.chunk_frames <= MAX_CHUNK_FRAMES:
            raise ValueError(f"chunk_frames must be 1..{MAX_CHUNK_FRAMES}, got {self.chunk_frames}")


@dataclass(frozen=True)
class RecordingHeader:
    """A parsed header; `raw` is its exact bytes, which every chunk's associated data hashes."""

    call_id: str
    started_at: datetime
    key_id: int
    chunk_frames: int
    sample_rate: int
    channels: int
    raw: bytes = field(repr=False)

    @property
    def chunk_bytes(self) -> int:
        return self.chunk_frames * self.channels

    def seconds(self, audio_bytes: int) -> float:
        return audio_bytes / self.channels / self.sample_rate


def _chunk_nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")


def _chunk_aad(header_hash: bytes, index: int, final: bool) -> bytes:
    return header_hash + index.to_bytes(4, "big") + (b"\x01" if final else b"\x00")


def interleave(left: bytes | np.ndarray, right: bytes | np.ndarray) -> bytes:
    """L R L R … bytes of two equally long A-law channels (the WAV and container order)."""
    a = np.frombuffer(left, dtype=np.uint8) if isinstance(left, bytes | bytearray) else np.asarray(left)
    b = np.frombuffer(right, dtype=np.uint8) if isinstance(right, bytes | bytearray) else np.asarray(right)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"left and right must be 1-D and equally long, got {a.shape} and {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"left and right must be A-law bytes (uint8), got {a.dtype} and {b.dtype}")
    out = np.empty(a.size * 2, dtype=np.uint8)
    out[0::2], out[1::2] = a, b
    return out.tobytes()


class RecordingWriter:
    """Seal one recording: `write(left, right)` per tick, `close()` at hang-up.

    The file is created exclusively (never overwrites) with mode 0600. With
    `sync_every_chunks=0` the writer never fsyncs on its own except at close; the owner
    then calls `sync()` from a thread that may block, so a slow disk cannot stall the tick.
    """

    def __init__(self, path: Path | str, key: RecordingKey, meta: RecordingMeta, *,
                 sync_every_chunks: int = 1) -> None:
        if sync_every_chunks < 0:
            raise ValueError("sync_every_chunks must be >= 0")
        self.path, self.meta = Path(path), meta
        self._sync_every, self._unsynced = sync_every_chunks, 0
        dek, prefix = AESGCM.generate_key(256), os.urandom(8)
        started_ms = round(meta.started_at.timestamp() * 1000)
        call_id = meta.call_id.encode("utf-8")
        fixed = _FIXED.pack(MAGIC, VERSION, CODEC_ALAW, CHANNELS, 0, SAMPLE_RATE, meta.chunk_frames,
                            started_ms, key.key_id, key.check_value, prefix, len(call_id))
        wrap_nonce = os.urandom(_WRAP_NONCE_BYTES)
        before_wrap = fixed + call_id + wrap_nonce
        raw = before_wrap + AESGCM(key.wrap_key).encrypt(wrap_nonce, dek, before_wrap)
        self.header = RecordingHeader(meta.call_id, datetime.fromtimestamp(started_ms / 1000, UTC),
                                      key.key_id, meta.chunk_frames, SAMPLE_RATE, CHANNELS, raw)
        self._aead, self._prefix = AESGCM(dek), prefix
        self._header_hash = hashlib.sha256(raw).digest()
        self._pending = bytearray()
        self._index, self._audio_bytes, self._closed = 0, 0, False
        try:
            self._file: BinaryIO = open(self.path, "xb", opener=lambda p, f: os.open(p, f, 0o600))
        except OSError as exc:
            raise RecordingError(f"creating recording {self.path}: {exc.strerror}") from exc
        try:
            with self._os_errors("writing the header"):
                self._file.write(raw)
                self._file.flush()
                os.fsync(self._file.fileno())
                # The new name must survive a power cut too, or the whole file goes with it.
                _fsync_dir(self.path.parent)
        except RecordingError:
            self.abort()
            raise

    @property
    def size(self) -> int:
        """Bytes on disk so far (header and sealed chunks)."""
        return self._file.tell() if not self._closed else self.path.stat().st_size

    @property
    def duration_s(self) -> float:
        """Seconds of audio accepted so far (sealed or still pending)."""
        return self.header.seconds(self._audio_bytes)

    def write(self, left: bytes | np.ndarray, right: bytes | np.ndarray) -> None:
        """Append one tick (any length, both channels equally long) of A-law."""
        if self._closed:
            raise RecordingError(f"{self.path}: write after close")
        frames = interleave(left, right)
        self._pending += frames
        self._audio_bytes += len(frames)
        size = self.header.chunk_bytes
        while len(self._pending) >= size:
            # Seal as soon as a chunk is full: the final chunk is then whatever is left
            # at close, possibly empty, and a crash never costs more than one chunk.
            self._seal(bytes(self._pending[:size]), final=False)
            del self._pending[:size]

    def sync(self) -> None:
        """fsync what was written so far (callable from another thread; a no-op once closed)."""
        try:
            fd = self._file.fileno()
        except ValueError:  # closed meanwhile: close() synced it
            return
        with self._os_errors("syncing"):
            os.fsync(fd)
        self._unsynced = 0

    def close(self) -> None:
        """Seal the final chunk and fsync; the file is complete only after this returns.

        If that fails (disk full), the file is closed without a final chunk and reads
        as truncated; the error is raised.
        """
        if self._closed:
            return
        try:
            self._seal(bytes(self._pending), final=True)
            self._pending.clear()
            if self._unsynced:
                self.sync()
            self._file.close()
        except BaseException:
            self.abort()
            raise
        self._closed = True

    def abort(self) -> None:
        """Close without a final chunk (the file then reads as truncated): after a write error."""
        if not self._closed:
            self._closed = True
            try:
                self._file.close()
            except OSError:
                pass

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _seal(self, plain: bytes, final: bool) -> None:
        if self._index > MAX_CHUNKS:
            raise RecordingError(f"{self.path}: chunk counter exhausted")
        sealed = self._aead.encrypt(_chunk_nonce(self._prefix, self._index), plain,
                                    _chunk_aad(self._header_hash, self._index, final))
        prefix = _CHUNK_PREFIX.pack(len(sealed) | (FINAL_BIT if final else 0))
        with self._os_errors(f"writing chunk {self._index}"):
            self._file.write(prefix + sealed)
            self._file.flush()  # to the OS now: a crash of pbxd then costs only the open chunk
        self._index += 1
        self._unsynced += 1
        if self._sync_every and self._unsynced >= self._sync_every:
            self.sync()

    @contextmanager
    def _os_errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise RecordingError(f"recording {self.path}: {what}: {exc.strerror}") from exc


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RecordingReader:
    """Open and authenticate a recording; `chunks()` yields its audio, L R interleaved.

    The header is checked at open (Truncated, Tampered, WrongKey, UnsupportedVersion).
    Chunks are checked one by one as they are read, so nothing unauthenticated is ever
    returned. With `allow_truncated=True` a cut file yields its intact chunks and sets
    `truncation`; tampering is never allowed.
    """

    def __init__(self, path: Path | str, keyring: Keyring) -> None:
        self.path = Path(path)
        self.truncation: Truncated | None = None
        self.audio_bytes = 0
        try:
            self._file: BinaryIO = open(self.path, "rb")
        except OSError as exc:
            raise RecordingError(f"opening recording {self.path}: {exc.strerror}") from exc
        try:
            self.header, dek, self._prefix = self._read_header(keyring)
        except BaseException:
            self._file.close()
            raise
        self._aead = AESGCM(dek)
        self._header_hash = hashlib.sha256(self.header.raw).digest()

    @property
    def duration_s(self) -> float:
        """Seconds of authenticated audio read so far."""
        return self.header.seconds(self.audio_bytes)

    def _read_header(self, keyring: Keyring) -> tuple[RecordingHeader, bytes, bytes]:
        fixed = self._file.read(_FIXED.size)
        if not MAGIC.startswith(fixed[:6]):  # a short prefix of the magic is a cut file, not a foreign one
            raise Tampered(self.path, "header", f"bad magic {fixed[:6]!r}: not an .arec recording")
        if len(fixed) < _FIXED.size:
            raise Truncated(self.path, f"header incomplete ({len(fixed)} bytes)")
        (_, version, codec, channels, reserved, rate, chunk_frames, started_ms, key_id, check,
         prefix, id_len) = _FIXED.unpack(fixed)
        if version != VERSION:
            raise UnsupportedVersion(f"{self.path}: container version {version}, this software "
                                     f"reads version {VERSION} (newer release, or damaged header)")
        problems = [(codec != CODEC_ALAW, f"codec {codec}"), (channels != CHANNELS, f"channels {channels}"),
                    (reserved != 0, f"reserved byte {reserved}"), (rate != SAMPLE_RATE, f"rate {rate}"),
                    (not 1 <= chunk_frames <= MAX_CHUNK_FRAMES, f"chunk frames {chunk_frames}")]
        for bad, what in problems:
            if bad:
                raise Tampered(self.path, "header", f"impossible {what}")
        rest_len = id_len + _WRAP_NONCE_BYTES + _WRAPPED_BYTES
        rest = self._file.read(rest_len)
        if len(rest) < rest_len:
            raise Truncated(self.path, f"header incomplete ({len(fixed) + len(rest)} bytes)")
        key = keyring.find(key_id)
        if key is None:
            raise WrongKey(self.path, key_id, f"not in the keyring (has {keyring.describe_ids()})")
        if key.check_value != check:
            raise WrongKey(self.path, key_id, "the keyring's key of that id is not the one this file "
                           "was sealed with (another box's key file, or the header was altered)")
        call_id, wrap_nonce = rest[:id_len], rest[id_len:id_len + _WRAP_NONCE_BYTES]
        before_wrap = fixed + rest[:id_len + _WRAP_NONCE_BYTES]
        try:
            dek = AESGCM(key.wrap_key).decrypt(wrap_nonce, rest[id_len + _WRAP_NONCE_BYTES:], before_wrap)
        except InvalidTag:
            raise Tampered(self.path, "header", "authentication of the header failed") from None
        started = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=started_ms)
        header = RecordingHeader(call_id.decode("utf-8"), started, key_id, chunk_frames, rate, channels,
                                 fixed + rest)
        return header, dek, prefix

    def chunks(self, *, allow_truncated: bool = False) -> Iterator[bytes]:
        """Authenticated audio, chunk by chunk, until the final chunk (read once)."""
        full = self.header.chunk_bytes + TAG_BYTES
        index = 0
        while True:
            prefix = self._file.read(_CHUNK_PREFIX.size)
            if len(prefix) < _CHUNK_PREFIX.size:
                where = "no final chunk" if not prefix else "file ends inside a chunk's length field"
                self._truncated(f"{where} (after chunk {index - 1})" if index else where, index,
                                allow_truncated)
                return
            (word,) = _CHUNK_PREFIX.unpack(prefix)
            final, length = bool(word & FINAL_BIT), word & ~FINAL_BIT
            if length > full or length < TAG_BYTES or (not final and length != full):
                raise Tampered(self.path, f"chunk {index}", f"impossible sealed length {length}")
            sealed = self._file.read(length)
            if len(sealed) < length:
                if final and self._opens(sealed, index):
                    # The rest of the file is the whole final chunk: only its length word lies.
                    raise Tampered(self.path, f"chunk {index}", f"sealed length altered to {length}")
                self._truncated(f"file ends inside chunk {index}", index, allow_truncated)
                return
            try:
                plain = self._aead.decrypt(_chunk_nonce(self._prefix, index), sealed,
                                           _chunk_aad(self._header_hash, index, final))
            except InvalidTag:
                raise Tampered(self.path, f"chunk {index}", "authentication failed (altered, moved, "
                               "or taken from another recording)") from None
            if len(plain) % self.header.channels:
                raise Tampered(self.path, f"chunk {index}", "odd number of samples")  # writer bug only
            self.audio_bytes += len(plain)
            index += 1
            yield plain
            if final:
                if self._file.read(1):
                    raise Tampered(self.path, f"after chunk {index - 1}", "data after the final chunk")
                return

    def _opens(self, sealed: bytes, index: int) -> bool:
        if len(sealed) < TAG_BYTES:
            return False
        try:
            self._aead.decrypt(_chunk_nonce(self._prefix, index), sealed,
                               _chunk_aad(self._header_hash, index, True))
        except InvalidTag:
            return False
        return True

    def _truncated(self, where: str, intact: int, allowed: bool) -> None:
        error = Truncated(self.path, where, intact, self.duration_s)
        if not allowed:
            raise error
        self.truncation = error

    def read_all(self, *, allow_truncated: bool = False) -> tuple[bytes, bytes]:
        """(left, right) A-law of the whole recording (or its intact part)."""
        stereo = np.frombuffer(b"".join(self.chunks(allow_truncated=allow_truncated)), dtype=np.uint8)
        return stereo[0::2].tobytes(), stereo[1::2].tobytes()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
