"""SIA event codes (SIA DC-03, carried in DC-09 SIA-DCS) onto the Contact ID model.

The box's alarm model is Contact ID (event code + qualifier), so a SIA-DCS report from an
IP communicator is translated for the operator, the priorities and the hub. The SIA
"alarm" code gives qualifier 1 (new); its restoral ("…R") and alarm-restore ("…H")
codes give qualifier 3. Codes without a counterpart stay unrecognised: stored, ACKed
and shown to a person, never dropped.
"""

from __future__ import annotations

from drivers.alarm_phone.contact_id import ContactIdError, ContactIdMessage

# SIA alarm code → Contact ID event code. Restorals are derived below.
_ALARMS: dict[str, str] = {
    "MA": "100",  # medical alarm
    "QA": "101",  # emergency alarm (personal emergency)
    "FA": "110",  # fire alarm
    "PA": "120",  # panic alarm
    "HA": "121",  # holdup: silent alarm, user under duress
    "BA": "130",  # burglary alarm
    "GA": "151",  # gas alarm
    "WA": "154",  # water alarm
    "KA": "158",  # heat alarm (high temperature)
    "ZA": "159",  # freeze alarm (low temperature)
}
# Troubles whose restoral code is not simply "…R" of the same first letter.
_TROUBLES: dict[str, tuple[str, str]] = {
    "AT": ("301", "AR"),  # AC trouble / AC restoral
    "YT": ("302", "YR"),  # system battery trouble / restoral
    "XT": ("384", "XR"),  # transmitter (RF) battery trouble / restoral
    "TA": ("383", "TR"),  # tamper alarm / restoral
    "YC": ("350", "YK"),  # communications fail / restoral
}
_TESTS: dict[str, str] = {"RP": "602", "RX": "601"}  # automatic / manual test
_OPEN_CLOSE: dict[str, tuple[str, int]] = {"OP": ("401", 1), "CL": ("401", 3)}

SIA_TO_CONTACT_ID: dict[str, tuple[str, int]] = {}
for _sia, _cid in _ALARMS.items():
    SIA_TO_CONTACT_ID[_sia] = (_cid, 1)
    SIA_TO_CONTACT_ID[_sia[0] + "R"] = (_cid, 3)
    SIA_TO_CONTACT_ID[_sia[0] + "H"] = (_cid, 3)
for _sia, (_cid, _restore) in _TROUBLES.items():
    SIA_TO_CONTACT_ID[_sia] = (_cid, 1)
    SIA_TO_CONTACT_ID[_restore] = (_cid, 3)
for _sia, _cid in _TESTS.items():
    SIA_TO_CONTACT_ID[_sia] = (_cid, 1)
SIA_TO_CONTACT_ID.update(_OPEN_CLOSE)


def contact_id_for(sia_code: str, account: str, zone: str | None) -> ContactIdMessage | None:
    """The Contact ID equivalent of a SIA event, or None when there is none (or the account
    cannot be one: Contact ID accounts are 4-10 hex digits)."""
    mapped = SIA_TO_CONTACT_ID.get(sia_code.upper())
    if mapped is None:
        return None
    code, qualifier = mapped
    digits = (zone or "").strip()
    zone3 = digits.zfill(3) if digits.isdigit() and len(digits) <= 3 else "000"
    try:
        return ContactIdMessage(account.upper().zfill(4), "18", qualifier, code, "00", zone3)
    except ContactIdError:
        return None
