from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests import factories as f


@dataclass
class World:
    op: f.Actor
    uni: f.Actor  # a public-institution seller
    buyer: f.Actor
    other: f.Actor  # a second buyer
    outsider: f.Actor  # a verified organization with no thread


@pytest.fixture
async def world(client: httpx.AsyncClient, db) -> World:  # type: ignore[no-untyped-def]
    op = await f.operator(client, db)
    uni = await f.organization(client, kind="university", verified_by=op)
    buyer = await f.organization(client, verified_by=op)
    other = await f.organization(client, verified_by=op)
    outsider = await f.organization(client, verified_by=op)
    return World(op=op, uni=uni, buyer=buyer, other=other, outsider=outsider)
