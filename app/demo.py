"""Demo data for a first start in development (filled in with the listings domain)."""

from __future__ import annotations

from app.kit.db import Database


async def seed_demo(db: Database, *, only_if_empty: bool) -> None:
    return None
