"""Property tests of the reward-plan rules (SPEC §12; DOMAIN.md "Inventor rewards")."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.rewards import rules
from app.rewards.rules import NATIONAL, ZHEJIANG, Allocation, RewardRole

YUAN = 100


def plan(main: int, staff: int, manager: int, other: int) -> list[Allocation]:
    items = [("甲", RewardRole.main_contributor, main), ("乙", RewardRole.transfer_staff, staff)]
    items += [("丙", RewardRole.manager, manager), ("丁", RewardRole.other, other)]
    return [Allocation(n, r, a) for n, r, a in items if a > 0]


def broken(rule_set: rules.RuleSet, allocations: list[Allocation], net: int) -> set[str]:
    # price − seller fee − costs = net: no fee, no costs.
    return {
        v.rule for v in rules.check_plan(rule_set, price=net, seller_fee=0, costs=0, allocations=allocations)
    }


def test_domain_example_at_the_bounds() -> None:
    """Net 1,000,000 → pool ≥ 700,000, main ≥ 490,000, transfer staff ≥ 35,000: valid at exactly the bounds,
    invalid one fen below each."""
    net = 1_000_000 * YUAN
    main, staff, other = 490_000 * YUAN, 35_000 * YUAN, 175_000 * YUAN
    assert broken(ZHEJIANG, plan(main, staff, 0, other), net) == set()
    assert broken(ZHEJIANG, plan(main, staff, 0, other - 1), net) == {"pool_share"}
    assert broken(ZHEJIANG, plan(main - 1, staff, 0, other + 1), net) == {"main_contributor_share"}
    assert broken(ZHEJIANG, plan(main, staff - 1, 0, other + 1), net) == {"transfer_staff_share"}
    # Managers count with transfer staff.
    assert broken(ZHEJIANG, plan(main, 0, staff, other), net) == set()


def test_each_violation_is_named() -> None:
    net = 1_000_000 * YUAN
    assert broken(ZHEJIANG, plan(100 * YUAN, 0, 0, 0), net) == {"pool_share", "transfer_staff_share"}
    assert broken(ZHEJIANG, plan(0, 0, 0, 800_000 * YUAN), net) == {
        "main_contributor_share",
        "transfer_staff_share",
    }
    messages = [
        v.msg
        for v in rules.check_plan(ZHEJIANG, price=net, seller_fee=0, costs=0, allocations=plan(1, 0, 0, 0))
    ]
    assert any("70%" in m and "pool_share" in m for m in messages)


def test_national_rule_set_needs_half_of_net_income_only() -> None:
    net = 1_000_000 * YUAN
    assert broken(NATIONAL, plan(0, 0, 0, 500_000 * YUAN), net) == set()
    assert broken(NATIONAL, plan(0, 0, 0, 500_000 * YUAN - 1), net) == {"pool_share"}
    assert broken(ZHEJIANG, plan(0, 0, 0, 500_000 * YUAN), net) >= {"pool_share"}


def test_costs_must_lie_between_zero_and_the_sellers_share() -> None:
    a = plan(700, 50, 0, 0)
    assert [
        v.rule for v in rules.check_plan(ZHEJIANG, price=1000, seller_fee=100, costs=901, allocations=a)
    ] == ["costs_range"]
    assert [
        v.rule for v in rules.check_plan(ZHEJIANG, price=1000, seller_fee=100, costs=-1, allocations=a)
    ] == ["costs_range"]
    assert rules.check_plan(ZHEJIANG, price=1000, seller_fee=100, costs=900, allocations=a) == []
    assert rules.net_income(1000, 100, 900) == 0


amounts = st.integers(min_value=0, max_value=10**12)


@given(
    net=st.integers(min_value=0, max_value=10**12),
    main=amounts,
    staff=amounts,
    manager=amounts,
    other=amounts,
)
def test_zhejiang_rules_match_their_definition(
    net: int, main: int, staff: int, manager: int, other: int
) -> None:
    allocations = plan(main, staff, manager, other)
    pool = main + staff + manager + other
    expected = set()
    if pool * 100 < 70 * net:
        expected.add("pool_share")
    if main * 100 < 70 * pool:
        expected.add("main_contributor_share")
    if (staff + manager) * 100 < 5 * pool:
        expected.add("transfer_staff_share")
    assert broken(ZHEJIANG, allocations, net) == expected


@given(net=st.integers(min_value=1, max_value=10**12))
def test_the_minimum_plan_is_valid_and_one_fen_less_is_not(net: int) -> None:
    pool = rules.minimum(ZHEJIANG.pool_share, net)
    main = rules.minimum(ZHEJIANG.main_share, pool)  # type: ignore[arg-type]
    staff = rules.minimum(ZHEJIANG.staff_share, pool)  # type: ignore[arg-type]
    other = pool - main - staff
    if other < 0:  # tiny pools: rounding up both shares can exceed the pool; give main the rest
        return
    assert broken(ZHEJIANG, plan(main, staff, 0, other), net) == set()
    if pool > 0:
        assert "pool_share" in broken(
            ZHEJIANG, plan(main, staff, 0, other - 1) if other else plan(main - 1, staff, 0, 0), net
        )


@given(net=st.integers(min_value=0, max_value=10**12), pool=st.integers(min_value=0, max_value=10**12))
def test_national_pool_rule(net: int, pool: int) -> None:
    assert ("pool_share" in broken(NATIONAL, plan(0, 0, 0, pool), net)) == (2 * pool < net)
