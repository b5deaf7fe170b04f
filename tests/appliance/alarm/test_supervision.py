from appliance.alarm.supervision import LinkSupervisor


def test_two_missed_heartbeats_open_then_any_frame_closes() -> None:
    sup = LinkSupervisor(interval=30, now=0)
    assert sup.poll(59.9) is None
    change = sup.poll(60)
    assert change is not None and not change.up and change.silent_for == 60
    assert sup.poll(90) is None  # raised once, not every poll
    back = sup.frame_seen(100)
    assert back is not None and back.up and back.silent_for == 100
    assert sup.frame_seen(101) is None


def test_frames_keep_the_link_up() -> None:
    sup = LinkSupervisor(interval=10, now=0)
    for t in range(5, 200, 15):
        assert sup.frame_seen(t) is None
        assert sup.poll(t + 1) is None
    assert sup.get_timer() == 185 + 20
