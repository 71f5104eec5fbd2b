"""The shared test world (tests/world.py): what the marker asks for is what the fixture makes."""

from __future__ import annotations

import httpx
import pytest

from tests import trading as t
from tests.world import World, org, orgs

pytestmark = pytest.mark.world(
    uni=org("university", name="浙江测试大学"),
    buyers=orgs(2, funds="1234.50"),
    unverified=org(verified=False),
)


async def test_the_marker_makes_the_world(client: httpx.AsyncClient, world: World) -> None:
    op, uni, buyers, unverified = world
    assert (op, uni, buyers, unverified) == (world.op, world.uni, world["buyers"], world.unverified)
    assert op.org_id is None and world.orgs == [uni, *buyers, unverified]
    assert len({a.org_id for a in world.orgs}) == 4
    assert uni.org is not None and (uni.org["name"], uni.org["kind"], uni.org["status"]) == (
        "浙江测试大学",
        "university",
        "verified",
    )
    assert unverified.org is not None and unverified.org["status"] != "verified"
    for buyer in buyers:
        assert buyer.org is not None and buyer.org["kind"] == "enterprise"
        assert (await t.balance(client, buyer))["available"] == "1234.50"
    assert (await t.balance(client, uni))["available"] == "0.00"


@pytest.mark.world(seller=org())
async def test_a_test_s_own_marker_wins(world: World) -> None:
    op, seller = world
    assert world.orgs == [seller]
    with pytest.raises(AttributeError):
        _ = world.uni
    extended = world.add(listing={"id": "x"})
    assert extended is world and world.listing == {"id": "x"} and list(world) == [op, seller]
