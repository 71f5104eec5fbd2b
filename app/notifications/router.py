"""``/watchlist``, ``/saved-searches``, ``/notifications``: an organization's watchlist, saved searches and
inbox (SPEC §17.4)."""

from __future__ import annotations

from app.kit.routing import ExchangeRouter

router = ExchangeRouter(tags=["notifications"])
