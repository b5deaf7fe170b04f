"""Shared fixtures: real servers on free ports, each test with its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning.district import District
from provisioning.mosquitto import Broker, start_broker


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A real Mosquitto with its own config on a free port (broker.url is mqtt://…)."""
    broker = start_broker(tmp_path / "mosquitto")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def district(tmp_path: Path) -> Iterator[District]:
    """Mosquitto + hub (serve + ingest) as real processes; add boxes with add_box()."""
    d = District(tmp_path / "district")
    try:
        d.start_broker()
        d.start_hub()
        yield d
    except BaseException:
        print(d.logs())  # shown by pytest on failure
        raise
    finally:
        d.stop()
