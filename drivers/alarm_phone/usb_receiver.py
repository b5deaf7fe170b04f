"""USB panic-button receivers (433 MHz one-button pendants) polled over an interrupt IN endpoint.

Cheap wireless panic-button kits sold for elderly-care projects come with a USB stick
that is a HID (class 3) or vendor-class (0xFF) device: it decodes the pendants' radio
codes and offers one short report per event on an interrupt IN endpoint. There is no
public standard for these reports; every vendor has its own. This module models a
*typical* vendor report, documented below, and is the one place where a real model's
layout is plugged in: write a ``_decode_<model>()`` next to `_decode_report()` that
returns ``(kind, device_id, seq)`` (or a Damaged reason) and an ACK encoder next to
`format_ack()`, and select them by VID:PID. Everything else (the Contact ID mapping,
the retransmit/ACK rule, UsbReceiver's USB handling) stays as it is.

Report (device to host, interrupt IN, 8 bytes, all multi-byte fields little endian)::

    byte 0     report id   0xA5
    byte 1     kind        see KIND_* below
    bytes 2-5  device id   uint32 LE: the pendant's radio code (0 for the receiver itself)
    byte 6     seq         0-255, incremented per new report, unchanged on a retransmission
    byte 7     checksum    chosen so that the sum of all 8 bytes is 0 modulo 256

Kinds and their Contact ID mapping (qualifier 1 new / 3 restore, partition 00, zone 001)::

    0x01 button press       101 new      (personal emergency)
    0x02 cancel             101 restore  (the pendant's cancel / the caregiver's reset)
    0x03 low battery        384 new      (RF low battery)
    0x04 tamper             383 new      (sensor tamper)
    0x05 periodic check-in  603 new      (periodic RF transmission)
    0x10 receiver keep-alive             -> Heartbeat (the USB stick itself, device id 0)

The account is the device id as 8 upper-case hex digits (``0x00A1B2C3`` -> ``00A1B2C3``),
the way the kits' pairing tools and stickers print the radio code; Contact ID accounts
may be up to 10 digits, and ContactIdMessage accepts the hex digit A.

Acknowledgement: the device repeats the same report (same seq) every second or so until
the host acknowledges it, so a report is never lost while the box is busy. The ACK is
the report echoed back with report id 0x5A and the checksum recomputed (`format_ack`):
written to the interrupt OUT endpoint when the interface has one, otherwise sent as a
HID SET_REPORT control transfer (bmRequestType 0x21, bRequest 0x09, wValue 0x0200 |
report id, wIndex interface). As on the serial link (CONTRACTS.md §5) the box ACKs a
Signal only after it is durably stored; it ACKs Heartbeat and Unrecognised reports too
and never ACKs a Damaged one (the device resends it). A retransmission after a lost ACK
is byte-identical, so surgard.RepeatFilter recognises it.

`UsbReportParser` is the sans-I/O core; `UsbReceiver` is the pyusb I/O class; the
emulated device for tests and the simulator is drivers/alarm_phone/usb_sim.py (a pyusb
backend, so the real usb.core code path runs against it).
"""

from __future__ import annotations

import errno
import types
from typing import Any, Final

import usb.core
import usb.util

from drivers.alarm_phone.contact_id import ContactIdMessage
from drivers.alarm_phone.surgard import Damaged, Heartbeat, Signal, SurGardEvent, Unrecognised

__all__ = [
    "ACK_REPORT_ID",
    "KIND_BUTTON",
    "KIND_CANCEL",
    "KIND_CHECK_IN",
    "KIND_KEEP_ALIVE",
    "KIND_LOW_BATTERY",
    "KIND_TAMPER",
    "REPORT_ID",
    "REPORT_SIZE",
    "UsbReceiver",
    "UsbReceiverError",
    "UsbReceiverGone",
    "UsbReportParser",
    "account_for",
    "format_ack",
    "format_report",
]

REPORT_SIZE: Final = 8
REPORT_ID: Final = 0xA5
ACK_REPORT_ID: Final = 0x5A

KIND_BUTTON: Final = 0x01
KIND_CANCEL: Final = 0x02
KIND_LOW_BATTERY: Final = 0x03
KIND_TAMPER: Final = 0x04
KIND_CHECK_IN: Final = 0x05
KIND_KEEP_ALIVE: Final = 0x10

# kind -> (Contact ID event code, qualifier)
_CONTACT_ID: Final[dict[int, tuple[str, int]]] = {
    KIND_BUTTON: ("101", 1),
    KIND_CANCEL: ("101", 3),
    KIND_LOW_BATTERY: ("384", 1),
    KIND_TAMPER: ("383", 1),
    KIND_CHECK_IN: ("603", 1),
}

# HID class request used for the ACK when the interface has no OUT endpoint.
_HID_SET_REPORT: Final = 0x09
_HID_OUTPUT_REPORT: Final = 0x02
_REQ_OUT_CLASS_INTERFACE: Final = 0x21


def _checksum(first7: bytes) -> int:
    return -sum(first7) & 0xFF


def format_report(kind: int, device_id: int, seq: int, report_id: int = REPORT_ID) -> bytes:
    """The 8 bytes a receiver sends for one event (checksum included)."""
    for name, value, top in (("kind", kind, 0xFF), ("seq", seq, 0xFF), ("report id", report_id, 0xFF)):
        if not 0 <= value <= top:
            raise ValueError(f"{name} must be 0..{top}, got {value!r}")
    if not 0 <= device_id <= 0xFFFFFFFF:
        raise ValueError(f"device id must be a 32-bit unsigned integer, got {device_id!r}")
    head = bytes([report_id, kind]) + device_id.to_bytes(4, "little") + bytes([seq])
    return head + bytes([_checksum(head)])


def format_ack(report: bytes) -> bytes:
    """The host's ACK for a well-formed report: the report with id 0x5A, checksum recomputed."""
    reason = _damage(report)
    if reason is not None:
        raise ValueError(f"cannot acknowledge a damaged report: {reason}")
    head = bytes([ACK_REPORT_ID]) + bytes(report[1:7])
    return head + bytes([_checksum(head)])


def account_for(device_id: int) -> str:
    """The Contact ID account for a pendant: its 32-bit id as 8 upper-case hex digits."""
    if not 0 <= device_id <= 0xFFFFFFFF:
        raise ValueError(f"device id must be a 32-bit unsigned integer, got {device_id!r}")
    return f"{device_id:08X}"


def _damage(report: bytes) -> str | None:
    """Why report is damaged (a resend could fix it), or None if it is well formed."""
    if len(report) != REPORT_SIZE:
        return f"report of {len(report)} bytes ({REPORT_SIZE} expected)"
    if report[0] != REPORT_ID:
        return f"report id 0x{report[0]:02X} (0x{REPORT_ID:02X} expected)"
    if sum(report) & 0xFF:
        return f"checksum error: byte sum 0x{sum(report) & 0xFF:02X} (0x00 expected)"
    return None


class UsbReportParser:
    """Classifies one interrupt report as a Signal, Heartbeat, Unrecognised or Damaged event.

    Reports arrive whole (one USB transfer each), so unlike SurGardParser there is no
    buffering: feed() maps one report to one event and never raises. receiver and line
    fill the events' fields of the same name (the Sur-Gard RR and L), so the box files
    USB signals like those of a serial receiver.
    """

    def __init__(self, receiver: str = "01", line: str = "1") -> None:
        for name, value in (("receiver", receiver), ("line", line)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        self._receiver = receiver
        self._line = line

    @property
    def receiver(self) -> str:
        return self._receiver

    @property
    def line(self) -> str:
        return self._line

    def feed(self, report: bytes | bytearray | memoryview) -> SurGardEvent:
        """The event for one report (the bytes of one interrupt IN transfer)."""
        raw = bytes(report)
        reason = _damage(raw)
        if reason is not None:
            return Damaged(raw, reason)
        kind = raw[1]
        device_id = int.from_bytes(raw[2:6], "little")
        if kind == KIND_KEEP_ALIVE:
            return Heartbeat(raw, self._receiver, self._line)
        mapped = _CONTACT_ID.get(kind)
        if mapped is None:
            return Unrecognised(raw, f"USB receiver report kind 0x{kind:02X} is not decoded")
        code, qualifier = mapped
        message = ContactIdMessage(
            account=account_for(device_id),
            message_type="18",
            qualifier=qualifier,
            event_code=code,
            partition="00",
            zone="001",
        )
        return Signal(raw, self._receiver, self._line, message)


class UsbReceiverError(OSError):
    """The USB receiver could not be opened, read or acknowledged.

    str() is the message alone (``opening USB receiver 1a86:e010: Access denied``);
    errno carries the underlying errno when there is one.
    """

    def __init__(self, message: str, err: int | None = None) -> None:
        super().__init__(message)
        self.errno = err


class UsbReceiverGone(UsbReceiverError):
    """The receiver is not plugged in or was unplugged: raise a trouble and reopen later."""


def _check_id(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name} must be an integer 0..0xFFFF, got {value!r}")
    return value


class UsbReceiver:
    """A panic-button receiver on USB, found by VID:PID and polled on its interrupt IN endpoint.

    ::

        with UsbReceiver(0x1A86, 0xE010) as rx:
            event = rx.read_event(timeout=1.0)   # None when nothing arrived
            if isinstance(event, Signal | Heartbeat | Unrecognised):
                store(event)                     # durably, then:
                rx.ack(event)

    Opening finds the device (backend=None lets pyusb pick libusb), detaches a kernel
    driver (usbhid) from the interface if one is bound, sets the configuration and
    claims the first interface that has an interrupt IN endpoint. USB errors come out as
    UsbReceiverError naming the device; ENODEV (unplugged), a device that is not
    present and a device that vanished are UsbReceiverGone.
    """

    def __init__(
        self,
        vid: int,
        pid: int,
        *,
        backend: Any = None,
        timeout: float = 1.0,
        receiver: str = "01",
        line: str = "1",
    ) -> None:
        _check_id("vid", vid)
        _check_id("pid", pid)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self._vid = vid
        self._pid = pid
        self._timeout = float(timeout)
        self._parser = UsbReportParser(receiver, line)
        self._dev: Any = None
        self._closed = False
        self._detached = False
        self._intf = 0
        self._ep_in = 0
        self._ep_out: int | None = None
        self._in_size = REPORT_SIZE
        try:
            self._open(backend)
        except BaseException:
            self._release()
            self._closed = True
            raise

    # -- properties -------------------------------------------------------------

    @property
    def vid(self) -> int:
        return self._vid

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def name(self) -> str:
        """``vvvv:pppp`` in lower-case hex, as lsusb prints it."""
        return f"{self._vid:04x}:{self._pid:04x}"

    @property
    def timeout(self) -> float:
        """Default read_event() timeout in seconds."""
        return self._timeout

    @property
    def interface(self) -> int:
        """bInterfaceNumber of the claimed interface."""
        return self._intf

    @property
    def in_endpoint(self) -> int:
        """bEndpointAddress of the interrupt IN endpoint polled for reports."""
        return self._ep_in

    @property
    def out_endpoint(self) -> int | None:
        """bEndpointAddress of the interrupt OUT endpoint, None if ACKs go by SET_REPORT."""
        return self._ep_out

    @property
    def ack_method(self) -> str:
        """``"out-endpoint"`` or ``"set-report"``: how ack() reaches the device."""
        return "set-report" if self._ep_out is None else "out-endpoint"

    @property
    def closed(self) -> bool:
        return self._closed

    # -- I/O --------------------------------------------------------------------

    def _fail(self, action: str, exc: BaseException) -> UsbReceiverError:
        if isinstance(exc, usb.core.NoBackendError):
            return UsbReceiverError(f"{action} USB receiver {self.name}: no libusb backend available ({exc})")
        text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        err = getattr(exc, "errno", None)
        cls = UsbReceiverGone if err == errno.ENODEV else UsbReceiverError
        return cls(f"{action} USB receiver {self.name}: {text}", err)

    def _open(self, backend: Any) -> None:
        try:
            dev = usb.core.find(idVendor=self._vid, idProduct=self._pid, backend=backend)
        except (usb.core.USBError, usb.core.NoBackendError) as exc:
            raise self._fail("opening", exc) from exc
        if dev is None:
            raise UsbReceiverGone(f"opening USB receiver {self.name}: device not found", errno.ENODEV)
        self._dev = dev
        try:
            intf, ep_in, ep_out = self._pick_interface(dev[0])
            self._intf = intf.bInterfaceNumber
            self._ep_in = ep_in.bEndpointAddress
            self._in_size = max(int(ep_in.wMaxPacketSize), REPORT_SIZE)
            self._ep_out = None if ep_out is None else ep_out.bEndpointAddress
            try:
                active = dev.is_kernel_driver_active(self._intf)
            except NotImplementedError:  # Windows, macOS: no kernel driver to detach
                active = False
            if active:
                dev.detach_kernel_driver(self._intf)
                self._detached = True
            dev.set_configuration()
            usb.util.claim_interface(dev, self._intf)
        except usb.core.USBError as exc:
            raise self._fail("opening", exc) from exc

    def _pick_interface(self, cfg: Any) -> tuple[Any, Any, Any]:
        def is_intr(ep: Any, direction: int) -> bool:
            return (
                usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR
                and usb.util.endpoint_direction(ep.bEndpointAddress) == direction
            )

        for intf in cfg:
            eps = list(intf)
            ep_in = next((e for e in eps if is_intr(e, usb.util.ENDPOINT_IN)), None)
            if ep_in is not None:
                ep_out = next((e for e in eps if is_intr(e, usb.util.ENDPOINT_OUT)), None)
                return intf, ep_in, ep_out
        raise UsbReceiverError(
            f"opening USB receiver {self.name}: no interface with an interrupt IN endpoint", errno.ENOENT
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"USB receiver {self.name} is closed")

    def read_report(self, timeout: float | None = None) -> bytes | None:
        """One raw report from the interrupt IN endpoint; None if none came within timeout."""
        self._check_open()
        ms = self._timeout_ms(timeout)
        try:
            data = self._dev.read(self._ep_in, self._in_size, ms)
        except usb.core.USBTimeoutError:
            return None
        except usb.core.USBError as exc:
            raise self._fail("reading", exc) from exc
        return bytes(data)

    def read_event(self, timeout: float | None = None) -> SurGardEvent | None:
        """The next report, classified; None if none came within timeout (default: self.timeout)."""
        report = self.read_report(timeout)
        return None if report is None else self._parser.feed(report)

    def ack(self, event: SurGardEvent, timeout: float | None = None) -> None:
        """Acknowledge event's report so the device stops retransmitting it (never a Damaged one)."""
        if isinstance(event, Damaged):
            raise ValueError(f"a damaged report is not acknowledged (the device resends it): {event.reason}")
        if not isinstance(event, SurGardEvent):
            raise TypeError(f"expected a SurGardEvent, got {type(event).__name__}")
        ack = format_ack(event.raw)
        self._check_open()
        ms = self._timeout_ms(timeout)
        try:
            if self._ep_out is not None:
                self._dev.write(self._ep_out, ack, ms)
            else:
                self._dev.ctrl_transfer(
                    _REQ_OUT_CLASS_INTERFACE,
                    _HID_SET_REPORT,
                    (_HID_OUTPUT_REPORT << 8) | ACK_REPORT_ID,
                    self._intf,
                    ack,
                    ms,
                )
        except usb.core.USBError as exc:
            raise self._fail("acknowledging a report on", exc) from exc

    def _timeout_ms(self, timeout: float | None) -> int:
        if timeout is None:
            timeout = self._timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        return max(1, round(timeout * 1000))  # 0 would mean "wait forever" to libusb

    # -- closing ----------------------------------------------------------------

    def _release(self) -> None:
        dev, self._dev = self._dev, None
        if dev is None:
            return
        # Best effort: after an unplug every call fails with ENODEV.
        try:
            usb.util.release_interface(dev, self._intf)
        except (usb.core.USBError, ValueError):
            pass
        if self._detached:
            try:
                dev.attach_kernel_driver(self._intf)
            except (usb.core.USBError, NotImplementedError):
                pass
        try:
            usb.util.dispose_resources(dev)
        except usb.core.USBError:
            pass

    def close(self) -> None:
        """Release the interface, give it back to the kernel driver, close the handle. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._release()

    def __enter__(self) -> UsbReceiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"intf {self._intf} ep 0x{self._ep_in:02x}"
        return f"<UsbReceiver {self.name} {state}>"
