"""Which recordings may go, and what to do when the disk fills up (docs/recording.md).

Rules, in order:

1. **Protected** recordings are never deleted, whatever the disk says: one younger than
   `keep_days` (default 31: the minimum a centre must be able to play back), and one
   linked to a case that is still open. If asking whether a case is open fails, the
   recording counts as protected (when in doubt, keep).
2. Everything else is **expendable**. With `max_days` set, an expendable recording
   older than that is deleted on every run (the centre's privacy rule); without it,
   expendable recordings stay as long as the disk has room.
3. When free space is below `low_free_bytes`, expendable recordings are deleted
   **oldest first** until `target_free_bytes` are free (the gap between the two keeps
   the job from deleting one file per run).
4. If the disk is still below `low_free_bytes` with nothing expendable left, the
   supervisor is alarmed (`DiskAlarm`), once, and told when it clears. Calls go on and
   so does recording.
5. Below `stop_free_bytes` new recordings are paused (`PauseRecording`): the disk
   also holds box.db, and an alarm that cannot be committed is worse than a call
   without a recording. Calls still connect; pbxd notes each unrecorded call. Recording
   resumes (`ResumeRecording`) once `low_free_bytes` are free again.

`RetentionPlanner` is the sans-I/O decision (facts and `now` in, actions out);
`run_retention` is the thin executor over box.db and the file system.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from appliance.recording import index

log = logging.getLogger("recording.retention")

GIB = 1024 ** 3
MIB = 1024 ** 2


@dataclass(frozen=True)
class RetentionPolicy:
    keep_days: int = 31
    max_days: int | None = None
    low_free_bytes: int = 2 * GIB
    target_free_bytes: int = 4 * GIB
    stop_free_bytes: int = 512 * MIB

    def __post_init__(self) -> None:
        if self.keep_days < 1:
            raise ValueError(f"keep_days must be >= 1, got {self.keep_days}")
        if self.max_days is not None and self.max_days < self.keep_days:
            raise ValueError(f"max_days ({self.max_days}) must be >= keep_days ({self.keep_days})")
        if not 0 <= self.stop_free_bytes < self.low_free_bytes <= self.target_free_bytes:
            raise ValueError("need 0 <= stop_free_bytes < low_free_bytes <= target_free_bytes, got "
                             f"{self.stop_free_bytes}, {self.low_free_bytes}, {self.target_free_bytes}")


@dataclass(frozen=True)
class StoredRecording:
    """What the planner needs to know about one closed recording."""

    recording_id: str
    started_at: datetime
    size: int
    path: str
    case_id: str | None = None


class Action:
    """Base of what the planner asks the executor (or pbxd) to do."""


@dataclass(frozen=True)
class DeleteRecording(Action):
    recording_id: str
    path: str
    size: int
    reason: str  # "max_age" or "disk_space"


@dataclass(frozen=True)
class DiskAlarm(Action):
    """For the supervisor (班长): raised once when space stays short, cleared once when it is back."""

    raised: bool
    free_bytes: int
    low_free_bytes: int
    protected_young: int = 0
    protected_by_case: int = 0
    message: str = field(default="", compare=False)


@dataclass(frozen=True)
class PauseRecording(Action):
    free_bytes: int
    message: str = field(default="", compare=False)


@dataclass(frozen=True)
class ResumeRecording(Action):
    free_bytes: int


def _gb(n: int) -> str:
    return f"{n / GIB:.1f} GB"


class RetentionPlanner:
    """Decides each run; remembers only whether the alarm is up and recording is paused."""

    def __init__(self, policy: RetentionPolicy | None = None) -> None:
        self.policy = policy or RetentionPolicy()
        self.alarm_raised = False
        self.paused = False

    def plan(self, recordings: Iterable[StoredRecording], *, free_bytes: int, now: datetime,
             is_case_open: Callable[[str], bool], young_not_listed: int = 0) -> list[Action]:
        """Actions for this run. RECORDINGS may leave out ones younger than keep_days (the
        executor does: they cannot go) if their number is given as YOUNG_NOT_LISTED."""
        p = self.policy
        keep_before = now - timedelta(days=p.keep_days)
        expendable: list[StoredRecording] = []
        young, by_case = young_not_listed, 0
        for rec in recordings:
            if rec.started_at > keep_before:
                young += 1
            elif rec.case_id and _case_open(is_case_open, rec.case_id):
                by_case += 1
            else:
                expendable.append(rec)
        expendable.sort(key=lambda r: (r.started_at, r.recording_id))
        actions: list[Action] = []
        free = free_bytes
        if p.max_days is not None:
            too_old = now - timedelta(days=p.max_days)
            while expendable and expendable[0].started_at <= too_old:
                rec = expendable.pop(0)
                actions.append(DeleteRecording(rec.recording_id, rec.path, rec.size, "max_age"))
                free += rec.size
        if free < p.low_free_bytes:
            while expendable and free < p.target_free_bytes:
                rec = expendable.pop(0)
                actions.append(DeleteRecording(rec.recording_id, rec.path, rec.size, "disk_space"))
                free += rec.size
        actions += self._alarm(free, young, by_case)
        actions += self._gate(free)
        return actions

    def _alarm(self, free: int, young: int, by_case: int) -> list[Action]:
        p = self.policy
        short = free < p.low_free_bytes
        if short == self.alarm_raised:
            return []
        self.alarm_raised = short
        if short:
            message = (f"录音存储空间不足：剩余 {_gb(free)}，低于 {_gb(p.low_free_bytes)}；"
                       f"可删除的录音已删完，{young} 条在 {p.keep_days} 天保留期内，"
                       f"{by_case} 条关联未结工单。请扩容或导出归档。")
        else:
            message = f"录音存储空间已恢复：剩余 {_gb(free)}。"
        return [DiskAlarm(short, free, p.low_free_bytes, young, by_case, message)]

    def _gate(self, free: int) -> list[Action]:
        p = self.policy
        if not self.paused and free < p.stop_free_bytes:
            self.paused = True
            return [PauseRecording(free, f"磁盘剩余 {_gb(free)}，低于 {_gb(p.stop_free_bytes)}：暂停新录音，"
                                         "通话照常接通 (recording paused to protect box.db)")]
        if self.paused and free >= p.low_free_bytes:
            self.paused = False
            return [ResumeRecording(free)]
        return []


def _case_open(is_case_open: Callable[[str], bool], case_id: str) -> bool:
    try:
        return bool(is_case_open(case_id))
    except Exception:  # the case store's trouble must not turn into a deleted recording
        log.exception("cannot tell whether case %s is open; keeping its recordings", case_id)
        return True


@dataclass(frozen=True)
class RetentionRun:
    """What one run did: every action planned, the ids deleted, and deletes that failed."""

    actions: tuple[Action, ...]
    deleted: tuple[str, ...]
    errors: tuple[str, ...]

    @property
    def alarms(self) -> tuple[Action, ...]:
        """The actions for pbxd and the supervisor (alarm, pause, resume)."""
        return tuple(a for a in self.actions if not isinstance(a, DeleteRecording))


def run_retention(conn: sqlite3.Connection, planner: RetentionPlanner, *, recordings_dir: Path | str,
                  now: datetime, is_case_open: Callable[[str], bool],
                  free_bytes: Callable[[Path], int] | None = None) -> RetentionRun:
    """One pass: plan from box.db and the disk, delete files, mark their rows.

    A file is unlinked first and its row marked after; a file already gone (an earlier
    run died between the two) counts as deleted, so the job is idempotent.
    """
    measure = free_bytes or (lambda p: shutil.disk_usage(p).free)
    directory = Path(recordings_dir)
    # Only rows older than keep_days can be deleted; the rest are counted for the alarm.
    cutoff = now - timedelta(days=planner.policy.keep_days)
    rows = index.retention_candidates(conn, started_by=cutoff)
    facts = [StoredRecording(r.recording_id, r.started_at, r.size or _size_on_disk(r.path), r.path, r.case_id)
             for r in rows]
    actions = planner.plan(facts, free_bytes=measure(directory), now=now, is_case_open=is_case_open,
                           young_not_listed=index.count_recordings(conn, started_after=cutoff))
    deleted, errors = [], []
    for action in actions:
        if not isinstance(action, DeleteRecording):
            continue
        try:
            os.unlink(action.path)
        except FileNotFoundError:
            log.warning("recording %s: file %s already gone; marking it deleted",
                        action.recording_id, action.path)
        except OSError as exc:
            errors.append(f"deleting recording {action.recording_id} ({action.path}): {exc.strerror}")
            continue
        index.mark_deleted(conn, action.recording_id, at=now, reason=action.reason)
        deleted.append(action.recording_id)
        log.info("recording %s deleted (%s, %d bytes)", action.recording_id, action.reason, action.size)
    return RetentionRun(tuple(actions), tuple(deleted), tuple(errors))


def _size_on_disk(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
