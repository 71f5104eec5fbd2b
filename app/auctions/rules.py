"""Pure auction maths (SPEC §10, DOMAIN.md "Online bidding"). Amounts in fen, times aware UTC."""

from __future__ import annotations

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
