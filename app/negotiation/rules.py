"""Pure rules of negotiation (SPEC §8). No I/O.

A thread is one (listing, buyer organization) pair; its moves alternate between the buyer and the seller and
at most one move is ``open`` at a time. Whoever did not make the open move is its *receiver*: only the
receiver may counter, accept or reject it, only its maker may withdraw it.

Error codes (all problem+json):

* 403 ``forbidden`` — the caller is a party of the thread but not the one the action belongs to.
* 404 ``not_found`` — the caller is not a party (another organization's offer is private).
* 409 ``invalid_state`` — the offer is not open, or the listing no longer takes offers.
* 409 ``offer_expired`` — the offer's ``expires_at`` has passed.
* 409 ``offer_already_open`` — the buyer's thread already has an open move.
* 422 ``validation_error`` — e.g. ``expires_at`` not in the future.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from app.kit.errors import Conflict, InvalidState, Unprocessable
from app.models.listings import EXCLUSIVE_KINDS, Listing, ListingStatus, PricingMode, TransactionKind
from app.models.trading import OfferStatus


class Party(StrEnum):
    buyer = "buyer"
    seller = "seller"


RECEIVER = {Party.buyer: Party.seller, Party.seller: Party.buyer}


class OfferExpired(Conflict):
    code = "offer_expired"


class OfferAlreadyOpen(Conflict):
    code = "offer_already_open"


def receiver_of(made_by: str) -> Party:
    return RECEIVER[Party(made_by)]


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    """An offer's own limit has passed. (Without ``expires_at`` the listing's end is the limit, handled by
    the listing's own deadline.)"""
    return expires_at is not None and expires_at <= now


def effective_status(status: str, expires_at: datetime | None, now: datetime) -> OfferStatus:
    """What a reader sees: an open offer past its ``expires_at`` is ``expired`` even before the sweeper has
    written it (DESIGN.md "Deadlines": correctness never depends on the loop's timing)."""
    if status == OfferStatus.open and is_expired(expires_at, now):
        return OfferStatus.expired
    return OfferStatus(status)


def check_listing_takes_offers(listing: Listing, now: datetime) -> None:
    """Offers, counters and acceptances need a ``negotiated`` listing that is ``published`` and whose period
    has not ended (even if the deadline sweeper has not processed the end yet) → else 409 ``invalid_state``."""
    if listing.pricing_mode != PricingMode.negotiated:
        raise InvalidState("Offers are only for negotiated listings.")
    if listing.status != ListingStatus.published:
        raise InvalidState(f"The listing is {listing.status} and takes no offers.")
    if listing.listing_ends_at is None or listing.listing_ends_at <= now:
        raise InvalidState("The listing period has ended.")


def check_expires_at(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is not None and expires_at <= now:
        raise Unprocessable(
            "expires_at must be in the future.",
            errors=[{"loc": ["body", "expires_at"], "msg": "must be later than now"}],
        )


def is_exclusive(kind: TransactionKind | str) -> bool:
    """Assignment, exclusive and sole licences sell once: one accepted offer closes every other thread."""
    return TransactionKind(kind) in EXCLUSIVE_KINDS
