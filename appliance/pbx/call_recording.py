"""A call's recorder as the call handlers use it: one frame pair per line tick, and a
recorder that fails is dropped (logged) so the call goes on unrecorded — never stopped."""

from __future__ import annotations

import logging
from typing import Protocol

from appliance.recording.container import RecordingError

log = logging.getLogger("anxin.pbx.recording")


class Recorder(Protocol):
    """What a call's audio goes to (a RecordingWriter, or call_path's indexed one)."""

    def write(self, left: bytes, right: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


def write_frames(recorder: Recorder | None, left: bytes, right: bytes, what: str) -> Recorder | None:
    """Write one tick to RECORDER; the recorder to keep (None once a write failed: aborted).
    WHAT names it in the log: ``IVR span1-…-3: 录音``."""
    if recorder is None:
        return None
    try:
        recorder.write(left, right)
    except RecordingError as exc:
        log.error("%s写入失败: %s", what, exc)
        recorder.abort()
        return None
    return recorder


def close_recording(recorder: Recorder | None, what: str) -> None:
    """Finish RECORDER (its last chunk and index row); a failure is logged, the call ends anyway."""
    if recorder is None:
        return
    try:
        recorder.close()
    except RecordingError as exc:
        log.error("%s关闭失败: %s", what, exc)
