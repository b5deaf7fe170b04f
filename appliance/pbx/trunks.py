"""The trunk service: every configured E1 span up and watched, its state for the box.

This is pbxd's first layer (ARCHITECTURE, Asterisk's split: trunk drivers → signalling
adapter → call control). It brings each span's D-channel up and keeps it up, applies the
span's number rules, keeps the signalling trace switchable while the line runs, and
reports trunk state. Call control (IVR, ACD, bridging to agents' phones) is the next
layer; until it is loaded, an incoming call is refused with cause 34 (no circuit/channel
available) so the carrier overflows it to the centre's next route at once instead of
letting it ring unanswered — and the refusal is logged with the caller's number.

A pbxd that starts (after a crash, a kill, a reboot) knows no call; the carrier may still
hold calls on B-channels the last process had. So the first time each span's D-channel
is established the trunk sends RESTART for the whole interface (Q.931 5.5) and reports
``restart: "restarting"`` until it is acknowledged (`StartupRestart`). While it runs the
stack keeps every B-channel in maintenance: a SETUP from the carrier is refused by the
stack itself (RELEASE COMPLETE 44, or 34 when it named no channel), our own calls fail
at once with 34, and the carrier is free to route the call elsewhere — the ACK
normally follows within milliseconds. Later re-establishments of the link are not restarted: the stack
keeps active calls across them (T309, STATUS ENQUIRY).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.config import SpanConfig
from drivers.e1_card.errors import PriError, SpanError
from drivers.e1_card.q931 import events as ev
from drivers.e1_card.q931.causes import NO_CIRCUIT_AVAILABLE, cause_text
from drivers.e1_card.span import open_span
from drivers.e1_card.stack import LinkStateChanged, PriSpan

log = logging.getLogger("trunks")


OPEN_RETRY = 5.0     # seconds between attempts to open a span that would not open
REFRESH = 1.0        # seconds between snapshots of trunk state (read by other threads)
RESTART_RETRY = 30.0  # seconds after the stack gave a RESTART up (T316 twice) before the next try


@dataclass(frozen=True)
class SendRestart:
    """Send RESTART: the whole interface (``timeslots`` None, one message) or each listed
    B-channel (one message per channel)."""

    timeslots: tuple[int, ...] | None


class StartupRestart:
    """Sans-I/O: the RESTART one span owes the carrier since pbxd started it.

    Owed at start: every B-channel, restarted as one interface the first time the
    D-channel is established. Only then — a Q.921 re-establishment later (a line fault,
    the carrier's DISC) keeps its active calls and owes nothing. What is owed stays owed
    until the stack has it acknowledged: the link coming back before the RESTART
    ACKNOWLEDGE sends it again (it may have been lost in the reset), and channels the
    stack gives up on (RestartFailed after T316 twice; they stay out of service) are
    restarted again channel by channel ``retry_after`` seconds later — a carrier that
    will not restart the interface at once may still restart single channels. A channel
    restart of the stack's own that fails (T308 twice) is taken over the same way.
    A RESTART from the carrier that idles the channels we owe settles them too.
    """

    def __init__(self, timeslots: Iterable[int], retry_after: float = RESTART_RETRY) -> None:
        self.timeslots = tuple(timeslots)
        self.retry_after = retry_after
        self.owed: set[int] = set(self.timeslots)  # not yet idle on both sides
        self.asked: set[int] = set()               # owed, in a RESTART the stack still tries
        self.given_up: set[int] = set()            # owed, the stack stopped trying: out of service
        self.whole = True                          # the next RESTART is for the interface
        self.retry_at: float | None = None
        self.sends = 0
        self.sent_at: float | None = None          # the latest RESTART went out
        self.first_sent_at: float | None = None
        self.done_at: float | None = None

    @property
    def state(self) -> str:
        """pending (not sent: no D-channel yet) | restarting | failed | done."""
        if not self.owed:
            return "done"
        if self.given_up:
            return "failed"
        return "restarting" if self.sends else "pending"

    def link_up(self, now: float) -> SendRestart | None:
        """The D-channel is established: what to send now (None: nothing is owed)."""
        return self._send(now) if self.owed else None

    def due(self, now: float, link_up: bool) -> SendRestart | None:
        """The retry timer fired: restart again what was given up (with the link down,
        the next link_up sends it)."""
        if self.retry_at is None or now < self.retry_at or not link_up or not self.owed:
            return None
        return self._send(now)

    def restarted(self, timeslots: tuple[int, ...], pending: Iterable[tuple[int, ...]],
                  now: float) -> bool:
        """A Restarted event (ours acknowledged, or the carrier's answered); PENDING is
        what the stack still waits to have acknowledged. True when nothing is owed now."""
        if not self.owed:
            return False
        waiting = {ts for restart in pending for ts in restart}
        # Ours is acknowledged when the stack no longer waits on it; any other channel is
        # idle again only if this restart (the carrier's) named it.
        settled = {ts for ts in self.owed if ts not in waiting and (ts in self.asked or ts in timeslots)}
        self.owed -= settled
        self.asked -= settled
        self.given_up -= settled
        if self.owed:
            return False
        self.retry_at, self.done_at = None, now
        return True

    def failed(self, timeslots: tuple[int, ...], now: float) -> None:
        """RestartFailed: these channels are out of service until a later restart."""
        self.owed |= set(timeslots)
        self.asked -= set(timeslots)
        self.given_up |= set(timeslots)
        self.whole = False
        self.done_at = None
        if self.retry_at is None:
            self.retry_at = now + self.retry_after

    def _send(self, now: float) -> SendRestart:
        self.sends += 1
        self.sent_at = now
        if self.first_sent_at is None:
            self.first_sent_at = now
        self.retry_at = None
        self.asked = set(self.owed)
        self.given_up.clear()  # tried again: restarting, no longer given up
        return SendRestart(None if self.whole else tuple(sorted(self.owed)))


@dataclass
class Trunk:
    config: SpanConfig
    span: PriSpan | None  # None while the backend cannot be opened (driver not loaded …)
    up_since: float | None = None
    last_change: str = "starting"
    calls_in: int = 0
    calls_refused: int = 0
    events: int = 0
    handler: Any = None  # the call path's IvrCallHandler, when the box has phones
    restart: StartupRestart | None = None  # made with the span: owed from its first D-channel up
    task: asyncio.Task[Any] | None = field(default=None, repr=False)
    restart_timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def state(self) -> dict[str, Any]:
        """Read from the backend: call it on the loop's thread only (see TrunkService.snapshot)."""
        span = self.span
        return {
            "name": self.config.name, "url": self.config.url, "role": self.config.role,
            "d_channel": "up" if span is not None and span.link_up else "down",
            "up_seconds": round(time.monotonic() - self.up_since, 1) if self.up_since else 0,
            "span_state": span.span.state if span is not None else "down",
            "alarms": list(span.span.alarms.names) if span is not None else ["los"],
            "last_change": self.last_change, "calls_in": self.calls_in,
            "calls_refused": self.calls_refused,
            "idle_channels": len(span.q931.idle_timeslots()) if span is not None else 0,
            "capture": str(span.capturing) if span is not None and span.capturing else None,
            # pending | restarting | failed (channels out of service, retried) | done
            "restart": self.restart.state if self.restart is not None else "pending",
            "restart_failed_channels": sorted(self.restart.given_up) if self.restart is not None else [],
        }


class TrunkService:
    """All spans of the box, in one event loop."""

    def __init__(self, spans: tuple[SpanConfig, ...], *,
                 on_state: Callable[[dict[str, Any]], None] | None = None,
                 call_path: Any = None) -> None:
        self.configs = spans
        self.trunks: dict[str, Trunk] = {}
        self.on_state = on_state or (lambda _state: None)
        self.call_path = call_path  # appliance.pbx.call_path.CallPath, or None: refuse with 34
        self.failures = 0  # handler errors caught in the watch loops (health)
        self._snapshot: list[dict[str, Any]] = []
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.call_path is not None:
            self.call_path.start()  # the agents' phones, one set for every span
        for cfg in self.configs:
            trunk = Trunk(cfg, None)
            self.trunks[cfg.name] = trunk
            trunk.task = asyncio.ensure_future(self._run(trunk))
        self._refresher = asyncio.ensure_future(self._refresh())
        await asyncio.sleep(0)  # let each trunk try its first open
        self.refresh()

    async def stop(self) -> None:
        if self._refresher:
            self._refresher.cancel()
        if self.call_path is not None:
            self.call_path.stop()
        for trunk in self.trunks.values():
            if trunk.task:
                trunk.task.cancel()
            if trunk.restart_timer is not None:
                trunk.restart_timer.cancel()
            if trunk.span is not None:
                await trunk.span.close()

    def watching(self) -> bool:
        """Every trunk's watch loop still runs (a caught handler error does not stop one)."""
        return all(t.task is not None and not t.task.done() for t in self.trunks.values())

    def states(self) -> list[dict[str, Any]]:
        """Fresh state (loop thread only)."""
        return [t.state() for t in self.trunks.values()]

    def refresh(self) -> None:
        self._snapshot = self.states()

    def snapshot(self) -> list[dict[str, Any]]:
        """The last state the loop took: safe from any thread, touches no device."""
        return list(self._snapshot)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH)
            self.refresh()

    def capture(self, name: str, on: bool, path: Path | None, default_dir: Path) -> dict[str, Any]:
        trunk = self._trunk(name)
        if trunk.span is None:
            raise ValueError(f"span {name!r} is not open: {trunk.last_change}")
        if on:
            target = path or default_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.pcap"
            trunk.span.start_capture(target)
        else:
            trunk.span.stop_capture()
        return trunk.state()

    def _trunk(self, name: str) -> Trunk:
        try:
            return self.trunks[name]
        except KeyError:
            raise KeyError(f"no span named {name!r} (spans: {', '.join(self.trunks) or 'none'})") from None

    async def _run(self, trunk: Trunk) -> None:
        """Open the span (retrying while it cannot be opened), then follow its events."""
        cfg = trunk.config
        while trunk.span is None:
            try:
                backend = open_span(cfg.url, name=cfg.name)
            except SpanError as exc:
                # A card whose driver is not loaded yet is a trunk down, not a dead daemon.
                trunk.last_change = f"down: {exc}"
                log.error("span %s: %s (again in %.0f s)", cfg.name, exc, OPEN_RETRY)
                await asyncio.sleep(OPEN_RETRY)
                continue
            trunk.span = PriSpan(backend, cfg.role, name=cfg.name,  # type: ignore[arg-type]
                                 numbering=cfg.numbering, capture=cfg.capture)
            trunk.restart = StartupRestart(trunk.span.q931.pool.timeslots, RESTART_RETRY)
            if self.call_path is not None:
                trunk.handler = self.call_path.handler_for(trunk.span)
            await trunk.span.start()
        while True:
            event = await trunk.span.events.get()
            trunk.events += 1
            try:
                self._on_event(trunk, event)
            except PriError as exc:  # a request the call's state refused: log, carry on
                log.warning("span %s: %s", cfg.name, exc)
            except Exception:  # a bug in a handler must not leave the trunk unattended
                self.failures += 1
                log.exception("span %s: handling %r", cfg.name, event)

    def _on_event(self, trunk: Trunk, event: object) -> None:
        name = trunk.config.name
        assert trunk.span is not None
        if isinstance(event, LinkStateChanged):
            trunk.up_since = time.monotonic() if event.up else None
            trunk.last_change = f"{'up' if event.up else 'down'}: {event.reason}"
            log.log(logging.INFO if event.up else logging.WARNING, "span %s: D-channel %s (%s)",
                    name, "up" if event.up else "DOWN", event.reason)
            if event.up and trunk.restart is not None:
                self._send_restart(trunk, trunk.restart.link_up(_now()))
            self.refresh()
            self.on_state(trunk.state())
        elif isinstance(event, ev.Restarted):
            self._on_restarted(trunk, event)
        elif isinstance(event, ev.RestartFailed):
            self._on_restart_failed(trunk, event)
        elif trunk.handler is not None and not isinstance(event, ev.ProtocolErrorReported):
            trunk.calls_in += isinstance(event, ev.IncomingCall)
            trunk.handler.handle_event(event)  # the IVR, then the agents' phones
        elif isinstance(event, ev.IncomingCall):
            trunk.calls_in += 1
            trunk.calls_refused += 1
            log.warning("span %s: call from %s to %s refused (%d %s): no call control loaded",
                        name, event.calling or "unknown", event.called, NO_CIRCUIT_AVAILABLE,
                        cause_text(NO_CIRCUIT_AVAILABLE))
            trunk.span.hangup(event.call_id, NO_CIRCUIT_AVAILABLE)
        elif isinstance(event, ev.Hangup):
            trunk.span.hangup(event.call_id, 16)
        elif isinstance(event, ev.ProtocolErrorReported):
            log.warning("span %s: protocol error (cause %s): %s", name, event.cause, event.text)

    # -- RESTART (StartupRestart decides, the span sends) ---------------------------------

    def _send_restart(self, trunk: Trunk, send: SendRestart | None) -> None:
        if send is None or trunk.span is None or trunk.restart is None:
            return
        plan = trunk.restart
        trunk.span.restart(send.timeslots)
        if send.timeslots is None:
            count = len(plan.timeslots)
            zh, en = f"全部 {count} 个B信道", f"the whole interface ({count} B-channels)"
        else:
            zh, en = f"B信道 {list(send.timeslots)} (逐个)", f"timeslots {list(send.timeslots)}, one by one"
        trunk.last_change = f"restarting: RESTART {'again' if plan.sends > 1 else 'sent'}"
        log.log(logging.INFO if plan.sends == 1 else logging.WARNING,
                "span %s: 重启%s, 使双方B信道状态一致 (RESTART %s, attempt %d: both sides take "
                "these channels as idle)", trunk.config.name, zh, en, plan.sends)

    def _on_restarted(self, trunk: Trunk, event: ev.Restarted) -> None:
        name = trunk.config.name
        span, plan = trunk.span, trunk.restart
        assert span is not None
        which = _which(event.timeslots, span)
        if plan is None or not plan.restarted(event.timeslots, span.q931.restarts.pending(), _now()):
            log.info("span %s: 重启 RESTART of %s done", name, which)
            return
        took = (plan.done_at or 0.0) - (plan.sent_at or 0.0)
        idle = len(span.q931.idle_timeslots())
        trunk.last_change = f"up: restarted, {idle} B-channels idle"
        log.info("span %s: 重启完成, %d 个B信道空闲 (RESTART of %s acknowledged in %.0f ms: "
                 "%d B-channels idle)", name, idle, which, took * 1000, idle)
        self.refresh()
        self.on_state(trunk.state())

    def _on_restart_failed(self, trunk: Trunk, event: ev.RestartFailed) -> None:
        plan = trunk.restart
        if plan is None:
            return
        plan.failed(event.timeslots, _now())
        trunk.last_change = f"restart failed: {len(plan.given_up)} B-channels out of service"
        log.error("span %s: 重启无应答, %d 个B信道停用, %.0f 秒后逐个重试 (no RESTART ACKNOWLEDGE "
                  "for %s: out of service, restarted channel by channel in %.0f s)",
                  trunk.config.name, len(event.timeslots), plan.retry_after,
                  _which(event.timeslots, trunk.span), plan.retry_after)
        self._arm_restart(trunk)
        self.refresh()
        self.on_state(trunk.state())

    def _arm_restart(self, trunk: Trunk) -> None:
        if trunk.restart_timer is not None:
            trunk.restart_timer.cancel()
            trunk.restart_timer = None
        plan = trunk.restart
        if plan is not None and plan.retry_at is not None:
            trunk.restart_timer = asyncio.get_running_loop().call_at(
                plan.retry_at, self._restart_due, trunk)

    def _restart_due(self, trunk: Trunk) -> None:
        trunk.restart_timer = None
        if trunk.span is None or trunk.restart is None:
            return
        try:  # with the link down nothing is sent: the link coming back sends it
            send = trunk.restart.due(_now(), trunk.span.link_up)
            if send is None and trunk.span.link_up:
                self._arm_restart(trunk)  # woken a hair before the deadline: again at it
            self._send_restart(trunk, send)
        except Exception:  # a timer callback has no caller to tell: log it here
            log.exception("span %s: RESTART retry", trunk.config.name)
        self.refresh()
        self.on_state(trunk.state())


def _which(timeslots: tuple[int, ...], span: PriSpan | None) -> str:
    if span is not None and len(timeslots) == len(span.q931.pool.timeslots):
        return "the interface"
    return f"timeslots {list(timeslots)}"


def _now() -> float:
    """The loop's clock: the one PriSpan's timers (and StartupRestart's deadlines) use."""
    return asyncio.get_running_loop().time()
