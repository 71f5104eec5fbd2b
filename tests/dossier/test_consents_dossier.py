"""A co-owned patent's deal (SPEC §18.5, §18.7): every owner's consent on the listing's chain is a dossier item,
citing its ``owner_consent_recorded`` event."""

from __future__ import annotations

import httpx
import pytest

from app.kit.db import Database
from tests import factories as f
from tests.dossier import helpers as dh
from tests.negotiation import helpers as n
from tests.owners import helpers as o
from tests.world import World, org

API = dh.API
SHA = "cd" * 32

pytestmark = pytest.mark.world(uni=org("university"), co=org(), buyer=org())


async def test_each_owner_consent_is_an_item_of_the_deal(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    op, uni, co, buyer = world
    person = o.id_number(21)
    patent = await f.patent(client, uni)
    patent = await o.owners_ok(
        client,
        uni,
        patent["id"],
        [o.org_owner(uni, "60"), o.org_owner(co, "30"), o.inventor("张明", person, "10")],
    )
    r = await client.post(
        f"{API}/listings",
        json={
            "title": "一种锂电池隔膜的制备方法",
            "summary": "共有专利。",
            "patent_ids": [patent["id"]],
            "transaction_kind": "assignment",
            "pricing_mode": "negotiated",
            "price": "100000.00",
        },
        headers=uni.headers,
    )
    assert r.status_code == 201, r.text
    listing_id = r.json()["id"]
    path = f"listings/{listing_id}"
    r = await o.consent(client, co, path)
    assert r.status_code == 201, r.text
    r = await o.consent(client, op, path, {"owner_id": o.owner_id(patent, person), "document_sha256": SHA})
    assert r.status_code == 201, r.text
    for actor, verb in ((uni, "submit"), (op, "approve")):
        r = await client.post(f"{API}/listings/{listing_id}/{verb}", headers=actor.headers)
        assert r.status_code == 200, r.text
    offer = await n.offer(client, buyer, listing_id, "100000.00")
    deal_id = (await n.move(client, uni, offer["id"], "accept"))["deal_id"]

    d = await dh.dossier(client, uni, deal_id)
    assert d["chain_ok"] is True
    assert dh.kinds(d) == [
        "owner_consent",
        "owner_consent",
        "listing",
        "pricing",
        "public_notice",
        "contract",
    ]
    dh.assert_ordered(d)
    await dh.assert_cites_the_trail(client, op, d)
    consents = [i for i in d["items"] if i["kind"] == "owner_consent"]
    assert [i["facts"] for i in consents] == [
        {"organization_id": co.org_id, "document_sha256": None},
        {"owner_id": o.owner_id(patent, person), "document_sha256": SHA},
    ]
    assert {(i["audit"]["entity_type"], i["audit"]["entity_id"]) for i in consents} == {
        ("listing", listing_id)
    }
    # No ID number in full (SPEC §18.5).
    r = await client.get(f"{API}/deals/{deal_id}/dossier", headers=op.headers)
    assert person not in r.text
