"""Contact ID (Ademco / SIA DC-05) message codec and event-code table.

A Contact ID report travels over the phone line as 16 DTMF digits::

    ACCT MT Q XYZ GG CCC S
    5678 18 1 101 00 001 1

ACCT account (4 digits), MT message type (18 preferred, 98 optional; both mean
Contact ID, 98 is *not* a restore), Q event qualifier (1 new event/opening,
3 restore/closing, 6 previously reported condition still present), XYZ event code,
GG group/partition, CCC zone or user number, S checksum. Every field is "hex" in
the DC-05 sense: digits 0-9 and B-F; A is not used on the wire.

Pure functions and frozen dataclasses only: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "EVENT_CODES",
    "LIFE_SAFETY_CODES",
    "ContactIdError",
    "ContactIdMessage",
    "EventCode",
    "checksum_digit",
    "decode_dtmf",
    "encode_dtmf",
]


class ContactIdError(ValueError):
    """A Contact ID message or field is malformed (bad digit, length or checksum)."""


# Digits a DC-05 message may carry on the DTMF line ('A' has no tone assigned).
_DTMF_DIGITS: Final = frozenset("0123456789BCDEF")
# Digits accepted in a decoded message's fields. Receivers that relay Contact ID
# received over IP may pass an 'A' through; we keep it rather than lose the signal,
# but encode_dtmf() refuses it because it cannot be sent as a tone.
_FIELD_DIGITS: Final = _DTMF_DIGITS | {"A"}

MESSAGE_TYPES: Final = frozenset({"18", "98"})
QUALIFIER_NAMES: Final[dict[int, str]] = {1: "new", 3: "restore", 6: "previous"}

CATEGORIES: Final = frozenset(
    {
        "medical",
        "emergency",
        "fire",
        "panic",
        "environment",
        "trouble",
        "power",
        "communication",
        "supervision",
        "tamper",
        "maintenance",
        "test",
        "audio",
        "other",
    }
)


@dataclass(frozen=True)
class EventCode:
    """One entry of the Contact ID event-code table."""

    code: str
    zh: str
    en: str
    category: str


@dataclass(frozen=True)
class ContactIdMessage:
    """A decoded Contact ID report (without its checksum, which only guards the DTMF leg)."""

    account: str
    message_type: str
    qualifier: int
    event_code: str
    partition: str = "00"
    zone: str = "000"

    def __post_init__(self) -> None:
        # 4 digits is DC-05; up to 10 for receivers' extended (10-digit) account output.
        _check_field("account", self.account, 4, 10)
        if self.message_type not in MESSAGE_TYPES:
            raise ContactIdError(f"message type must be 18 or 98, got {self.message_type!r}")
        if self.qualifier not in QUALIFIER_NAMES:
            raise ContactIdError(f"qualifier must be 1, 3 or 6, got {self.qualifier!r}")
        _check_field("event code", self.event_code, 3, 3)
        _check_field("partition", self.partition, 2, 2)
        _check_field("zone", self.zone, 3, 3)

    @property
    def qualifier_name(self) -> str:
        """'new', 'restore' or 'previous' (the API's and the hub's spelling)."""
        return QUALIFIER_NAMES[self.qualifier]

    @property
    def event(self) -> EventCode | None:
        """The table entry for event_code; None for a code we have no name for."""
        return EVENT_CODES.get(self.event_code)

    @property
    def is_life_safety(self) -> bool:
        """True for the codes that must open an emergency case (LIFE_SAFETY_CODES)."""
        return self.event_code in LIFE_SAFETY_CODES


def _check_field(name: str, value: object, min_len: int, max_len: int) -> None:
    if not isinstance(value, str):
        raise ContactIdError(f"{name} must be a string, got {type(value).__name__}")
    if not min_len <= len(value) <= max_len:
        want = str(min_len) if min_len == max_len else f"{min_len}..{max_len}"
        raise ContactIdError(f"{name} must be {want} digits, got {value!r}")
    bad = [c for c in value if c not in _FIELD_DIGITS]
    if bad:
        raise ContactIdError(f"{name} {value!r} has invalid digit {bad[0]!r} (0-9, B-F)")


def _digit_value(c: str) -> int:
    # DC-05: '0' is worth 10 in the checksum (it is the tenth DTMF key); B-F are 11-15.
    return 10 if c == "0" else int(c, 16)


def checksum_digit(first15: str) -> str:
    """The checksum digit S for the first 15 digits ``ACCT MT Q XYZ GG CCC`` (spaces allowed).

    S is chosen so that the sum of all 16 digit values is a multiple of 15, with '0'
    valued 10 and B-F valued 11-15. S therefore lies in 1..15: a value of 10 is sent
    as '0' (the digit whose value is 10), and when the 15 digits already sum to a
    multiple of 15 the checksum is 15 and is sent as 'F' -- never 0, because '0'
    would add 10 (this is how SpanDSP's encoder and the DC-05 digit values agree).
    """
    digits = _compact(first15)
    if len(digits) != 15:
        raise ContactIdError(f"checksum needs 15 digits, got {len(digits)}: {first15!r}")
    for c in digits:
        if c not in _DTMF_DIGITS:
            raise ContactIdError(f"invalid Contact ID digit {c!r} in {first15!r}")
    value = 15 - sum(_digit_value(c) for c in digits) % 15  # 1..15
    return "0" if value == 10 else format(value, "X")


def decode_dtmf(s: str) -> ContactIdMessage:
    """Decode the 16-digit DTMF form (spaces optional) and verify its checksum."""
    digits = _compact(s)
    if len(digits) != 16:
        raise ContactIdError(f"Contact ID needs 16 digits, got {len(digits)}: {s!r}")
    for c in digits:
        if c not in _DTMF_DIGITS:
            raise ContactIdError(f"invalid Contact ID digit {c!r} in {s!r} (0-9, B-F)")
    total = sum(_digit_value(c) for c in digits)
    if total % 15:
        raise ContactIdError(
            f"checksum error in {s!r}: digit sum {total} is not a multiple of 15 "
            f"(expected checksum {checksum_digit(digits[:15])!r})"
        )
    qualifier = digits[6]
    if qualifier not in "136":
        raise ContactIdError(f"qualifier must be 1, 3 or 6, got {qualifier!r} in {s!r}")
    return ContactIdMessage(
        account=digits[0:4],
        message_type=digits[4:6],
        qualifier=int(qualifier),
        event_code=digits[7:10],
        partition=digits[10:12],
        zone=digits[12:15],
    )


def encode_dtmf(msg: ContactIdMessage) -> str:
    """The 16 digits (no spaces) a communicator dials for msg, checksum included."""
    if len(msg.account) != 4:
        raise ContactIdError(f"the DTMF form carries a 4-digit account, got {msg.account!r}")
    first15 = (
        f"{msg.account}{msg.message_type}{msg.qualifier}{msg.event_code}{msg.partition}{msg.zone}"
    )
    if "A" in first15:
        raise ContactIdError(f"digit 'A' cannot be sent as DTMF in Contact ID: {first15!r}")
    return first15 + checksum_digit(first15)


def _compact(s: str) -> str:
    if not isinstance(s, str):
        raise ContactIdError(f"expected a string, got {type(s).__name__}")
    return "".join(s.split()).upper()


# Event codes of DC-05 (classes 1xx alarms, 2xx supervisory, 3xx troubles,
# 4xx open/close/access, 5xx disables, 6xx tests/misc, 9xx downloads), names as used
# by the Chinese alarm industry. Categories drive the console's filters and icons.
_TABLE: Final[tuple[tuple[str, str, str, str], ...]] = (
    # 10x medical
    ("100", "medical", "医疗求助", "Medical"),
    ("101", "emergency", "紧急求助", "Personal emergency"),
    ("102", "emergency", "未按时报平安", "Fail to report in"),
    # 11x fire
    ("110", "fire", "火警", "Fire"),
    ("111", "fire", "烟雾报警", "Smoke"),
    ("112", "fire", "燃烧报警", "Combustion"),
    ("113", "fire", "水流报警", "Water flow"),
    ("114", "fire", "温感报警", "Heat"),
    ("115", "fire", "手动火警按钮", "Pull station"),
    ("116", "fire", "风管报警", "Duct"),
    ("117", "fire", "火焰报警", "Flame"),
    ("118", "fire", "火警预警", "Near alarm"),
    # 12x panic
    ("120", "panic", "紧急报警", "Panic"),
    ("121", "panic", "胁迫报警", "Duress"),
    ("122", "panic", "无声紧急报警", "Silent panic"),
    ("123", "panic", "有声紧急报警", "Audible panic"),
    ("124", "panic", "胁迫开门", "Duress - access granted"),
    ("125", "panic", "胁迫出门", "Duress - egress granted"),
    # 13x burglary
    ("130", "other", "盗警", "Burglary"),
    ("131", "other", "周界报警", "Perimeter"),
    ("132", "other", "内部报警", "Interior"),
    ("133", "other", "24小时防区报警", "24 hour (safe)"),
    ("134", "other", "出入口防区报警", "Entry/exit"),
    ("135", "other", "日夜防区报警", "Day/night"),
    ("136", "other", "室外防区报警", "Outdoor"),
    ("137", "tamper", "防拆报警", "Tamper"),
    ("138", "other", "入侵预警", "Near alarm"),
    ("139", "other", "入侵确认", "Intrusion verifier"),
    # 14x general alarm
    ("140", "other", "通用报警", "General alarm"),
    ("141", "trouble", "总线回路开路", "Polling loop open"),
    ("142", "trouble", "总线回路短路", "Polling loop short"),
    ("143", "trouble", "扩展模块故障", "Expansion module failure"),
    ("144", "tamper", "探测器防拆", "Sensor tamper"),
    ("145", "tamper", "扩展模块防拆", "Expansion module tamper"),
    ("146", "other", "无声盗警", "Silent burglary"),
    ("147", "supervision", "探测器监视失败", "Sensor supervision failure"),
    # 15x/16x 24-hour non-burglary
    ("150", "environment", "24小时非盗警", "24 hour non-burglary"),
    ("151", "environment", "燃气泄漏", "Gas detected"),
    ("152", "environment", "冷藏异常", "Refrigeration"),
    ("153", "environment", "供暖中断", "Loss of heat"),
    ("154", "environment", "漏水报警", "Water leakage"),
    ("155", "other", "防护箔断裂", "Foil break"),
    ("156", "trouble", "日间故障", "Day trouble"),
    ("157", "environment", "瓶装燃气不足", "Low bottled gas level"),
    ("158", "environment", "高温报警", "High temperature"),
    ("159", "environment", "低温报警", "Low temperature"),
    ("161", "environment", "通风中断", "Loss of air flow"),
    ("162", "environment", "一氧化碳报警", "Carbon monoxide detected"),
    ("163", "environment", "液位报警", "Tank level"),
    # 20x fire supervisory
    ("200", "supervision", "消防监视", "Fire supervisory"),
    ("201", "supervision", "水压过低", "Low water pressure"),
    ("202", "supervision", "二氧化碳不足", "Low CO2"),
    ("203", "supervision", "阀门传感器", "Gate valve sensor"),
    ("204", "supervision", "水位过低", "Low water level"),
    ("205", "supervision", "水泵启动", "Pump activated"),
    ("206", "supervision", "水泵故障", "Pump failure"),
    # 30x system troubles
    ("300", "trouble", "系统故障", "System trouble"),
    ("301", "power", "交流电断电", "AC loss"),
    ("302", "power", "主机电池电压低", "Low system battery"),
    ("303", "trouble", "RAM校验错误", "RAM checksum bad"),
    ("304", "trouble", "ROM校验错误", "ROM checksum bad"),
    ("305", "other", "系统复位", "System reset"),
    ("306", "maintenance", "主机编程已更改", "Panel programming changed"),
    ("307", "trouble", "自检失败", "Self-test failure"),
    ("308", "trouble", "系统关机", "System shutdown"),
    ("309", "power", "电池测试失败", "Battery test failure"),
    ("310", "trouble", "接地故障", "Ground fault"),
    ("311", "power", "电池缺失或失效", "Battery missing/dead"),
    ("312", "power", "电源过流", "Power supply overcurrent"),
    ("313", "maintenance", "工程师复位", "Engineer reset"),
    # 32x sounder/relay troubles
    ("320", "trouble", "警号/继电器故障", "Sounder/relay"),
    ("321", "trouble", "警铃1故障", "Bell 1"),
    ("322", "trouble", "警铃2故障", "Bell 2"),
    ("323", "trouble", "报警继电器故障", "Alarm relay"),
    ("324", "trouble", "故障继电器故障", "Trouble relay"),
    ("325", "trouble", "反极继电器故障", "Reversing relay"),
    ("326", "trouble", "通知电路3故障", "Notification appliance circuit #3"),
    ("327", "trouble", "通知电路4故障", "Notification appliance circuit #4"),
    # 33x/34x system peripheral troubles
    ("330", "trouble", "系统外设故障", "System peripheral trouble"),
    ("331", "trouble", "总线回路开路", "Polling loop open"),
    ("332", "trouble", "总线回路短路", "Polling loop short"),
    ("333", "trouble", "扩展模块故障", "Expansion module failure"),
    ("334", "trouble", "中继器故障", "Repeater failure"),
    ("335", "trouble", "本地打印机缺纸", "Local printer out of paper"),
    ("336", "trouble", "本地打印机故障", "Local printer failure"),
    ("337", "power", "扩展模块直流断电", "Expansion module DC loss"),
    ("338", "power", "扩展模块电池电压低", "Expansion module low battery"),
    ("339", "trouble", "扩展模块复位", "Expansion module reset"),
    ("341", "tamper", "扩展模块防拆", "Expansion module tamper"),
    ("342", "power", "扩展模块交流断电", "Expansion module AC loss"),
    ("343", "trouble", "扩展模块自检失败", "Expansion module self-test fail"),
    ("344", "trouble", "无线接收干扰", "RF receiver jam detect"),
    # 35x communication troubles
    ("350", "communication", "通讯故障", "Communication trouble"),
    ("351", "communication", "电话线1故障", "Telco 1 fault"),
    ("352", "communication", "电话线2故障", "Telco 2 fault"),
    ("353", "communication", "远程无线发射机故障", "Long range radio transmitter fault"),
    ("354", "communication", "事件上报失败", "Failure to communicate event"),
    ("355", "communication", "无线通道监视丢失", "Loss of radio supervision"),
    ("356", "communication", "中心轮询丢失", "Loss of central polling"),
    ("357", "communication", "远程无线驻波比异常", "Long range radio VSWR problem"),
    # 37x protection loop troubles
    ("370", "trouble", "防区回路故障", "Protection loop"),
    ("371", "trouble", "防区回路开路", "Protection loop open"),
    ("372", "trouble", "防区回路短路", "Protection loop short"),
    ("373", "trouble", "火警回路故障", "Fire trouble"),
    ("374", "other", "退出延时错误报警", "Exit error alarm (zone)"),
    ("375", "trouble", "紧急防区故障", "Panic zone trouble"),
    ("376", "trouble", "劫盗防区故障", "Hold-up zone trouble"),
    ("377", "trouble", "防区频繁触发", "Swinger trouble"),
    ("378", "trouble", "交叉防区故障", "Cross-zone trouble"),
    # 38x/39x sensor troubles
    ("380", "trouble", "探测器故障", "Sensor trouble"),
    ("381", "supervision", "无线探测器失联", "Loss of supervision - RF"),
    ("382", "supervision", "总线探测器失联", "Loss of supervision - RPM"),
    ("383", "tamper", "探测器防拆", "Sensor tamper"),
    ("384", "power", "无线设备电池电压低", "RF low battery"),
    ("385", "maintenance", "烟感灵敏度过高", "Smoke detector high sensitivity"),
    ("386", "maintenance", "烟感灵敏度过低", "Smoke detector low sensitivity"),
    ("387", "maintenance", "入侵探测器灵敏度过高", "Intrusion detector high sensitivity"),
    ("388", "maintenance", "入侵探测器灵敏度过低", "Intrusion detector low sensitivity"),
    ("389", "trouble", "探测器自检失败", "Sensor self-test failure"),
    ("391", "trouble", "探测器监测故障", "Sensor watch trouble"),
    ("392", "maintenance", "漂移补偿错误", "Drift compensation error"),
    ("393", "maintenance", "探测器需维护清洁", "Maintenance alert"),
    # 40x open/close
    ("400", "other", "布撤防", "Open/close"),
    ("401", "other", "用户布撤防", "Open/close by user"),
    ("402", "other", "分区布撤防", "Group open/close"),
    ("403", "other", "自动布撤防", "Automatic open/close"),
    ("404", "other", "迟到布撤防", "Late to open/close"),
    ("405", "other", "推迟布撤防", "Deferred open/close"),
    ("406", "other", "报警取消", "Cancel"),
    ("407", "other", "远程布撤防", "Remote arm/disarm"),
    ("408", "other", "快速布防", "Quick arm"),
    ("409", "other", "钥匙开关布撤防", "Keyswitch open/close"),
    # 41x remote access
    ("411", "other", "回拨请求", "Callback request made"),
    ("412", "maintenance", "远程下载成功", "Successful download/access"),
    ("413", "maintenance", "远程访问失败", "Unsuccessful access"),
    ("414", "other", "收到系统关闭命令", "System shutdown command received"),
    ("415", "other", "收到拨号器关闭命令", "Dialer shutdown command received"),
    ("416", "maintenance", "远程上传成功", "Successful upload"),
    # 42x/43x access control
    ("421", "other", "门禁拒绝进入", "Access denied"),
    ("422", "other", "用户门禁通行", "Access report by user"),
    ("423", "other", "强行闯入", "Forced access"),
    ("424", "other", "拒绝出门", "Egress denied"),
    ("425", "other", "允许出门", "Egress granted"),
    ("426", "other", "门被撑开", "Access door propped open"),
    ("427", "trouble", "门状态监测故障", "Access point door status monitor trouble"),
    ("428", "trouble", "出门按钮故障", "Access point request to exit trouble"),
    ("429", "maintenance", "门禁进入编程", "Access program mode entry"),
    ("430", "maintenance", "门禁退出编程", "Access program mode exit"),
    ("431", "other", "门禁威胁等级变更", "Access threat level change"),
    ("432", "trouble", "门禁继电器故障", "Access relay/trigger fail"),
    ("433", "other", "出门按钮旁路", "Access RTE shunt"),
    ("434", "other", "门磁旁路", "Access DSM shunt"),
    # 44x/45x/46x arming exceptions
    ("441", "other", "留守布防", "Armed STAY"),
    ("442", "other", "钥匙开关留守布防", "Keyswitch armed STAY"),
    ("450", "other", "异常布撤防", "Exception open/close"),
    ("451", "other", "提前布撤防", "Early open/close"),
    ("452", "other", "延迟布撤防", "Late open/close"),
    ("453", "other", "未按时撤防", "Failed to open"),
    ("454", "other", "未按时布防", "Failed to close"),
    ("455", "other", "自动布防失败", "Auto-arm failed"),
    ("456", "other", "部分布防", "Partial arm"),
    ("457", "other", "退出错误（用户）", "Exit error (user)"),
    ("458", "other", "用户在场", "User on premises"),
    ("459", "other", "刚刚布防", "Recent close"),
    ("461", "tamper", "密码错误", "Wrong code entry"),
    ("462", "other", "密码正确", "Legal code entry"),
    ("463", "other", "报警后重新布防", "Re-arm after alarm"),
    ("464", "other", "自动布防延时", "Auto-arm time extended"),
    ("465", "other", "紧急报警复位", "Panic alarm reset"),
    ("466", "maintenance", "维修人员进出", "Service on/off premises"),
    # 5xx disables and bypasses
    ("501", "other", "读卡器禁用", "Access reader disable"),
    ("520", "other", "警号/继电器禁用", "Sounder/relay disable"),
    ("521", "other", "警铃1禁用", "Bell 1 disable"),
    ("522", "other", "警铃2禁用", "Bell 2 disable"),
    ("523", "other", "报警继电器禁用", "Alarm relay disable"),
    ("524", "other", "故障继电器禁用", "Trouble relay disable"),
    ("525", "other", "反极继电器禁用", "Reversing relay disable"),
    ("526", "other", "通知电路3禁用", "Notification appliance circuit #3 disable"),
    ("527", "other", "通知电路4禁用", "Notification appliance circuit #4 disable"),
    ("531", "maintenance", "模块已添加", "Module added"),
    ("532", "maintenance", "模块已移除", "Module removed"),
    ("551", "communication", "拨号器禁用", "Dialer disabled"),
    ("552", "communication", "无线发射机禁用", "Radio transmitter disabled"),
    ("553", "communication", "远程上下载禁用", "Remote upload/download disabled"),
    ("570", "other", "防区旁路", "Zone/sensor bypass"),
    ("571", "other", "火警防区旁路", "Fire bypass"),
    ("572", "other", "24小时防区旁路", "24 hour zone bypass"),
    ("573", "other", "盗警防区旁路", "Burglary bypass"),
    ("574", "other", "分区旁路", "Group bypass"),
    ("575", "other", "频繁触发防区旁路", "Swinger bypass"),
    ("576", "other", "门禁防区旁路", "Access zone shunt"),
    ("577", "other", "门禁点旁路", "Access point bypass"),
    # 6xx tests and miscellaneous
    ("601", "test", "手动测试", "Manual trigger test report"),
    ("602", "test", "定时测试", "Periodic test report"),
    ("603", "test", "无线定时报告", "Periodic RF transmission"),
    ("604", "test", "消防测试", "Fire test"),
    ("605", "other", "状态报告待发", "Status report to follow"),
    ("606", "audio", "语音监听待接入", "Listen-in to follow"),
    ("607", "test", "步测模式", "Walk test mode"),
    ("608", "test", "定时测试（系统有故障）", "Periodic test - system trouble present"),
    ("609", "other", "视频发射启动", "Video transmitter active"),
    ("611", "test", "测试点正常", "Point tested OK"),
    ("612", "test", "测试点未测试", "Point not tested"),
    ("613", "test", "入侵防区步测", "Intrusion zone walk tested"),
    ("614", "test", "火警防区步测", "Fire zone walk tested"),
    ("615", "test", "紧急防区步测", "Panic zone walk tested"),
    ("616", "maintenance", "维修请求", "Service request"),
    ("621", "maintenance", "事件记录复位", "Event log reset"),
    ("622", "maintenance", "事件记录已满50%", "Event log 50% full"),
    ("623", "maintenance", "事件记录已满90%", "Event log 90% full"),
    ("624", "maintenance", "事件记录溢出", "Event log overflow"),
    ("625", "maintenance", "时间日期重设", "Time/date reset"),
    ("626", "trouble", "时间日期不准", "Time/date inaccurate"),
    ("627", "maintenance", "进入编程模式", "Program mode entry"),
    ("628", "maintenance", "退出编程模式", "Program mode exit"),
    ("629", "maintenance", "32小时事件记录标记", "32 hour event log marker"),
    ("630", "other", "计划变更", "Schedule change"),
    ("631", "other", "例外计划变更", "Exception schedule change"),
    ("632", "other", "门禁计划变更", "Access schedule change"),
    ("641", "supervision", "老人看护异常", "Senior watch trouble"),
    ("642", "supervision", "儿童到家监护", "Latch-key supervision"),
    ("654", "supervision", "系统长时间无活动", "System inactivity"),
    # 9xx downloads
    ("900", "maintenance", "远程下载中止", "Download abort"),
    ("901", "maintenance", "远程下载开始/结束", "Download start/end"),
    ("902", "maintenance", "远程下载中断", "Download interrupted"),
    ("910", "other", "带旁路自动布防", "Auto-close with bypass"),
    ("911", "other", "旁路布防", "Bypass closing"),
    ("999", "maintenance", "32小时未读取事件记录", "32 hour no read of event log"),
)

EVENT_CODES: Final[dict[str, EventCode]] = {
    code: EventCode(code=code, zh=zh, en=en, category=category) for code, category, zh, en in _TABLE
}

# The signals that open an emergency case straight away (an elder's life may depend
# on them); everything else is a trouble, a test or information.
LIFE_SAFETY_CODES: Final = frozenset(
    {"100", "101", "102", "110", "111", "120", "121", "151", "162"}
)
