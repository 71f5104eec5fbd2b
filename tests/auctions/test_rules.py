"""Pure auction maths (app/auctions/rules.py): increments, the countdown, Dutch price, sealed outcome."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from app.auctions import rules
from app.models.listings import AuctionFormat

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
fen = st.integers(min_value=1, max_value=10**12)


def test_english_refusals() -> None:
    kw = {"start_price": 100_000, "increment": 1_000}
    assert rules.english_refusal(100_000, current_price=None, **kw) is None
    assert rules.english_refusal(99_000, current_price=None, **kw) == "bid_too_low"
    assert rules.english_refusal(100_500, current_price=None, **kw) == "bid_not_increment_multiple"
    assert rules.english_refusal(103_000, current_price=None, **kw) is None
    assert rules.english_refusal(103_000, current_price=103_000, **kw) == "bid_too_low"
    assert rules.english_refusal(104_500, current_price=103_000, **kw) == "bid_not_increment_multiple"
    assert rules.english_refusal(106_000, current_price=103_000, **kw) is None


@given(start=fen, increment=fen, current_steps=st.none() | st.integers(0, 1000), amount=fen)
def test_english_rule_matches_its_definition(
    start: int, increment: int, current_steps: int | None, amount: int
) -> None:
    current = None if current_steps is None else start + current_steps * increment
    refusal = rules.english_refusal(amount, current_price=current, start_price=start, increment=increment)
    base = start if current is None else current
    k, rest = divmod(amount - base, increment)
    valid = rest == 0 and (k >= 0 if current is None else k >= 1)
    assert (refusal is None) == valid
    minimum = rules.minimum_next_bid(current_price=current, start_price=start, increment=increment)
    assert (
        rules.english_refusal(minimum, current_price=current, start_price=start, increment=increment) is None
    )


@given(
    ends_offset=st.integers(-10_000, 10_000),
    placed_offset=st.integers(-10_000, 10_000),
    countdown=st.integers(1, 3600),
)
def test_countdown_extension(ends_offset: int, placed_offset: int, countdown: int) -> None:
    ends_at, placed_at = T0 + timedelta(seconds=ends_offset), T0 + timedelta(seconds=placed_offset)
    new_end = rules.extended_ends_at(ends_at, placed_at, countdown)
    assert new_end >= ends_at and new_end >= placed_at + timedelta(seconds=countdown)
    assert new_end in (ends_at, placed_at + timedelta(seconds=countdown))


# A close at 10:00:00 and a 300-second countdown: (when the bid is placed, whether it counts as an extension,
# the close after it), each worked out by hand.
COUNTDOWN_CASES = [
    (datetime(2026, 11, 27, 9, 50, 0, tzinfo=UTC), False, datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)),
    (datetime(2026, 11, 27, 9, 54, 59, 999999, tzinfo=UTC), False, datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
    # exactly five minutes before the close: counts as an extension, and the close stays where it is
    (datetime(2026, 11, 27, 9, 55, 0, tzinfo=UTC), True, datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)),
    (datetime(2026, 11, 27, 9, 55, 0, 1, tzinfo=UTC), True, datetime(2026, 11, 27, 10, 0, 0, 1, tzinfo=UTC)),
    (datetime(2026, 11, 27, 9, 58, 30, tzinfo=UTC), True, datetime(2026, 11, 27, 10, 3, 30, tzinfo=UTC)),
    (datetime(2026, 11, 27, 9, 59, 59, tzinfo=UTC), True, datetime(2026, 11, 27, 10, 4, 59, tzinfo=UTC)),
]


@pytest.mark.parametrize(("placed_at", "extends", "new_end"), COUNTDOWN_CASES)
def test_countdown_examples(placed_at: datetime, extends: bool, new_end: datetime) -> None:
    ends_at = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
    assert rules.extends(ends_at, placed_at, 300) is extends
    assert rules.extended_ends_at(ends_at, placed_at, 300) == new_end


def test_free_bidding_never_extends() -> None:
    plan = rules.schedule(
        AuctionFormat.english, T0, free_bidding_seconds=600, countdown_seconds=300, start_price=1
    )
    assert plan.free_bidding_ends_at is not None
    assert not rules.extends(plan.ends_at, plan.free_bidding_ends_at - timedelta(microseconds=1), 300)


def test_dutch_price_steps() -> None:
    args = (100_000, 80_000, 5_000, 60, T0)
    assert rules.dutch_price(*args, T0 - timedelta(seconds=5)) == 100_000
    assert rules.dutch_price(*args, T0 + timedelta(seconds=59)) == 100_000
    assert rules.dutch_price(*args, T0 + timedelta(seconds=60)) == 95_000
    assert rules.dutch_price(*args, T0 + timedelta(seconds=181)) == 85_000
    assert rules.dutch_price(*args, T0 + timedelta(hours=5)) == 80_000
    plan = rules.schedule(
        AuctionFormat.dutch,
        T0,
        free_bidding_seconds=0,
        countdown_seconds=0,
        start_price=100_000,
        decrement=5_000,
        step_seconds=60,
        floor_price=80_000,
    )
    assert plan.ends_at == T0 + timedelta(seconds=300)


@given(
    start=fen,
    floor_share=st.floats(0, 1),
    decrement=fen,
    step=st.integers(1, 3600),
    t1=st.integers(0, 10**6),
    t2=st.integers(0, 10**6),
)
def test_dutch_price_falls_to_the_floor(
    start: int, floor_share: float, decrement: int, step: int, t1: int, t2: int
) -> None:
    floor = int(start * floor_share)
    a, b = sorted((t1, t2))
    pa = rules.dutch_price(start, floor, decrement, step, T0, T0 + timedelta(seconds=a))
    pb = rules.dutch_price(start, floor, decrement, step, T0, T0 + timedelta(seconds=b))
    assert floor <= pb <= pa <= start
    assert (start - pa) % decrement == 0 or pa == floor


def _bid(amount: int, second: int, seq: int) -> rules.SealedBid:
    return rules.SealedBid(uuid.uuid4(), amount, T0 + timedelta(seconds=second), seq)


def test_sealed_outcomes() -> None:
    a, b, c = _bid(150, 3, 1), _bid(120, 1, 2), _bid(110, 2, 3)
    first = rules.sealed_outcome([a, b, c], start_price=100, second_price=False, reserve_price=None)
    assert first.winner == a and first.price == 150 and first.reserve_met
    second = rules.sealed_outcome([a, b, c], start_price=100, second_price=True, reserve_price=None)
    assert second.winner == a and second.price == 120
    single = rules.sealed_outcome([b], start_price=100, second_price=True, reserve_price=None)
    assert single.winner == b and single.price == 100
    reserve = rules.sealed_outcome([a, b], start_price=100, second_price=False, reserve_price=151)
    assert reserve.winner == a and not reserve.reserve_met
    assert rules.sealed_outcome([], start_price=100, second_price=True, reserve_price=None).winner is None
    # Ties: earliest server time, then acceptance order.
    early, late = _bid(130, 1, 5), _bid(130, 2, 4)
    assert (
        rules.sealed_outcome([late, early], start_price=100, second_price=False, reserve_price=None).winner
        == early
    )
    same_a, same_b = _bid(130, 1, 7), _bid(130, 1, 6)
    assert (
        rules.sealed_outcome([same_a, same_b], start_price=100, second_price=False, reserve_price=None).winner
        == same_b
    )


@given(
    bids=st.lists(st.tuples(st.integers(100, 10_000), st.integers(0, 100)), min_size=1, max_size=30),
    second_price=st.booleans(),
)
def test_sealed_winner_is_the_best_and_pays_at_most_its_bid(
    bids: list[tuple[int, int]], second_price: bool
) -> None:
    sealed = [_bid(amount, second, seq) for seq, (amount, second) in enumerate(bids, start=1)]
    out = rules.sealed_outcome(sealed, start_price=100, second_price=second_price, reserve_price=None)
    assert out.winner is not None and out.price is not None
    assert out.winner.amount == max(b.amount for b in sealed)
    assert all(
        (out.winner.placed_at, out.winner.seq) <= (b.placed_at, b.seq)
        for b in sealed
        if b.amount == out.winner.amount
    )
    assert 100 <= out.price <= out.winner.amount
    if second_price:
        others = sorted((b.amount for b in sealed if b is not out.winner), reverse=True)
        assert out.price == max(others[0] if others else 100, 100)
    else:
        assert out.price == out.winner.amount


@given(price=fen, reserve=st.none() | fen)
def test_reserve_applies_to_every_winner(price: int, reserve: int | None) -> None:
    assert rules.reserve_met(price, reserve) == (reserve is None or price >= reserve)


# --- what terms may imply (SPEC §20) ------------------------------------------------------------------------

DAY = 86_400


def _refusal(fmt: AuctionFormat, created_at: datetime = T0, **kw: int) -> rules.TermsRefusal | None:
    values = {"free_bidding_seconds": 0, "countdown_seconds": 300, "start_price": 100_000_00, **kw}
    return rules.terms_refusal(fmt, created_at, **values)  # type: ignore[arg-type]


def test_the_poison_dutch_clock_is_refused_without_overflowing() -> None:
    """Start 100,000,000.00 yuan, decrement 0.01, one step a day: 10^10 days to the floor (the sweeper's
    ``schedule`` overflowed on exactly these terms)."""
    terms = {"start_price": 100_000_000_00, "decrement": 1, "step_seconds": DAY, "floor_price": 0}
    refusal = _refusal(AuctionFormat.dutch, **terms)
    assert refusal is not None and "30 days" in refusal.message


def test_a_dutch_clock_may_take_exactly_thirty_days_to_the_floor() -> None:
    terms = {"start_price": 30_00, "decrement": 1_00, "floor_price": 0}
    assert _refusal(AuctionFormat.dutch, step_seconds=DAY, **terms) is None  # 30 steps of a day
    assert _refusal(AuctionFormat.dutch, step_seconds=DAY + 1, **terms) is not None
    assert _refusal(AuctionFormat.dutch, step_seconds=DAY, **{**terms, "start_price": 30_01}) is not None
    # Large but valid: a billion yuan falling by ten million yuan every 7 hours reaches the floor in 29 days.
    big = {"start_price": 10**11, "decrement": 10**9, "step_seconds": 7 * 3600, "floor_price": 10**10}
    assert _refusal(AuctionFormat.dutch, **big) is None


def test_every_implied_instant_stays_in_the_date_range() -> None:
    late = datetime(2199, 12, 31, 15, 0, tzinfo=UTC)  # 23:00 on the last day, Shanghai
    assert _refusal(AuctionFormat.english, late, countdown_seconds=3599) is None
    assert _refusal(AuctionFormat.english, late, countdown_seconds=3600) is not None  # 2200-01-01 00:00
    assert _refusal(AuctionFormat.sealed, late, free_bidding_seconds=3600) is not None
    # Two steps to the floor, ending one step later: three steps after the start.
    dutch = {"start_price": 2_00, "decrement": 1_00, "floor_price": 0, "step_seconds": 1199}
    assert _refusal(AuctionFormat.dutch, late, **dutch) is None
    assert _refusal(AuctionFormat.dutch, late, **{**dutch, "step_seconds": 1200}) is not None
    early = datetime(1899, 12, 31, 16, 0, tzinfo=UTC)  # 1900-01-01 00:00 in Shanghai
    assert _refusal(AuctionFormat.english, early) is None
    assert _refusal(AuctionFormat.english, early - timedelta(microseconds=1)) is not None


extreme = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63),
    st.integers(min_value=0, max_value=10**7),
    st.sampled_from([0, 1, 59, 60, 86_399, 86_400, 30 * 86_400, 10**9, 10**12, 10**14, 10**18]),
)


@settings(max_examples=400)
@given(
    fmt=st.sampled_from(list(AuctionFormat)),
    created_offset_days=st.integers(min_value=-130_000, max_value=70_000),
    free=extreme,
    countdown=extreme,
    start=extreme,
    decrement=extreme,
    step=extreme,
    floor=extreme,
)
def test_accepted_terms_always_schedule(
    fmt: AuctionFormat,
    created_offset_days: int,
    free: int,
    countdown: int,
    start: int,
    decrement: int,
    step: int,
    floor: int,
) -> None:
    """Whatever the values, the rule answers without raising; terms it accepts schedule without error, and
    every instant of the schedule lies on a Shanghai day 1900-01-01 … 2199-12-31."""
    if fmt == AuctionFormat.dutch and not (decrement > 0 and step > 0 and 0 <= floor < start):
        event("refused by the listing's own checks")
        return  # refused earlier by the listing's own checks (app/listings/rules.py)
    created = T0 + timedelta(days=created_offset_days)
    terms = {
        "free_bidding_seconds": free,
        "countdown_seconds": countdown,
        "start_price": start,
        "decrement": decrement,
        "step_seconds": step,
        "floor_price": floor,
    }
    if rules.terms_refusal(fmt, created, **terms) is not None:
        event("refused")
        return
    event(f"accepted {fmt}")
    plan = rules.schedule(fmt, created, **terms)
    instants = [plan.starts_at, plan.ends_at, plan.free_bidding_ends_at]
    for instant in instants:
        if instant is not None:
            assert rules.FIRST_INSTANT <= instant < rules.END_OF_RANGE
    if fmt == AuctionFormat.dutch:
        reaches_floor = rules.dutch_steps_to_floor(start, floor, decrement) * step
        assert reaches_floor <= 30 * DAY


@settings(max_examples=300)
@given(
    start=st.integers(min_value=1, max_value=10**14),
    floor_share=st.floats(0, 1, exclude_max=True),
    decrement=st.one_of(st.integers(1, 10**14), st.sampled_from([1, 100, 10**4, 10**6])),
    step=st.integers(1, 86_400),
)
def test_dutch_terms_are_refused_exactly_when_the_floor_is_more_than_thirty_days_away(
    start: int, floor_share: float, decrement: int, step: int
) -> None:
    floor = min(int(start * floor_share), start - 1)
    terms = {"start_price": start, "decrement": decrement, "step_seconds": step, "floor_price": floor}
    refusal = _refusal(AuctionFormat.dutch, **terms)
    to_floor = rules.dutch_steps_to_floor(start, floor, decrement) * step
    event("refused" if refusal else "accepted")
    assert (refusal is None) == (to_floor <= 30 * DAY)
    if refusal is None:
        plan = rules.schedule(AuctionFormat.dutch, T0, free_bidding_seconds=0, countdown_seconds=0, **terms)
        assert plan.ends_at == T0 + timedelta(seconds=to_floor + step) <= T0 + timedelta(days=31)
