"""Chinese labels the pages show (the JS in static/alarms.js mirrors them)."""

from __future__ import annotations

from typing import Any

QUALIFIER_ZH = {"new": "新事件", "restore": "恢复", "previous": "先前报告"}
BOX_STATE_ZH = {"online": "在线", "offline": "离线", "unknown": "未知"}
UNRECOGNISED_ZH = "无法识别的信号"
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
