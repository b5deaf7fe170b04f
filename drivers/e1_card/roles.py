"""Which end of the PRI a stack plays: the box is the user side, the carrier the network."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["user", "network"]
ROLES: tuple[str, ...] = get_args(Role)

# E1 PRI: timeslot 16 carries the D-channel, 1-15 and 17-31 the 30 B-channels.
D_TIMESLOT = 16
B_TIMESLOTS: tuple[int, ...] = tuple(ts for ts in range(1, 32) if ts != D_TIMESLOT)


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise ValueError(f"role must be 'user' or 'network', not {role!r}")
    return role  # type: ignore[return-value]
