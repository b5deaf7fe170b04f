"""The data inside DC-09's brackets: ADM-CID (Contact ID) and SIA-DCS (DC-03 blocks).

ADM-CID: ``#acct|QXYZ GG CCC`` (e.g. ``#1234|1401 01 015``); SIA-DCS: ``#acct|Nri1/BA201``
and variants seen from real panels (``3044|NOP1``, ``|Nri1/CL501``, ``Nri0000/LR``,
``Nri1CL0^TEXT^``). The ``#acct|`` part is optional and its '#' is sometimes left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from drivers.alarm_phone.contact_id import ContactIdError, ContactIdMessage

__all__ = ["SiaEvent", "format_adm_cid", "parse_adm_cid", "parse_sia_dcs", "split_account"]

_ACCT_RE: Final = re.compile(r"#?(?P<acct>[0-9A-Za-z]{3,16})?\|")
_ADM_RE: Final = re.compile(r"(?P<q>[0-9A-F])(?P<xyz>[0-9A-F]{3}) ?(?P<gg>[0-9A-F]{2}) ?(?P<ccc>[0-9A-F]{3})")
_FIELD_RE: Final = re.compile(r"(?P<name>ti|id|ri|pi)(?P<value>\d{1,2}:\d{2}(?::\d{2})?|\d+)/?")
_CODE_RE: Final = re.compile(r"(?P<code>[A-Z]{2})(?P<zone>[0-9]*)(?P<rest>.*)", re.S)


@dataclass(frozen=True)
class SiaEvent:
    """The first event of a SIA DC-03 data block: e.g. Nri1/BA201 -> code BA, ri 1, zone 201."""

    code: str
    zone: str = ""
    ri: str = ""
    ti: str = ""
    id: str = ""
    text: str = ""
    new: bool = True
    block: str = ""


def split_account(data: str) -> tuple[str | None, str]:
    """('1234', rest) for '#1234|rest' or '1234|rest'; (None, rest) for '|rest'; (None, data) else."""
    m = _ACCT_RE.match(data)
    if not m:
        return None, data
    acct = m["acct"]
    return (acct.upper() if acct else None), data[m.end() :]


def parse_adm_cid(data: str, account: str | None) -> ContactIdMessage | None:
    """The Contact ID message in an ADM-CID block, or None if it is not one."""
    acct, rest = split_account(data)
    m = _ADM_RE.fullmatch(rest.strip().upper())
    acct = (acct or account or "").upper()
    if not m or m["q"] not in "136":
        return None
    if 0 < len(acct) < 4:
        acct = acct.zfill(4)  # DC-09 allows 3-digit accounts; Contact ID needs 4
    try:
        return ContactIdMessage(
            account=acct,
            message_type="18",
            qualifier=int(m["q"]),
            event_code=m["xyz"],
            partition=m["gg"],
            zone=m["ccc"],
        )
    except ContactIdError:
        return None


def format_adm_cid(msg: ContactIdMessage) -> str:
    """The ADM-CID data block (without brackets) for msg: '#1234|1401 01 015'."""
    return f"#{msg.account}|{msg.qualifier}{msg.event_code} {msg.partition} {msg.zone}"


def parse_sia_dcs(data: str) -> SiaEvent | None:
    """The first event of a SIA-DCS block, or None when no 2-letter event code is found."""
    _, block = split_account(data)
    if block[:1] in ("N", "O"):  # DC-03 new/old data flag
        event = _parse_event(block[1:], block, new=block[0] == "N")
        if event is not None:
            return event
    return _parse_event(block, block, new=True)


def _parse_event(rest: str, block: str, new: bool) -> SiaEvent | None:
    fields: dict[str, str] = {}
    while m := _FIELD_RE.match(rest):
        fields.setdefault(m["name"], m["value"])
        rest = rest[m.end() :]
    m = _CODE_RE.fullmatch(rest)
    if not m:
        return None
    text = m["rest"].strip()
    if text.startswith("^"):
        text = text.strip("^").strip()
    return SiaEvent(
        code=m["code"],
        zone=m["zone"],
        ri=fields.get("ri", ""),
        ti=fields.get("ti", ""),
        id=fields.get("id", ""),
        text=text,
        new=new,
        block=block,
    )
