"""The kinds of notification (SPEC §17.4), the one list webhooks validate their subscriptions against."""

from __future__ import annotations

from typing import Final

KINDS: Final = (
    "outbid",
    "auction_opening",
    "auction_ending_soon",
    "auction_closed",
    "listing_matched",
    "listing_updated",
    "listing_relisted",
    "offer_received",
    "offer_countered",
    "offer_accepted",
    "deal_signing_due",
    "payment_due",
    "objection_filed",
    "licence_filing_due",
    "demand_response_received",
    "demand_response_accepted",
    "royalty_report_due",
    "royalty_overdue",
    "transfer_filing_overdue",
    "licence_filing_overdue",
    "equity_completion_overdue",
    "trial_ending",
    "trial_lapsed",
)
