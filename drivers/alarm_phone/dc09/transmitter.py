"""The premises end of SIA DC-09 (our simulator and communicator): build messages, read replies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.dc09.crypto import (
    PadSource,
    decrypt_hex,
    encrypt_hex,
    parse_key,
    random_pad,
    split_pad,
)
from drivers.alarm_phone.dc09.framing import (
    CrcForm,
    FrameSplitter,
    Junk,
    LocalProtocolError,
    RemoteProtocolError,
    build_frame,
    parse_timestamp,
)
from drivers.alarm_phone.dc09.message import build_body, clear_tail, parse_content
from drivers.alarm_phone.dc09.payload import format_adm_cid

__all__ = ["Dc09Response", "Dc09Transmitter"]

_HEXID: Final = re.compile(r"[0-9A-F]{1,6}")
_ACCOUNT: Final = re.compile(r"[0-9A-F]{3,16}")
# lenient: pysiaalarm sends "NAK"0000L0R0A0[] (R and L swapped), the spec "NAK"0000R0L0A0[]
_REPLY_RE: Final = re.compile(
    r'"(?P<star>\*?)(?P<id>ACK|NAK|DUH|RSP)"(?P<seq>[0-9A-Za-z]{4})(?P<mid>[^\[]*)\['
)
_MID_RE: Final = re.compile(r"(?:R(?P<r>[0-9A-F]+))|(?:L(?P<l>[0-9A-F]+))|(?:[#A](?P<a>[0-9A-Z]+))")


@dataclass(frozen=True)
class Dc09Response:
    """The receiver's answer: kind ACK/NAK/DUH/RSP; receiver_time from its timestamp."""

    raw: bytes
    kind: str
    seq: str
    encrypted: bool
    receiver: str | None
    prefix: str | None
    account: str | None
    receiver_time: float | None

    def matches(self, seq: str) -> bool:
        """True if this reply answers the message numbered seq (a NAK answers any)."""
        return self.kind == "NAK" or self.seq == seq


class Dc09Transmitter:
    """Builds DC-09 messages for one account (plain or encrypted, hex or binary CRC)."""

    def __init__(
        self,
        account: str,
        key: str | bytes | None = None,
        receiver: str | None = None,
        prefix: str = "0",
        crc_form: CrcForm = "hex",
        pad_source: PadSource = random_pad,
        first_seq: int = 1,
    ) -> None:
        account = account.upper()
        if not _ACCOUNT.fullmatch(account):
            raise LocalProtocolError(f"account {account!r} must be 3-16 hex digits")
        for name, value in (("receiver", receiver), ("prefix", prefix)):
            if value is not None and not _HEXID.fullmatch(value.upper()):
                raise LocalProtocolError(f"{name} {value!r} must be 1-6 hex digits")
        if crc_form not in ("hex", "binary"):
            raise LocalProtocolError(f"crc_form must be 'hex' or 'binary', got {crc_form!r}")
        self.account = account
        self.key = parse_key(key, account) if key is not None else None
        self.receiver = receiver.upper() if receiver is not None else None
        self.prefix = prefix.upper() if prefix is not None else None
        self.crc_form: CrcForm = crc_form
        self._pad = pad_source
        self._seq = first_seq

    @property
    def encrypted(self) -> bool:
        return self.key is not None

    def _next_seq(self) -> str:
        seq = self._seq
        self._seq = seq % 9999 + 1  # 0001..9999, then 0001 again
        return f"{seq:04d}"

    def build(
        self,
        id_token: str,
        data: str,
        now: float | None,
        extended: tuple[str, ...] = (),
        seq: str | None = None,
    ) -> bytes:
        """A frame for any id token; now None leaves out the timestamp (clear text only)."""
        if any(c in data for c in "[]") or any(c in x for x in extended for c in "[]"):
            raise LocalProtocolError("data and extended data must not contain '[' or ']'")
        seq = seq if seq is not None else self._next_seq()
        if self.key is not None:
            if now is None:
                raise LocalProtocolError("an encrypted message needs a timestamp (now)")
            tail = encrypt_hex(self.key, clear_tail(data, extended, now), self._pad)
            token = "*" + id_token
        else:
            tail = clear_tail(data, extended, now)
            token = id_token
        body = build_body(token, seq, self.receiver, self.prefix, self.account, tail)
        return build_frame(body.encode("ascii"), self.crc_form)

    def adm_cid(self, msg: ContactIdMessage, now: float | None, extended: tuple[str, ...] = ()) -> bytes:
        return self.build("ADM-CID", format_adm_cid(msg), now, extended)

    def sia_dcs(self, block: str, now: float | None, extended: tuple[str, ...] = ()) -> bytes:
        """block is the DC-03 data without account, e.g. 'Nri1/BA201'."""
        return self.build("SIA-DCS", f"#{self.account}|{block}", now, extended)

    def null(self, now: float | None) -> bytes:
        """A NULL link test (sequence 0000 as panels send it)."""
        return self.build("NULL", "", now, seq="0000")

    @staticmethod
    def seq_of(frame: bytes) -> str:
        """The sequence number of a frame we built."""
        i = frame.index(b'"', frame.index(b'"') + 1)
        return frame[i + 1 : i + 5].decode("ascii")

    def parse_response(self, data: bytes) -> Dc09Response:
        """Decode the receiver's ACK/NAK/DUH/RSP frame; RemoteProtocolError if it is not one."""
        splitter = FrameSplitter()
        splitter.feed(data)
        item = splitter.next_item(final=True)
        if item is None or isinstance(item, Junk):
            raise RemoteProtocolError(f"not a DC-09 frame: {data!r}")
        if not item.crc_ok:
            raise RemoteProtocolError(f"CRC mismatch in reply {data!r}")
        text = item.body.decode("latin-1")
        m = _REPLY_RE.match(text)
        if not m:
            raise RemoteProtocolError(f"not an ACK/NAK/DUH/RSP: {text!r}")
        fields: dict[str, str] = {}
        for part in _MID_RE.finditer(m["mid"].upper()):
            for name in ("r", "l", "a"):
                if part[name]:
                    fields.setdefault(name, part[name])
        rest = text[m.end() :]
        encrypted = bool(m["star"])
        if encrypted:
            if self.key is None:
                raise RemoteProtocolError("encrypted reply but we have no key")
            try:
                plain = split_pad(decrypt_hex(self.key, rest)).decode("ascii")
            except (RemoteProtocolError, UnicodeDecodeError) as exc:
                raise RemoteProtocolError(f"cannot decrypt reply: {exc}") from None
            content = parse_content(plain, anywhere=True)
            if content is None or not content.timestamp:
                raise RemoteProtocolError("encrypted reply without data end and timestamp")
        else:
            content = parse_content(rest)
            if content is None:
                raise RemoteProtocolError(f"malformed reply data {rest!r}")
        when = parse_timestamp(content.timestamp) if content.timestamp else None
        return Dc09Response(
            raw=item.raw,
            kind=m["id"],
            seq=m["seq"],
            encrypted=encrypted,
            receiver=fields.get("r"),
            prefix=fields.get("l"),
            account=fields.get("a"),
            receiver_time=when,
        )
