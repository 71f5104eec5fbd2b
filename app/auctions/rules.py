"""Pure auction maths (SPEC §10, DOMAIN.md "Online bidding"). Amounts in fen, times aware UTC."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.models.listings import AuctionFormat


@dataclass(frozen=True)
class Schedule:
    starts_at: datetime
    free_bidding_ends_at: datetime | None
    ends_at: datetime


def dutch_steps_to_floor(start_price: int, floor_price: int, decrement: int) -> int:
    """How many decrements until the clock price first reaches the floor."""
    gap = max(start_price - floor_price, 0)
    return -(-gap // decrement)


def dutch_price(
    start_price: int, floor_price: int, decrement: int, step_seconds: int, starts_at: datetime, t: datetime
) -> int:
    """``max(floor, start − decrement × ⌊(t − starts_at) / step_seconds⌋)``; the start price before the start."""
    elapsed = max((t - starts_at).total_seconds(), 0.0)
    steps = int(elapsed // step_seconds)
    return max(floor_price, start_price - decrement * steps)


def schedule(
    fmt: AuctionFormat,
    starts_at: datetime,
    *,
    free_bidding_seconds: int,
    countdown_seconds: int,
    start_price: int,
    decrement: int | None = None,
    step_seconds: int | None = None,
    floor_price: int | None = None,
) -> Schedule:
    """When an auction opened at ``starts_at`` first ends (SPEC §10):

    - English: free bidding, then the countdown: first ``ends_at`` = free bidding end + countdown.
    - Sealed: ``ends_at`` = start + the free-bidding period (the one quotation window).
    - Dutch: one step after the price first reaches the floor.
    """
    if fmt == AuctionFormat.english:
        free_end = starts_at + timedelta(seconds=free_bidding_seconds)
        return Schedule(starts_at, free_end, free_end + timedelta(seconds=countdown_seconds))
    if fmt == AuctionFormat.sealed:
        return Schedule(starts_at, None, starts_at + timedelta(seconds=free_bidding_seconds))
    assert decrement and step_seconds and floor_price is not None
    steps = dutch_steps_to_floor(start_price, floor_price, decrement)
    return Schedule(starts_at, None, starts_at + timedelta(seconds=step_seconds * (steps + 1)))


def extended_ends_at(ends_at: datetime, placed_at: datetime, countdown_seconds: int) -> datetime:
    """Every accepted English bid sets ``ends_at = max(ends_at, placed_at + countdown)`` (no cap)."""
    return max(ends_at, placed_at + timedelta(seconds=countdown_seconds))


# --- bidding ------------------------------------------------------------------------------------------------


def english_refusal(
    amount: int, *, current_price: int | None, start_price: int, increment: int
) -> str | None:
    """Why an English bid is refused on price, or None (SPEC §10, DOMAIN.md 加价幅度).

    The first bid is at least the start price and a whole multiple of ``increment`` above it; each later bid
    exceeds the current price by a positive whole multiple of ``increment``. The conditional UPDATE of the bid
    states the same rule in SQL; this is the rule's readable form, used to explain a refusal.
    """
    base = start_price if current_price is None else current_price
    minimum = start_price if current_price is None else current_price + increment
    if amount < minimum:
        return "bid_too_low"
    if (amount - base) % increment != 0:
        return "bid_not_increment_multiple"
    return None


def minimum_next_bid(*, current_price: int | None, start_price: int, increment: int) -> int:
    return start_price if current_price is None else current_price + increment


def extends(ends_at: datetime, placed_at: datetime, countdown_seconds: int) -> bool:
    """Whether a bid at ``placed_at`` moves (or exactly meets) the close: the countdown rule's trigger.

    The bid's UPDATE counts an extension when ``placed_at + countdown >= ends_at``; equality (to the
    microsecond) counts as one so that the SQL and the event numbering never disagree.
    """
    return placed_at + timedelta(seconds=countdown_seconds) >= ends_at


def reserve_met(price: int, reserve_price: int | None) -> bool:
    """A hidden reserve (保留价, 拍卖法 arts 28, 50) applies to every winner, a single bidder included."""
    return reserve_price is None or price >= reserve_price


# --- sealed outcome -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedBid:
    registration_id: uuid.UUID
    amount: int
    placed_at: datetime
    seq: int


@dataclass(frozen=True)
class SealedOutcome:
    winner: SealedBid | None
    price: int | None  # what the winner pays (None without bids)
    reserve_met: bool


def sealed_ranking(bids: list[SealedBid]) -> list[SealedBid]:
    """价格优先、时间优先: highest amount first, ties by earliest server time, then by acceptance order."""
    return sorted(bids, key=lambda b: (-b.amount, b.placed_at, b.seq))


def sealed_outcome(
    bids: list[SealedBid], *, start_price: int, second_price: bool, reserve_price: int | None
) -> SealedOutcome:
    """The winner of a sealed auction and the price it pays (SPEC §10).

    First price: the winner pays its bid. Second price: the larger of the second highest bid and the start
    price (a single bid pays the start price). The reserve is checked against the winning bid, like the
    English rule "the highest bid wins if it meets the hidden reserve".
    """
    ranked = sealed_ranking(bids)
    if not ranked:
        return SealedOutcome(None, None, False)
    top = ranked[0]
    if second_price:
        runner_up = ranked[1].amount if len(ranked) > 1 else start_price
        price = max(runner_up, start_price)
    else:
        price = top.amount
    return SealedOutcome(top, price, reserve_met(top.amount, reserve_price))
