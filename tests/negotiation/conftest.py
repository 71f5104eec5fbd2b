from __future__ import annotations

import httpx
import pytest

from tests.world import World, build, org


@pytest.fixture
async def world(client: httpx.AsyncClient, db) -> World:  # type: ignore[no-untyped-def]
    """A public-institution seller (``uni``), a buyer, a second buyer (``other``) and an ``outsider``."""
    return await build(client, db, uni=org("university"), buyer=org(), other=org(), outsider=org())
