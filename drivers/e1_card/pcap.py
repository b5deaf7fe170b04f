"""D-channel capture: LAPD frames to a pcap file Wireshark decodes as Q.921/Q.931.

The file uses LINKTYPE_LINUX_LAPD (177), the encapsulation of mISDN's and DAHDI's LAPD
sockets. Each record is a 16-byte pseudo-header followed by the frame *without* FCS:

    offset  size  field (big-endian)
    0       2     sll_pkttype   4 = PACKET_OUTGOING (we sent it), 0 = PACKET_HOST (to us)
    2       2     sll_hatype    8445 = ARPHRD_LAPD
    4       2     sll_halen     1
    6       8     sll_addr      byte 0: 1 = we are the network side, 0 = the user side
    14      2     sll_protocol  0x0030 = ETH_P_LAPD (Wireshark rejects the record otherwise)

Wireshark (wiretap's LAPD pseudo-header reader and ``dissect_linux_lapd``) combines
pkttype with that "we are the network" byte to know the direction — sent by the network
or received by the user is Network->User, the other two User->Network — and so whether
the C/R bit means command or response. The global header is little-endian with
microsecond timestamps and snaplen 65535.

Each record is flushed as it is written, so a technician can ``tail -c +1 -f`` the file
into ``wireshark -k -i -``. ``rotate_bytes`` caps a file: the full one is renamed
``NAME.1.pcap`` (older ones shift to ``.2`` … ``.keep``) and a fresh file is started.
An existing capture of the same kind is appended to, so a restart keeps the history.
A write that fails (disk full) is logged once and ends the capture; signalling goes on.
"""

from __future__ import annotations

import logging
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from drivers.e1_card.errors import SpanError
from drivers.e1_card.roles import Role, check_role

__all__ = [
    "ARPHRD_LAPD",
    "ETH_P_LAPD",
    "LINKTYPE_LINUX_LAPD",
    "LapdPcapWriter",
    "LapdRecord",
    "read_lapd_pcap",
]

log = logging.getLogger("anxin.pri.pcap")

LINKTYPE_LINUX_LAPD: Final = 177
ARPHRD_LAPD: Final = 8445
ETH_P_LAPD: Final = 0x0030
PACKET_HOST: Final = 0
PACKET_OUTGOING: Final = 4
SNAPLEN: Final = 65535

_MAGIC: Final = 0xA1B2C3D4  # microsecond timestamps
_GLOBAL = struct.Struct("<IHHiIII")  # magic, version 2.4, thiszone, sigfigs, snaplen, linktype
_RECORD = struct.Struct("<IIII")  # ts_sec, ts_usec, incl_len, orig_len
_PSEUDO = struct.Struct(">HHH8sH")  # pkttype, hatype, halen, addr, protocol
GLOBAL_HEADER: Final = _GLOBAL.pack(_MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_LINUX_LAPD)


def pseudo_header(*, sent: bool, role: Role) -> bytes:
    """The 16-byte LINUX_LAPD header for a frame SENT (or received) by a ROLE stack."""
    we_network = b"\x01" if check_role(role) == "network" else b"\x00"
    pkttype = PACKET_OUTGOING if sent else PACKET_HOST
    return _PSEUDO.pack(pkttype, ARPHRD_LAPD, 1, we_network.ljust(8, b"\x00"), ETH_P_LAPD)


class LapdPcapWriter:
    """Appends LAPD frames to a pcap file; a context manager, close() when done."""

    def __init__(self, path: str | os.PathLike[str], *, rotate_bytes: int | None = None,
                 keep: int = 1) -> None:
        if rotate_bytes is not None and rotate_bytes < _GLOBAL.size + _RECORD.size + _PSEUDO.size + 3:
            raise ValueError(f"rotate_bytes must leave room for one frame, not {rotate_bytes}")
        if keep < 1:
            raise ValueError(f"keep must be at least 1, not {keep}")
        self._path = Path(path)
        self._rotate_bytes = rotate_bytes
        self._keep = keep
        self._file: BinaryIO | None = None
        self._size = 0
        self.records = 0
        self.failed: str | None = None  # why the capture stopped, when a write failed
        try:
            self._open()
        except OSError as exc:
            raise SpanError(f"opening D-channel capture {self._path}: {exc.strerror or exc}") from exc

    @property
    def path(self) -> Path:
        return self._path

    @property
    def closed(self) -> bool:
        return self._file is None

    def write(self, frame: bytes, *, sent: bool, role: Role, ts: float | None = None) -> None:
        """Record one LAPD frame (address + control + information, no FCS).

        sent: True for a frame this stack transmitted; role: this stack's role.
        ts: seconds since the epoch (default: now).
        """
        header = pseudo_header(sent=sent, role=role)
        if self._file is None:
            return  # closed or failed: the capture is off, signalling is not our business
        stamp = time.time() if ts is None else ts
        sec = int(stamp)
        usec = min(int(round((stamp - sec) * 1_000_000)), 999_999)
        body = header + bytes(frame)
        record = _RECORD.pack(sec, usec, len(body), len(body)) + body
        try:
            if self._rotate_bytes is not None and self._size + len(record) > self._rotate_bytes \
                    and self._size > _GLOBAL.size:
                self._rotate()
            self._file.write(record)
            self._file.flush()  # a technician may be tailing the file
        except OSError as exc:
            self.failed = f"writing D-channel capture {self._path}: {exc.strerror or exc}"
            log.error("%s; capture stopped", self.failed)
            self._close_file()
            return
        self._size += len(record)
        self.records += 1

    def close(self) -> None:
        self._close_file()

    def __enter__(self) -> LapdPcapWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LapdPcapWriter {str(self._path)!r} records={self.records}>"

    # -- file handling --------------------------------------------------------------------

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if _appendable(self._path):
            self._file = open(self._path, "ab")  # kept open for the capture's life
            self._size = self._file.tell()
            return
        self._file = open(self._path, "wb")
        self._file.write(GLOBAL_HEADER)
        self._file.flush()
        self._size = _GLOBAL.size

    def _rotate(self) -> None:
        self._close_file()
        for n in range(self._keep, 0, -1):
            older = self._numbered(n - 1) if n > 1 else self._path
            if older.exists():
                os.replace(older, self._numbered(n))
        self._open()

    def _numbered(self, n: int) -> Path:
        # span1.pcap -> span1.1.pcap: still ends in .pcap, so Wireshark opens it by name.
        return self._path.with_name(f"{self._path.stem}.{n}{self._path.suffix}")

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                log.warning("closing D-channel capture %s: %s", self._path, exc.strerror or exc)
            self._file = None


def _appendable(path: Path) -> bool:
    """True if PATH already is a capture in exactly our format (so appending is safe)."""
    try:
        with open(path, "rb") as existing:
            return existing.read(_GLOBAL.size) == GLOBAL_HEADER
    except OSError:
        return False


# -- reading (tests, tools) ------------------------------------------------------------------


@dataclass(frozen=True)
class LapdRecord:
    """One captured frame: what Wireshark would show and the raw pseudo-header fields."""

    ts: float
    pkttype: int
    we_network: bool
    frame: bytes

    @property
    def sent(self) -> bool:
        return self.pkttype == PACKET_OUTGOING

    @property
    def user_to_network(self) -> bool:
        """The direction as Wireshark derives it (sent by the user or received by the network)."""
        return self.sent != self.we_network


def read_lapd_pcap(path: str | os.PathLike[str]) -> list[LapdRecord]:
    """All records of a LINKTYPE_LINUX_LAPD pcap (either byte order); ValueError if it is not one."""
    data = Path(path).read_bytes()
    if len(data) < _GLOBAL.size:
        raise ValueError(f"{path}: too short for a pcap file ({len(data)} bytes)")
    magic = struct.unpack_from("<I", data)[0]
    if magic in (_MAGIC, 0xA1B23C4D):
        order = "<"
    elif struct.unpack_from(">I", data)[0] in (_MAGIC, 0xA1B23C4D):
        order = ">"
    else:
        raise ValueError(f"{path}: not a pcap file (magic {data[:4].hex()})")
    nano = struct.unpack_from(order + "I", data)[0] == 0xA1B23C4D
    linktype = struct.unpack_from(order + "IHHiIII", data)[6]
    if linktype != LINKTYPE_LINUX_LAPD:
        raise ValueError(f"{path}: link type {linktype}, not LINUX_LAPD ({LINKTYPE_LINUX_LAPD})")
    records: list[LapdRecord] = []
    offset = _GLOBAL.size
    record = struct.Struct(order + "IIII")
    while offset < len(data):
        if offset + record.size > len(data):
            raise ValueError(f"{path}: truncated record header at offset {offset}")
        sec, frac, incl, _orig = record.unpack_from(data, offset)
        offset += record.size
        body = data[offset:offset + incl]
        if len(body) < incl or incl < _PSEUDO.size:
            raise ValueError(f"{path}: truncated or short record at offset {offset}")
        offset += incl
        pkttype, hatype, _halen, addr, protocol = _PSEUDO.unpack_from(body)
        if protocol != ETH_P_LAPD:
            raise ValueError(f"{path}: record with sll_protocol {protocol:#06x}, not ETH_P_LAPD")
        if hatype != ARPHRD_LAPD:
            log.debug("%s: record with hatype %d", path, hatype)
        ts = sec + frac / (1e9 if nano else 1e6)
        records.append(LapdRecord(ts, pkttype, addr[0] != 0, body[_PSEUDO.size:]))
    return records
