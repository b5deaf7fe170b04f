"""Q.931 / Q.850 cause values and locations, with English and Chinese names.

The Chinese terms follow the wording Chinese telecom documents use for Q.850 causes
(e.g. 16 正常呼叫清除, 34 无可用电路/信道), so an operator reading the console log sees
the terms the carrier's engineers use on the phone.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

Lang = Literal["zh", "en"]

# value -> (English, 中文); Q.850 Table 1 (coding standard CCITT)
CAUSES: dict[int, tuple[str, str]] = {
    1: ("Unallocated (unassigned) number", "未分配的号码（空号）"),
    2: ("No route to specified transit network", "无至指定转接网的路由"),
    3: ("No route to destination", "无至目的地的路由"),
    4: ("Send special information tone", "发送专用信息音"),
    5: ("Misdialled trunk prefix", "误拨中继前缀"),
    6: ("Channel unacceptable", "信道不可接受"),
    7: ("Call awarded and being delivered in an established channel", "呼叫已授予并在已建立的信道中递交"),
    8: ("Preemption", "预占"),
    9: ("Preemption - circuit reserved for reuse", "预占（电路保留待用）"),
    16: ("Normal call clearing", "正常呼叫清除"),
    17: ("User busy", "用户忙"),
    18: ("No user responding", "无用户响应"),
    19: ("No answer from user (user alerted)", "无应答（已振铃）"),
    20: ("Subscriber absent", "用户不在"),
    21: ("Call rejected", "呼叫被拒绝"),
    22: ("Number changed", "号码已改变"),
    23: ("Redirection to new destination", "重定向到新目的地"),
    25: ("Exchange routing error", "交换机路由错误"),
    26: ("Non-selected user clearing", "非选中用户清除"),
    27: ("Destination out of order", "目的地故障"),
    28: ("Invalid number format (address incomplete)", "无效号码格式（地址不全）"),
    29: ("Facility rejected", "设施被拒绝"),
    30: ("Response to STATUS ENQUIRY", "对状态询问的响应"),
    31: ("Normal, unspecified", "正常（未指定）"),
    34: ("No circuit/channel available", "无可用电路/信道"),
    38: ("Network out of order", "网络故障"),
    39: ("Permanent frame mode connection out of service", "永久帧方式连接退出服务"),
    40: ("Permanent frame mode connection operational", "永久帧方式连接工作正常"),
    41: ("Temporary failure", "临时故障"),
    42: ("Switching equipment congestion", "交换设备拥塞"),
    43: ("Access information discarded", "接入信息被丢弃"),
    44: ("Requested circuit/channel not available", "请求的电路/信道不可用"),
    46: ("Precedence call blocked", "优先呼叫被阻塞"),
    47: ("Resource unavailable, unspecified", "资源不可用（未指定）"),
    49: ("Quality of service not available", "服务质量不可用"),
    50: ("Requested facility not subscribed", "未申请所请求的设施"),
    53: ("Outgoing calls barred within CUG", "闭合用户群内禁止呼出"),
    55: ("Incoming calls barred within CUG", "闭合用户群内禁止呼入"),
    57: ("Bearer capability not authorized", "承载能力未授权"),
    58: ("Bearer capability not presently available", "承载能力目前不可用"),
    62: ("Inconsistency in designated outgoing access information and subscriber class",
         "指定的出局接入信息与用户类别不一致"),
    63: ("Service or option not available, unspecified", "业务或选项不可用（未指定）"),
    65: ("Bearer capability not implemented", "承载能力未实现"),
    66: ("Channel type not implemented", "信道类型未实现"),
    69: ("Requested facility not implemented", "所请求的设施未实现"),
    70: ("Only restricted digital information bearer capability is available",
         "仅有受限数字信息承载能力可用"),
    79: ("Service or option not implemented, unspecified", "业务或选项未实现（未指定）"),
    81: ("Invalid call reference value", "无效的呼叫参考值"),
    82: ("Identified channel does not exist", "所标识的信道不存在"),
    83: ("A suspended call exists, but this call identity does not", "存在挂起的呼叫，但无此呼叫标识"),
    84: ("Call identity in use", "呼叫标识正在使用"),
    85: ("No call suspended", "无挂起的呼叫"),
    86: ("Call having the requested call identity has been cleared", "具有所请求呼叫标识的呼叫已被清除"),
    87: ("User not member of CUG", "用户不是闭合用户群成员"),
    88: ("Incompatible destination", "目的地不兼容"),
    90: ("Non-existent CUG", "闭合用户群不存在"),
    91: ("Invalid transit network selection", "无效的转接网选择"),
    95: ("Invalid message, unspecified", "无效消息（未指定）"),
    96: ("Mandatory information element is missing", "必选信息单元丢失"),
    97: ("Message type non-existent or not implemented", "消息类型不存在或未实现"),
    98: ("Message not compatible with call state or message type non-existent or not implemented",
         "消息与呼叫状态不兼容，或消息类型不存在或未实现"),
    99: ("Information element / parameter non-existent or not implemented", "信息单元/参数不存在或未实现"),
    100: ("Invalid information element contents", "无效的信息单元内容"),
    101: ("Message not compatible with call state", "消息与呼叫状态不兼容"),
    102: ("Recovery on timer expiry", "定时器超时恢复"),
    103: ("Parameter non-existent or not implemented, passed on", "参数不存在或未实现，已传递"),
    110: ("Message with unrecognized parameter, discarded", "含有未识别参数的消息被丢弃"),
    111: ("Protocol error, unspecified", "协议错误（未指定）"),
    127: ("Interworking, unspecified", "互通（未指定）"),
}

UNALLOCATED_NUMBER = 1
NO_ROUTE_TO_DESTINATION = 3
CHANNEL_UNACCEPTABLE = 6
NORMAL_CLEARING = 16
USER_BUSY = 17
NO_USER_RESPONDING = 18
NO_ANSWER = 19
CALL_REJECTED = 21
NUMBER_CHANGED = 22
DESTINATION_OUT_OF_ORDER = 27
INVALID_NUMBER_FORMAT = 28
RESPONSE_TO_STATUS_ENQUIRY = 30
NORMAL_UNSPECIFIED = 31
NO_CIRCUIT_AVAILABLE = 34
NETWORK_OUT_OF_ORDER = 38
TEMPORARY_FAILURE = 41
SWITCHING_EQUIPMENT_CONGESTION = 42
REQUESTED_CHANNEL_NOT_AVAILABLE = 44
RESOURCE_UNAVAILABLE = 47
BEARER_CAPABILITY_NOT_IMPLEMENTED = 65
INVALID_CALL_REFERENCE = 81
IDENTIFIED_CHANNEL_DOES_NOT_EXIST = 82
INCOMPATIBLE_DESTINATION = 88
INVALID_MESSAGE = 95
MANDATORY_IE_MISSING = 96
MESSAGE_TYPE_NONEXISTENT = 97
MESSAGE_NOT_COMPATIBLE_WITH_STATE_OR_NONEXISTENT = 98
IE_NONEXISTENT = 99
INVALID_IE_CONTENTS = 100
MESSAGE_NOT_COMPATIBLE_WITH_STATE = 101
RECOVERY_ON_TIMER_EXPIRY = 102
PROTOCOL_ERROR = 111
INTERWORKING = 127


class Location(IntEnum):
    """Where a cause or progress indication was generated (Q.931 4.5.12, octet 3)."""

    USER = 0
    PRIVATE_LOCAL = 1  # private network serving the local user
    PUBLIC_LOCAL = 2  # public network serving the local user
    TRANSIT = 3
    PUBLIC_REMOTE = 4  # public network serving the remote user
    PRIVATE_REMOTE = 5  # private network serving the remote user
    INTERNATIONAL = 7
    BEYOND_INTERWORKING = 10  # network beyond the interworking point


LOCATIONS: dict[int, tuple[str, str]] = {
    Location.USER: ("User", "用户"),
    Location.PRIVATE_LOCAL: ("Private network serving the local user", "服务本地用户的专用网"),
    Location.PUBLIC_LOCAL: ("Public network serving the local user", "服务本地用户的公用网"),
    Location.TRANSIT: ("Transit network", "转接网"),
    Location.PUBLIC_REMOTE: ("Public network serving the remote user", "服务远端用户的公用网"),
    Location.PRIVATE_REMOTE: ("Private network serving the remote user", "服务远端用户的专用网"),
    Location.INTERNATIONAL: ("International network", "国际网"),
    Location.BEYOND_INTERWORKING: ("Network beyond interworking point", "互通点以外的网络"),
}


def _pick(names: tuple[str, str], lang: Lang) -> str:
    if lang == "zh":
        return names[1]
    if lang == "en":
        return names[0]
    raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}")


def cause_text(value: int, lang: Lang = "zh") -> str:
    """The name of a cause value; unknown values read e.g. "未知原因值 #13"."""
    names = CAUSES.get(value)
    if names is None:
        return _pick((f"Unknown cause #{value}", f"未知原因值 #{value}"), lang)
    return _pick(names, lang)


def location_text(value: int, lang: Lang = "zh") -> str:
    """The name of a location value (cause / progress indicator octet 3)."""
    names = LOCATIONS.get(value)
    if names is None:
        return _pick((f"Unknown location {value}", f"未知位置 {value}"), lang)
    return _pick(names, lang)
