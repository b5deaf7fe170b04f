"""syncd: publishes the outbox to the hub and deletes rows only after the hub's ack.

Thin asyncio shell around `LaneSender`: aiosqlite for box.db, paho-mqtt's network
thread for the broker, bridged into the loop with call_soon_threadsafe.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiosqlite
import paho.mqtt.client as mqtt

from appliance.bus import LocalBus
from appliance.clock import iso, now_local
from appliance.config import Config
from appliance.logs import fields
from appliance.mqtt import make_client, parse_mqtt_url
from appliance.store import LANES, OutboxRecord, open_store
from appliance.store.outbox import DELETE_UPTO_SQL, FETCH_BATCH_SQL, record_from_row
from appliance.sync.lanes import LaneSender
from appliance.sync.live import LiveRelay, LiveViewError, hub_live

log = logging.getLogger("syncd")


def topic_root(box_id: str) -> str:
    return f"anxin/v1/box/{box_id}/"


@dataclass
class SyncRuntime:
    """Everything syncd owns while it runs."""

    config: Config
    senders: dict[str, LaneSender]
    connected: bool = False
    events: deque = field(default_factory=deque)
    wake: asyncio.Event | None = None
    published: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LANES, 0))
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LANES, 0))
    live: LiveRelay = field(default_factory=LiveRelay)
    live_sent: int = 0


class Syncd:
    name = "syncd"

    def __init__(self, config: Config) -> None:
        self.config = config
        sync = config.sync
        self.runtime = SyncRuntime(config, {
            lane: LaneSender(lane, sync.ack_timeout, sync.ack_timeout_max) for lane in LANES})
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    # -- daemon frame ------------------------------------------------------------------
    def start(self) -> None:
        open_store(self.config.box.data_dir).close()  # migrations, before the loop starts
        started = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, args=(started,),
                                        name="syncd", daemon=True)
        self._thread.start()
        started.wait(10)

    def healthy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> str:
        rt = self.runtime
        link = "hub connected" if rt.connected else "hub unreachable"
        return f"{link}; published {rt.published}; acked+deleted {rt.deleted}"

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop_now)
        if self._thread:
            self._thread.join(15)

    def _stop_now(self) -> None:
        self._stop.set()
        self.runtime.wake.set()

    # -- the loop ----------------------------------------------------------------------
    def _thread_main(self, started: threading.Event) -> None:
        try:
            asyncio.run(self._main(started))
        except BaseException as exc:  # surfaced through healthy() → watchdog restart
            self._error = exc
            log.exception("syncd loop died")
            started.set()

    async def _main(self, started: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        rt = self.runtime
        rt.wake = asyncio.Event()
        cfg = self.config
        db = await aiosqlite.connect(str(cfg.db_path), isolation_level=None)
        await db.execute("PRAGMA busy_timeout = 10000")
        await db.execute("PRAGMA synchronous = FULL")  # see store.database: durability rule
        client = self._make_client()
        bus = LocalBus(cfg.bus.mqtt_url, "syncd")
        loop = self._loop

        def on_live(_topic: str, view: Any) -> None:  # paho's thread
            loop.call_soon_threadsafe(self._deliver, ("live", view))

        bus.subscribe("pbx/live", on_live)
        bus.start()
        started.set()
        try:
            await self._run(db, client)
        finally:
            bus.stop()
            await self._publish_status(client, "offline")
            client.disconnect()
            client.loop_stop()
            await db.close()

    def _deliver(self, item: tuple[str, Any]) -> None:
        self.runtime.events.append(item)
        self.runtime.wake.set()

    def _make_client(self) -> mqtt.Client:
        cfg = self.config
        endpoint = parse_mqtt_url(cfg.hub.mqtt_url)
        # CONTRACTS §6: username = box id = client id (the cert CN under mqtts).
        client = make_client(cfg.box.id, username=cfg.box.id, tls=endpoint.tls, ca=cfg.hub.ca,
                             cert=cfg.hub.cert, key=cfg.hub.key)
        root = topic_root(cfg.box.id)
        client.will_set(root + "status", json.dumps({"state": "offline", "box_id": cfg.box.id}),
                        qos=1, retain=True)
        loop = self._loop

        def post(item: tuple[str, Any]) -> None:
            loop.call_soon_threadsafe(self._deliver, item)

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
            if reason.is_failure:
                log.warning("hub broker refused the connection: %s", reason)
                return
            c.subscribe([(root + "ack/+", 1), (root + "down", 1)])
            post(("connected", None))

        def on_disconnect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
            post(("disconnected", str(reason)))

        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            post(("message", (msg.topic, msg.payload)))

        client.on_connect, client.on_disconnect = on_connect, on_disconnect
        client.on_message = on_message
        client.connect_async(endpoint.host, endpoint.port, keepalive=30)
        client.loop_start()
        return client

    async def _publish_status(self, client: mqtt.Client, state: str) -> None:
        payload = {"state": state, "box_id": self.config.box.id, "at": iso(now_local())}
        client.publish(topic_root(self.config.box.id) + "status", json.dumps(payload), qos=1,
                       retain=True)

    async def _run(self, db: aiosqlite.Connection, client: mqtt.Client) -> None:
        rt, cfg = self.runtime, self.config
        loop = asyncio.get_running_loop()
        root = topic_root(cfg.box.id)
        while not self._stop.is_set():
            # Drain what the network thread reported.
            rt.wake.clear()
            while rt.events:
                kind, data = rt.events.popleft()
                if kind == "connected":
                    rt.connected = True
                    for sender in rt.senders.values():
                        sender.connected()
                    await self._publish_status(client, "online")
                    log.info("connected to hub broker %s", cfg.hub.mqtt_url)
                elif kind == "disconnected":
                    if rt.connected:
                        log.warning("lost hub broker: %s", data)
                    rt.connected = False
                    for sender in rt.senders.values():
                        sender.disconnected()
                elif kind == "message":
                    await self._on_message(db, root, *data)
                elif kind == "live":
                    self._offer_live(data)
            now = loop.time()
            self._send_live(client, root, now)
            if rt.connected:
                for lane, sender in rt.senders.items():
                    if sender.can_send(now):
                        batch = await self._fetch(db, lane)
                        if batch:
                            self._publish_batch(client, root, lane, batch, resend=sender.in_flight
                                                is not None)
                            sender.sent(batch[-1].seq, now)
            # New outbox rows are found by polling (cheap: one indexed query); network
            # events and stop wake the loop at once.
            due = rt.live.next_due(now)
            timeout = cfg.sync.poll_interval if due is None else min(due, cfg.sync.poll_interval)
            try:
                await asyncio.wait_for(rt.wake.wait(), timeout=timeout)
            except TimeoutError:
                pass

    def _offer_live(self, view: Any) -> None:
        try:
            self.runtime.live.offer(hub_live(self.config.box.id, view, iso(now_local())))
        except LiveViewError as exc:  # e.g. another box's view on a lab broker they share
            log.debug("live view not for the hub: %s", exc)

    def _send_live(self, client: mqtt.Client, root: str, now: float) -> None:
        payload = self.runtime.live.take(now, connected=self.runtime.connected)
        if payload is not None:
            client.publish(root + "live", json.dumps(payload, ensure_ascii=False), qos=0)
            self.runtime.live_sent += 1

    async def _fetch(self, db: aiosqlite.Connection, lane: str) -> list[OutboxRecord]:
        async with db.execute(FETCH_BATCH_SQL, (lane, self.config.sync.batch_max)) as cur:
            rows = await cur.fetchall()
        return [record_from_row(r) for r in rows]

    def _publish_batch(self, client: mqtt.Client, root: str, lane: str,
                       batch: list[OutboxRecord], resend: bool) -> None:
        payload = {"box_id": self.config.box.id, "lane": lane,
                   "batch": [r.to_wire() for r in batch]}
        client.publish(root + f"up/{lane}", json.dumps(payload, ensure_ascii=False), qos=1)
        self.runtime.published[lane] += len(batch)
        log.log(logging.WARNING if resend else logging.DEBUG,
                "resending batch, no ack in time" if resend else "published batch",
                extra=fields(lane=lane, first=batch[0].seq, last=batch[-1].seq, n=len(batch)))

    async def _on_message(self, db: aiosqlite.Connection, root: str, topic: str,
                          payload: bytes) -> None:
        if not topic.startswith(root + "ack/"):
            log.debug("ignoring %s (not handled by this version)", topic)
            return
        lane = topic[len(root) + 4:]
        sender = self.runtime.senders.get(lane)
        try:
            upto = json.loads(payload)["upto"]
            if not isinstance(upto, int) or isinstance(upto, bool):
                raise TypeError("upto is not an integer")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("bad ack on %s: %s", topic, exc)
            return
        if sender is None:
            log.warning("ack for unknown lane %r", lane)
            return
        release = sender.acked(upto)
        if release is None:
            return
        await db.execute("BEGIN IMMEDIATE")
        try:
            cur = await db.execute(DELETE_UPTO_SQL, (lane, release))
            n = cur.rowcount
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        self.runtime.deleted[lane] += n
        log.debug("hub acked", extra=fields(lane=lane, upto=release, deleted=n))
