"""The B-channel pool (channels.py): picking order, reservations, glare take-over, maintenance."""

from __future__ import annotations

import pytest

from drivers.e1_card.q931.channels import ChannelPool, ChannelState
from drivers.e1_card.roles import B_TIMESLOTS


def test_picking_order_differs_by_side() -> None:
    assert ChannelPool(B_TIMESLOTS, highest_first=True).pick() == 31
    assert ChannelPool(B_TIMESLOTS, highest_first=False).pick() == 1
    pool = ChannelPool((1, 2, 3), highest_first=False)
    assert pool.pick(preferred=2) == 2
    pool.reserve(2, call_id=7)
    assert pool.pick(preferred=2) == 1
    with pytest.raises(ValueError):
        ChannelPool((), highest_first=False)


def test_reserve_take_release() -> None:
    pool = ChannelPool((1, 2), highest_first=False)
    pool.reserve(1, call_id=10)
    assert pool.state(1) is ChannelState.RESERVED and pool.owner(1) == 10 and pool.idle() == (2,)
    with pytest.raises(ValueError):
        pool.reserve(1, call_id=11)  # not idle
    with pytest.raises(ValueError):
        pool.reserve(16, call_id=11)  # not a B-channel here
    assert pool.take(1, 10) is None
    assert pool.state(1) is ChannelState.IN_USE
    with pytest.raises(ValueError):
        pool.take(1, 11)  # in use by another call
    assert pool.release(10) == 1 and pool.idle() == (1, 2) and pool.channel_of(10) is None
    assert pool.release(10) is None


def test_a_yielding_reservation_is_taken_over_and_the_loser_is_named() -> None:
    pool = ChannelPool((1, 2), highest_first=False)
    pool.reserve(1, call_id=5, yields=True)  # our SETUP, not yet answered
    assert pool.can_take(1)
    assert pool.take(1, 6) == 5  # the network's call wins
    assert pool.owner(1) == 6 and pool.channel_of(5) is None
    assert not pool.can_take(1)
    pool.reserve(2, call_id=7)  # a reservation that does not yield
    assert not pool.can_take(2)


def test_moving_a_call_frees_its_old_channel() -> None:
    pool = ChannelPool((1, 2), highest_first=False)
    pool.reserve(1, call_id=5, yields=True)
    pool.take(2, 5)  # the network named another channel
    assert pool.channel_of(5) == 2 and pool.idle() == (1,)


def test_maintenance() -> None:
    pool = ChannelPool((1, 2), highest_first=False)
    pool.take(1, 3)
    assert pool.set_maintenance(1) == 3
    assert pool.state(1) is ChannelState.MAINTENANCE and pool.channel_of(3) is None
    assert not pool.can_take(1) and pool.pick(preferred=1) == 2
    with pytest.raises(ValueError):
        pool.take(1, 4)
    pool.set_idle(1)
    assert pool.idle() == (1, 2)
