"""Imports every module that registers a kind of deadline with the sweeper (``register(...)`` at import)."""

from __future__ import annotations


def load() -> None:
    # Each domain's deadlines module registers itself when imported; add new ones here.
    import app.auctions.deadlines
    import app.contracts.deadlines
    import app.demands.deadlines
    import app.equity.deadlines
    import app.filings.deadlines
    import app.negotiation.deadlines
    import app.registrations.deadlines
    import app.royalties.deadlines
    import app.settlement.deadlines
    import app.trials.deadlines  # noqa: F401
