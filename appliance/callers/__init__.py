"""Who is calling (来电识别) and the blacklist (骚扰电话), from box.db alone.

pbxd asks `recognise(conn, number, now)` when a call arrives and acts on the profile's
`category` / `blocked`; supervisors keep the blacklist with `anxin-box blacklist …`.
"""

from appliance.callers.blacklist import BlacklistEntry, BlacklistError
from appliance.callers.categories import CATEGORIES, ELDER_CATEGORIES
from appliance.callers.numbers import normalise, number_forms
from appliance.callers.recognition import CallerProfile, CallSummary, ElderSummary, recognise

__all__ = [
    "CATEGORIES", "ELDER_CATEGORIES", "BlacklistEntry", "BlacklistError", "CallSummary", "CallerProfile",
    "ElderSummary", "normalise", "number_forms", "recognise",
]
