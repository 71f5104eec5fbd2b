"""Pure rules of listings (SPEC §5): the state machine, terms validation, deadlines. No I/O.

Error codes (all problem+json):

* 409 ``invalid_state`` — a transition the table below does not allow (``check_transition``).
* 422 ``invalid_deposit`` — deposit missing for listed/auction mode, not > 0, or above 30% of the price.
* 422 ``invalid_auction`` — auction terms whose times cannot be (SPEC §20): a Dutch clock that takes more than
  30 days to reach its floor, or an instant the terms imply outside 1900-01-01 … 2199-12-31
  (``app.auctions.rules.terms_refusal``); ``errors[].loc`` is ``["body", "auction"]``.
* 422 ``relist_price_too_low`` — a relisted draft's price below 80% of the listing it relists (SPEC §17.3).
* 422 ``relist_terms_fixed`` — a relisted draft's patents or transaction kind changed (SPEC §17.3).
* 422 ``validation_error`` — any other inconsistent terms; ``errors[].loc`` names the field, e.g.
  ``["body", "price"]`` (price missing for listed/auction, not > 0), ``["body", "auction", "floor_price"]``
  (Dutch settings), ``["body", "license"]`` (licence terms missing for a licence or given for an assignment).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.auctions import rules as auction_rules
from app.kit.errors import InvalidState, Unprocessable
from app.kit.money import format_fen, round_half_up
from app.kit.workdays import WorkdayCalendar
from app.models.listings import AuctionFormat, ListingStatus, PricingMode, SealedPricing, TransactionKind

S = ListingStatus

# Who may move a listing where. Seller: submit, withdraw. Operator: approve, reject, suspend, resume,
# terminate. The trading rules (§8–§11): in_auction, under_contract, sold, expired, failed, and back to
# published when a negotiated deal is cancelled.
TRANSITIONS: dict[ListingStatus, frozenset[ListingStatus]] = {
    S.draft: frozenset({S.pending_review, S.withdrawn}),
    S.pending_review: frozenset({S.published, S.draft, S.withdrawn}),
    S.published: frozenset(
        {S.suspended, S.withdrawn, S.terminated, S.in_auction, S.under_contract, S.expired, S.failed}
    ),
    S.suspended: frozenset({S.published, S.terminated}),
    S.in_auction: frozenset({S.under_contract, S.failed, S.terminated}),
    S.under_contract: frozenset({S.sold, S.published, S.failed}),
    S.sold: frozenset(),
    S.expired: frozenset(),
    S.failed: frozenset(),
    S.withdrawn: frozenset(),
    S.terminated: frozenset(),
}


def check_transition(current: ListingStatus, target: ListingStatus) -> None:
    """The one guard of every status change: 409 ``invalid_state`` unless the table allows it."""
    if target not in TRANSITIONS[ListingStatus(current)]:
        raise InvalidState(f"A listing cannot go from {current} to {target}.")


# --- terms ---------------------------------------------------------------------------------------------

DEFAULT_LISTING_DAYS = 10
MIN_LISTING_DAYS = 5
DEFAULT_EXTENSION_DAYS = 5
DEFAULT_MAX_EXTENSIONS = 1
DEFAULT_MIN_BIDDERS = 2
MAX_DEPOSIT_SHARE = Decimal("0.30")
DEFAULT_FREE_BIDDING_MINUTES = 1440
DEFAULT_COUNTDOWN_SECONDS = 300
LICENSE_KINDS = frozenset(
    {TransactionKind.exclusive_license, TransactionKind.sole_license, TransactionKind.nonexclusive_license}
)


@dataclass
class Terms:
    """What validation needs of a listing (amounts in fen), whether from a request or a stored row."""

    transaction_kind: TransactionKind
    pricing_mode: PricingMode
    price: int | None
    deposit: int | None
    license: dict[str, Any] | None = None
    auction: dict[str, Any] | None = None


def _error(loc: list[str], msg: str, code: str = "validation_error") -> Unprocessable:
    return Unprocessable(msg, code=code, errors=[{"loc": ["body", *loc], "msg": msg}])


def check_price(terms: Terms) -> None:
    """Asking price (optional for negotiated), listed price (listed), start price (auction); > 0 when given."""
    if terms.price is None:
        if terms.pricing_mode != PricingMode.negotiated:
            raise _error(["price"], f"price is required for {terms.pricing_mode} pricing")
    elif terms.price <= 0:
        raise _error(["price"], "price must be greater than zero")


def check_deposit(terms: Terms) -> None:
    """Required for listed and auction modes; 0 < deposit ≤ 30% of price (SPEC §5) → else ``invalid_deposit``."""
    needs = terms.pricing_mode in (PricingMode.listed, PricingMode.auction)
    if terms.deposit is None:
        if needs:
            raise _error(
                ["deposit"], f"a deposit is required for {terms.pricing_mode} pricing", "invalid_deposit"
            )
        return
    if terms.deposit <= 0:
        raise _error(["deposit"], "the deposit must be greater than zero", "invalid_deposit")
    if terms.price is None:
        raise _error(["deposit"], "a deposit needs a price to be measured against", "invalid_deposit")
    if Decimal(terms.deposit) > MAX_DEPOSIT_SHARE * terms.price:
        raise _error(["deposit"], "the deposit may be at most 30% of the price", "invalid_deposit")


def check_license(terms: Terms) -> None:
    """Licence kinds need ``license`` {term_months, territory, field_of_use}; an assignment has none."""
    if terms.transaction_kind in LICENSE_KINDS:
        lic = terms.license or {}
        for name in ("term_months", "territory", "field_of_use"):
            if lic.get(name) in (None, ""):
                raise _error(["license", name], f"license.{name} is required for a {terms.transaction_kind}")
        if int(lic["term_months"]) <= 0:
            raise _error(["license", "term_months"], "term_months must be greater than zero")
    elif terms.license is not None:
        raise _error(["license"], "an assignment has no licence terms")


def check_auction(terms: Terms, *, created_at: datetime | None = None) -> None:
    """Auction settings (auction mode; listed mode may give the increment of a possible English auction).
    ``created_at``: the listing's creation, from which the instants the terms imply are counted (SPEC §20)."""
    auction = terms.auction
    if terms.pricing_mode == PricingMode.negotiated:
        if auction is not None:
            raise _error(["auction"], "negotiated listings have no auction settings")
        return
    if auction is None:
        if terms.pricing_mode == PricingMode.auction:
            raise _error(["auction"], "auction settings are required for auction pricing")
        return
    fmt = AuctionFormat(auction["format"])
    if terms.pricing_mode == PricingMode.listed and fmt != AuctionFormat.english:
        raise _error(["auction", "format"], "a listed-trading auction is always english")
    if auction.get("increment") is None or auction["increment"] <= 0:
        raise _error(["auction", "increment"], "increment must be greater than zero")
    if auction.get("reserve_price") is not None and auction["reserve_price"] <= 0:
        raise _error(["auction", "reserve_price"], "reserve_price must be greater than zero")
    if fmt == AuctionFormat.dutch:
        for name in ("decrement", "step_seconds", "floor_price"):
            if auction.get(name) is None:
                raise _error(["auction", name], f"{name} is required for a Dutch auction")
        if auction["decrement"] <= 0:
            raise _error(["auction", "decrement"], "decrement must be greater than zero")
        if auction["step_seconds"] <= 0:
            raise _error(["auction", "step_seconds"], "step_seconds must be greater than zero")
        if terms.price is not None and not 0 <= auction["floor_price"] < terms.price:
            raise _error(["auction", "floor_price"], "floor_price must be below the start price")
    if terms.price is None:
        return  # nothing to schedule yet (a listed listing without a price is refused by check_price)
    refusal = auction_rules.terms_refusal(
        fmt,
        created_at,
        free_bidding_seconds=int(_or(auction.get("free_bidding_minutes"), DEFAULT_FREE_BIDDING_MINUTES)) * 60,
        countdown_seconds=int(_or(auction.get("countdown_seconds"), DEFAULT_COUNTDOWN_SECONDS)),
        start_price=terms.price,
        decrement=auction.get("decrement"),
        step_seconds=auction.get("step_seconds"),
        floor_price=auction.get("floor_price"),
    )
    if refusal is not None:
        raise _error(["auction"], refusal.message, "invalid_auction")


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def auction_defaults(auction: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stored form of auction settings: every key present, defaults of SPEC §5 filled in."""
    if auction is None:
        return None
    return {
        "format": AuctionFormat(auction["format"]).value,
        "increment": auction.get("increment"),
        "reserve_price": auction.get("reserve_price"),
        "free_bidding_minutes": _or(auction.get("free_bidding_minutes"), DEFAULT_FREE_BIDDING_MINUTES),
        "countdown_seconds": _or(auction.get("countdown_seconds"), DEFAULT_COUNTDOWN_SECONDS),
        "sealed_pricing": SealedPricing(auction.get("sealed_pricing") or SealedPricing.first_price).value,
        "decrement": auction.get("decrement"),
        "step_seconds": auction.get("step_seconds"),
        "floor_price": auction.get("floor_price"),
    }


def validate_terms(terms: Terms, *, created_at: datetime | None = None) -> None:
    """Every rule on the terms of a listing, in the order a client would fix them. ``created_at``: the
    listing's creation (now, for a new one), from which the auction's instants are counted."""
    check_price(terms)
    check_deposit(terms)
    check_license(terms)
    check_auction(terms, created_at=created_at)


def default_increment(price: int) -> int:
    """Listed trading's auction increment when the listing gives none: 1% of the price rounded to whole yuan
    (SPEC §9), never less than one yuan. Fen in, fen out."""
    yuan = round_half_up(Decimal(price) / 100 / 100)
    return max(yuan, 1) * 100


# --- time ------------------------------------------------------------------------------------------------


def listing_ends_at(published_at: datetime, listing_days: int, calendar: WorkdayCalendar) -> datetime:
    """Publication + ``listing_days`` working days, same Shanghai clock time (SPEC §2, §5)."""
    return calendar.add_working_days(published_at, listing_days)


def resumed_ends_at(
    listing_ends_at: datetime | None, suspended_at: datetime, resumed_at: datetime
) -> datetime | None:
    """On resume the listing period is moved later by the time spent suspended (SPEC §5)."""
    if listing_ends_at is None:
        return None
    return listing_ends_at + max(resumed_at - suspended_at, timedelta(0))


# --- relisting (SPEC §17.3) -------------------------------------------------------------------------------

RELIST_WINDOW = timedelta(days=30)
# The states a listing may be relisted from (a failed auction, no bid, a buyer's default; nobody in time).
RELISTABLE = frozenset({S.failed, S.expired})


def relist_by(status: ListingStatus, ended_at: datetime | None) -> datetime | None:
    """Until when a ``failed`` or ``expired`` listing may be relisted: the instant it became so + 30 days;
    None in any other state."""
    if ListingStatus(status) not in RELISTABLE or ended_at is None:
        return None
    return ended_at + RELIST_WINDOW


def relist_floor(previous_price: int) -> int:
    """80% of the previous price, rounded up to the fen (法释〔2016〕18号 art 26: at most 20% lower)."""
    return -(-previous_price * 4 // 5)


def check_relist_price(price: int | None, previous_price: int | None) -> None:
    """A relisted draft's price is at least ``relist_floor`` of the previous listing's price, when that had
    one (a relisted draft may not drop its price then) → else 422 ``relist_price_too_low``."""
    if previous_price is None:
        return
    floor = relist_floor(previous_price)
    if price is None or price < floor:
        raise _error(
            ["price"],
            f"a relisted price must be at least {format_fen(floor)} (80% of the previous price)",
            "relist_price_too_low",
        )


def check_relist_terms(
    *,
    kind: TransactionKind,
    new_kind: TransactionKind,
    patent_ids: Sequence[uuid.UUID],
    new_patent_ids: Sequence[uuid.UUID],
) -> None:
    """A relisted draft keeps the patents and the transaction kind of the listing it relists (the same object
    is listed again) → else 422 ``relist_terms_fixed``. Their order may change."""
    if TransactionKind(new_kind) != TransactionKind(kind):
        raise _error(
            ["transaction_kind"], "a relisted listing keeps its transaction kind", "relist_terms_fixed"
        )
    if set(new_patent_ids) != set(patent_ids):
        raise _error(["patent_ids"], "a relisted listing keeps its patents", "relist_terms_fixed")
