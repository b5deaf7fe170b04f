"""The central-station end of SIA DC-09: frames in, events and response bytes out.

Decisions (ANSI/SIA DC-09-2013 5.5.3 and its test annex C.2.3):

* bad CRC, bad length field, bytes that are no frame: **no response** (the annex checks
  that a CSR "does not respond" to a CRC error); reported as Rejected(response=None).
* timestamp outside the window, or an encrypted message without one: **NAK**, never
  encrypted, carrying the receiver's time (``"NAK"0000R0L0A0[]_HH:MM:SS,MM-DD-YYYY``)
  so that the panel can correct its clock.
* a correctly received message we cannot process: **DUH** -- encrypted for an account
  without a key, undecryptable, clear text where encryption is required or the account
  has a key, or an id token we do not know.
* everything else: **ACK** echoing seq, receiver, prefix and account, with our timestamp,
  encrypted ("*ACK") when the message was. A well-framed SIA-DCS/ADM-CID message whose
  data we cannot decode is still ACKed and reported (recognised=False): the box stores
  and raises it (CONTRACTS.md section 5), since a panel gives up after DUH/NAK.

The response travels inside each event: the shell sends it only after the event is
committed (alarmd's rule). Time is passed in as ``now`` (epoch seconds, UTC).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
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
    Frame,
    FrameSplitter,
    Junk,
    RemoteProtocolError,
    build_frame,
    format_timestamp,
    parse_timestamp,
)
from drivers.alarm_phone.dc09.message import Header, build_body, clear_tail, parse_content, parse_header
from drivers.alarm_phone.dc09.payload import SiaEvent, parse_adm_cid, parse_sia_dcs, split_account

__all__ = ["Dc09Event", "Dc09Message", "Dc09Receiver", "Poll", "Rejected"]

MESSAGE_TOKENS: Final = frozenset({"SIA-DCS", "ADM-CID", "NULL"})
RESPONSE_TOKENS: Final = frozenset({"ACK", "NAK", "DUH", "RSP"})
MAX_BUFFER: Final = 64 * 1024


@dataclass(frozen=True)
class Dc09Event:
    """Base of the receiver's events; raw is the exact frame (LF...CR) or the junk bytes."""

    raw: bytes


@dataclass(frozen=True)
class Dc09Message(Dc09Event):
    """An accepted SIA-DCS / ADM-CID message (or one with an unknown id token, DUHed)."""

    id_token: str
    seq: str
    receiver: str | None
    prefix: str | None
    account: str
    encrypted: bool
    timestamp: float | None
    payload: str
    contact_id: ContactIdMessage | None
    sia: SiaEvent | None
    recognised: bool
    response: bytes
    extended: tuple[str, ...] = ()
    crc_form: CrcForm = "hex"


@dataclass(frozen=True)
class Poll(Dc09Event):
    """A NULL (link test / supervision) message; ACK it."""

    account: str
    now: float
    encrypted: bool = False
    seq: str = "0000"
    response: bytes = b""


@dataclass(frozen=True)
class Rejected(Dc09Event):
    """A frame we do not accept; response is NAK/DUH bytes, or None for silence."""

    reason: str
    response: bytes | None = None


@dataclass
class _Supervision:
    intervals: dict[str, float]
    last: dict[str, float] = field(default_factory=dict)
    started: float | None = None


class Dc09Receiver:
    """Sans-I/O DC-09 receiver (CSR side) for UDP datagrams or one TCP connection.

    keys: account -> AES key (hex string, or raw bytes); window: the accepted range of
    (now - message timestamp) in seconds, i.e. by default a message may be up to 40 s
    old and up to 20 s ahead of our clock. null_intervals: account -> seconds within
    which some message (a NULL poll or any other) must arrive; see overdue().
    """

    def __init__(
        self,
        keys: dict[str, str | bytes] | None = None,
        require_encryption: bool = False,
        window: tuple[float, float] = (-20.0, +40.0),
        null_intervals: dict[str, float] | None = None,
        pad_source: PadSource = random_pad,
    ) -> None:
        self._keys = {acct.upper(): parse_key(k, acct) for acct, k in (keys or {}).items()}
        self.require_encryption = require_encryption
        lo, hi = window
        if lo > hi:
            raise ValueError(f"window {window!r}: lower bound above upper bound")
        self.window = (float(lo), float(hi))
        self._sup = _Supervision({a.upper(): float(s) for a, s in (null_intervals or {}).items()})
        self._pad = pad_source
        self._stream = FrameSplitter()
        self._events: deque[Dc09Event] = deque()

    # -- input -------------------------------------------------------------------------
    def receive_datagram(self, data: bytes, now: float) -> list[Dc09Event]:
        """All events of one UDP datagram (normally one frame)."""
        splitter = FrameSplitter()
        splitter.feed(data)
        out = []
        while (item := splitter.next_item(final=True)) is not None:
            out.append(self._handle(item, now))
        return out

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed TCP bytes; frames completed by them are handled with this now."""
        self._stream.feed(data)
        while (item := self._stream.next_item()) is not None:
            self._events.append(self._handle(item, now))
        if self._stream.pending() > MAX_BUFFER:  # cannot be a frame: 0LLL caps one at 4 KiB
            item = self._stream.next_item(final=True)
            if item is not None:
                self._events.append(self._handle(item, now))

    def next_event(self) -> Dc09Event | None:
        return self._events.popleft() if self._events else None

    # -- supervision -------------------------------------------------------------------
    def overdue(self, now: float) -> list[str]:
        """Accounts of null_intervals heard from (or, never heard, since the receiver first
        saw time) longer ago than their interval, sorted."""
        sup = self._sup
        if sup.started is None:
            sup.started = now
        return sorted(
            acct
            for acct, interval in sup.intervals.items()
            if now - sup.last.get(acct, sup.started) > interval
        )

    def last_heard(self, account: str) -> float | None:
        return self._sup.last.get(account.upper())

    def _heard(self, account: str, now: float) -> None:
        if self._sup.started is None:
            self._sup.started = now
        if account:
            self._sup.last[account] = now

    # -- the decision --------------------------------------------------------------------
    def _handle(self, item: Frame | Junk, now: float) -> Dc09Event:
        if self._sup.started is None:
            self._sup.started = now
        if isinstance(item, Junk):
            return Rejected(item.raw, item.reason)
        frame = item
        if not frame.crc_ok:
            return Rejected(frame.raw, f"CRC mismatch: sent {frame.crc_sent:04X}, computed over body differs")
        text = frame.body.decode("latin-1")
        hdr = parse_header(text)
        if hdr is None:
            return Rejected(frame.raw, "unparseable message header")
        if hdr.id_token in RESPONSE_TOKENS:
            return Rejected(frame.raw, f"{hdr.id_token} is a response, not a message")
        duh = self._respond("DUH", hdr, frame.crc_form, None, encrypt=False)
        rest = text[hdr.end :]
        if hdr.id_token not in MESSAGE_TOKENS:
            return Dc09Message(
                frame.raw,
                hdr.id_token,
                hdr.seq,
                hdr.receiver,
                hdr.prefix,
                hdr.account or "",
                hdr.encrypted,
                None,
                rest,
                None,
                None,
                False,
                duh,
                (),
                frame.crc_form,
            )
        account = hdr.account
        if hdr.encrypted:
            key = self._keys.get(account) if account else None
            if key is None:
                return Rejected(frame.raw, f"encrypted message from account {account!r} without a key", duh)
            try:
                plain = split_pad(decrypt_hex(key, rest)).decode("ascii")
            except (RemoteProtocolError, UnicodeDecodeError) as exc:
                return Rejected(frame.raw, f"cannot decrypt (wrong key?): {exc}", duh)
            content = parse_content(plain)
            if content is None:
                return Rejected(frame.raw, "decrypted data is malformed (wrong key?)", duh)
            if not content.timestamp:
                return Rejected(frame.raw, "encrypted message without timestamp", self._nak(frame, now))
        else:
            if account is not None and account in self._keys:
                return Rejected(frame.raw, f"clear-text message from account {account} that has a key", duh)
            if self.require_encryption:
                return Rejected(frame.raw, "clear-text message but encryption is required", duh)
            content = parse_content(rest)
        stamp = None
        if content is not None and content.timestamp:
            stamp = parse_timestamp(content.timestamp)
            if stamp is None or not self.window[0] <= now - stamp <= self.window[1]:
                return Rejected(
                    frame.raw,
                    f"timestamp {content.timestamp[1:]} outside the window {self.window} of "
                    f"{format_timestamp(now)[1:]}",
                    self._nak(frame, now),
                )
        data = content.data if content is not None else rest
        payload_acct, _ = split_account(data)
        acct = account or payload_acct or ""
        ack = self._respond("ACK", hdr, frame.crc_form, now, encrypt=hdr.encrypted, account=acct)
        self._heard(acct, now)
        if hdr.id_token == "NULL":
            return Poll(frame.raw, acct, now, hdr.encrypted, hdr.seq, ack)
        cid = parse_adm_cid(data, acct) if hdr.id_token == "ADM-CID" else None
        sia = parse_sia_dcs(data) if hdr.id_token == "SIA-DCS" else None
        return Dc09Message(
            raw=frame.raw,
            id_token=hdr.id_token,
            seq=hdr.seq,
            receiver=hdr.receiver,
            prefix=hdr.prefix,
            account=acct,
            encrypted=hdr.encrypted,
            timestamp=stamp,
            payload=data,
            contact_id=cid,
            sia=sia,
            recognised=cid is not None or sia is not None,
            response=ack,
            extended=content.extended if content is not None else (),
            crc_form=frame.crc_form,
        )

    def _respond(
        self,
        token: str,
        hdr: Header,
        form: CrcForm,
        now: float | None,
        encrypt: bool,
        account: str | None = None,
    ) -> bytes:
        acct = hdr.account if hdr.account is not None else account or None
        if encrypt and acct is not None and acct in self._keys:
            assert now is not None
            tail = encrypt_hex(self._keys[acct], clear_tail("", (), now), self._pad)
            body = build_body("*" + token, hdr.seq, hdr.receiver, hdr.prefix, acct, tail)
        else:
            body = build_body(token, hdr.seq, hdr.receiver, hdr.prefix, acct, clear_tail("", (), now))
        return build_frame(body.encode("ascii"), form)

    def _nak(self, frame: Frame, now: float) -> bytes:
        return build_frame(f'"NAK"0000R0L0A0[]{format_timestamp(now)}'.encode("ascii"), frame.crc_form)
