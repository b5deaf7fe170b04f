"""SIA DC-09 (alarm event reporting over IP), sans-I/O: receiver and transmitter cores.

framing: CRC-16/ARC and LF...CR frames (hex or binary CRC); crypto: AES-CBC with pad;
message: header and content; payload: ADM-CID and SIA-DCS data; receiver and
transmitter: the two ends.
"""

from drivers.alarm_phone.dc09.framing import (
    Dc09Error,
    LocalProtocolError,
    RemoteProtocolError,
    build_frame,
    crc16,
    format_timestamp,
    parse_timestamp,
)
from drivers.alarm_phone.dc09.payload import SiaEvent, format_adm_cid, parse_adm_cid, parse_sia_dcs
from drivers.alarm_phone.dc09.receiver import Dc09Event, Dc09Message, Dc09Receiver, Poll, Rejected
from drivers.alarm_phone.dc09.transmitter import Dc09Response, Dc09Transmitter

__all__ = [
    "Dc09Error",
    "Dc09Event",
    "Dc09Message",
    "Dc09Receiver",
    "Dc09Response",
    "Dc09Transmitter",
    "LocalProtocolError",
    "Poll",
    "Rejected",
    "RemoteProtocolError",
    "SiaEvent",
    "build_frame",
    "crc16",
    "format_adm_cid",
    "format_timestamp",
    "parse_adm_cid",
    "parse_sia_dcs",
    "parse_timestamp",
]
