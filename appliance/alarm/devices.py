"""Supervision of the residents' alarm devices, sans-I/O (time = epoch seconds, passed in).

A silent device is an old person without protection: each device that has ever sent a
periodic test (602/603) must send the next within its interval plus a grace period,
or a "fail to check in" trouble opens for it. Maintenance conditions (AC loss, low
battery, tamper, lost RF supervision, communication faults) open a trouble on a new
event (qualifier 1) and close it on the restore (qualifier 3). Any test closes a
fail-to-check-in.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.alarm_phone.contact_id import LIFE_SAFETY_CODES

PERIODIC_TESTS = frozenset({"602", "603"})
# Contact ID code → trouble type kept open until the restore.
CONDITION_TROUBLES: dict[str, str] = {
    "301": "ac_loss",
    "302": "low_battery", "309": "low_battery", "311": "low_battery", "384": "low_battery",
    "383": "tamper",
    "355": "rf_supervision", "381": "rf_supervision",
    "350": "communication", "351": "communication", "354": "communication",
    "393": "maintenance",
}
FAIL_TO_CHECK_IN = "fail_to_check_in"


@dataclass(frozen=True)
class TroubleChange:
    type: str
    account: str
    open: bool
    detail: str


class DeviceSupervisor:
    def __init__(self, interval: float, grace: float) -> None:
        self.interval, self.grace = interval, grace
        self.last_test: dict[str, float] = {}
        self.overdue: set[str] = set()
        # Earliest possible deadline, or None when nothing is supervised. poll() runs after
        # every frame on the alarm path, so it scans the devices only once this has passed.
        # It may be stale-low (a device tested since), which only costs an early rescan.
        self._due: float | None = None

    def restore(self, account: str, last_test_at: float, overdue: bool = False) -> None:
        """Seed from box.db at start (last test time; whether a trouble is open)."""
        self.last_test[account] = last_test_at
        if overdue:
            self.overdue.add(account)
        self._earlier_due(self._deadline(last_test_at))

    def on_signal(self, account: str, event_code: str, qualifier: int, now: float
                  ) -> list[TroubleChange]:
        changes: list[TroubleChange] = []
        if event_code in PERIODIC_TESTS:
            self.last_test[account] = now
            self.overdue.discard(account)
            self._earlier_due(self._deadline(now))
            # Always proposed: the store ignores a close when nothing is open, and a commit
            # that failed and is retried proposes it again (idempotent, no lost close).
            changes.append(TroubleChange(FAIL_TO_CHECK_IN, account, False,
                                         f"periodic test {event_code} received"))
        trouble = CONDITION_TROUBLES.get(event_code)
        if trouble and qualifier in (1, 3):
            changes.append(TroubleChange(trouble, account, qualifier == 1,
                                         f"Contact ID {event_code} "
                                         f"{'new' if qualifier == 1 else 'restore'}"))
        return changes

    def poll(self, now: float) -> list[TroubleChange]:
        if self._due is None or now <= self._due:
            return []
        changes = []
        for account, last in self.last_test.items():
            if account not in self.overdue and now - last > self.interval + self.grace:
                self.overdue.add(account)
                hours = (now - last) / 3600
                changes.append(TroubleChange(FAIL_TO_CHECK_IN, account, True,
                                             f"no periodic test for {hours:.1f} h"))
        self._due = self.get_timer()
        return changes

    def not_recorded(self, change: TroubleChange) -> None:
        """The caller could not commit an opened FAIL_TO_CHECK_IN: raise it again next poll."""
        self.overdue.discard(change.account)
        self._earlier_due(self._deadline(self.last_test[change.account]))

    def _earlier_due(self, deadline: float) -> None:
        self._due = deadline if self._due is None else min(self._due, deadline)

    def get_timer(self) -> float | None:
        due = [self._deadline(last) for a, last in self.last_test.items() if a not in self.overdue]
        return min(due) if due else None

    def _deadline(self, last_test: float) -> float:
        return last_test + self.interval + self.grace


def priority(event_code: str | None, qualifier: int | None, recognised: bool) -> int:
    """0 = life safety (a person may be in danger now) … 3 = routine. Lower goes first."""
    if not recognised:
        return 1  # unknown: a person must look at it soon
    if event_code in LIFE_SAFETY_CODES and qualifier == 1:
        return 0
    if event_code in PERIODIC_TESTS or qualifier == 3:
        return 3
    if event_code in CONDITION_TROUBLES:
        return 2
    return 1
