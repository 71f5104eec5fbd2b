"""The resolution of proxy and priority bids (SPEC §17.1, §17.2) as a pure function: the examples the spec
names, and Hypothesis against a brute-force model over random sequences of manual bids and maxima."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.auctions.rules import Contender, outranks, resolve_proxies, valid_bid

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
INC, START = 100, 1_000
A, B, C, X = (uuid.UUID(int=i) for i in range(1, 5))


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def proxy(reg: uuid.UUID, maximum: int, t: int, rank: int | None = None) -> Contender:
    return Contender(reg, maximum, at(t), rank)


def resolve(leader: Contender | None, proxies: list[Contender]) -> list[tuple[uuid.UUID, int]]:
    return resolve_proxies(leader, proxies, increment=INC, start_price=START)


def test_one_proxy_answers_a_manual_bid_with_one_increment_or_its_maximum() -> None:
    assert resolve(Contender(X, 1_500, at(10), None), [proxy(A, 2_000, 1)]) == [(A, 1_600)]
    assert resolve(Contender(X, 1_900, at(10), None), [proxy(A, 2_000, 1)]) == [(A, 2_000)]
    assert resolve(Contender(X, 2_100, at(10), None), [proxy(A, 2_000, 1)]) == []


def test_two_proxies_leave_the_price_one_increment_above_the_second_maximum() -> None:
    assert resolve(None, [proxy(A, 3_000, 1), proxy(B, 2_000, 2)]) == [(B, 2_000), (A, 2_100)]
    assert resolve(None, [proxy(A, 2_050 + 50, 1), proxy(B, 2_000, 2)]) == [(B, 2_000), (A, 2_100)]


def test_equal_maxima_go_to_the_earlier_one_at_that_amount() -> None:
    assert resolve(None, [proxy(A, 2_000, 5), proxy(B, 2_000, 2)]) == [(A, 2_000), (B, 2_000)]


def test_a_manual_bid_equal_to_an_earlier_maximum_leaves_the_proxy_leading_at_that_amount() -> None:
    assert resolve(Contender(X, 2_000, at(10), None), [proxy(A, 2_000, 1)]) == [(A, 2_000)]
    # A maximum set after the bid does not match it.
    assert resolve(Contender(X, 2_000, at(10), None), [proxy(A, 2_000, 11)]) == []


def test_a_lone_proxy_opens_at_the_start_price() -> None:
    assert resolve(None, [proxy(A, 5_000, 1)]) == [(A, START)]


def test_the_leaders_own_proxy_keeps_it_leading() -> None:
    assert resolve(Contender(A, 1_200, at(10), None), [proxy(A, 5_000, 1)]) == []
    assert resolve(Contender(A, 1_200, at(10), None), [proxy(A, 5_000, 1), proxy(B, 2_000, 2)]) == [
        (B, 2_000),
        (A, 2_100),
    ]


def test_a_holders_proxy_matches_a_lower_priority_amount() -> None:
    assert resolve(Contender(X, 1_500, at(10), None), [proxy(A, 3_000, 20, rank=1)]) == [(A, 1_500)]
    assert resolve(None, [proxy(A, 3_000, 9, rank=2), proxy(B, 3_000, 1, rank=None)]) == [
        (B, 3_000),
        (A, 3_000),
    ]
    # A better rank keeps the lead against a worse one at its maximum.
    assert resolve(None, [proxy(A, 2_000, 9, rank=1), proxy(B, 2_000, 1, rank=2)]) == [
        (B, 2_000),
        (A, 2_000),
    ]


def test_equal_bids_only_when_the_bidder_outranks_the_leader() -> None:
    common = {"current_price": 2_000, "start_price": START, "increment": INC}
    assert valid_bid(2_000, 1, leader_rank=None, **common)
    assert valid_bid(2_000, 1, leader_rank=2, **common)
    assert not valid_bid(2_000, 2, leader_rank=1, **common)
    assert not valid_bid(2_000, 2, leader_rank=2, **common)
    assert not valid_bid(2_000, None, leader_rank=None, **common)
    assert valid_bid(2_100, None, leader_rank=1, **common)
    assert not valid_bid(2_150, None, leader_rank=None, **common)
    assert valid_bid(START, None, current_price=None, leader_rank=None, start_price=START, increment=INC)
    assert outranks(1, None) and outranks(1, 2) and not outranks(2, 2) and not outranks(None, None)


# --- the brute-force model -----------------------------------------------------------------------------------


def beats(w: Contender, amount: int, c: Contender) -> bool:
    """W bidding ``amount`` (its maximum ``w.amount``, time ``w.at``) ranks above contender ``c``: written
    pairwise from SPEC §17.1/§17.2, independently of the sort the implementation uses."""
    if amount != c.amount:
        return amount > c.amount
    if outranks(w.rank, c.rank):
        return True
    if outranks(c.rank, w.rank):
        return False
    return w.amount == amount and w.at < c.at


def stands_above(a: Contender, b: Contender) -> bool:
    if a.amount != b.amount:
        return a.amount > b.amount
    if a.rank != b.rank:
        return outranks(a.rank, b.rank)
    return (a.at, str(a.registration_id)) < (b.at, str(b.registration_id))


@dataclass
class Market:
    ranks: dict[uuid.UUID, int | None]
    leader: Contender | None = None
    maxima: dict[uuid.UUID, Contender] = field(default_factory=dict)
    # (bidder, amount, the set_at of the maximum an automatic bid was placed for; None for a manual bid)
    bids: list[tuple[uuid.UUID, int, datetime | None]] = field(default_factory=list)

    def standing(self) -> list[Contender]:
        """Each bidder once at its best: its maximum or its leading bid."""
        best = dict(self.maxima)
        if self.leader is not None:
            own = best.get(self.leader.registration_id)
            if own is None or stands_above(self.leader, own):
                best[self.leader.registration_id] = self.leader
        return list(best.values())

    def apply(self, now: datetime) -> None:
        before = self.leader.amount if self.leader else None
        standing = self.standing()
        active = [m for m in self.maxima.values() if self._active(m)]
        leader_before = self.leader.registration_id if self.leader else None
        challenged = any(m.registration_id != leader_before for m in active)
        for reg, amount in resolve(self.leader, active):
            self.bids.append((reg, amount, self.maxima[reg].at))
            self.leader = Contender(reg, amount, now, self.maxima[reg].rank)
        self.check(standing, before, leader_before if not challenged else None)

    def _active(self, m: Contender) -> bool:
        if self.leader is None or self.leader.registration_id == m.registration_id:
            return True
        return valid_bid(
            m.amount,
            m.rank,
            current_price=self.leader.amount,
            leader_rank=self.leader.rank,
            start_price=START,
            increment=INC,
        ) or beats(m, m.amount, self.leader)

    def check(
        self, standing: list[Contender], price_before: int | None, unchallenged: uuid.UUID | None
    ) -> None:
        """After the resolution the best of ``standing`` (everyone before it) leads, at the least grid amount
        that ranks it above every other, or at its own bid if that was higher already; a leader that no
        active proxy can challenge stays where it is."""
        if not standing:
            return
        top = [w for w in standing if all(w is c or stands_above(w, c) for c in standing)]
        assert len(top) == 1
        w = top[0]
        assert self.leader is not None and self.leader.registration_id == w.registration_id
        others = [c for c in standing if c is not w]
        least = next(
            (a for a in range(START, w.amount + 1, INC) if all(beats(w, a, c) for c in others)),
            None,
        )
        assert least is not None
        expected = least if price_before is None else max(price_before, least)
        if unchallenged == w.registration_id:
            expected = price_before
        assert self.leader.amount == expected
        for reg, amount, auto in self.bids:
            if auto is not None:
                assert amount <= self.maxima[reg].amount


def ordering_guarantee(market: Market, times: dict[int, datetime]) -> None:
    """SPEC §17.2: amounts never fall; every bid changes the leader; equal neighbours only when allowed."""
    for i, ((r0, a0, _), (r1, a1, auto1)) in enumerate(zip(market.bids, market.bids[1:], strict=False)):
        assert a1 >= a0 and r1 != r0
        if a1 == a0:
            rank0, rank1 = market.ranks[r0], market.ranks[r1]
            assert outranks(rank1, rank0) or (auto1 is not None and auto1 < times[i])


OPERATION = st.tuples(
    st.sampled_from(["bid", "proxy"]),
    st.integers(0, 4),  # bidder
    st.integers(0, 12),  # increments above the minimum next bid
)


@settings(max_examples=400, deadline=None)
@given(
    ranks=st.lists(st.one_of(st.none(), st.integers(1, 3)), min_size=5, max_size=5),
    operations=st.lists(OPERATION, min_size=1, max_size=14),
)
def test_resolution_matches_the_brute_force_model(
    ranks: list[int | None], operations: list[tuple[str, int, int]]
) -> None:
    regs = [uuid.UUID(int=100 + i) for i in range(5)]
    market = Market({r: ranks[i] for i, r in enumerate(regs)})
    times: dict[int, datetime] = {}
    for step, (kind, who, extra) in enumerate(operations):
        now = at(step)
        reg, rank = regs[who], ranks[who]
        current = market.leader.amount if market.leader else None
        minimum = START if current is None else current + INC
        if kind == "bid":
            leader_rank = market.leader.rank if market.leader else None
            if market.leader is not None and market.leader.registration_id == reg:
                continue  # already_leading
            amount = minimum + extra * INC
            if extra == 0 and current is not None and outranks(rank, leader_rank):
                amount = current  # a holder matching the leader
            assert valid_bid(
                amount, rank, current_price=current, leader_rank=leader_rank, start_price=START, increment=INC
            )
            times[len(market.bids)] = now
            market.bids.append((reg, amount, None))
            market.leader = Contender(reg, amount, now, rank)
            market.apply(now)
        else:
            amount = minimum + extra * INC
            old = market.maxima.get(reg)
            if old is not None and amount <= old.amount:
                continue  # proxy_cannot_lower / unchanged
            market.maxima[reg] = Contender(reg, amount, now, rank)
            bids_before = len(market.bids)
            market.apply(now)
            for i in range(bids_before, len(market.bids)):
                times[i] = now
        for i in range(len(market.bids)):
            times.setdefault(i, now)
    ordering_guarantee(market, {i - 1: t for i, t in times.items()})
