"""``/webhooks``, ``/webhook-deliveries``: an organization admin's webhook subscriptions (SPEC §17.5)."""

from __future__ import annotations

from app.kit.routing import ExchangeRouter

router = ExchangeRouter(tags=["webhooks"])
