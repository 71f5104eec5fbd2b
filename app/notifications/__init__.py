"""Notifications (SPEC §17.4): the outbox every domain writes to in its own transaction, watchlists, saved
searches and each organization's inbox. Webhooks (§17.5) subscribe to what is written here."""
