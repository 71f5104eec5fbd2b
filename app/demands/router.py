"""``/demands``, ``/demand-responses``, ``/listings/{id}/matching-demands``: technology demands (SPEC §17.6)."""

from __future__ import annotations

from app.kit.routing import ExchangeRouter

router = ExchangeRouter(tags=["demands"])
