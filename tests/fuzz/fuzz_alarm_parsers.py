"""Coverage-guided fuzzing (atheris/libFuzzer) of every alarm parser.

    python tests/fuzz/fuzz_alarm_parsers.py TARGET -runs=N [libFuzzer options]

Targets: surgard, ademco685, dc09, usb. Properties: no exception escapes, no input hangs
(libFuzzer -timeout), and for the serial formats a well-framed message that follows
arbitrary noise is still delivered — never silently dropped.
"""

import sys

import atheris

with atheris.instrument_imports():
    from drivers.alarm_phone import ademco685, surgard
    from drivers.alarm_phone.contact_id import ContactIdMessage
    from drivers.alarm_phone.dc09 import Dc09Receiver
    from drivers.alarm_phone.usb_receiver import UsbReportParser

GOOD = ContactIdMessage("5678", "18", 1, "101", "00", "001")
SURGARD_FRAME = surgard.format_signal("01", "1", GOOD)
ADEMCO_FRAME = ademco685.format_signal("11", GOOD)


def drain(parser: object) -> list:
    events = []
    while (event := parser.next_event()) is not None:
        events.append(event)
    return events


def serial_target(make, frame: bytes, terminator: bytes):
    def target(data: bytes) -> None:
        parser = make()
        # Noise first, cut so it ends with a terminator (a receiver restarts framing there);
        # then a good frame must come out as itself.
        parser.receive_data(data + terminator)
        drain(parser)
        parser.receive_data(frame)
        events = drain(parser)
        if not events or events[-1].raw != frame:
            raise AssertionError(f"good frame lost after noise {data!r}: {events!r}")
    return target


def dc09_target(data: bytes) -> None:
    receiver = Dc09Receiver(keys={"1234": "000102030405060708090A0B0C0D0E0F"})
    receiver.receive_datagram(data, 1_700_000_000.0)
    receiver.receive_data(data, 1_700_000_000.0)
    while receiver.next_event() is not None:
        pass


def usb_target(data: bytes) -> None:
    UsbReportParser().feed(data)


TARGETS = {
    "surgard": serial_target(surgard.SurGardParser, SURGARD_FRAME, surgard.DC4),
    "ademco685": serial_target(ademco685.Ademco685Parser, ADEMCO_FRAME, b"\r"),
    "dc09": dc09_target,
    "usb": usb_target,
}

if __name__ == "__main__":
    name = sys.argv.pop(1)
    atheris.Setup(sys.argv, TARGETS[name])
    atheris.Fuzz()
