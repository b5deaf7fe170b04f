"""USB panic-button receiver: the report parser, and UsbReceiver through the real usb.core
code path against the emulated device backend (drivers/alarm_phone/usb_sim.py)."""

from __future__ import annotations

import errno
import threading
import time

import pytest
import usb.core
from hypothesis import given
from hypothesis import strategies as st

from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.surgard import Damaged, Heartbeat, RepeatFilter, Signal, Unrecognised
from drivers.alarm_phone.usb_receiver import (
    KIND_BUTTON,
    KIND_CANCEL,
    KIND_CHECK_IN,
    KIND_KEEP_ALIVE,
    KIND_LOW_BATTERY,
    KIND_TAMPER,
    UsbReceiver,
    UsbReceiverError,
    UsbReceiverGone,
    UsbReportParser,
    account_for,
    format_ack,
    format_report,
)
from drivers.alarm_phone.usb_sim import EP_IN, EP_OUT, EmulatedBackend, EmulatedReceiver

VID, PID = 0x1A86, 0xE010
PENDANT = 0x00A1B2C3

# -- the report format -----------------------------------------------------------------


def test_report_layout_is_the_documented_one() -> None:
    report = format_report(KIND_BUTTON, PENDANT, seq=7)
    # a5 | kind 01 | id c3 b2 a1 00 (LE) | seq 07 | checksum: byte sum is 0 mod 256
    assert report == bytes.fromhex("a5 01 c3b2a100 07 3d")
    assert sum(report) % 256 == 0


def test_ack_echoes_the_report_with_ack_id_and_new_checksum() -> None:
    report = bytes.fromhex("a5 01 c3b2a100 07 3d")
    assert format_ack(report) == bytes.fromhex("5a 01 c3b2a100 07 88")
    assert sum(format_ack(report)) % 256 == 0


def test_ack_refuses_a_damaged_report() -> None:
    with pytest.raises(ValueError, match="checksum"):
        format_ack(bytes.fromhex("a5 01 c3b2a100 07 3e"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": 256, "device_id": 1, "seq": 0}, "kind"),
        ({"kind": 1, "device_id": -1, "seq": 0}, "device id"),
        ({"kind": 1, "device_id": 2**32, "seq": 0}, "device id"),
        ({"kind": 1, "device_id": 1, "seq": 256}, "seq"),
    ],
)
def test_format_report_checks_its_arguments(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        format_report(**kwargs)


@pytest.mark.parametrize(
    ("device_id", "account"),
    [(0, "00000000"), (PENDANT, "00A1B2C3"), (0xFFFFFFFF, "FFFFFFFF"), (0x0BCDEF12, "0BCDEF12")],
)
def test_account_is_8_upper_case_hex_digits(device_id: int, account: str) -> None:
    assert account_for(device_id) == account


def test_account_rejects_out_of_range_ids() -> None:
    with pytest.raises(ValueError):
        account_for(2**32)


# -- the parser ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "code", "qualifier"),
    [
        (KIND_BUTTON, "101", 1),
        (KIND_CANCEL, "101", 3),
        (KIND_LOW_BATTERY, "384", 1),
        (KIND_TAMPER, "383", 1),
        (KIND_CHECK_IN, "603", 1),
    ],
)
def test_each_event_kind_maps_to_contact_id(kind: int, code: str, qualifier: int) -> None:
    report = format_report(kind, PENDANT, seq=3)
    event = UsbReportParser(receiver="02", line="7").feed(report)
    assert event == Signal(
        raw=report,
        receiver="02",
        line="7",
        message=ContactIdMessage("00A1B2C3", "18", qualifier, code, "00", "001"),
    )


def test_button_press_is_life_safety_and_cancel_is_its_restore() -> None:
    parser = UsbReportParser()
    press = parser.feed(format_report(KIND_BUTTON, PENDANT, 0))
    cancel = parser.feed(format_report(KIND_CANCEL, PENDANT, 1))
    assert isinstance(press, Signal) and isinstance(cancel, Signal)
    assert press.message.is_life_safety
    assert press.message.qualifier_name == "new"
    assert cancel.message.qualifier_name == "restore"


def test_keep_alive_is_a_heartbeat() -> None:
    report = format_report(KIND_KEEP_ALIVE, 0, seq=9)
    assert UsbReportParser().feed(report) == Heartbeat(report, "01", "1")


def test_unknown_kind_is_unrecognised_not_damaged() -> None:
    report = format_report(0x7E, PENDANT, seq=1)
    event = UsbReportParser().feed(report)
    assert isinstance(event, Unrecognised)
    assert "0x7E" in event.reason
    format_ack(report)  # well formed: the box stores and ACKs it


@pytest.mark.parametrize(
    ("report", "match"),
    [
        (b"", "0 bytes"),
        (bytes.fromhex("a5 01 c3b2a100 07"), "7 bytes"),
        (bytes.fromhex("a5 01 c3b2a100 07 3d 00"), "9 bytes"),
        (bytes.fromhex("a6 01 c3b2a100 07 3c"), "report id 0xA6"),
        (bytes.fromhex("a5 01 c3b2a100 07 3e"), "checksum"),
        (bytes.fromhex("a5 01 c3b2a101 07 3d"), "checksum"),
        (bytes(8), "report id 0x00"),
    ],
)
def test_malformed_reports_are_damaged(report: bytes, match: str) -> None:
    event = UsbReportParser().feed(report)
    assert isinstance(event, Damaged)
    assert event.raw == report
    assert match in event.reason


@pytest.mark.parametrize(("receiver", "line"), [("", "1"), ("01", ""), (1, "1")])
def test_parser_checks_its_arguments(receiver: object, line: object) -> None:
    with pytest.raises(ValueError):
        UsbReportParser(receiver, line)  # type: ignore[arg-type]


@given(st.binary(min_size=0, max_size=64))
def test_random_reports_never_raise(report: bytes) -> None:
    event = UsbReportParser().feed(report)
    assert event.raw == report
    well_formed = len(report) == 8 and report[0] == 0xA5 and sum(report) % 256 == 0
    assert isinstance(event, Damaged) != well_formed


@given(
    st.integers(0, 255),
    st.integers(0, 2**32 - 1),
    st.integers(0, 255),
    st.integers(0, 7),
    st.integers(1, 255),
)
def test_any_single_byte_corruption_is_damaged(
    kind: int, device_id: int, seq: int, pos: int, delta: int
) -> None:
    report = bytearray(format_report(kind, device_id, seq))
    assert not isinstance(UsbReportParser().feed(bytes(report)), Damaged)
    report[pos] = (report[pos] + delta) & 0xFF
    assert isinstance(UsbReportParser().feed(bytes(report)), Damaged)


# -- UsbReceiver through usb.core and the emulated device --------------------------------


def _device(**kwargs: object) -> EmulatedReceiver:
    kwargs.setdefault("retransmit_interval", 0.05)
    return EmulatedReceiver(VID, PID, **kwargs)  # type: ignore[arg-type]


class _CountingBackend(EmulatedBackend):
    """Counts enumerations, to show argument checks happen before any I/O."""

    def __init__(self, *devices: EmulatedReceiver) -> None:
        super().__init__(*devices)
        self.enumerations = 0

    def enumerate_devices(self):  # type: ignore[no-untyped-def]
        self.enumerations += 1
        return super().enumerate_devices()


@pytest.mark.timeout(30)
class TestUsbReceiver:
    def test_finds_the_device_by_vid_pid_among_others(self) -> None:
        other = EmulatedReceiver(VID, 0x7523)
        device = _device()
        backend = EmulatedBackend(other, device)
        with UsbReceiver(VID, PID, backend=backend) as rx:
            assert (rx.vid, rx.pid, rx.name) == (VID, PID, "1a86:e010")
            assert (rx.interface, rx.in_endpoint, rx.out_endpoint) == (0, EP_IN, EP_OUT)
            assert rx.ack_method == "out-endpoint"
            assert device.claimed and not device.kernel_driver_active  # usbhid detached
            assert not other.claimed and other.kernel_driver_active
            other.press(1)
            assert rx.read_event(timeout=0.2) is None  # the other stick's report is not ours

    def test_press_gives_a_signal_and_the_ack_stops_retransmission(self) -> None:
        device = _device()
        with UsbReceiver(VID, PID, backend=EmulatedBackend(device)) as rx:
            report = device.press(PENDANT)
            event = rx.read_event(timeout=1)
            assert isinstance(event, Signal)
            assert event.raw == report
            assert event.message.account == "00A1B2C3"
            assert (event.message.event_code, event.message.qualifier) == ("101", 1)
            rx.ack(event)
            assert device.acks == [format_ack(report)]
            assert device.pending == ()
            # well past the retransmit interval: nothing more comes
            assert rx.read_event(timeout=0.3) is None
            assert device.transmissions == [report]

    def test_a_report_not_acked_is_retransmitted(self) -> None:
        device = _device()
        with UsbReceiver(VID, PID, backend=EmulatedBackend(device)) as rx:
            report = device.low_battery(PENDANT)
            first = rx.read_event(timeout=1)
            second = rx.read_event(timeout=1)
            third = rx.read_event(timeout=1)
            assert first == second == third
            assert isinstance(first, Signal) and first.message.event_code == "384"
            assert device.transmissions == [report] * 3
            repeats = RepeatFilter(window=30)
            assert not repeats.is_repeat(first.raw, 0.0)
            assert repeats.is_repeat(second.raw, 1.0)  # the box stores it once

    def test_reports_are_delivered_one_at_a_time_in_order(self) -> None:
        device = _device()
        with UsbReceiver(VID, PID, backend=EmulatedBackend(device)) as rx:
            press = device.press(PENDANT)
            cancel = device.cancel(PENDANT)
            first = rx.read_event(timeout=1)
            assert first is not None and first.raw == press
            assert rx.read_event(timeout=1) == first  # cancel waits for the press's ACK
            rx.ack(first)
            second = rx.read_event(timeout=1)
            assert isinstance(second, Signal) and second.raw == cancel
            assert second.message.qualifier == 3
            assert cancel[6] == (press[6] + 1) & 0xFF  # next seq number

    def test_ack_by_set_report_when_there_is_no_out_endpoint(self) -> None:
        device = _device(out_endpoint=False, interface_class=0xFF)
        with UsbReceiver(VID, PID, backend=EmulatedBackend(device)) as rx:
            assert rx.out_endpoint is None
            assert rx.ack_method == "set-report"
            report = device.tamper(PENDANT)
            event = rx.read_event(timeout=1)
            assert isinstance(event, Signal) and event.message.event_code == "383"
            rx.ack(event)
            assert device.acks == [format_ack(report)]
            assert rx.read_event(timeout=0.3) is None

    def test_heartbeat_and_unrecognised_are_acked_too(self) -> None:
        device = _device()
        with UsbReceiver(VID, PID, backend=EmulatedBackend(device)) as rx:
            device.keep_alive()
            device.send(0x42, PENDANT)
            beat = rx.read_event(timeout=1)
            assert isinstance(beat, Heartbeat)
            rx.ack(beat)
            odd = rx.read_event(timeout=1)
            assert isinstance(odd, Unrecognised)
            rx.ack(odd)
            assert device.pending == ()
            assert len(device.acks) == 2

    def test_a_damaged_report_is_reported_and_never_acked(self) -> None:
        device = _device()
        with UsbReceiver(VID, PID, backend=EmulatedBackend(device)) as rx:
            device.inject(bytes.fromhex("a5 01 c3b2a100 07 00"))  # bad checksum (radio noise)
            event = rx.read_event(timeout=1)
            assert isinstance(event, Damaged) and "checksum" in event.reason
            with pytest.raises(ValueError, match="damaged"):
                rx.ack(event)
            assert device.acks == [] and device.stray_acks == []

    def test_a_short_transfer_is_damaged(self) -> None:
        device = _device()
        with UsbReceiver(VID, PID, backend=EmulatedBackend(device)) as rx:
            device.inject(b"\xa5\x01\x02")
            event = rx.read_event(timeout=1)
            assert isinstance(event, Damaged) and "3 bytes" in event.reason

    def test_an_ack_for_another_report_does_not_stop_retransmission(self) -> None:
        device = _device()
        with UsbReceiver(VID, PID, backend=EmulatedBackend(device)) as rx:
            report = device.press(PENDANT)
            event = rx.read_event(timeout=1)
            stale = UsbReportParser().feed(format_report(KIND_BUTTON, PENDANT, seq=99))
            rx.ack(stale)
            assert device.stray_acks == [format_ack(stale.raw)]
            assert device.pending == (report,)
            assert rx.read_event(timeout=1) == event

    def test_press_from_another_thread_wakes_the_poll(self) -> None:
        device = _device()
        with UsbReceiver(VID, PID, backend=EmulatedBackend(device)) as rx:
            timer = threading.Timer(0.1, device.press, args=(PENDANT,))
            timer.start()
            try:
                start = time.monotonic()
                event = rx.read_event(timeout=5)
                assert isinstance(event, Signal)
                assert time.monotonic() - start < 4
            finally:
                timer.join()

    def test_unplug_raises_gone(self) -> None:
        device = _device()
        rx = UsbReceiver(VID, PID, backend=EmulatedBackend(device))
        with rx:
            device.press(PENDANT)
            event = rx.read_event(timeout=1)
            assert event is not None
            device.unplug()
            with pytest.raises(
                UsbReceiverGone, match="reading USB receiver 1a86:e010: No such device"
            ) as exc:
                rx.read_event(timeout=1)
            assert exc.value.errno == errno.ENODEV
            with pytest.raises(UsbReceiverGone, match="acknowledging"):
                rx.ack(event)
        assert rx.closed  # close() after the unplug did not raise

    def test_unplug_during_a_blocked_poll(self) -> None:
        device = _device()
        with UsbReceiver(VID, PID, backend=EmulatedBackend(device)) as rx:
            timer = threading.Timer(0.1, device.unplug)
            timer.start()
            try:
                with pytest.raises(UsbReceiverGone):
                    rx.read_event(timeout=5)
            finally:
                timer.join()

    def test_reopen_after_replug_gets_the_unacked_report_again(self) -> None:
        device = _device()
        backend = EmulatedBackend(device)
        with UsbReceiver(VID, PID, backend=backend) as rx:
            report = device.press(PENDANT)
            assert rx.read_event(timeout=1) is not None
            device.unplug()
            with pytest.raises(UsbReceiverGone):
                rx.read_event(timeout=1)
        with pytest.raises(UsbReceiverGone, match="not found"):
            UsbReceiver(VID, PID, backend=backend)
        device.plug()
        with UsbReceiver(VID, PID, backend=backend) as rx:
            event = rx.read_event(timeout=1)
            assert event is not None and event.raw == report
            rx.ack(event)
            assert device.pending == ()

    def test_device_not_present_names_vid_pid(self) -> None:
        backend = EmulatedBackend(EmulatedReceiver(0x0483, 0x5750))
        with pytest.raises(UsbReceiverGone, match="opening USB receiver 1a86:e010: device not found") as exc:
            UsbReceiver(VID, PID, backend=backend)
        assert exc.value.errno == errno.ENODEV
        assert isinstance(exc.value, UsbReceiverError) and isinstance(exc.value, OSError)

    def test_close_releases_and_gives_the_interface_back_to_usbhid(self) -> None:
        device = _device()
        rx = UsbReceiver(VID, PID, backend=EmulatedBackend(device))
        assert device.claimed and not device.kernel_driver_active
        rx.close()
        rx.close()  # idempotent
        assert rx.closed
        assert not device.claimed and device.kernel_driver_active
        with pytest.raises(ValueError, match="closed"):
            rx.read_event(timeout=0.1)

    def test_no_kernel_driver_means_no_detach_and_no_reattach(self) -> None:
        device = _device(kernel_driver=False)
        with UsbReceiver(VID, PID, backend=EmulatedBackend(device)):
            assert device.claimed
        assert not device.kernel_driver_active

    def test_claiming_without_detaching_fails_like_libusb(self) -> None:
        # The emulation enforces the order UsbReceiver relies on: usbhid holds the interface.
        device = _device()
        dev = usb.core.find(idVendor=VID, idProduct=PID, backend=EmulatedBackend(device))
        assert dev is not None
        with pytest.raises(usb.core.USBError) as exc:
            usb.util.claim_interface(dev, 0)
        assert exc.value.errno == errno.EBUSY
        usb.util.dispose_resources(dev)

    @pytest.mark.parametrize(
        ("args", "kwargs"),
        [
            ((-1, PID), {}),
            ((VID, 0x10000), {}),
            (("1a86", PID), {}),
            ((VID, PID), {"timeout": 0}),
            ((VID, PID), {"receiver": ""}),
        ],
    )
    def test_argument_checks_come_before_any_io(
        self, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> None:
        backend = _CountingBackend(_device())
        with pytest.raises(ValueError):
            UsbReceiver(*args, backend=backend, **kwargs)  # type: ignore[arg-type]
        assert backend.enumerations == 0

    def test_bad_read_timeout_is_rejected(self) -> None:
        with UsbReceiver(VID, PID, backend=EmulatedBackend(_device())) as rx:
            with pytest.raises(ValueError, match="timeout"):
                rx.read_event(timeout=0)

    def test_usb_errors_while_opening_are_wrapped_with_context(self) -> None:
        class DeniedBackend(EmulatedBackend):
            def open_device(self, dev):  # type: ignore[no-untyped-def]
                raise usb.core.USBError("Access denied (insufficient permissions)", -3, errno.EACCES)

        device = _device()
        with pytest.raises(UsbReceiverError, match="opening USB receiver 1a86:e010: Access denied") as exc:
            UsbReceiver(VID, PID, backend=DeniedBackend(device))
        assert not isinstance(exc.value, UsbReceiverGone)
        assert exc.value.errno == errno.EACCES

    def test_missing_libusb_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def no_backend(**kwargs: object) -> None:
            raise usb.core.NoBackendError("No backend available")

        monkeypatch.setattr(usb.core, "find", no_backend)
        with pytest.raises(UsbReceiverError, match="1a86:e010: no libusb backend"):
            UsbReceiver(VID, PID)
