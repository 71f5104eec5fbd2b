from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests import factories as f


@dataclass
class World:
    op: f.Actor
    seller: f.Actor  # an enterprise: its negotiated deals skip the public notice
    buyer: f.Actor
    other: f.Actor
    outsider: f.Actor

    @property
    def orgs(self) -> list[f.Actor]:
        return [self.seller, self.buyer, self.other, self.outsider]


@pytest.fixture
async def world(client: httpx.AsyncClient, db) -> World:  # type: ignore[no-untyped-def]
    op = await f.operator(client, db)
    return World(
        op=op,
        seller=await f.organization(client, verified_by=op, name="杭州卖方科技有限公司"),
        buyer=await f.organization(client, verified_by=op),
        other=await f.organization(client, verified_by=op),
        outsider=await f.organization(client, verified_by=op),
    )
