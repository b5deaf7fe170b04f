"""alarmd: owns the alarm receivers; one worker thread per receiver."""

from __future__ import annotations

import logging
import threading
import time

from appliance.alarm.dc09_listener import Dc09Listener
from appliance.alarm.receivers import ReceiverWorker
from appliance.alarm.storm import StormGrouper
from appliance.alarm.usb_worker import UsbReceiverWorker
from appliance.bus import LocalBus
from appliance.config import AlarmReceiverConfig, Config
from appliance.store import open_store

log = logging.getLogger("alarmd")


class Alarmd:
    name = "alarmd"

    def __init__(self, config: Config) -> None:
        self.config = config
        self._stop = threading.Event()
        self.bus = LocalBus(config.bus.mqtt_url, "alarmd")
        # Built here so a receiver this version cannot drive fails at start, by name.
        self.storms = StormGrouper()
        self._storm_lock = threading.Lock()

        def worker(rc: AlarmReceiverConfig) -> ReceiverWorker | Dc09Listener:
            kinds = {"dc09": Dc09Listener, "usb": UsbReceiverWorker}
            kind = kinds.get(rc.protocol, ReceiverWorker)
            return kind(rc, config.box.id, config.db_path, self._stop,
                        on_signal=self._notify,
                        on_trouble=lambda body: self.bus.publish("device/trouble", body))

        self.workers = [worker(rc) for rc in config.receivers]

    def _notify(self, body: dict) -> None:
        """Tell the console (local bus) of a new signal; a power-cut storm becomes one notice."""
        with self._storm_lock:
            notices = self.storms.on_alarm(body, time.monotonic())
        for notice in notices:
            self.bus.publish(notice.topic, notice.payload)

    def start(self) -> None:
        open_store(self.config.box.data_dir).close()
        if not self.workers:
            log.warning("no [[alarm.receivers]] configured: alarmd has nothing to listen to")
        self.bus.start()
        for worker in self.workers:
            worker.start()

    def healthy(self) -> bool:
        return all(w.is_alive() for w in self.workers)

    def status(self) -> str:
        parts = []
        for w in self.workers:
            s = w.state
            port = "port open" if s.port_open else f"port DOWN ({s.last_error})"
            link = "" if s.link_up else ", link TROUBLE"
            parts.append(f"{w.cfg.name}: {port}{link}, {s.signals} signals")
        return "; ".join(parts) or "no receivers"

    def stop(self) -> None:
        self._stop.set()
        for worker in self.workers:
            worker.join(5)
        self.bus.stop()
