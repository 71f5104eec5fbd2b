"""Pure auction maths (SPEC §10, DOMAIN.md "Online bidding"). Amounts in fen, times aware UTC."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from app.kit.dates import EARLIEST, LATEST
from app.models.listings import AuctionFormat

# SPEC §20: a Dutch clock reaches its floor within 30 days of its start, and every instant an auction's terms
# imply lies on a day from 1900-01-01 to 2199-12-31 in China Standard Time: [FIRST_INSTANT, END_OF_RANGE).
# A fixed +08:00, not the Asia/Shanghai zone, whose 1900 offset is local mean time (+08:05:43).
DUTCH_MAX_SECONDS_TO_FLOOR = 30 * 86_400
_CST = timezone(timedelta(hours=8))
FIRST_INSTANT = datetime.combine(EARLIEST, time.min, _CST)
END_OF_RANGE = datetime.combine(LATEST + timedelta(days=1), time.min, _CST)
_MICROSECOND = timedelta(microseconds=1)


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


@dataclass(frozen=True)
class Offsets:
    """A schedule as whole seconds after the start: plain integers, so any terms can be measured (a
    ``timedelta`` of 10^15 seconds would overflow before it could be compared with anything)."""

    free_bidding_ends: int | None
    reaches_floor: int | None  # Dutch: when the clock price first reaches the floor
    ends: int


def schedule_offsets(
    fmt: AuctionFormat,
    *,
    free_bidding_seconds: int,
    countdown_seconds: int,
    start_price: int,
    decrement: int | None = None,
    step_seconds: int | None = None,
    floor_price: int | None = None,
) -> Offsets:
    """When an auction first ends, counted from its start (SPEC §10):

    - English: free bidding, then the countdown: first ``ends_at`` = free bidding end + countdown.
    - Sealed: ``ends_at`` = start + the free-bidding period (the one quotation window).
    - Dutch: one step after the price first reaches the floor.
    """
    if fmt == AuctionFormat.english:
        return Offsets(free_bidding_seconds, None, free_bidding_seconds + countdown_seconds)
    if fmt == AuctionFormat.sealed:
        return Offsets(None, None, free_bidding_seconds)
    assert decrement and step_seconds and floor_price is not None
    steps = dutch_steps_to_floor(start_price, floor_price, decrement)
    return Offsets(None, step_seconds * steps, step_seconds * (steps + 1))


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
    """The instants of an auction opened at ``starts_at`` (``schedule_offsets``). Terms that passed
    ``terms_refusal`` always schedule; others may raise ``OverflowError``."""
    offsets = schedule_offsets(
        fmt,
        free_bidding_seconds=free_bidding_seconds,
        countdown_seconds=countdown_seconds,
        start_price=start_price,
        decrement=decrement,
        step_seconds=step_seconds,
        floor_price=floor_price,
    )
    free_end = offsets.free_bidding_ends
    return Schedule(
        starts_at,
        None if free_end is None else starts_at + timedelta(seconds=free_end),
        starts_at + timedelta(seconds=offsets.ends),
    )


@dataclass(frozen=True)
class TermsRefusal:
    message: str


def terms_refusal(
    fmt: AuctionFormat,
    created_at: datetime | None,
    *,
    free_bidding_seconds: int,
    countdown_seconds: int,
    start_price: int,
    decrement: int | None = None,
    step_seconds: int | None = None,
    floor_price: int | None = None,
) -> TermsRefusal | None:
    """Why an auction's terms are refused on time, or None (SPEC §20; 422 ``invalid_auction``):

    - a Dutch clock must reach its floor within 30 days (``DUTCH_MAX_SECONDS_TO_FLOOR``) of its start;
    - every instant the terms imply (free bidding end, first close, Dutch steps), counted from the listing's
      creation ``created_at``, must lie in [``FIRST_INSTANT``, ``END_OF_RANGE``) (not checked without one).

    Dutch terms must already have a positive decrement and step and a floor below the start (the listing's
    own checks). Never raises, whatever the integers: everything is compared as integers before any
    ``timedelta`` is built, so terms it accepts can be scheduled without overflow.
    """
    offsets = schedule_offsets(
        fmt,
        free_bidding_seconds=free_bidding_seconds,
        countdown_seconds=countdown_seconds,
        start_price=start_price,
        decrement=decrement,
        step_seconds=step_seconds,
        floor_price=floor_price,
    )
    if offsets.reaches_floor is not None and offsets.reaches_floor > DUTCH_MAX_SECONDS_TO_FLOOR:
        days = offsets.reaches_floor / 86_400
        return TermsRefusal(
            f"a Dutch clock must reach its floor within 30 days of its start; these terms take {days:,.1f} "
            "days (raise the decrement or the floor, or shorten step_seconds)"
        )
    if created_at is None:
        return None
    implied = [
        0,
        offsets.ends,
        *(o for o in (offsets.free_bidding_ends, offsets.reaches_floor) if o is not None),
    ]
    micros_after_first = (created_at - FIRST_INSTANT) // _MICROSECOND
    micros_to_end = (END_OF_RANGE - created_at) // _MICROSECOND
    if min(implied) * 1_000_000 < -micros_after_first or max(implied) * 1_000_000 >= micros_to_end:
        return TermsRefusal(
            f"every instant of the auction, counted from the listing's creation, must fall between "
            f"{EARLIEST.isoformat()} and {LATEST.isoformat()}"
        )
    return None


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


# --- proxy and priority bidding (SPEC §17.1, §17.2) ---------------------------------------------------------


def outranks(rank: int | None, other: int | None) -> bool:
    """At an equal amount: a priority holder outranks a non-holder, a lower rank number a higher one."""
    return rank is not None and (other is None or rank < other)


@dataclass(frozen=True)
class Contender:
    """A bidder as the resolution ranks it: a proxy at its maximum and ``set_at``, the leader at its bid and
    that bid's time. ``rank`` is its priority rank (None: no right)."""

    registration_id: uuid.UUID
    amount: int
    at: datetime
    rank: int | None


def _ranking(c: Contender) -> tuple[int, int, datetime, str]:
    # A higher amount first; at equal amounts the better priority (ranks are 1-9, none counts as 10), then the
    # earlier time; the registration id only makes the order total.
    return (-c.amount, c.rank if c.rank is not None else 10, c.at, str(c.registration_id))


def ranked_contenders(leader: Contender | None, proxies: list[Contender]) -> list[Contender]:
    """Every bidder once, best first: the active proxies and the leader, whose own proxy stands for it when
    that ranks it higher."""
    best = {p.registration_id: p for p in proxies}
    if leader is not None:
        own = best.get(leader.registration_id)
        if own is None or _ranking(leader) < _ranking(own):
            best[leader.registration_id] = leader
    return sorted(best.values(), key=_ranking)


def valid_bid(
    amount: int,
    rank: int | None,
    *,
    current_price: int | None,
    leader_rank: int | None,
    start_price: int,
    increment: int,
) -> bool:
    """Whether an English bid of ``amount`` by a bidder of priority ``rank`` is acceptable now (SPEC §10,
    §17.2): on the grid, above the current price, or equal to it when the bidder outranks the leader."""
    if current_price is None:
        return amount >= start_price and (amount - start_price) % increment == 0
    if (amount - current_price) % increment != 0:
        return False
    return amount > current_price or (amount == current_price and outranks(rank, leader_rank))


def resolve_proxies(
    leader: Contender | None, proxies: list[Contender], *, increment: int, start_price: int
) -> list[tuple[uuid.UUID, int]]:
    """The automatic bids that answer the present state (SPEC §17.1 "Resolution"), in order: at most one for
    the runner-up S (its whole maximum, when that is a valid bid) and one for the top-ranked W (the least grid
    amount that ranks it above S, never above its maximum; a lone proxy before any bid bids the start price).
    ``leader`` carries its current bid; ``proxies`` the active proxies of qualified registrations."""
    ranked = ranked_contenders(leader, proxies)
    if not ranked:
        return []
    bids: list[tuple[uuid.UUID, int]] = []
    leading = leader
    w, s = ranked[0], ranked[1] if len(ranked) > 1 else None
    challenger = s is not None and (leading is None or s.registration_id != leading.registration_id)
    if (
        s is not None
        and challenger
        and valid_bid(
            s.amount,
            s.rank,
            current_price=leading.amount if leading else None,
            leader_rank=leading.rank if leading else None,
            start_price=start_price,
            increment=increment,
        )
    ):
        bids.append((s.registration_id, s.amount))
        leading = s
    if leading is None or w.registration_id != leading.registration_id:
        if s is None:
            amount = start_price
        elif outranks(w.rank, s.rank) or (w.amount == s.amount and w.at < s.at):
            amount = s.amount
        else:
            amount = s.amount + increment
        bids.append((w.registration_id, min(amount, w.amount)))
    return bids
