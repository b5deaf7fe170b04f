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
from drivers.e1_card.errors import PriError
from drivers.e1_card.q931 import events as ev
from drivers.e1_card.q931.causes import NO_CIRCUIT_AVAILABLE, cause_text
from drivers.e1_card.span import open_span
from drivers.e1_card.stack import LinkStateChanged, PriSpan

log = logging.getLogger("trunks")

CallHandler = Callable[["Trunk", ev.IncomingCall], bool]  # True: the handler took the call


@dataclass
class Trunk:
    config: SpanConfig
    span: PriSpan
    up_since: float | None = None
    last_change: str = "starting"
    calls_in: int = 0
    calls_refused: int = 0
    events: int = 0
    task: asyncio.Task[Any] | None = field(default=None, repr=False)

    def state(self) -> dict[str, Any]:
        backend = self.span.span
        return {
            "name": self.config.name, "url": self.config.url, "role": self.config.role,
            "d_channel": "up" if self.span.link_up else "down",
            "up_seconds": round(time.monotonic() - self.up_since, 1) if self.up_since else 0,
            "span_state": backend.state, "alarms": list(backend.alarms.names),
            "last_change": self.last_change, "calls_in": self.calls_in,
            "calls_refused": self.calls_refused,
            "idle_channels": len(self.span.q931.idle_timeslots()),
            "capture": str(self.span.capturing) if self.span.capturing else None,
        }


class TrunkService:
    """All spans of the box, in one event loop."""

    def __init__(self, spans: tuple[SpanConfig, ...], *,
                 on_state: Callable[[dict[str, Any]], None] | None = None,
                 on_call: CallHandler | None = None) -> None:
        self.configs = spans
        self.trunks: dict[str, Trunk] = {}
        self.on_state = on_state or (lambda _state: None)
        self.on_call = on_call

    async def start(self) -> None:
        for cfg in self.configs:
            span = PriSpan(open_span(cfg.url, name=cfg.name), cfg.role, name=cfg.name,  # type: ignore[arg-type]
                           numbering=cfg.numbering, capture=cfg.capture)
            trunk = Trunk(cfg, span)
            self.trunks[cfg.name] = trunk
            await span.start()
            trunk.task = asyncio.ensure_future(self._watch(trunk))

    async def stop(self) -> None:
        for trunk in self.trunks.values():
            if trunk.task:
                trunk.task.cancel()
            await trunk.span.close()

    def states(self) -> list[dict[str, Any]]:
        return [t.state() for t in self.trunks.values()]

    def capture(self, name: str, on: bool, path: Path | None, default_dir: Path) -> dict[str, Any]:
        trunk = self._trunk(name)
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

    async def _watch(self, trunk: Trunk) -> None:
        while True:
            event = await trunk.span.events.get()
            trunk.events += 1
            try:
                self._on_event(trunk, event)
            except PriError as exc:  # a request the call's state refused: log, carry on
                log.warning("span %s: %s", trunk.config.name, exc)

    def _on_event(self, trunk: Trunk, event: object) -> None:
        name = trunk.config.name
        if isinstance(event, LinkStateChanged):
            trunk.up_since = time.monotonic() if event.up else None
            trunk.last_change = f"{'up' if event.up else 'down'}: {event.reason}"
            log.log(logging.INFO if event.up else logging.WARNING, "span %s: D-channel %s (%s)",
                    name, "up" if event.up else "DOWN", event.reason)
            self.on_state(trunk.state())
        elif isinstance(event, ev.IncomingCall):
            trunk.calls_in += 1
            if self.on_call is not None and self.on_call(trunk, event):
                return
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
