"""Chinese labels the pages show (the JS in static/alarms.js mirrors them)."""

from __future__ import annotations

from typing import Any

QUALIFIER_ZH = {"new": "新事件", "restore": "恢复", "previous": "先前报告"}
BOX_STATE_ZH = {"online": "在线", "offline": "离线", "unknown": "未知"}
UNRECOGNISED_ZH = "无法识别的信号"
DIRECTION_ZH = {"in": "呼入", "out": "呼出", "internal": "内部"}
CATEGORY_ZH = {"elder": "登记老人", "vip": "VIP", "important": "重点关注", "blacklist": "黑名单",
               "unknown": "未登记"}
OUTCOME_ZH = {"agent": "坐席接听", "callback": "预约回电", "message": "留言", "ivr": "自助语音",
              "abandoned": "放弃", "no_answer": "无人接听", "refused": "拒接", "blacklisted": "黑名单拦截",
              "failed": "失败", "answered": "已接通", "busy": "占线", "cancelled": "取消"}
QUEUE_ZH = {"emergency": "紧急", "general": "综合"}


def label(table: dict[str, str], value: str | None) -> str:
    return table.get(value or "", value or "")


# The box's ACD states (appliance/acd/model.py AGENT_STATE_LABELS), in wallboard order.
AGENT_STATE_ZH = {"ready": "示闲", "ringing": "振铃", "busy": "通话中", "wrapup": "话后处理",
                  "not_ready": "示忙", "logged_out": "未登录"}


def event_label(row: dict[str, Any]) -> str:
    if not row.get("recognised"):
        return UNRECOGNISED_ZH
    code = row.get("event_code") or ""
    name = row.get("event_zh") or row.get("event_en") or ""
    return f"{code} {name}".strip()


def qualifier_label(value: str | None) -> str:
    return QUALIFIER_ZH.get(value or "", value or "")
