from __future__ import annotations

from appliance.cases.hlc import Hlc, receive, tick


def test_tick_follows_the_wall_clock_and_counts_within_a_millisecond() -> None:
    assert tick(None, 1000) == Hlc(1000, 0)
    assert tick(Hlc(1000, 0), 1000) == Hlc(1000, 1)
    assert tick(Hlc(1000, 1), 1005) == Hlc(1005, 0)


def test_tick_never_goes_back_when_the_clock_steps_back() -> None:
    stamp = tick(Hlc(5000, 3), 4000)  # NTP moved the clock back a second
    assert stamp == Hlc(5000, 4) and stamp > Hlc(5000, 3)


def test_receive_orders_after_both_the_local_and_the_remote_event() -> None:
    local, remote = Hlc(1000, 2), Hlc(1200, 7)   # the hub's clock is ahead
    merged = receive(local, remote, 1100)
    assert merged == Hlc(1200, 8) and merged > local and merged > remote
    assert receive(Hlc(1200, 3), Hlc(1200, 7), 900) == Hlc(1200, 8)
    assert receive(Hlc(1300, 3), Hlc(1200, 7), 900) == Hlc(1300, 4)
    assert receive(None, Hlc(10, 0), 2000) == Hlc(2000, 0)


def test_hlc_text_form() -> None:
    assert str(Hlc(1733040000123, 2)) == "1733040000123:2"
