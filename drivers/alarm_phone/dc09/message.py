"""Parsing and building the CRC-covered body of a DC-09 frame (shared by both ends)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from drivers.alarm_phone.dc09.framing import format_timestamp

__all__ = ["Content", "Header", "build_body", "parse_content", "parse_header"]

# "id" seq [Rrcvr] [Lpref] [#acct] [   -- R/L are 1-6 hex digits, the account 1-16 characters
_HEADER_RE: Final = re.compile(
    r'"(?P<star>\*?)(?P<id>[^"\[\]*]{1,16})"(?P<seq>[0-9A-Za-z]{4})'
    r"(?:R(?P<rcvr>[0-9A-Fa-f]{1,6}))?(?:L(?P<pref>[0-9A-Fa-f]{1,6}))?"
    r"(?:#(?P<acct>[0-9A-Za-z]{1,16}))?\["
)
# data ] [x...]* [_timestamp]
_CONTENT_RE: Final = re.compile(
    r"(?P<data>[^\]]*)\](?P<ext>(?:\[[^\]]*\])*)(?P<ts>_\d\d:\d\d:\d\d,\d\d-\d\d-\d{4})?"
)
_EXT_RE: Final = re.compile(r"\[([^\]]*)\]")


@dataclass(frozen=True)
class Header:
    """The clear-text part of a body up to and including the '[' that opens the data."""

    id_token: str
    encrypted: bool
    seq: str
    receiver: str | None
    prefix: str | None
    account: str | None
    end: int  # index just after '['


def parse_header(text: str) -> Header | None:
    m = _HEADER_RE.match(text)
    if not m:
        return None
    return Header(
        id_token=m["id"],
        encrypted=bool(m["star"]),
        seq=m["seq"],
        receiver=m["rcvr"].upper() if m["rcvr"] else None,
        prefix=m["pref"].upper() if m["pref"] else None,
        account=m["acct"].upper() if m["acct"] else None,
        end=m.end(),
    )


@dataclass(frozen=True)
class Content:
    """data, extended-data blocks (without brackets) and the timestamp text ('' if none)."""

    data: str
    extended: tuple[str, ...]
    timestamp: str


def parse_content(text: str, anywhere: bool = False) -> Content | None:
    """Split 'data][x...]_ts'. anywhere: the data may be preceded by pad (no '|' sent)."""
    if anywhere:
        i = text.find("]")
        if i < 0:
            return None
        text = text[i:]  # the data is unknowable without the separator: keep none of it
    m = _CONTENT_RE.fullmatch(text)
    if not m:
        return None
    return Content(
        data=m["data"],
        extended=tuple(_EXT_RE.findall(m["ext"])),
        timestamp=m["ts"] or "",
    )


def build_body(
    id_token: str,
    seq: str,
    receiver: str | None,
    prefix: str | None,
    account: str | None,
    tail: str,
) -> str:
    """'"id"seq[Rr][Lp][#acct][' + tail (tail: clear 'data]...' or hex ciphertext)."""
    parts = [f'"{id_token}"{seq}']
    if receiver is not None:
        parts.append(f"R{receiver}")
    if prefix is not None:
        parts.append(f"L{prefix}")
    if account is not None:
        parts.append(f"#{account}")
    parts.append("[")
    parts.append(tail)
    return "".join(parts)


def clear_tail(data: str, extended: tuple[str, ...], when: float | None) -> str:
    """'data][x1][x2]_ts' (no timestamp when when is None)."""
    ext = "".join(f"[{x}]" for x in extended)
    return f"{data}]{ext}{format_timestamp(when) if when is not None else ''}"
