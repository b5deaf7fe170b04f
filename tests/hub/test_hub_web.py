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
