"""Our SIA→Contact ID table against pysiaalarm's independent ADM-CID→SIA mapping."""

import pytest
from pysiaalarm.data.adm_mapping import ADM_MAPPING

from drivers.alarm_phone.sia_codes import SIA_TO_CONTACT_ID, contact_id_for


def test_agrees_with_pysiaalarm_for_every_code_both_know() -> None:
    checked = 0
    for sia, (cid, qualifier) in SIA_TO_CONTACT_ID.items():
        theirs = ADM_MAPPING.get(cid)
        if theirs is None:
            continue
        if qualifier == 1:
            assert theirs["1"] == sia, (sia, cid, theirs)
        else:
            ours_restores = {s for s, (c, q) in SIA_TO_CONTACT_ID.items() if c == cid and q == 3}
            assert theirs["3"] in ours_restores, (cid, theirs, ours_restores)
        checked += 1
    assert checked >= 25


@pytest.mark.parametrize(("sia", "zone", "code", "qualifier", "zone3"), [
    ("QA", "1", "101", 1, "001"),
    ("QR", "1", "101", 3, "001"),
    ("MH", "12", "100", 3, "012"),
    ("AT", "", "301", 1, "000"),
    ("AR", None, "301", 3, "000"),
    ("HA", "5", "121", 1, "005"),
    ("RP", "", "602", 1, "000"),
    ("BA", "1234", "130", 1, "000"),  # a 4-digit SIA zone cannot be a Contact ID zone
])
def test_mapping(sia: str, zone: str | None, code: str, qualifier: int, zone3: str) -> None:
    msg = contact_id_for(sia, "12a", zone)
    assert msg is not None
    assert (msg.account, msg.event_code, msg.qualifier, msg.zone) == ("012A", code, qualifier, zone3)


def test_unknown_code_or_impossible_account() -> None:
    assert contact_id_for("ZZ", "1234", "1") is None
    assert contact_id_for("QA", "123456789ABC", "1") is None  # 12 digits: not a CID account
