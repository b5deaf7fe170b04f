"""Caller categories (来电分类): who a call is from, as the IVR flows and the ACD see it.

CATEGORIES matches appliance/ivr/flows.py's (a flow's `branch_caller` routes on them).
A resident's row in `elders` carries an optional category: NULL = an ordinary elder,
or one of ELDER_CATEGORIES. The hub's registry sync may add it to an elder body as
`category`; `elder_category` is how an applier reads it.
"""

from __future__ import annotations

from typing import Any

CATEGORIES = ("blacklist", "elder", "vip", "important", "unknown")
ELDER_CATEGORIES = ("vip", "important")
LABELS = {"blacklist": "黑名单", "elder": "老人", "vip": "VIP", "important": "重点关注",
          "unknown": "未知来电"}


def elder_category(value: Any) -> str | None:
    """The stored form of an elder body's `category`: None (absent, null, '' or 'elder' =
    an ordinary elder) or one of ELDER_CATEGORIES; anything else is a ValueError naming
    the field, so an applier can refuse the change with a clear message."""
    if value in (None, "", "elder"):
        return None
    if value in ELDER_CATEGORIES:
        return value
    raise ValueError(f"category: {value!r} 不是 {' / '.join(ELDER_CATEGORIES)} 之一 "
                     f"(must be one of {', '.join(ELDER_CATEGORIES)}, or absent for an ordinary elder)")


def from_row(value: Any) -> str:
    """A stored `elders.category` as a caller category: an unknown value (from a newer
    hub) counts as an ordinary elder rather than failing the call."""
    return value if value in ELDER_CATEGORIES else "elder"
