"""An emulated USB panic-button receiver, served to pyusb through a backend of our own.

pyusb talks to hardware only through a backend object (usb.backend.IBackend: libusb1,
libusb0 and openusb are the stock ones) passed as ``usb.core.find(backend=...)``.
EmulatedBackend implements that interface over in-memory EmulatedReceiver devices, so
UsbReceiver and pyusb's own usb.core/usb.util code (find, descriptor parsing, interface
claiming, endpoint lookup, read/write/ctrl_transfer dispatch) run unchanged in the
tests and the simulator; only the last step, the libusb call, is replaced::

    device = EmulatedReceiver(0x1A86, 0xE010)
    backend = EmulatedBackend(device)
    with UsbReceiver(0x1A86, 0xE010, backend=backend) as rx:
        device.press(0x00A1B2C3)
        event = rx.read_event()

The device behaves the way usb_receiver.py's docstring describes a typical receiver:
one HID (or vendor-class) interface with an 8-byte interrupt IN endpoint 0x81 and,
optionally, an interrupt OUT endpoint 0x02 for ACKs (otherwise ACKs come as HID
SET_REPORT). Reports queue up; the head of the queue is offered on every IN poll until
the host ACKs it, repeated every retransmit_interval seconds. Like libusb on Linux, the
interface starts bound to the kernel's usbhid driver (claim and set_configuration fail
with EBUSY until it is detached), an IN poll with nothing to send times out with
USBTimeoutError (ETIMEDOUT), and after unplug() every call on an open handle fails
with USBError errno ENODEV and find() no longer lists the device. Errors carry the
libusb error codes and messages that usb.backend.libusb1 would raise.

Thread-safe: a reader blocked in an IN poll wakes up when another thread queues a
report or unplugs the device.
"""

from __future__ import annotations

import array
import errno
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

import usb.backend
import usb.core

from drivers.alarm_phone.usb_receiver import (
    ACK_REPORT_ID,
    KIND_BUTTON,
    KIND_CANCEL,
    KIND_CHECK_IN,
    KIND_KEEP_ALIVE,
    KIND_LOW_BATTERY,
    KIND_TAMPER,
    REPORT_SIZE,
    format_ack,
    format_report,
)

__all__ = [
    "EP_IN",
    "EP_OUT",
    "EmulatedBackend",
    "EmulatedReceiver",
]

EP_IN: Final = 0x81
EP_OUT: Final = 0x02
_CONFIG_VALUE: Final = 1
_LANGID_EN_US: Final = 0x0409

# libusb error codes, their messages and errno values, as usb.backend.libusb1 raises them.
_LIBUSB_ERRORS: Final[dict[int, tuple[str, int]]] = {
    -1: ("Input/output error", errno.EIO),
    -2: ("Invalid parameter", errno.EINVAL),
    -4: ("No such device (it may have been disconnected)", errno.ENODEV),
    -5: ("Entity not found", errno.ENOENT),
    -6: ("Resource busy", errno.EBUSY),
    -7: ("Operation timed out", errno.ETIMEDOUT),
    -8: ("Overflow", errno.EOVERFLOW),
    -9: ("Pipe error", errno.EPIPE),
}
_IO, _INVALID_PARAM, _NO_DEVICE, _NOT_FOUND, _BUSY, _TIMEOUT, _OVERFLOW, _PIPE = (
    -1,
    -2,
    -4,
    -5,
    -6,
    -7,
    -8,
    -9,
)


def _error(code: int) -> usb.core.USBError:
    text, err = _LIBUSB_ERRORS[code]
    if code == _TIMEOUT:
        return usb.core.USBTimeoutError(text, code, err)
    return usb.core.USBError(text, code, err)


# -- descriptors: the fields usb.core.Device/Configuration/Interface/Endpoint copy ----------


@dataclass(frozen=True)
class DeviceDescriptor:
    idVendor: int
    idProduct: int
    bus: int
    address: int
    bLength: int = 18
    bDescriptorType: int = 0x01
    bcdUSB: int = 0x0110
    bDeviceClass: int = 0x00  # class per interface
    bDeviceSubClass: int = 0x00
    bDeviceProtocol: int = 0x00
    bMaxPacketSize0: int = 8
    bcdDevice: int = 0x0100
    iManufacturer: int = 1
    iProduct: int = 2
    iSerialNumber: int = 3
    bNumConfigurations: int = 1
    port_number: int = 1
    port_numbers: tuple[int, ...] = (1,)
    speed: int = 2  # usb.util.SPEED_FULL


@dataclass(frozen=True)
class ConfigurationDescriptor:
    wTotalLength: int
    bLength: int = 9
    bDescriptorType: int = 0x02
    bNumInterfaces: int = 1
    bConfigurationValue: int = _CONFIG_VALUE
    iConfiguration: int = 0
    bmAttributes: int = 0x80  # bus powered
    bMaxPower: int = 50  # 100 mA
    extra_descriptors: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class InterfaceDescriptor:
    bNumEndpoints: int
    bInterfaceClass: int
    extra_descriptors: list[int]
    bLength: int = 9
    bDescriptorType: int = 0x04
    bInterfaceNumber: int = 0
    bAlternateSetting: int = 0
    bInterfaceSubClass: int = 0
    bInterfaceProtocol: int = 0
    iInterface: int = 0


@dataclass(frozen=True)
class EndpointDescriptor:
    bEndpointAddress: int
    bLength: int = 7
    bDescriptorType: int = 0x05
    bmAttributes: int = 0x03  # interrupt
    wMaxPacketSize: int = REPORT_SIZE
    bInterval: int = 10  # ms
    bRefresh: int = 0
    bSynchAddress: int = 0
    extra_descriptors: list[int] = field(default_factory=list)


# HID class descriptor (bcdHID 1.11, one report descriptor of 34 bytes).
_HID_DESCRIPTOR: Final = [0x09, 0x21, 0x11, 0x01, 0x00, 0x01, 0x22, 0x22, 0x00]


class EmulatedReceiver:
    """One emulated receiver stick: descriptors, kernel-driver state, report queue, ACKs.

    Simulator API: press(), cancel(), low_battery(), tamper(), check_in(),
    keep_alive(), inject(), unplug(), plug(); and what it saw: transmissions (every
    report sent, retransmissions included), acks (accepted ACKs), stray_acks (ACKs that
    matched no pending report) and pending (reports not yet ACKed).
    """

    def __init__(
        self,
        vid: int = 0x1A86,
        pid: int = 0xE010,
        *,
        out_endpoint: bool = True,
        interface_class: int = 0x03,
        retransmit_interval: float = 1.0,
        kernel_driver: bool = True,
        manufacturer: str = "Anxin test",
        product: str = "433MHz panic receiver",
        serial: str = "SIM0001",
        bus: int = 1,
        address: int = 5,
    ) -> None:
        for name, value in (("vid", vid), ("pid", pid)):
            if not 0 <= value <= 0xFFFF:
                raise ValueError(f"{name} must be 0..0xFFFF, got {value!r}")
        if interface_class not in (0x03, 0xFF):
            raise ValueError(f"interface_class must be 0x03 (HID) or 0xFF (vendor), got {interface_class!r}")
        if retransmit_interval < 0:
            raise ValueError(f"retransmit_interval must be >= 0 seconds, got {retransmit_interval!r}")
        self.retransmit_interval = retransmit_interval
        self._strings = {1: manufacturer, 2: product, 3: serial}
        endpoints = [EndpointDescriptor(EP_IN)]
        if out_endpoint:
            endpoints.append(EndpointDescriptor(EP_OUT))
        extra = list(_HID_DESCRIPTOR) if interface_class == 0x03 else []
        self.endpoints: tuple[EndpointDescriptor, ...] = tuple(endpoints)
        self.interface = InterfaceDescriptor(len(endpoints), interface_class, extra)
        self.configuration_descriptor = ConfigurationDescriptor(9 + 9 + len(extra) + 7 * len(endpoints))
        self.device_descriptor = DeviceDescriptor(vid, pid, bus, address)
        self._cond = threading.Condition()
        self._plugged = True
        self._kernel_driver = kernel_driver
        self._configuration = _CONFIG_VALUE  # the kernel configured it on plug-in
        self._claimed = False
        self._queue: deque[tuple[bytes, bool]] = deque()  # (report, retransmit until ACKed)
        self._last_sent: float | None = None  # when the queue head was last offered
        self._seq = 0
        self.transmissions: list[bytes] = []
        self.acks: list[bytes] = []
        self.stray_acks: list[bytes] = []

    # -- simulator API ----------------------------------------------------------------

    def send(self, kind: int, device_id: int) -> bytes:
        """Queue a new report (next seq number); returns its bytes."""
        with self._cond:
            report = format_report(kind, device_id, self._seq)
            self._seq = (self._seq + 1) & 0xFF
            self._queue.append((report, True))
            self._cond.notify_all()
        return report

    def press(self, device_id: int) -> bytes:
        return self.send(KIND_BUTTON, device_id)

    def cancel(self, device_id: int) -> bytes:
        return self.send(KIND_CANCEL, device_id)

    def low_battery(self, device_id: int) -> bytes:
        return self.send(KIND_LOW_BATTERY, device_id)

    def tamper(self, device_id: int) -> bytes:
        return self.send(KIND_TAMPER, device_id)

    def check_in(self, device_id: int) -> bytes:
        return self.send(KIND_CHECK_IN, device_id)

    def keep_alive(self) -> bytes:
        return self.send(KIND_KEEP_ALIVE, 0)

    def inject(self, raw: bytes, retransmit: bool = False) -> None:
        """Queue arbitrary bytes as a report (1..wMaxPacketSize); by default sent once."""
        if not 1 <= len(raw) <= REPORT_SIZE:
            raise ValueError(f"an interrupt report is 1..{REPORT_SIZE} bytes, got {len(raw)}")
        with self._cond:
            self._queue.append((bytes(raw), retransmit))
            self._cond.notify_all()

    def unplug(self) -> None:
        """Pull the stick: open handles fail with ENODEV, find() no longer lists it."""
        with self._cond:
            self._plugged = False
            self._claimed = False
            self._cond.notify_all()

    def plug(self) -> None:
        """Plug it back in: usbhid binds again; queued reports survive (they are in the stick)."""
        with self._cond:
            self._plugged = True
            self._kernel_driver = True
            self._configuration = _CONFIG_VALUE
            self._last_sent = None
            self._cond.notify_all()

    @property
    def plugged(self) -> bool:
        return self._plugged

    @property
    def kernel_driver_active(self) -> bool:
        return self._kernel_driver

    @property
    def claimed(self) -> bool:
        return self._claimed

    @property
    def pending(self) -> tuple[bytes, ...]:
        with self._cond:
            return tuple(r for r, _ in self._queue)

    # -- device side of the backend calls (all under the lock) ------------------------

    def _check_plugged(self) -> None:
        if not self._plugged:
            raise _error(_NO_DEVICE)

    def _check_ready(self, intf: int) -> None:
        self._check_plugged()
        if intf != self.interface.bInterfaceNumber or not self._claimed:
            raise _error(_NOT_FOUND)

    def _read(self, buff: array.array, timeout_ms: int) -> int:
        """One interrupt IN transfer: the head report when it is due, else wait."""
        deadline = None if timeout_ms == 0 else time.monotonic() + timeout_ms / 1000
        with self._cond:
            while True:
                self._check_ready(self.interface.bInterfaceNumber)
                now = time.monotonic()
                wait = None if deadline is None else deadline - now
                if self._queue:
                    report, retransmit = self._queue[0]
                    if self._last_sent is None or now - self._last_sent >= self.retransmit_interval:
                        return self._offer(report, retransmit, buff, now)
                    due = self._last_sent + self.retransmit_interval - now
                    wait = due if wait is None else min(wait, due)
                if wait is not None and wait <= 0:
                    raise _error(_TIMEOUT)
                self._cond.wait(wait)

    def _offer(self, report: bytes, retransmit: bool, buff: array.array, now: float) -> int:
        if len(report) > len(buff) * buff.itemsize:
            raise _error(_OVERFLOW)
        buff[: len(report)] = array.array("B", report)
        self.transmissions.append(report)
        if retransmit:
            self._last_sent = now
        else:
            self._queue.popleft()
            self._last_sent = None
        return len(report)

    def _receive_ack(self, data: bytes) -> None:
        if self._queue:
            report, retransmit = self._queue[0]
            if retransmit and self._last_sent is not None and data == format_ack(report):
                self._queue.popleft()
                self._last_sent = None
                self.acks.append(data)
                self._cond.notify_all()
                return
        self.stray_acks.append(data)

    def _string(self, index: int, length: int) -> bytes:
        if index == 0:
            body = _LANGID_EN_US.to_bytes(2, "little")
        elif index in self._strings:
            body = self._strings[index].encode("utf-16-le")
        else:
            raise _error(_PIPE)  # a real device stalls an unknown string index
        return (bytes([2 + len(body), 0x03]) + body)[:length]


class _Handle:
    """What open_device() returns: the device plus an open flag."""

    def __init__(self, device: EmulatedReceiver) -> None:
        self.device = device
        self.open = True


class EmulatedBackend(usb.backend.IBackend):
    """A pyusb backend serving EmulatedReceiver devices (see the module docstring)."""

    def __init__(self, *devices: EmulatedReceiver) -> None:
        super().__init__()
        self._devices = list(devices)

    def add(self, device: EmulatedReceiver) -> None:
        """Another device on the emulated bus."""
        self._devices.append(device)

    # -- enumeration and descriptors (need no open handle, like libusb) ---------------

    def enumerate_devices(self) -> Iterator[EmulatedReceiver]:
        return iter([d for d in self._devices if d.plugged])

    def get_parent(self, dev: EmulatedReceiver) -> None:
        return None

    def get_device_descriptor(self, dev: EmulatedReceiver) -> DeviceDescriptor:
        return dev.device_descriptor

    def get_configuration_descriptor(self, dev: EmulatedReceiver, config: int) -> ConfigurationDescriptor:
        if config != 0:
            raise _error(_NOT_FOUND)
        return dev.configuration_descriptor

    def get_interface_descriptor(
        self, dev: EmulatedReceiver, intf: int, alt: int, config: int
    ) -> InterfaceDescriptor:
        self.get_configuration_descriptor(dev, config)
        if intf != 0:
            raise IndexError(f"Invalid interface index {intf}")
        if alt != 0:
            raise IndexError(f"Invalid alternate setting index {alt}")  # ends Configuration.__iter__
        return dev.interface

    def get_endpoint_descriptor(
        self, dev: EmulatedReceiver, ep: int, intf: int, alt: int, config: int
    ) -> EndpointDescriptor:
        self.get_interface_descriptor(dev, intf, alt, config)
        if not 0 <= ep < len(dev.endpoints):
            raise IndexError(f"Invalid endpoint index {ep}")
        return dev.endpoints[ep]

    # -- handles ----------------------------------------------------------------------

    def open_device(self, dev: EmulatedReceiver) -> _Handle:
        with dev._cond:
            dev._check_plugged()
        return _Handle(dev)

    def close_device(self, dev_handle: _Handle) -> None:
        dev = dev_handle.device
        with dev._cond:
            if dev_handle.open:
                dev_handle.open = False
                dev._claimed = False  # libusb_close releases what the handle claimed

    @staticmethod
    def _device(dev_handle: _Handle) -> EmulatedReceiver:
        if not dev_handle.open:
            raise _error(_INVALID_PARAM)
        return dev_handle.device

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        dev = self._device(dev_handle)
        with dev._cond:
            dev._check_plugged()
            if config_value not in (0, _CONFIG_VALUE):
                raise _error(_NOT_FOUND)
            if dev._kernel_driver or dev._claimed:
                raise _error(_BUSY)
            dev._configuration = config_value

    def get_configuration(self, dev_handle: _Handle) -> int:
        dev = self._device(dev_handle)
        with dev._cond:
            dev._check_plugged()
            return dev._configuration

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        dev = self._device(dev_handle)
        with dev._cond:
            dev._check_ready(intf)
            if altsetting != 0:
                raise _error(_NOT_FOUND)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        dev = self._device(dev_handle)
        with dev._cond:
            dev._check_plugged()
            if dev._configuration == 0 or intf != dev.interface.bInterfaceNumber:
                raise _error(_NOT_FOUND)
            if dev._kernel_driver:
                raise _error(_BUSY)
            dev._claimed = True

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        dev = self._device(dev_handle)
        with dev._cond:
            dev._check_ready(intf)
            dev._claimed = False

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        dev = self._device(dev_handle)
        with dev._cond:
            dev._check_plugged()
            return dev._kernel_driver

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        dev = self._device(dev_handle)
        with dev._cond:
            dev._check_plugged()
            if not dev._kernel_driver:
                raise _error(_NOT_FOUND)
            dev._kernel_driver = False

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        dev = self._device(dev_handle)
        with dev._cond:
            dev._check_plugged()
            if dev._kernel_driver or dev._claimed:
                raise _error(_BUSY)
            dev._kernel_driver = True

    # -- transfers --------------------------------------------------------------------

    def intr_read(self, dev_handle: _Handle, ep: int, intf: int, buff: array.array, timeout: int) -> int:
        dev = self._device(dev_handle)
        if ep != EP_IN:
            raise _error(_INVALID_PARAM)
        return dev._read(buff, timeout)

    def intr_write(self, dev_handle: _Handle, ep: int, intf: int, data: array.array, timeout: int) -> int:
        dev = self._device(dev_handle)
        with dev._cond:
            dev._check_ready(intf)
            if ep not in (e.bEndpointAddress for e in dev.endpoints) or ep & 0x80:
                raise _error(_INVALID_PARAM)
            dev._receive_ack(data.tobytes())
            return len(data)

    def ctrl_transfer(
        self,
        dev_handle: _Handle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array,
        timeout: int,
    ) -> int:
        dev = self._device(dev_handle)
        with dev._cond:
            dev._check_plugged()
            if bmRequestType == 0x80 and bRequest == 0x06 and wValue >> 8 == 0x03:  # GET_DESCRIPTOR string
                body = dev._string(wValue & 0xFF, len(data))
                data[: len(body)] = array.array("B", body)
                return len(body)
            if bmRequestType == 0x21 and wIndex == dev.interface.bInterfaceNumber:
                if bRequest == 0x0A:  # HID SET_IDLE
                    return 0
                if bRequest == 0x09 and wValue == (0x02 << 8) | ACK_REPORT_ID:  # SET_REPORT output
                    dev._receive_ack(data.tobytes())
                    return len(data)
            raise _error(_PIPE)  # anything else: the device stalls the request
