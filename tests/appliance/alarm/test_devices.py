from appliance.alarm.devices import FAIL_TO_CHECK_IN, DeviceSupervisor, priority

DAY = 86400.0


def test_overdue_test_opens_once_and_next_test_closes() -> None:
    sup = DeviceSupervisor(interval=DAY, grace=3600)
    [noop_close] = sup.on_signal("1001", "602", 1, now=0)  # the store ignores it: none open
    assert (noop_close.type, noop_close.open) == (FAIL_TO_CHECK_IN, False)
    assert sup.get_timer() == DAY + 3600
    assert sup.poll(DAY + 3600) == []  # exactly at the limit: not yet
    [opened] = sup.poll(DAY + 3601)
    assert (opened.type, opened.account, opened.open) == (FAIL_TO_CHECK_IN, "1001", True)
    assert sup.poll(DAY * 3) == []  # raised once
    [closed] = sup.on_signal("1001", "603", 1, now=DAY * 3)
    assert (closed.type, closed.open) == (FAIL_TO_CHECK_IN, False)
    assert sup.get_timer() == DAY * 4 + 3600


def test_devices_never_tested_are_not_supervised() -> None:
    sup = DeviceSupervisor(interval=DAY, grace=0)
    sup.on_signal("2002", "101", 1, now=0)
    assert sup.poll(DAY * 10) == [] and sup.get_timer() is None


def test_conditions_open_on_new_and_close_on_restore() -> None:
    sup = DeviceSupervisor(interval=DAY, grace=0)
    [ac] = sup.on_signal("1001", "301", 1, now=5)
    assert (ac.type, ac.open) == ("ac_loss", True)
    [ac_back] = sup.on_signal("1001", "301", 3, now=50)
    assert (ac_back.type, ac_back.open) == ("ac_loss", False)
    assert [c.type for c in sup.on_signal("1001", "384", 1, now=60)] == ["low_battery"]
    assert [c.type for c in sup.on_signal("1001", "383", 1, now=60)] == ["tamper"]
    assert sup.on_signal("1001", "301", 6, now=70) == []  # "previously reported": no change


def test_restored_state_after_restart() -> None:
    sup = DeviceSupervisor(interval=DAY, grace=0)
    sup.restore("1001", last_test_at=0, overdue=True)
    assert sup.poll(DAY * 5) == []  # already open in box.db
    assert [c.open for c in sup.on_signal("1001", "602", 1, now=DAY * 5)] == [False]


def test_priority_orders_life_safety_first() -> None:
    assert priority("101", 1, True) == 0
    assert priority("100", 1, True) == 0
    assert priority("101", 3, True) == 3  # a restore is routine
    assert priority(None, None, False) == 1  # unrecognised: look soon
    assert priority("301", 1, True) == 2
    assert priority("602", 1, True) == 3
    assert sorted(["602", "301", "101"], key=lambda c: priority(c, 1, True)) == ["101", "301", "602"]


def test_a_trouble_that_could_not_be_recorded_is_raised_again_at_next_poll() -> None:
    sup = DeviceSupervisor(interval=100, grace=0)
    sup.on_signal("1001", "602", 1, now=0)
    sup.on_signal("1002", "602", 1, now=50)
    [opened] = sup.poll(101)
    assert opened.account == "1001"
    sup.not_recorded(opened)  # the commit failed
    [again] = sup.poll(102)
    assert (again.account, again.open) == ("1001", True)


def test_deadline_cache_follows_tests_and_later_devices() -> None:
    sup = DeviceSupervisor(interval=100, grace=10)
    sup.on_signal("A", "602", 1, now=0)
    sup.on_signal("B", "602", 1, now=20)
    sup.on_signal("A", "603", 1, now=50)  # A's deadline moves past B's
    assert sup.poll(111) == []  # A's old deadline: nothing due any more
    assert [c.account for c in sup.poll(131)] == ["B"]
    assert [c.account for c in sup.poll(161)] == ["A"]
    assert sup.poll(10_000) == []
