"""Q.921 (LAPD) for the PRI D-channel, sans-I/O: frame codec, state table, data link.

frames: the octets (address, control, information; no flags or FCS); states: the
Annex B states and the table of allowed transitions; events: what the link reports;
link: ``DataLink``, one point-to-point data link (SAPI 0, TEI 0) in either role.
"""

from drivers.e1_card.lapd.events import (
    MDL_ERRORS,
    DataIndication,
    Established,
    LinkEvent,
    MdlError,
    Released,
    UnitDataIndication,
)
from drivers.e1_card.lapd.frames import (
    N201,
    SAPI_CALL_CONTROL,
    TEI_GROUP,
    TEI_PTP,
    Frame,
    FrameError,
    FrameKind,
    FrmrInfo,
    decode_frame,
    encode_frame,
)
from drivers.e1_card.lapd.link import DataLink
from drivers.e1_card.lapd.states import TRANSITIONS, LinkState

__all__ = [
    "MDL_ERRORS",
    "N201",
    "SAPI_CALL_CONTROL",
    "TEI_GROUP",
    "TEI_PTP",
    "TRANSITIONS",
    "DataIndication",
    "DataLink",
    "Established",
    "Frame",
    "FrameError",
    "FrameKind",
    "FrmrInfo",
    "LinkEvent",
    "LinkState",
    "MdlError",
    "Released",
    "UnitDataIndication",
    "decode_frame",
    "encode_frame",
]
