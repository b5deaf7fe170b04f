"""Property: over a lossy, duplicating (but FIFO, like an HDLC line) D-channel, every
message arrives exactly once and in order -- unless a side reported a reset (Released,
or Established(reestablished=True)); then what arrived is a prefix, still without
duplicates. The shell's behaviour is emulated: after Released the link re-establishes.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lapd_testkit import LinkPair, fates

from drivers.e1_card.lapd import DataLink, LinkState

pytestmark = pytest.mark.timeout(120)

FATE = st.sampled_from(["ok", "ok", "ok", "drop", "dup"])
# Bursts (a run of drops outlasts N200 retries and forces releases and re-establishment)
BURSTS = st.lists(st.tuples(st.sampled_from(["ok", "drop", "dup"]), st.integers(1, 8)), max_size=20).map(
    lambda runs: [fate for fate, n in runs for _ in range(n)])
PATTERN = st.one_of(st.lists(FATE, max_size=80), BURSTS)


def messages(n: int, tag: bytes) -> list[bytes]:
    return [tag + i.to_bytes(2, "big") for i in range(n)]


def settled(pair: LinkPair) -> bool:
    return pair.user.state is LinkState.MULTIPLE_FRAME_ESTABLISHED \
        and pair.network.state is LinkState.MULTIPLE_FRAME_ESTABLISHED and pair.quiet()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(up=PATTERN, down=PATTERN,
       n_up=st.integers(0, 25), n_down=st.integers(0, 25),
       initiator=st.sampled_from(["user", "network"]), k=st.sampled_from([1, 3, 7]))
def test_lossy_link_delivers_once_in_order(up: list[str], down: list[str], n_up: int, n_down: int,
                                           initiator: str, k: int) -> None:
    pair = LinkPair(keep_up=True, k=k)
    pair.wires["user"].filters.append(fates(up))
    pair.wires["network"].filters.append(fates(down))
    pair.links[initiator].establish(pair.now)
    sent = {"user": messages(n_up, b"U"), "network": messages(n_down, b"N")}
    for side, msgs in sent.items():
        for m in msgs:
            pair.links[side].send_data(m, pair.now)
    # The fates run out after a while; then the line is clean and the link must settle.
    assert pair.run_until(lambda: settled(pair), timeout=300), "link did not settle"
    resets = pair.resets()
    event("with resets" if resets else "clean")
    for side, receiver in (("user", "network"), ("network", "user")):
        got = pair.delivered(receiver)
        assert len(set(got)) == len(got), "duplicate delivery"
        assert got == sent[side][: len(got)], "not a prefix of what was sent, in order"
        if not resets:
            assert got == sent[side]
        link: DataLink = pair.links[side]
        assert link.queued == 0 and link.outstanding == 0


def test_the_property_harness_sees_loss_without_resets() -> None:
    """One fixed pattern, checked in full: a dropped I frame and a duplicated one."""
    pair = LinkPair(keep_up=True)
    pair.wires["user"].filters.append(fates(["ok", "ok", "drop", "dup", "ok", "drop"]))
    pair.user.establish(pair.now)
    msgs = messages(10, b"U")
    for m in msgs:
        pair.user.send_data(m, pair.now)
    assert pair.run_until(lambda: settled(pair), timeout=60)
    assert pair.delivered("network") == msgs and pair.resets() == 0
