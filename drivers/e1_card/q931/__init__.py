"""Q.931 (DSS1 / EuroISDN) for one PRI D-channel: the message codec and the call layer.

``Q931`` (interface.py) is the sans-I/O layer 3 entity, user or network side; its events
are in events.py, the call state table in states.py. The codec is messages.py / ies.py
/ causes.py. See docs/pri-stack.md for how the pieces fit.
"""

from drivers.e1_card.q931.channels import ChannelPool, ChannelState
from drivers.e1_card.q931.events import (
    Answered,
    CallEvent,
    Digits,
    Hangup,
    IncomingCall,
    Proceeding,
    ProgressReceived,
    ProtocolErrorReported,
    Released,
    Restarted,
    RestartFailed,
    Ringing,
    SetupAcknowledged,
)
from drivers.e1_card.q931.interface import Q931
from drivers.e1_card.q931.states import CallStateValue, GlobalState, Request
from drivers.e1_card.q931.timers import Q931Timers

__all__ = [
    "Q931", "Q931Timers", "CallStateValue", "GlobalState", "Request", "ChannelPool", "ChannelState",
    "CallEvent", "IncomingCall", "Proceeding", "SetupAcknowledged", "Ringing", "ProgressReceived",
    "Answered", "Digits", "Hangup", "Released", "Restarted", "RestartFailed", "ProtocolErrorReported",
]
