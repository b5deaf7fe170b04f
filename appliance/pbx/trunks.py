"""The trunk service: every configured E1 span up and watched, its state for the box.

This is pbxd's first layer (ARCHITECTURE, Asterisk's split: trunk drivers → signalling
adapter → call control). It brings each span's D-channel up and keeps it up, applies the
span's number rules, keeps the signalling trace switchable while the line runs, and
reports trunk state. Call control (IVR, ACD, bridging to agents' phones) is the next
layer; until it is loaded, an incoming call is refused with cause 34 (no circuit/channel
available) so the carrier overflows it to the centre's next route at once instead of
letting it ring unanswered — and the refusal is logged with the caller's number.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
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



OPEN_RETRY = 5.0  # seconds between attempts to open a span that would not open
REFRESH = 1.0     # seconds between snapshots of trunk state (read by other threads)


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
    task: asyncio.Task[Any] | None = field(default=None, repr=False)

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
            if trunk.span is not None:
                await trunk.span.close()

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
        if isinstance(event, LinkStateChanged):
            trunk.up_since = time.monotonic() if event.up else None
            trunk.last_change = f"{'up' if event.up else 'down'}: {event.reason}"
            log.log(logging.INFO if event.up else logging.WARNING, "span %s: D-channel %s (%s)",
                    name, "up" if event.up else "DOWN", event.reason)
            self.refresh()
            self.on_state(trunk.state())
        elif trunk.handler is not None and not isinstance(event, (ev.Restarted, ev.ProtocolErrorReported)):
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
        elif isinstance(event, ev.Restarted):
            log.info("span %s: RESTART of %s", name,
                     "the interface" if not event.timeslots else f"timeslots {list(event.timeslots)}")
        elif isinstance(event, ev.ProtocolErrorReported):
            log.warning("span %s: protocol error (cause %s): %s", name, event.cause, event.text)
