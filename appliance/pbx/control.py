"""pbxd's control socket: a technician's commands to the running daemon.

``DATA_DIR/pbxd.sock`` (AF_UNIX stream, mode 0600: root and the anxin user only), one JSON
request per line, one JSON reply per line: ``{"cmd": "status"}`` →
``{"ok": true, "trunks": [...]}``; ``{"cmd": "capture", "span": "span1", "on": true,
"file": "/tmp/x.pcap"}`` switches the D-channel trace while the line runs, like a
switch's signalling trace. Errors are ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.e1_card.errors import PriError

Handler = Callable[[dict[str, Any]], dict[str, Any]]
MAX_REQUEST = 64 * 1024


def socket_path(data_dir: Path) -> Path:
    return data_dir / "pbxd.sock"


async def serve(path: Path, handle: Handler) -> asyncio.AbstractServer:
    path.unlink(missing_ok=True)

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than MAX_REQUEST: answer, then hang up
                    writer.write(_reply({"ok": False, "error": f"request longer than {MAX_REQUEST} bytes"}))
                    break
                if not line:
                    break
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("a request is a JSON object")
                    reply = {"ok": True, **handle(request)}
                except (ValueError, KeyError) as exc:
                    reply = {"ok": False, "error": str(exc).strip("'\"")}
                except (PriError, OSError) as exc:  # e.g. the capture file cannot be created
                    reply = {"ok": False, "error": str(exc)}
                writer.write(_reply(reply))
                await writer.drain()
        except ConnectionError:
            pass  # the technician's command went away
        finally:
            writer.close()

    server = await asyncio.start_unix_server(client, path=str(path), limit=MAX_REQUEST)
    os.chmod(path, 0o600)
    return server


def _reply(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode() + b"\n"


class ControlError(OSError):
    """pbxd answered nothing usable (it closed the connection or sent garbage)."""


def request(path: Path, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one request to a running pbxd; OSError when it is not running."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(json.dumps(payload).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    try:
        reply = json.loads(data)
    except ValueError:
        raise ControlError(f"pbxd closed the connection without a valid answer ({data[:80]!r})") from None
    if not isinstance(reply, dict):
        raise ControlError(f"pbxd answered {reply!r}")
    return reply
