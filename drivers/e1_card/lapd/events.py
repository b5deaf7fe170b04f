"""What the data link tells layer 3 and management: frozen dataclasses under LinkEvent.

``Established`` stands for DL-ESTABLISH-CONFIRM/-INDICATION, ``Released`` for
DL-RELEASE-CONFIRM/-INDICATION, ``DataIndication`` / ``UnitDataIndication`` for
DL-DATA / DL-UNIT-DATA-INDICATION and ``MdlError`` for MDL-ERROR-INDICATION with the
codes of Q.921 Appendix II (Table II.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class LinkEvent:
    """Base of the data link's events."""


@dataclass(frozen=True)
class Established(LinkEvent):
    """Multiple-frame operation is up. ``reestablished``: it was already up and has been
    reset (peer's SABME, or our recovery from an error); sequence numbers restarted and
    unacknowledged I frames may be lost, so Q.931 should check its calls (STATUS ENQUIRY).
    """

    reestablished: bool = False


@dataclass(frozen=True)
class Released(LinkEvent):
    """Multiple-frame operation ended (asked for, refused, or failed); queue discarded."""


@dataclass(frozen=True)
class DataIndication(LinkEvent):
    """One layer 3 message from an I frame, in order, exactly once."""

    payload: bytes


@dataclass(frozen=True)
class UnitDataIndication(LinkEvent):
    """One layer 3 message from a UI frame (unacknowledged; SAPI 0, TEI 0 or 127)."""

    payload: bytes


@dataclass(frozen=True)
class MdlError(LinkEvent):
    """MDL-ERROR-INDICATION: ``code`` 'A'..'O' (see MDL_ERRORS), ``text`` for the log."""

    code: str
    text: str


# Q.921 Appendix II, in our words: what each MDL-ERROR code means.
MDL_ERRORS: Final[dict[str, str]] = {
    "A": "unsolicited supervisory response with F=1",
    "B": "unsolicited DM response with F=1",
    "C": "unsolicited UA response with F=1",
    "D": "unsolicited UA response with F=0",
    "E": "DM response with F=0 while established: the peer has no link",
    "F": "SABME while established: the peer re-established the link",
    "G": "no answer to SABME after N200 retransmissions",
    "H": "no answer to DISC after N200 retransmissions",
    "I": "no answer to the status enquiry (RR/RNR with P=1) after N200 retransmissions",
    "J": "N(R) sequence error",
    "K": "FRMR response received",
    "L": "undefined (or not implemented) frame received",
    "M": "information field not permitted in this frame",
    "N": "frame of the wrong size",
    "O": "information field longer than N201",
}
