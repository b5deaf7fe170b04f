"""The simulated Sur-Gard receiver's stop-and-wait link, driven by a fake clock."""

from __future__ import annotations

import pytest

from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.receiver_sim import (
    Acked,
    ComputerFail,
    GaveUp,
    Nakked,
    ReceiverSim,
    SimEvent,
    TimedOut,
)
from drivers.alarm_phone.surgard import (
    ACK,
    NAK,
    Heartbeat,
    Signal,
    SurGardParser,
    format_heartbeat,
    format_signal,
)

F1 = format_signal("01", "1", ContactIdMessage("5678", "18", 1, "101", "00", "001"))
F2 = format_signal("01", "1", ContactIdMessage("5678", "18", 3, "101", "00", "001"))
HB = format_heartbeat()


def drain(sim: ReceiverSim) -> list[SimEvent]:
    out = []
    while (ev := sim.next_event()) is not None:
        out.append(ev)
    return out


def test_sends_head_when_idle_and_ack_pops_it() -> None:
    sim = ReceiverSim()
    sim.queue_frame(F1)
    sim.queue_frame(F2)
    assert sim.get_timer() == 0.0  # due at once
    assert sim.data_to_send(10.0) == F1
    assert sim.data_to_send(10.5) == b""  # stop-and-wait: one frame outstanding
    sim.receive_data(ACK, 10.25)
    assert drain(sim) == [Acked(F1, 1, 0.25)]
    assert sim.data_to_send(10.5) == F2
    sim.receive_data(ACK, 11.0)
    assert drain(sim) == [Acked(F2, 1, 0.5)]
    assert sim.queued == 0


def test_nak_resends_immediately() -> None:
    sim = ReceiverSim()
    sim.queue_frame(F1)
    assert sim.data_to_send(0.0) == F1
    sim.receive_data(NAK, 0.1)
    assert drain(sim) == [Nakked(F1, 1)]
    assert sim.get_timer() == 0.1  # at once
    assert sim.data_to_send(0.1) == F1
    sim.receive_data(ACK, 0.3)
    assert drain(sim) == [Acked(F1, 2, pytest.approx(0.3))]


def test_timeout_resends_after_ack_timeout() -> None:
    sim = ReceiverSim(ack_timeout=4.0)
    sim.queue_frame(F1)
    assert sim.data_to_send(0.0) == F1
    assert sim.get_timer() == 4.0
    assert sim.data_to_send(3.9) == b""
    assert drain(sim) == []
    sim.handle_timer(4.0)
    assert drain(sim) == [TimedOut(F1, 1)]
    assert sim.data_to_send(4.0) == F1
    assert sim.get_timer() == 8.0
    sim.receive_data(ACK, 5.0)
    assert drain(sim) == [Acked(F1, 2, 5.0)]


def test_other_bytes_are_ignored() -> None:
    sim = ReceiverSim()
    sim.queue_frame(F1)
    sim.data_to_send(0.0)
    sim.receive_data(b"\x00xyz\r\n", 1.0)
    assert drain(sim) == []
    sim.receive_data(ACK + ACK, 2.0)  # the second ACK finds nothing in flight
    assert drain(sim) == [Acked(F1, 1, 2.0)]


def test_computer_fail_after_max_attempts() -> None:
    sim = ReceiverSim(ack_timeout=4.0, max_attempts=4, heartbeat_interval=30.0)
    sim.queue_frame(F1)
    t = 0.0
    for _ in range(4):
        assert sim.data_to_send(t) == F1
        t += 4.0
        sim.handle_timer(t)
    events = drain(sim)
    assert events[:4] == [TimedOut(F1, n) for n in range(1, 5)]
    assert events[4] == ComputerFail(F1, 4, 16.0 + 30.0)
    assert GaveUp is ComputerFail
    assert sim.failed
    assert sim.queued == 1  # kept buffered
    assert sim.data_to_send(20.0) == b""  # nothing until the retry time
    assert sim.get_timer() == 46.0


def test_naks_count_toward_max_attempts() -> None:
    sim = ReceiverSim(max_attempts=3)
    sim.queue_frame(F1)
    for _ in range(3):
        assert sim.data_to_send(1.0) == F1
        sim.receive_data(NAK, 1.0)
    events = drain(sim)
    assert events == [Nakked(F1, 1), Nakked(F1, 2), Nakked(F1, 3), ComputerFail(F1, 3, 31.0)]


def test_recovery_through_heartbeat() -> None:
    sim = ReceiverSim(ack_timeout=4.0, max_attempts=2, heartbeat_interval=30.0)
    sim.queue_frame(F1)
    sim.data_to_send(0.0)
    sim.handle_timer(4.0)
    sim.data_to_send(4.0)
    sim.handle_timer(8.0)
    assert isinstance(drain(sim)[-1], ComputerFail)
    # At retry time the receiver probes with a heartbeat, not the held frame.
    assert sim.data_to_send(38.0) == HB
    sim.handle_timer(42.0)  # probe unanswered: wait another interval, no new ComputerFail
    assert drain(sim) == [TimedOut(HB, 1)]
    assert sim.failed
    assert sim.data_to_send(50.0) == b""
    assert sim.data_to_send(72.0) == HB
    sim.receive_data(ACK, 72.5)
    assert drain(sim) == [Acked(HB, 1, 0.5)]
    assert not sim.failed
    # The held frame goes out next, its history kept.
    assert sim.data_to_send(72.5) == F1
    sim.receive_data(ACK, 73.0)
    assert drain(sim) == [Acked(F1, 3, 73.0)]


def test_retry_after_without_heartbeats_retries_the_frame() -> None:
    sim = ReceiverSim(ack_timeout=1.0, max_attempts=1, heartbeat_interval=None, retry_after=10.0)
    sim.queue_frame(F1)
    sim.data_to_send(0.0)
    sim.handle_timer(1.0)
    assert drain(sim) == [TimedOut(F1, 1), ComputerFail(F1, 1, 11.0)]
    assert sim.data_to_send(10.9) == b""
    assert sim.data_to_send(11.0) == F1
    sim.receive_data(NAK, 11.5)  # probe refused: back to waiting
    assert drain(sim) == [Nakked(F1, 2)]
    assert sim.get_timer() == 21.5
    assert sim.data_to_send(21.5) == F1
    sim.receive_data(ACK, 22.0)
    assert drain(sim) == [Acked(F1, 3, 22.0)]
    assert sim.queued == 0


def test_heartbeat_when_idle() -> None:
    sim = ReceiverSim(heartbeat_interval=30.0)
    assert sim.get_timer() is None  # no clock seen yet
    assert sim.data_to_send(100.0) == b""  # starts the idle timer
    assert sim.get_timer() == 130.0
    assert sim.data_to_send(129.9) == b""
    assert sim.data_to_send(130.0) == HB
    sim.receive_data(ACK, 130.2)
    assert drain(sim) == [Acked(HB, 1, pytest.approx(0.2))]
    assert sim.get_timer() == 160.0


def test_traffic_restarts_the_heartbeat_timer() -> None:
    sim = ReceiverSim(heartbeat_interval=30.0)
    sim.data_to_send(0.0)
    sim.queue_frame(F1)
    assert sim.data_to_send(20.0) == F1
    sim.receive_data(ACK, 20.1)
    assert sim.data_to_send(30.0) == b""  # 10 s after traffic, not 30
    assert sim.get_timer() == 50.0
    assert sim.data_to_send(50.0) == HB


def test_heartbeat_needs_an_ack_and_is_retried() -> None:
    sim = ReceiverSim(ack_timeout=4.0, heartbeat_interval=30.0)
    sim.data_to_send(0.0)
    assert sim.data_to_send(30.0) == HB
    sim.receive_data(NAK, 30.1)
    assert sim.data_to_send(30.1) == HB
    sim.handle_timer(34.1)
    assert drain(sim) == [Nakked(HB, 1), TimedOut(HB, 2)]
    assert sim.data_to_send(34.1) == HB


def test_no_heartbeats_when_disabled() -> None:
    sim = ReceiverSim(heartbeat_interval=None)
    assert sim.data_to_send(0.0) == b""
    assert sim.data_to_send(1000.0) == b""
    assert sim.get_timer() is None


def test_custom_heartbeat_frame() -> None:
    hb3 = format_heartbeat("01", "000")
    sim = ReceiverSim(heartbeat_interval=5.0, heartbeat=hb3)
    sim.data_to_send(0.0)
    assert sim.data_to_send(5.0) == hb3


def test_arguments_checked() -> None:
    with pytest.raises(ValueError):
        ReceiverSim(ack_timeout=0)
    with pytest.raises(ValueError):
        ReceiverSim(max_attempts=0)
    with pytest.raises(ValueError):
        ReceiverSim(heartbeat_interval=-1)
    with pytest.raises(ValueError):
        ReceiverSim().queue_frame(b"")


# -- the simulator against the parser: a box that stores, then ACKs --------------------------


class FakeBox:
    """The automation side: parse, ACK good frames, NAK damaged ones, drop some ACKs."""

    def __init__(self, drop_acks: int = 0) -> None:
        self.parser = SurGardParser()
        self.signals: list[Signal] = []
        self.heartbeats = 0
        self.drop_acks = drop_acks

    def receive(self, data: bytes) -> bytes:
        self.parser.receive_data(data)
        out = b""
        while (ev := self.parser.next_event()) is not None:
            if isinstance(ev, Signal):
                self.signals.append(ev)
            elif isinstance(ev, Heartbeat):
                self.heartbeats += 1
            if self.drop_acks:
                self.drop_acks -= 1
                continue
            out += ACK
        return out


def run(sim: ReceiverSim, box: FakeBox, until: float, step: float = 0.5) -> None:
    t = 0.0
    while t <= until:
        sim.handle_timer(t)
        data = sim.data_to_send(t)
        if data:
            answer = box.receive(data)
            if answer:
                sim.receive_data(answer, t + 0.1)
        t += step


def test_link_delivers_everything_in_order() -> None:
    sim = ReceiverSim(heartbeat_interval=10.0)
    box = FakeBox()
    frames = [F1, F2, format_signal("01", "2", ContactIdMessage("1234", "18", 1, "100"))]
    for f in frames:
        sim.queue_frame(f)
    run(sim, box, until=35.0)
    assert [s.raw for s in box.signals] == frames
    assert box.heartbeats >= 2
    assert sim.queued == 0


def test_lost_ack_causes_an_exact_repeat() -> None:
    sim = ReceiverSim(ack_timeout=4.0, heartbeat_interval=None)
    box = FakeBox(drop_acks=1)
    sim.queue_frame(F1)
    run(sim, box, until=10.0)
    assert [s.raw for s in box.signals] == [F1, F1]  # the parser delivers both
    events = drain(sim)
    assert TimedOut(F1, 1) in events
    assert isinstance(events[-1], Acked) and events[-1].attempts == 2
