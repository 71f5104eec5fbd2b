"""A trial's conversion deal (SPEC §18.3, §18.7): its pricing item names the trial, with no listing item."""

from __future__ import annotations

import httpx
import pytest

from app.kit.db import Database
from tests.dossier import helpers as dh
from tests.trials import helpers as th
from tests.world import World, org

API = dh.API

pytestmark = pytest.mark.world(uni=org("university"), company=org())


async def test_a_converted_trial_is_priced_by_its_trial(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    op, uni, company = world
    await th.make_sme(client, op, company)
    offer = await th.offered(client, op, uni)
    trial = await th.started(client, company, offer["id"])
    r = await client.post(f"{API}/trials/{trial['id']}/convert", headers=company.headers)
    assert r.status_code == 200, r.text
    deal_id = r.json()["deal_id"]

    d = await dh.dossier(client, uni, deal_id)
    assert d["chain_ok"] is True
    assert "listing" not in dh.kinds(d)
    assert dh.only(d, "pricing")["facts"] == {
        "source": "trial",
        "price": "200000.00",
        "trial_id": trial["id"],
    }
    dh.assert_ordered(d)
    await dh.assert_cites_the_trail(client, op, d)
    r = await client.get(f"{API}/deals/{deal_id}/dossier", headers=company.headers)
    assert r.status_code == 404
