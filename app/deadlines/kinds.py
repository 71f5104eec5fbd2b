"""Imports every module that registers a kind of deadline with the sweeper (``register(...)`` at import)."""

from __future__ import annotations


def load() -> None:
    # Each domain's deadlines module registers itself when imported; add new ones here.
    import app.auctions.deadlines  # noqa: F401
    import app.deadlines.sweeper  # noqa: F401  (keeps this function non-empty until domains register)
    import app.negotiation.deadlines  # noqa: F401
    import app.registrations.deadlines  # noqa: F401
