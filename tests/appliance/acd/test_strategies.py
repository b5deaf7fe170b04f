"""Each strategy orders the same candidates its own way; ties always break by config order."""

import pytest

from appliance.acd.strategies import (
    RINGS_ALL,
    STRATEGIES,
    Candidate,
    fewest_calls,
    longest_idle,
    ring_all,
    round_robin,
    skills,
    strategy,
)

# index, idle_since, calls_taken, penalty
A = Candidate("1001", 0, idle_since=50.0, calls_taken=3, penalty=1)
B = Candidate("1002", 1, idle_since=10.0, calls_taken=5, penalty=0)
C = Candidate("1003", 2, idle_since=30.0, calls_taken=3, penalty=0)
D = Candidate("1004", 3, idle_since=10.0, calls_taken=1, penalty=2)


def ids(candidates: list[Candidate]) -> list[str]:
    return [c.agent_id for c in candidates]


def test_longest_idle_oldest_idle_since_first_ties_by_config_order() -> None:
    assert ids(longest_idle([D, C, B, A])) == ["1002", "1004", "1003", "1001"]


def test_fewest_calls_then_longest_idle() -> None:
    assert ids(fewest_calls([A, B, C, D])) == ["1004", "1003", "1001", "1002"]


def test_skills_lowest_penalty_then_longest_idle() -> None:
    assert ids(skills([A, B, C, D])) == ["1002", "1003", "1001", "1004"]


def test_ring_all_returns_everyone_in_config_order() -> None:
    assert ids(ring_all([D, B, A, C])) == ["1001", "1002", "1003", "1004"]
    assert RINGS_ALL == {"ring_all"}


@pytest.mark.parametrize(("last", "expected"), [
    (None, ["1001", "1002", "1003", "1004"]),
    (0, ["1002", "1003", "1004", "1001"]),
    (1, ["1003", "1004", "1001", "1002"]),
    (3, ["1001", "1002", "1003", "1004"]),     # wraps after the last member
])
def test_round_robin_starts_after_the_last_offered(last: int | None, expected: list[str]) -> None:
    assert ids(round_robin([C, A, D, B], last)) == expected


def test_round_robin_skips_members_who_are_not_candidates() -> None:
    # Last offered was index 1 (1002, now busy): the next free member after it, then wrap.
    assert ids(round_robin([A, D], 1)) == ["1004", "1001"]
    assert ids(round_robin([A], 0)) == ["1001"]


def test_every_strategy_keeps_all_candidates_and_is_deterministic() -> None:
    for name, order in STRATEGIES.items():
        out = order([D, C, B, A], 1)
        assert sorted(ids(out)) == ["1001", "1002", "1003", "1004"], name
        assert out == order([A, B, C, D], 1), name
        assert order([], None) == []


def test_registry_by_name() -> None:
    assert set(STRATEGIES) == {"longest_idle", "round_robin", "fewest_calls", "skills", "ring_all"}
    assert strategy("skills") is skills
    with pytest.raises(ValueError, match="unknown strategy 'random'"):
        strategy("random")
