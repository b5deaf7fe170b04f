"""LapdPcapWriter: the capture Wireshark reads, checked with the real tshark."""

from __future__ import annotations

import errno
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from drivers.e1_card.errors import SpanError
from drivers.e1_card.pcap import (
    ARPHRD_LAPD,
    ETH_P_LAPD,
    LINKTYPE_LINUX_LAPD,
    LapdPcapWriter,
    read_lapd_pcap,
)

pytestmark = pytest.mark.timeout(60)

TSHARK = shutil.which("tshark") or "/usr/bin/tshark"

# Hand-built frames, TEI 0 / SAPI 0. Address octet 1 is SAPI<<2 | C/R<<1 | EA0: a command
# from the user has C/R 0, from the network C/R 1; responses the other way round.
SABME_FROM_USER = bytes([0x00, 0x01, 0x7F])  # command, P=1
UA_FROM_NETWORK = bytes([0x00, 0x01, 0x73])  # response, F=1
# Q.931 SETUP: discriminator 08, call reference length 2, value 0001 (flag 0), type 05;
# bearer capability speech/64k/A-law, channel id PRI exclusive timeslot 1,
# calling 29123456 (national, allowed, network provided), called 8001, sending complete.
SETUP = (bytes.fromhex("08 02 0001 05")
         + bytes.fromhex("04 03 80 90 A3")
         + bytes.fromhex("18 03 A9 83 81")
         + bytes.fromhex("6C 0A 21 83") + b"29123456"
         + bytes.fromhex("70 05 81") + b"8001"
         + bytes.fromhex("A1"))
I_SETUP_FROM_USER = bytes([0x00, 0x01, 0x00, 0x00]) + SETUP  # N(S)=0 N(R)=0
RR_FROM_NETWORK = bytes([0x00, 0x01, 0x01, 0x02])  # response, N(R)=1
# Network's first message back: CALL PROCEEDING (02) on the user's call reference,
# flag set (sent by the destination side), channel id timeslot 1.
CALL_PROCEEDING = bytes.fromhex("08 02 8001 02") + bytes.fromhex("18 03 A9 83 81")
I_PROCEEDING_FROM_NETWORK = bytes([0x02, 0x01, 0x00, 0x02]) + CALL_PROCEEDING  # command C/R=1
RR_FROM_USER = bytes([0x02, 0x01, 0x01, 0x02])  # a response from the user carries C/R 1

USER_TO_NETWORK, NETWORK_TO_USER = "0", "1"  # tshark's lapd.direction values


def conversation(role: str) -> list[tuple[bytes, bool]]:
    """The box/telco exchange as one side records it: (frame, sent by this side)."""
    from_user = [SABME_FROM_USER, I_SETUP_FROM_USER, RR_FROM_USER]
    frames = [SABME_FROM_USER, UA_FROM_NETWORK, I_SETUP_FROM_USER, RR_FROM_NETWORK,
              I_PROCEEDING_FROM_NETWORK, RR_FROM_USER]
    return [(f, (f in from_user) == (role == "user")) for f in frames]


def tshark_fields(path: Path, *fields: str, display_filter: str | None = None) -> list[list[str]]:
    cmd = [TSHARK, "-n", "-r", str(path), "-T", "fields", "-E", "separator=|"]
    for field in fields:
        cmd += ["-e", field]
    if display_filter:
        cmd += ["-Y", display_filter]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    return [line.split("|") for line in out.splitlines()]


def tshark_problems(path: Path) -> list[list[str]]:
    """Malformed packets and expert items of warning severity or worse (PI_WARN = 0x00600000)."""
    return tshark_fields(path, "frame.number", "_ws.expert.message",
                         display_filter="_ws.malformed || _ws.expert.severity >= 0x00600000")


@pytest.mark.parametrize("role", ["user", "network"])
def test_tshark_decodes_the_capture_with_the_right_direction(tmp_path: Path, role: str) -> None:
    path = tmp_path / f"{role}.pcap"
    with LapdPcapWriter(path) as capture:
        for n, (frame, sent) in enumerate(conversation(role)):
            capture.write(frame, sent=sent, role=role, ts=1_700_000_000 + n * 0.25)

    rows = tshark_fields(path, "frame.number", "lapd.direction", "lapd.control.u_modifier_cmd",
                         "lapd.control.u_modifier_resp", "q931.message_type", "_ws.col.Source")
    assert [r[1] for r in rows] == [USER_TO_NETWORK, NETWORK_TO_USER, USER_TO_NETWORK,
                                   NETWORK_TO_USER, NETWORK_TO_USER, USER_TO_NETWORK]
    # The direction makes tshark read the C/R bit right: SABME a command, UA a response.
    assert rows[0][2] == "0x1b" and rows[0][3] == ""
    assert rows[1][2] == "" and rows[1][3] == "0x18"
    assert rows[2][4] == "0x05" and rows[4][4] == "0x02"  # SETUP, CALL PROCEEDING
    # Local/remote follows from which side wrote the capture.
    local = "Local User" if role == "user" else "Local Network"
    assert rows[0][5] == ("Local User" if role == "user" else "Remote User")
    assert local in {r[5] for r in rows}
    assert tshark_problems(path) == []


def test_tshark_sees_the_setup_contents(tmp_path: Path) -> None:
    path = tmp_path / "setup.pcap"
    with LapdPcapWriter(path) as capture:
        capture.write(I_SETUP_FROM_USER, sent=True, role="user")
    [row] = tshark_fields(path, "q931.calling_party_number.digits", "q931.called_party_number.digits",
                          "q931.channel.number", "lapd.control.n_s")
    assert row == ["29123456", "8001", "1", "0"]


def test_the_problem_check_catches_a_malformed_message(tmp_path: Path) -> None:
    # The negative control for tshark_problems(): a SETUP whose bearer IE runs off the end.
    path = tmp_path / "bad.pcap"
    with LapdPcapWriter(path) as capture:
        capture.write(SABME_FROM_USER, sent=True, role="user")
        capture.write(bytes([0x00, 0x01, 0x00, 0x00]) + bytes.fromhex("0802000105 0403"), sent=True,
                      role="user")
    assert [p[0] for p in tshark_problems(path)] == ["2"]


def test_file_layout_global_and_pseudo_header(tmp_path: Path) -> None:
    path = tmp_path / "layout.pcap"
    with LapdPcapWriter(path) as capture:
        capture.write(SABME_FROM_USER, sent=True, role="network", ts=1_700_000_000.5)
    data = path.read_bytes()
    magic, major, minor, _zone, _sig, snaplen, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, snaplen, linktype) == (0xA1B2C3D4, 2, 4, 65535, LINKTYPE_LINUX_LAPD)
    sec, usec, incl, orig = struct.unpack_from("<IIII", data, 24)
    assert (sec, usec, incl, orig) == (1_700_000_000, 500_000, 16 + 3, 16 + 3)
    pkttype, hatype, halen, addr, protocol = struct.unpack_from(">HHH8sH", data, 40)
    assert (pkttype, hatype, halen, addr[0], protocol) == (4, ARPHRD_LAPD, 1, 1, ETH_P_LAPD)
    assert data[56:] == SABME_FROM_USER  # no FCS in the capture
    assert len(data) == 56 + 3


def test_reader_round_trip_and_direction(tmp_path: Path) -> None:
    path = tmp_path / "rt.pcap"
    with LapdPcapWriter(path) as capture:
        for n, (frame, sent) in enumerate(conversation("network")):
            capture.write(frame, sent=sent, role="network", ts=100 + n)
        assert capture.records == 6
    records = read_lapd_pcap(path)
    assert [r.frame for r in records] == [f for f, _ in conversation("network")]
    assert [r.ts for r in records] == [100.0 + n for n in range(6)]
    assert all(r.we_network for r in records)
    assert [r.user_to_network for r in records] == [True, False, True, False, False, True]
    assert [r.sent for r in records] == [s for _, s in conversation("network")]


def test_each_record_is_flushed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "live.pcap"
    capture = LapdPcapWriter(path)
    try:
        capture.write(SABME_FROM_USER, sent=True, role="user")
        assert [r.frame for r in read_lapd_pcap(path)] == [SABME_FROM_USER]  # while still open
        capture.write(UA_FROM_NETWORK, sent=False, role="user")
        assert len(read_lapd_pcap(path)) == 2
        assert len(tshark_fields(path, "frame.number")) == 2
    finally:
        capture.close()


def test_an_existing_capture_is_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "again.pcap"
    with LapdPcapWriter(path) as capture:
        capture.write(SABME_FROM_USER, sent=True, role="user")
    with LapdPcapWriter(path) as capture:
        capture.write(UA_FROM_NETWORK, sent=False, role="user")
    assert [r.frame for r in read_lapd_pcap(path)] == [SABME_FROM_USER, UA_FROM_NETWORK]
    foreign = tmp_path / "notes.pcap"
    foreign.write_bytes(b"not a capture")
    with LapdPcapWriter(foreign) as capture:
        capture.write(SABME_FROM_USER, sent=True, role="user")
    assert [r.frame for r in read_lapd_pcap(foreign)] == [SABME_FROM_USER]


def test_rotation_by_size_keeps_valid_files(tmp_path: Path) -> None:
    path = tmp_path / "span1.pcap"
    record = 16 + 16 + len(I_SETUP_FROM_USER)
    with LapdPcapWriter(path, rotate_bytes=24 + 2 * record, keep=2) as capture:
        for n in range(7):
            capture.write(I_SETUP_FROM_USER, sent=True, role="user", ts=n)
    current, first, second = path, tmp_path / "span1.1.pcap", tmp_path / "span1.2.pcap"
    assert [r.ts for r in read_lapd_pcap(current)] == [6.0]
    assert [r.ts for r in read_lapd_pcap(first)] == [4.0, 5.0]
    assert [r.ts for r in read_lapd_pcap(second)] == [2.0, 3.0]
    assert not (tmp_path / "span1.3.pcap").exists()  # keep=2: the oldest pair is gone
    assert all(p.stat().st_size <= 24 + 2 * record for p in (current, first, second))
    assert len(tshark_fields(first, "frame.number")) == 2


def test_a_failing_write_stops_the_capture_without_raising(tmp_path: Path) -> None:
    path = tmp_path / "full.pcap"
    capture = LapdPcapWriter(path)

    class FullDisk:
        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self) -> None:
            pass

    capture._file.close()  # type: ignore[union-attr]
    capture._file = FullDisk()  # type: ignore[assignment]  # the disk fills up mid-capture
    capture.write(SABME_FROM_USER, sent=True, role="user")
    assert capture.failed is not None and "No space left on device" in capture.failed
    assert capture.closed
    capture.write(UA_FROM_NETWORK, sent=False, role="user")  # ignored, not raised
    assert capture.records == 0


def test_open_errors_carry_context(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SpanError, match=r"opening D-channel capture .*file/sub/c\.pcap: "):
        LapdPcapWriter(blocker / "sub" / "c.pcap")


def test_argument_checks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rotate_bytes"):
        LapdPcapWriter(tmp_path / "a.pcap", rotate_bytes=10)
    with LapdPcapWriter(tmp_path / "b.pcap") as capture, pytest.raises(ValueError, match="role"):
        capture.write(SABME_FROM_USER, sent=True, role="telco")  # type: ignore[arg-type]


def test_reader_rejects_other_files(tmp_path: Path) -> None:
    other = tmp_path / "eth.pcap"
    other.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    with pytest.raises(ValueError, match="link type 1"):
        read_lapd_pcap(other)
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"\x00" * 30)
    with pytest.raises(ValueError, match="not a pcap"):
        read_lapd_pcap(junk)
