"""`anxin-box recording export ID --out FILE.wav --user NAME --reason TEXT`: decrypt, audited.

Order of an export, and why:

1. Checks that touch no recording data (the row exists and is not deleted, the output
   does not exist yet, a user name and a reason are given). A failure here leaves no trace.
2. The audit row (who, when, which recording, why, where to) is **committed** before the
   key file is used or a byte of plaintext exists: no decrypted copy without a record.
3. Decrypt chunk by chunk into a hidden temporary file (mode 0600) next to the output;
   every chunk is authenticated before it is written. On success the temporary file is
   fsynced and renamed to the output; on any error it is removed.
4. The outcome is filled in: `ok`, `truncated` (intact part exported with
   --allow-truncated), `refused` (tampered, wrong key, cut; with the reason) or `failed`
   (the output could not be written). The attempt row therefore exists even when writing
   the WAV failed; an attempt whose outcome stays empty was interrupted.

Output: stereo 8 kHz WAV, caller left, agent right. Default `alaw` (WAVE_FORMAT_ALAW = 6):
the exact bytes the line carried, nothing transcoded — what evidence should be — at half
the size of PCM; sox, ffmpeg and common players read it. `pcm16` (16-bit PCM, G.711
decoding) is for tools that only read PCM, such as Python's wave module.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import struct
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np

from appliance.clock import now_local
from appliance.media.g711 import alaw_to_linear
from appliance.recording import index
from appliance.recording.container import (
    CHANNELS,
    SAMPLE_RATE,
    RecordingError,
    RecordingReader,
    Tampered,
    Truncated,
    UnsupportedVersion,
    WrongKey,
)
from appliance.recording.keys import Keyring

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_ALAW = 6


class ExportError(RecordingError):
    """The export did not produce a file; the message says why (in Chinese first)."""


@dataclass(frozen=True)
class ExportResult:
    export_id: int
    out_path: Path
    fmt: str
    duration_s: float
    truncation: Truncated | None


def _wav_header(fmt: str, frames: int) -> bytes:
    """RIFF/WAVE header for FRAMES stereo frames; non-PCM formats carry cbSize and a fact chunk."""
    if fmt == "alaw":
        data_len = frames * CHANNELS
        fmt_chunk = struct.pack("<HHIIHHH", WAVE_FORMAT_ALAW, CHANNELS, SAMPLE_RATE,
                                SAMPLE_RATE * CHANNELS, CHANNELS, 8, 0)
        extra = b"fact" + struct.pack("<II", 4, frames)
    else:
        data_len = frames * CHANNELS * 2
        fmt_chunk = struct.pack("<HHIIHH", WAVE_FORMAT_PCM, CHANNELS, SAMPLE_RATE,
                                SAMPLE_RATE * CHANNELS * 2, CHANNELS * 2, 16)
        extra = b""
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + extra
    body += b"data" + struct.pack("<I", data_len)
    riff_len = len(body) + data_len
    if riff_len > 0xFFFF_FFFF:
        raise ExportError(f"录音太长，WAV 放不下 (recording too long for a WAV: {frames} frames)")
    return b"RIFF" + struct.pack("<I", riff_len) + body


def write_wav(out: BinaryIO, chunks: Iterable[bytes], fmt: str = "alaw") -> int:
    """Stream interleaved stereo A-law CHUNKS into a seekable OUT as a WAV; returns frames."""
    if fmt not in index.EXPORT_FORMATS:
        raise ValueError(f"WAV format must be one of {', '.join(index.EXPORT_FORMATS)}, got {fmt!r}")
    start = out.tell()
    out.write(_wav_header(fmt, 0))  # sizes patched below, once the length is known
    frames = 0
    for chunk in chunks:
        frames += len(chunk) // CHANNELS
        if fmt != "alaw":  # WAV is little-endian whatever the box is
            chunk = alaw_to_linear(np.frombuffer(chunk, dtype=np.uint8)).astype("<i2").tobytes()
        out.write(chunk)
    end = out.tell()
    out.seek(start)
    out.write(_wav_header(fmt, frames))
    out.seek(end)
    return frames


def export_recording(conn: sqlite3.Connection, keyring: Keyring, recording_id: str, out_path: Path | str,
                     *, user: str, reason: str, clock: Callable[[], datetime] = now_local,
                     fmt: str = "alaw", allow_truncated: bool = False) -> ExportResult:
    """Decrypt one recording to OUT_PATH as a WAV, audited in box.db (see the module doc).

    CLOCK gives the audit times (start, and end of the attempt)."""
    out = Path(out_path).absolute()
    if not user.strip():
        raise ExportError("导出录音必须注明操作人 (an export needs the user's name: --user)")
    if not reason.strip():
        raise ExportError("导出录音必须注明原因 (an export needs a reason, e.g. the case number: --reason)")
    if fmt not in index.EXPORT_FORMATS:
        raise ExportError(f"unknown WAV format {fmt!r} (one of {', '.join(index.EXPORT_FORMATS)})")
    row = index.get_recording(conn, recording_id)
    if row.state == "deleted":
        raise ExportError(f"录音 {recording_id} 已按保留规则删除 "
                          f"(deleted {row.deleted_at}: {row.deleted_reason})")
    if row.state == "recording" and not allow_truncated:
        raise ExportError(f"录音 {recording_id} 仍在录制中 (still being recorded; --allow-truncated "
                          "exports what is sealed so far)")
    if out.exists():
        raise ExportError(f"{out}: 文件已存在，不会覆盖 (exists; choose another --out)")
    if not out.parent.is_dir():
        raise ExportError(f"{out.parent}: 目录不存在 (no such directory)")
    export_id = index.log_export_started(conn, recording_id=recording_id, exported_by=user, reason=reason,
                                         at=clock(), out_path=str(out), fmt=fmt)
    tmp = out.with_name(f".{out.name}.{export_id}.partial")
    try:
        with RecordingReader(row.path, keyring) as reader:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                write_wav(f, reader.chunks(allow_truncated=allow_truncated), fmt)
                f.flush()
                os.fsync(f.fileno())
            if out.exists():  # appeared while we decrypted: still never overwrite
                raise ExportError(f"{out}: 文件已存在，不会覆盖 (appeared during the export)")
            os.rename(tmp, out)
            duration, truncation = reader.duration_s, reader.truncation
    except (Tampered, WrongKey, Truncated, UnsupportedVersion) as exc:
        _discard(tmp)
        index.log_export_outcome(conn, export_id, outcome="refused", at=clock(), detail=str(exc))
        raise ExportError(f"拒绝导出 (export refused): {exc}") from exc
    except (RecordingError, OSError) as exc:
        _discard(tmp)
        detail = f"{exc.filename or out}: {exc.strerror}" if isinstance(exc, OSError) else str(exc)
        index.log_export_outcome(conn, export_id, outcome="failed", at=clock(), detail=detail)
        raise ExportError(f"导出失败 (export failed): {detail}") from exc
    except BaseException:
        _discard(tmp)  # outcome stays empty: the attempt was interrupted
        raise
    outcome = "truncated" if truncation else "ok"
    detail = str(truncation) if truncation else f"{duration:.2f} s"
    index.log_export_outcome(conn, export_id, outcome=outcome, at=clock(), detail=detail)
    return ExportResult(export_id, out, fmt, duration, truncation)


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anxin-box recording", description="全程录音 call recordings")
    sub = p.add_subparsers(dest="what", required=True)
    e = sub.add_parser("export", help="decrypt one recording to a WAV (logged: who, when, why)",
                       description="Decrypt a recording to a stereo WAV (caller left, agent right). "
                                   "Every export is logged in box.db before the file is written.")
    e.add_argument("recording_id")
    e.add_argument("--config", required=True, type=Path, help="box config (TOML)")
    e.add_argument("--out", required=True, type=Path, help="WAV file to create (never overwritten)")
    e.add_argument("--user", required=True, help="who exports (recorded in the audit log)")
    e.add_argument("--reason", required=True, help="why, e.g. the case number (recorded too)")
    e.add_argument("--format", choices=index.EXPORT_FORMATS, default="alaw",
                   help="alaw (default: the line's own bytes) or pcm16")
    e.add_argument("--allow-truncated", action="store_true",
                   help="export the intact part of a cut recording (power cut, full disk)")
    e.add_argument("--keys-file", type=Path, help="recording keys file (default: [recording] keys_file)")
    return p


def main(argv: list[str]) -> int:
    """`anxin-box recording export …`; 0 = exported, 1 = refused or failed, 2 = bad usage or setup."""
    args = build_parser().parse_args(argv)
    from appliance.config import ConfigError, load_config
    from appliance.recording.keys import load_keyring
    from appliance.store import StoreError, open_store

    prog = "anxin-box recording export"
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{prog}: bad config: {exc}", file=sys.stderr)
        return 2
    # [recording] arrives in the config with pbxd's recording; until then --keys-file.
    section = getattr(config, "recording", None)
    keys_file = args.keys_file or getattr(section, "keys_file", None)
    recordings_dir = getattr(section, "dir", None) or Path(config.box.data_dir) / "recordings"
    if keys_file is None:
        print(f"{prog}: 未配置录音密钥文件 (no recording keys file: set [recording] keys_file or "
              "pass --keys-file)", file=sys.stderr)
        return 2
    try:
        keyring = load_keyring(keys_file, recordings_dir=recordings_dir)
        conn = open_store(config.box.data_dir)
    except (RecordingError, StoreError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    try:
        result = export_recording(conn, keyring, args.recording_id, args.out, user=args.user,
                                  reason=args.reason, fmt=args.format,
                                  allow_truncated=args.allow_truncated)
    except index.RecordingIndexError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except RecordingError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if result.truncation:
        print(f"{prog}: 注意 warning: {result.truncation}", file=sys.stderr)
    print(f"已导出 exported {args.recording_id} → {result.out_path} ({result.fmt}, "
          f"{result.duration_s:.1f} s, audit #{result.export_id}, user {args.user})")
    return 0
