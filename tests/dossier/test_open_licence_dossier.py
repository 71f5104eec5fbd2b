"""An open licence's deal (SPEC §13, §18.7): made paid and settled by the licensee's one request, with no contract
to sign; its dossier has the pricing, the payment and the certificate, cited from the trail."""

from __future__ import annotations

import httpx
import pytest

from app.kit.db import Database
from tests import trading as t
from tests.dossier import helpers as dh
from tests.licensing import helpers as lh
from tests.world import World, org

API = dh.API

pytestmark = pytest.mark.world(uni=org("university"), company=org(funds="60000.00"))


async def test_an_open_licence_is_priced_paid_and_certified(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    op, uni, company = world
    item = await lh.declared(client, op, uni, lump_sum="50000.00", term_months=36)
    r = await client.post(f"{API}/open-licenses/{item['id']}/licenses", headers=company.headers)
    assert r.status_code == 201, r.text
    deal = (await client.get(f"{API}/deals/{r.json()['deal_id']}", headers=op.headers)).json()

    d = await dh.dossier(client, uni, deal["id"])
    assert d["chain_ok"] is True
    assert dh.kinds(d) == ["pricing", "payment", "certificate"]
    assert dh.only(d, "pricing")["facts"] == {
        "source": "open_license",
        "price": "50000.00",
        "open_license_id": item["id"],
    }
    assert dh.only(d, "payment")["facts"] == {"amount_due": deal["amount_due"]}
    assert dh.only(d, "certificate")["facts"]["number"] == deal["certificate_number"]
    await dh.assert_cites_the_trail(client, op, d)
    assert (await t.balance(client, company))["held"] == "0.00"
