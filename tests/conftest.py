"""Shared fixtures: real servers on free ports, each test with its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning.mosquitto import Broker, start_broker


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A real Mosquitto with its own config on a free port (broker.url is mqtt://…)."""
    broker = start_broker(tmp_path / "mosquitto")
    try:
        yield broker
    finally:
        broker.stop()
