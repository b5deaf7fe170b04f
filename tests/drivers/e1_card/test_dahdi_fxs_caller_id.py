"""A DAHDI FXS port sends caller ID itself: FSK after the first ring, clocked by the line.

Against the fake kernel (no card here); what the port writes is decoded by multimon-ng.
"""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np
import pytest
from fake_dahdi import EV_RINGEROFF, EV_RINGERON, FakeDahdi
from multimon import multimon_lines
from test_dahdi_backend import fxs_system

from appliance.media.caller_id import caller_id_alaw
from appliance.media.g711 import alaw_to_linear
from drivers.e1_card.dahdi_fxs import CID_DELAY_BLOCKS, CID_PREFILL_BLOCKS, DahdiFxsPort
from drivers.e1_card.fxs import Audio, HookOff

WHEN = datetime(2026, 12, 1, 9, 5)
SILENCE = b"\xd5" * 160


def tick(fake: FakeDahdi, port: DahdiFxsPort, blocks: int = 1) -> list[object]:
    """BLOCKS × 20 ms on the line: the card hands us a block each time; the events read."""
    seen: list[object] = []
    for _ in range(blocks):
        fake.feed_audio(port.channo, SILENCE)
        while (event := port.read_event()) is not None:
            if not isinstance(event, Audio):
                seen.append(event)
    return seen


def ringing_port(fake: FakeDahdi, number: str = "13800138000", name: str = "Zhang") -> DahdiFxsPort:
    port = DahdiFxsPort("dahdi://chan/2", io=fake, now=lambda: WHEN)
    port.send_cid(number, name)
    port.ring(True)
    fake.line_event(2, EV_RINGERON)  # the kernel's cadence: the first ring starts …
    tick(fake, port, 50)  # … and lasts 1 s
    return port


def decoded(written: list[bytes]) -> list[str]:
    audio = alaw_to_linear(b"".join(written))
    return [line for line in multimon_lines(np.concatenate([audio, np.zeros(2000, np.int16)]), "CLIPFSK")
            if line.startswith("CLIPFSK: CS")]


def test_caller_id_follows_the_first_ring_after_500_ms_and_multimon_reads_it() -> None:
    fake = fxs_system()
    with ringing_port(fake) as port:
        chan = fake.channel(2)
        assert chan.written == [] and port.pending_cid == ("13800138000", "Zhang")
        fake.line_event(2, EV_RINGEROFF)
        tick(fake, port, CID_DELAY_BLOCKS - 1)
        assert chan.written == [] and port.sending_cid  # 480 ms: still the pause
        tick(fake, port)
        assert len(chan.written) == CID_PREFILL_BLOCKS  # 500 ms: the burst begins, a cushion queued
        burst = caller_id_alaw("13800138000", "Zhang", when=WHEN)
        blocks = -(-len(burst) // 160)
        tick(fake, port, blocks)  # one block per block read, then nothing more
        assert len(chan.written) == blocks and not port.sending_cid and port.pending_cid is None
        assert b"".join(chan.written).startswith(burst) and all(len(b) == 160 for b in chan.written)
        assert decoded(chan.written) == ["CLIPFSK: CS DATE=12010905 CID=13800138000 CNT=Zhang"]
        tick(fake, port, 100)
        fake.line_event(2, EV_RINGEROFF)  # later rings send nothing again
        tick(fake, port, 100)
        assert len(chan.written) == blocks


def test_call_audio_waits_while_the_burst_is_on_the_line() -> None:
    fake = fxs_system()
    with ringing_port(fake) as port:
        fake.line_event(2, EV_RINGEROFF)
        tick(fake, port, CID_DELAY_BLOCKS + 3)
        sent = len(fake.channel(2).written)
        port.write_audio(b"\x01" * 160)  # e.g. the engine's silence to a ringing phone
        assert len(fake.channel(2).written) == sent
        tick(fake, port, 200)
        port.write_audio(b"\x01" * 160)
        written = fake.channel(2).written
        assert written[-1] == b"\x01" * 160 and b"\x01" * 160 not in written[:-1]


def test_full_buffers_delay_the_burst_but_never_cut_it() -> None:
    fake = fxs_system()
    with ringing_port(fake) as port:
        chan = fake.channel(2)
        fake.line_event(2, EV_RINGEROFF)
        tick(fake, port, CID_DELAY_BLOCKS + 5)
        chan.tx_full = True
        tick(fake, port, 3)
        chan.tx_full = False
        tick(fake, port, 200)
        burst = caller_id_alaw("13800138000", "Zhang", when=WHEN)
        assert b"".join(chan.written)[:len(burst)] == burst
        assert len(decoded(chan.written)) == 1


def test_answering_during_the_burst_stops_it(caplog: pytest.LogCaptureFixture) -> None:
    fake = fxs_system()
    with ringing_port(fake) as port, caplog.at_level(logging.WARNING):
        fake.line_event(2, EV_RINGEROFF)
        tick(fake, port, CID_DELAY_BLOCKS + 4)
        fake.hook(2, "off")
        assert any(isinstance(e, HookOff) for e in tick(fake, port))
        sent = len(fake.channel(2).written)
        tick(fake, port, 100)
        assert len(fake.channel(2).written) == sent and not port.sending_cid and port.pending_cid is None
        assert "caller ID cancelled: the phone was answered" in caplog.text
        port.write_audio(b"\x02" * 160)  # the call's audio flows at once
        assert fake.channel(2).written[-1] == b"\x02" * 160


def test_a_ring_that_comes_back_before_the_end_cancels_it(caplog: pytest.LogCaptureFixture) -> None:
    fake = fxs_system()
    with ringing_port(fake) as port, caplog.at_level(logging.WARNING):
        fake.line_event(2, EV_RINGEROFF)
        tick(fake, port, CID_DELAY_BLOCKS + 2)
        fake.line_event(2, EV_RINGERON)
        tick(fake, port)
        sent = len(fake.channel(2).written)
        tick(fake, port, 100)
        assert len(fake.channel(2).written) == sent and not port.sending_cid
        assert "next ring began" in caplog.text


def test_the_call_going_away_before_the_first_ring_ends_sends_nothing() -> None:
    fake = fxs_system()
    with ringing_port(fake) as port:
        port.ring(False)
        fake.line_event(2, EV_RINGEROFF)
        tick(fake, port, 200)
        assert fake.channel(2).written == [] and port.pending_cid is None


def test_no_caller_id_asked_for_means_no_burst() -> None:
    fake = fxs_system()
    with DahdiFxsPort("dahdi://chan/2", io=fake) as port:
        port.ring(True)
        fake.line_event(2, EV_RINGEROFF)
        tick(fake, port, 200)
        assert fake.channel(2).written == [] and not port.sending_cid


def test_a_number_the_phone_cannot_show_rings_as_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    fake = fxs_system()
    with caplog.at_level(logging.WARNING), ringing_port(fake, number="A01", name="Supervisor") as port:
        assert "cannot show" in caplog.text
        fake.line_event(2, EV_RINGEROFF)
        tick(fake, port, 200)
        assert decoded(fake.channel(2).written) == [
            "CLIPFSK: CS DATE=12010905 RACLI=O Unavailable CNT=Supervisor"]
