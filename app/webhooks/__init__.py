"""Webhooks (SPEC §17.5): organizations' subscriptions, signed deliveries of notifications, the delivery worker."""
