from appliance.alarm.storm import StormGrouper


def ac(account: str, qualifier: str = "new") -> dict:
    return {"event_code": "301", "qualifier": qualifier, "account": account, "life_safety": False}


def test_power_cut_gives_a_few_popups_then_one_updated_storm_notice() -> None:
    g = StormGrouper(threshold=5, window=120, update_every=10)
    topics = []
    for i in range(200):  # 200 homes lose power within 40 s
        topics += [n.topic for n in g.on_alarm(ac(f"{1000 + i}"), now=i * 0.2)]
    assert topics[:4] == ["alarm/new"] * 4
    assert topics[4] == "alarm/storm"
    assert topics.count("alarm/new") == 4
    assert 4 <= topics.count("alarm/storm") <= 6  # one notice, updated every 10 s
    last = g.on_alarm(ac("9999"), now=60)[0]
    assert last.topic == "alarm/storm" and last.payload["count"] == 201
    assert "大面积交流电断电" in last.payload["text_zh"]


def test_life_safety_and_other_codes_are_never_grouped() -> None:
    g = StormGrouper(threshold=2)
    for i in range(10):
        g.on_alarm(ac(str(i)), now=i)
    panic = {"event_code": "101", "qualifier": "new", "account": "1", "life_safety": True}
    assert [n.topic for n in g.on_alarm(panic, now=11)] == ["alarm/new"]


def test_scattered_ac_losses_stay_individual_and_storm_ends_when_quiet() -> None:
    g = StormGrouper(threshold=3, window=60, quiet_after=300)
    assert [n.topic for n in g.on_alarm(ac("1"), 0)] == ["alarm/new"]
    assert [n.topic for n in g.on_alarm(ac("2"), 100)] == ["alarm/new"]  # outside the window
    for t in (200, 201, 202):
        g.on_alarm(ac(str(t)), t)
    assert g.on_alarm(ac("x"), 203) == []  # inside the storm, between updates
    assert [n.topic for n in g.on_alarm(ac("late"), 1000)] == ["alarm/new"]  # storm over


def test_restores_form_their_own_storm() -> None:
    g = StormGrouper(threshold=2)
    g.on_alarm(ac("1", "restore"), 0)
    [notice] = g.on_alarm(ac("2", "restore"), 1)
    assert notice.topic == "alarm/storm" and "市电恢复" in notice.payload["text_zh"]
