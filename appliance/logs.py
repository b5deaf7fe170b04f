"""Structured logging to stderr: `key=value` text for people, JSON lines for collectors.

Fields passed as `extra={"fields": {...}}` are kept as structured data. Under systemd
(JOURNAL_STREAM set) the journal stamps time itself, so the text form leaves it out.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime


class TextFormatter(logging.Formatter):
    def __init__(self, daemon: str, with_time: bool) -> None:
        super().__init__()
        self.daemon, self.with_time = daemon, with_time

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        if self.with_time:
            parts.append(datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"))
        parts += [record.levelname.lower(), f"{self.daemon}/{record.name}", record.getMessage()]
        fields = getattr(record, "fields", None) or {}
        parts += [f"{k}={_quote(v)}" for k, v in fields.items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def __init__(self, daemon: str) -> None:
        super().__init__()
        self.daemon = daemon

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "daemon": self.daemon, "logger": record.name,
            "msg": record.getMessage(), **(getattr(record, "fields", None) or {}),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def _quote(value: object) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (not text or " " in text or "=" in text) else text


def setup_logging(daemon: str, level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(daemon))
    else:
        handler.setFormatter(TextFormatter(daemon, with_time="JOURNAL_STREAM" not in os.environ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # paho logs every packet at debug; keep it quiet unless asked for.
    logging.getLogger("paho").setLevel(max(logging.INFO, root.level))


def fields(**kw: object) -> dict[str, dict[str, object]]:
    """`log.info("msg", extra=fields(seq=3))`."""
    return {"fields": kw}
