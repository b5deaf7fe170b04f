"""The ingest worker process: a thin paho-mqtt shell around core + store."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hub.ingest import core, store
from hub.settings import MqttAddress
from hub.timeutil import utc_now

log = logging.getLogger("hub.ingest")

RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 10.0
KEEPALIVE_S = 30


def client_id() -> str:
    return f"anxin-hub-ingest-{socket.gethostname()}-{os.getpid()}"


class IngestWorker:
    """Owns one MQTT client and the ingest engine; `run` blocks until STOP is set."""

    def __init__(self, engine: Engine, broker: MqttAddress, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.broker = broker
        self.clock = clock
        self._stopping = False
        self.client_id = client_id()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                  protocol=mqtt.MQTTv5)
        if broker.tls:
            self.client.tls_set()
        self.client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def run(self, stop: threading.Event) -> None:
        log.info("ingest connecting to %s:%d as %s", self.broker.host, self.broker.port,
                 self.client_id)
        # connect_async + loop_start: paho's loop reconnects forever with backoff
        # (0.5 s doubling to 10 s), also when the broker is down at start.
        self.client.connect_async(self.broker.host, self.broker.port, KEEPALIVE_S,
                                  clean_start=True)
        self.client.loop_start()
        try:
            while not stop.wait(1.0):
                pass
        finally:
            log.info("ingest stopping")
            self._stopping = True
            self.client.disconnect()
            self.client.loop_stop()  # waits for a message being stored to finish

    # -- paho callbacks (run on paho's network thread) --

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any,
                    reason: ReasonCode, _props: Properties | None) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        log.info("connected to broker; subscribing")
        # Subscribe on every connect: a restarted broker without persistence has
        # forgotten our subscriptions.
        client.subscribe([(topic, SubscribeOptions(qos=1)) for topic in core.SUBSCRIPTIONS])

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int,
                      reasons: list[ReasonCode], _props: Properties | None) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            log.error("broker refused subscriptions: %s", ", ".join(failed))
        else:
            log.info("subscribed to %s", ", ".join(core.SUBSCRIPTIONS))

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any,
                       reason: ReasonCode, _props: Properties | None) -> None:
        if self._stopping:
            log.info("disconnected from broker")
        else:
            log.warning("disconnected from broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, _userdata: Any,
                    msg: mqtt.MQTTMessage) -> None:
        try:
            self.handle(msg.topic, msg.payload, retained=bool(msg.retain))
        except Exception:  # one bad message must not stop the worker
            log.exception("unexpected error on %s; not acked", msg.topic)

    def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> core.Ack | None:
        """Process one message; returns the ack published, if any."""
        action = core.decide(topic, payload, self.clock(), retained=retained)
        if isinstance(action, core.StoreBatch):
            return self._store(action)
        if isinstance(action, core.UpdateStatus):
            try:
                with self.engine.begin() as conn:
                    store.apply_status(conn, action)
            except SQLAlchemyError as exc:
                log.error("box %s status %s not stored: %s", action.box_id, action.state, exc)
                return None
            log.info("box %s is %s%s", action.box_id, action.state,
                     " (retained)" if action.retained else "")
        elif isinstance(action, core.UpdateLive):
            try:
                with self.engine.begin() as conn:
                    newer = store.apply_live(conn, action)
            except SQLAlchemyError as exc:  # the next one comes in a few seconds
                log.error("box %s live figures not stored: %s", action.box_id, exc)
                return None
            if not newer:
                log.debug("box %s live figures of %s: a newer one is stored", action.box_id, action.at)
        elif isinstance(action, core.Reject):
            log.warning("rejected message on %s: %s (not acked)", action.topic, action.reason)
        elif isinstance(action, core.Ignore):
            log.debug("ignored message on %s: %s", action.topic, action.reason)
        return None

    def _store(self, batch: core.StoreBatch) -> core.Ack | None:
        for warning in batch.warnings:
            log.warning("box %s lane %s %s", batch.box_id, batch.lane, warning)
        try:
            with self.engine.begin() as conn:  # COMMIT on leaving the block
                outcome = store.apply_batch(conn, batch)
        except SQLAlchemyError as exc:
            # No ack: the box keeps the records and sends the batch again.
            log.error("box %s lane %s seq %d-%d not stored: %s", batch.box_id, batch.lane,
                      batch.first_seq, batch.last_seq, exc)
            return None
        if outcome.previous_upto is not None and batch.first_seq > outcome.previous_upto + 1:
            log.warning("box %s lane %s: gap, seq %d-%d never received", batch.box_id,
                        batch.lane, outcome.previous_upto + 1, batch.first_seq - 1)
        log.info("box %s lane %s seq %d-%d: %d new, %d duplicate; ack upto %d",
                 batch.box_id, batch.lane, batch.first_seq, batch.last_seq,
                 outcome.new, outcome.duplicate, outcome.upto)
        ack = core.ack_for(batch.box_id, batch.lane, outcome.upto)
        self.client.publish(ack.topic, ack.payload, qos=ack.qos)
        return ack
