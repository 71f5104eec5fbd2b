from __future__ import annotations

import httpx
import pytest

from tests.world import World, build, org


@pytest.fixture
async def world(client: httpx.AsyncClient, db) -> World:  # type: ignore[no-untyped-def]
    """An enterprise ``seller`` (its negotiated deals skip the public notice), a buyer, ``other`` and an
    ``outsider``; ``world.orgs`` lists the four."""
    return await build(
        client, db, seller=org(name="杭州卖方科技有限公司"), buyer=org(), other=org(), outsider=org()
    )
