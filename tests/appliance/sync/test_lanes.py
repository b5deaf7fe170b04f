from appliance.sync.lanes import LaneSender


def test_stop_and_wait_then_release_on_ack() -> None:
    s = LaneSender("alarm", ack_timeout=5, ack_timeout_max=60)
    assert s.can_send(0)
    s.sent(10, now=0)
    assert not s.can_send(1)  # one batch in flight
    assert s.get_timer() == 5
    assert s.acked(10) == 10
    assert s.can_send(1.1) and s.get_timer() is None


def test_timeout_resends_with_backoff_and_resets_on_ack() -> None:
    s = LaneSender("alarm", ack_timeout=2, ack_timeout_max=5)
    s.sent(3, now=0)
    assert not s.can_send(1.9) and s.can_send(2.0)
    s.sent(3, now=2)  # resend
    assert s.get_timer() == 6 and s.resends == 1
    s.sent(3, now=6)
    assert s.get_timer() == 11  # capped at 5
    assert s.acked(3) == 3
    s.sent(4, now=20)
    assert s.get_timer() == 22  # back to the initial timeout


def test_stale_and_partial_acks() -> None:
    s = LaneSender("bulk")
    s.sent(10, now=0)
    assert s.acked(10) == 10
    assert s.acked(10) is None  # repeated ack
    assert s.acked(7) is None  # ack of an older, redelivered batch
    s.sent(20, now=1)
    assert s.acked(15) == 15  # rows up to 15 may go, the batch is still in flight
    assert not s.can_send(1.5)
    assert s.acked(20) == 20 and s.can_send(1.5)


def test_reconnect_resends_at_once() -> None:
    s = LaneSender("alarm", ack_timeout=30)
    s.sent(5, now=0)
    s.disconnected()
    s.connected()
    assert s.can_send(0.1)
