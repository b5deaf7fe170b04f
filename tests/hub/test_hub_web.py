"""The zh-CN web pages: login, logout, the alarm list."""

from __future__ import annotations

from hub_testkit import alarm_record, csrf_of


def test_root_redirects_to_alarms_and_alarms_to_login(client):
    assert client.get("/").location.endswith("/alarms")
    response = client.get("/alarms")
    assert response.status_code == 302
    assert "/login?next=/alarms" in response.location


def test_login_page_is_chinese(client):
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert "用户名" in page and "密码" in page


def test_wrong_password_shows_a_chinese_error(client, login):
    login()
    client.get("/logout")
    response = client.post("/login", data={"username": "wang", "password": "wrong",
                                           "csrf_token": csrf_of(client)})
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/alarms").status_code == 302


def test_login_without_csrf_token_is_refused(client, login):
    login()
    client.get("/logout")
    response = client.post("/login", data={"username": "wang", "password": "密码-123"})
    assert response.status_code == 400


def test_login_redirects_only_to_local_next(client, login):
    login()
    client.get("/logout")
    response = client.post("/login?next=https://evil.example/", data={
        "username": "wang", "password": "密码-123", "csrf_token": csrf_of(client)})
    assert response.location == "/alarms"


def test_alarms_page_shows_rows_in_chinese(client, login, ingest):
    ingest([
        alarm_record(1, received_at="2026-11-22T05:05:01+00:00"),
        alarm_record(2, qualifier="restore", life_safety=False, zone="003"),
        alarm_record(3, recognised=False, account=None, event_code=None, qualifier=None,
                     zone=None, partition=None, event_zh=None, event_en=None,
                     life_safety=None, note="checksum mismatch <b>"),
    ])
    assert login().status_code == 302
    page = client.get("/alarms").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    for header in ("接收时间", "社区设备", "用户账号", "事件", "类别", "防区", "分区", "工单"):
        assert f"<th>{header}</th>" in page
    assert "2026-11-22 13:05:01" in page  # Beijing time, no offset shown
    assert "101 紧急求助" in page
    assert "新事件" in page and "恢复" in page
    assert 'class="life-safety' in page
    assert "无法识别的信号" in page
    assert "checksum mismatch &lt;b&gt;" in page  # autoescaped
    assert "<b>" not in page
    assert "alarms.js" in page
    assert client.get("/static/web/alarms.js").status_code == 200


def test_alarms_page_filters_by_box(client, login, ingest):
    ingest([alarm_record(1, account="1111")], box_id="box-001")
    ingest([alarm_record(1, signal_id="c" * 32, account="2222")], box_id="box-002")
    login()
    page = client.get("/alarms?box_id=box-002").get_data(as_text=True)
    assert "2222" in page and "1111" not in page
    assert 'data-box-id="box-002"' in page


def test_session_reads_the_api_and_logout_ends_it(client, login, ingest):
    ingest([alarm_record(1)])
    login()
    assert client.get("/api/v1/alarms").status_code == 200
    client.post("/logout")
    assert client.get("/api/v1/alarms").status_code == 401
    assert client.get("/alarms").status_code == 302


def test_live_wallboard_shows_each_boxs_figures_in_chinese(client, login, engine):
    from test_hub_live import keep, live_payload

    from hub.ingest import core, store
    from hub.timeutil import utc_now

    keep(engine, live_payload("box-001", at="2026-12-01T14:00:02+08:00", calls_waiting=3, emergency_waiting=1,
                              longest_wait_s=47.6, agents_by_state={"ready": 2, "busy": 1, "not_ready": 1},
                              trunks_up=1, trunks_total=2))
    keep(engine, live_payload("box-002"))
    with engine.begin() as conn:
        store.apply_status(conn, core.UpdateStatus("box-002", "offline", utc_now(), retained=False))
        store.apply_status(conn, core.UpdateStatus("box-003", "online", utc_now(), retained=False))
    assert client.get("/live").status_code == 302  # login first
    login()
    page = client.get("/live").get_data(as_text=True)
    assert "实时看板" in page and 'http-equiv="refresh"' in page
    for header in ("社区设备", "排队", "紧急排队", "最长等待", "示闲", "通话中", "示忙", "中继"):
        assert f"<th>{header}</th>" in page
    first = page[page.index('data-box-id="box-001"'):page.index('data-box-id="box-002"')]
    assert "life-safety" in first and "trunk-down" in first and "1/2 正常" in first
    assert ">3</td>" in first and "48 秒" in first and "14:00:02" in first
    second = page[page.index('data-box-id="box-002"'):page.index('data-box-id="box-003"')]
    assert "离线" in second and "数据过时" in second and "stale" in second
    assert "暂无实时数据" in page[page.index('data-box-id="box-003"'):]
    assert "实时看板</a>" in client.get("/alarms").get_data(as_text=True)


def test_calls_page_lists_call_records_in_chinese(client, login, ingest):
    from test_hub_calls_kpi import call_record

    ingest([call_record(1, "span1-1", queue="emergency", category="elder"),
            call_record(2, "span1-2", outcome="abandoned", agent=None, talk_s=None, queue_wait_s=31.26,
                        survey_label=None)], lane="bulk")
    assert client.get("/calls").status_code == 302
    login()
    page = client.get("/calls").get_data(as_text=True)
    for header in ("开始时间", "社区设备", "方向", "主叫", "来电类别", "排队等待", "坐席", "通话时长", "结果",
                   "满意度"):
        assert f"<th>{header}</th>" in page
    assert "2026-12-01 10:01:00" in page and "呼入" in page and "登记老人" in page
    assert "坐席接听" in page and "放弃" in page and "31.3 秒" in page and "40 秒" in page and "满意" in page
    assert 'class="life-safety"' in page  # the emergency queue's call
    assert "暂无通话记录" in client.get("/calls?box_id=box-009").get_data(as_text=True)


def test_reports_page_shows_a_days_figures(client, login, ingest):
    from test_hub_calls_kpi import as_records, box_events, task_records

    ingest(as_records(box_events()), lane="bulk")
    ingest(task_records(), box_id="box-002", lane="bulk")
    login()
    page = client.get("/reports?day=2026-12-01").get_data(as_text=True)
    for header in ("排队呼叫", "接通", "接通率", "平均应答", "平均处理", "放弃率", "短放弃", "最长等待"):
        assert f"<th>{header}</th>" in page
    total = page[page.index("<td>合计</td>"):page.index("</tr>", page.index("<td>合计</td>"))]
    assert ">4<" in total and ">2<" in total and "33.3%" in total
    assert "17.5 秒" in total and "95.0 秒" in total
    assert "队列 紧急" in page and "队列 综合" in page and "设备 box-001" in page
    assert "66.7%" in page  # the missed calls' response rate (box-002's three tasks, two closed)
    empty = client.get("/reports?day=2026-11-30").get_data(as_text=True)
    assert "—" in empty and ">0<" in empty
    assert client.get("/reports?day=not-a-day").status_code == 200  # today's, not an error
    assert "统计报表</a>" in client.get("/alarms").get_data(as_text=True)
