"""On a box with a DAHDI card only (``-m hw``; CI deselects these): the real span comes up.

A technician runs them on the first box of a batch, with the carrier's line plugged in:

    ANXIN_HW_SPAN=dahdi://1 ANXIN_HW_FXS=dahdi://chan/32 .venv/bin/python -m pytest -m hw tests/hw

They fail (never skip) when the variables are missing: asking for hardware tests
without hardware is a mistake worth saying.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from drivers.e1_card.fxs import open_fxs
from drivers.e1_card.span import open_span
from drivers.e1_card.stack import PriSpan

pytestmark = [pytest.mark.hw, pytest.mark.timeout(120)]


def _url(name: str) -> str:
    url = os.environ.get(name)
    if not url:
        pytest.fail(f"set {name} (e.g. dahdi://1) to run the hardware tests on this box")
    return url


async def test_real_span_has_no_alarms_and_layer2_comes_up() -> None:
    span = open_span(_url("ANXIN_HW_SPAN"), name="hw")
    assert span.alarms.names == (), f"line alarms {span.alarms.names}: check the cable and the carrier"
    pri = PriSpan(span, "user", name="hw")
    await pri.start()
    try:
        await pri.wait_link_up(timeout=30)
        await asyncio.sleep(25)  # past T203 twice: the carrier's keepalives are answered
        assert pri.link_up
    finally:
        await pri.close()


def test_real_fxs_port_rings() -> None:
    with open_fxs(_url("ANXIN_HW_FXS")) as port:
        port.ring(True)
        port.ring(False)
