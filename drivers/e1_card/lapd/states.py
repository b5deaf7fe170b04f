"""The Q.921 point-to-point data link as a table: states, stimuli, allowed next states.

States are Q.921 Annex B.2's states 4-8 (TEI management, states 1-3, does not exist on
a PRI: TEI 0 is fixed). ``TRANSITIONS[state][stimulus]`` is the set of states the SDL
(Figures B.4-B.9) may move to; the outcome inside that set depends on the frame's P/F
bit, its N(R), the retry counter and so on, which ``DataLink`` decides.

A stimulus missing from a state's row means:

* a received frame: Q.921 takes no action in that state -- it is discarded
  (e.g. I, RR, REJ in state 4: "we were reset and the peer has not noticed yet");
* a request (establish, release, data): ``LocalProtocolError``, the caller misused us;
* a timer: it cannot run in that state.

Deliberate choices (where the SDL leaves room or the PRI needs it), all in this table:

* T200 expiring N200 times in timer recovery re-establishes the link as Annex B says
  (MDL-ERROR I, SABME, state 5): layer 3 hears nothing unless that fails too (N200 more
  SABMEs, MDL-ERROR G, state 4, Released), so an outage of a few seconds does not clear
  calls that are being set up; a successful re-establishment is Established(True).
* a DL-DATA-REQUEST in state 4 starts establishment and queues the message (as libpri
  does); in state 5 it is queued whoever started the establishment.
* a DL-RELEASE-REQUEST in state 5 sends DISC at once (Annex B saves it until UA).
* a DL-DATA-REQUEST in state 6 is discarded (the SDL consumes it there), so a layer 3
  that has not yet heard of the release does not fail; Released follows.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from drivers.e1_card.lapd.frames import FrameKind


class LinkState(Enum):
    TEI_ASSIGNED = 4
    AWAITING_ESTABLISHMENT = 5
    AWAITING_RELEASE = 6
    MULTIPLE_FRAME_ESTABLISHED = 7
    TIMER_RECOVERY = 8


class Input(Enum):
    """Stimuli other than received frames: layer 3 requests, timers, bad frames."""

    ESTABLISH = "DL-ESTABLISH-REQUEST"
    RELEASE = "DL-RELEASE-REQUEST"
    DATA = "DL-DATA-REQUEST"
    T200 = "T200 expiry"
    T203 = "T203 expiry"
    BAD_FRAME = "invalid frame"  # Q.921 2.9 invalid or 5.8.5 frame rejection condition


Stimulus = FrameKind | Input

_S4 = LinkState.TEI_ASSIGNED
_S5 = LinkState.AWAITING_ESTABLISHMENT
_S6 = LinkState.AWAITING_RELEASE
_S7 = LinkState.MULTIPLE_FRAME_ESTABLISHED
_S8 = LinkState.TIMER_RECOVERY
K = FrameKind


def _row(**entries: frozenset[LinkState]) -> dict[Stimulus, frozenset[LinkState]]:
    row: dict[Stimulus, frozenset[LinkState]] = {}
    for name, targets in entries.items():
        row[Input[name] if name in Input.__members__ else K[name]] = targets
    return row


def _to(*states: LinkState) -> frozenset[LinkState]:
    return frozenset(states)


TRANSITIONS: Final[dict[LinkState, dict[Stimulus, frozenset[LinkState]]]] = {
    _S4: _row(  # Figure B.4
        ESTABLISH=_to(_S5), RELEASE=_to(_S4), DATA=_to(_S5),
        SABME=_to(_S7), DISC=_to(_S4), UA=_to(_S4), DM=_to(_S4, _S5), UI=_to(_S4),
        BAD_FRAME=_to(_S4),
    ),
    _S5: _row(  # Figure B.5
        ESTABLISH=_to(_S5), RELEASE=_to(_S6), DATA=_to(_S5), T200=_to(_S4, _S5),
        SABME=_to(_S5), DISC=_to(_S5), UA=_to(_S5, _S7), DM=_to(_S4, _S5), UI=_to(_S5),
        BAD_FRAME=_to(_S5),
    ),
    _S6: _row(  # Figure B.6: establishing is refused while we release; data is discarded
        RELEASE=_to(_S6), DATA=_to(_S6), T200=_to(_S4, _S6),
        SABME=_to(_S6), DISC=_to(_S6), UA=_to(_S4, _S6), DM=_to(_S4, _S6), UI=_to(_S6),
        BAD_FRAME=_to(_S6),
    ),
    _S7: _row(  # Figure B.7
        ESTABLISH=_to(_S5), RELEASE=_to(_S6), DATA=_to(_S7), T200=_to(_S8), T203=_to(_S8),
        SABME=_to(_S7), DISC=_to(_S4), UA=_to(_S7), DM=_to(_S5, _S7), FRMR=_to(_S5),
        I=_to(_S5, _S7), RR=_to(_S5, _S7), RNR=_to(_S5, _S7), REJ=_to(_S5, _S7), UI=_to(_S7),
        BAD_FRAME=_to(_S5, _S7),
    ),
    _S8: _row(  # Figure B.8
        ESTABLISH=_to(_S5), RELEASE=_to(_S6), DATA=_to(_S8), T200=_to(_S5, _S8),
        SABME=_to(_S7), DISC=_to(_S4), UA=_to(_S8), DM=_to(_S5), FRMR=_to(_S5),
        I=_to(_S5, _S8), RR=_to(_S5, _S7, _S8), RNR=_to(_S5, _S7, _S8), REJ=_to(_S5, _S7, _S8),
        UI=_to(_S8), BAD_FRAME=_to(_S5, _S8),
    ),
}

ESTABLISHED_STATES: Final = frozenset({_S7, _S8})


def stimulus_name(stimulus: Stimulus) -> str:
    return stimulus.value if isinstance(stimulus, Input) else f"{stimulus.value} frame"


def allowed(state: LinkState, stimulus: Stimulus) -> frozenset[LinkState] | None:
    """The states ``stimulus`` may lead to from ``state``; None: not handled there."""
    return TRANSITIONS[state].get(stimulus)
