"""Command lines for the telco and handset simulators: a script file, then stdin."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


class CommandError(ValueError):
    """A command line a simulator cannot run: says what is wrong with it."""


async def feed_commands(queue: asyncio.Queue[str], script: Path | None, use_stdin: bool) -> None:
    """Put each line of SCRIPT, then of stdin (until EOF), on QUEUE; 'quit' at the end of input."""
    if script is not None:
        for line in script.read_text(encoding="utf-8").splitlines():
            await queue.put(line)
    if not use_stdin:
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        await queue.put(line.decode("utf-8", "replace"))
    await queue.put("quit")  # stdin closed: the controlling script is gone
