"""The dossier of a settled auction deal (SPEC §18.7, §20): the seller sees the auction that priced the deal and
the winner it made a party, never the losing bidders' organizations."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.kit.db import Database
from tests import factories as f
from tests import trading as t
from tests.dossier import helpers as dh
from tests.invariants import assert_invariants
from tests.settlement import helpers as h
from tests.world import World, org, orgs

API = dh.API
AUCTION = {"format": "english", "increment": "1000.00", "free_bidding_minutes": 0, "countdown_seconds": 300}

pytestmark = pytest.mark.world(
    seller=org("university", name="浙江竞价大学"), bidders=orgs(3, funds="10000.00"), outsider=org()
)


def _identities(actor: f.Actor) -> list[str]:
    assert actor.org is not None
    return [str(actor.org_id), actor.org["name"], actor.org["credit_code"], actor.id, actor.email]


async def test_a_settled_auction_deal_names_no_losing_bidder(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    op, seller, bidders, outsider = world
    listing = await t.published_listing(
        client, op, seller, pricing_mode="auction", price="100000.00", deposit="10000.00", auction=AUCTION
    )
    for bidder in bidders:
        r = await client.post(f"{API}/listings/{listing['id']}/registrations", headers=bidder.headers)
        assert r.status_code == 201, r.text
    await t.advance_past(client, listing["listing_ends_at"])
    url = f"{API}/auctions/{listing['auction_id']}"
    last: dict[str, Any] = {}
    for bidder, amount in zip(bidders, ("100000.00", "101000.00", "102000.00"), strict=True):
        r = await client.post(f"{url}/bids", json={"amount": amount}, headers=bidder.headers)
        assert r.status_code == 201, r.text
        last = r.json()
    await t.advance_past(client, last["ends_at"])
    view = (await client.get(url)).json()
    assert view["status"] == "closed" and view["deal_id"]
    winner, losers = bidders[2], bidders[:2]
    case = h.DealCase(op, seller, winner, outsider, listing, await h.get(client, op, view["deal_id"]))
    await h.settled(client, db, case)

    d = await dh.dossier(client, seller, case.id)
    assert d["chain_ok"] is True
    assert dh.kinds(d) == [
        "listing",
        "pricing",
        "signature",
        "contract",
        "signature",
        "payment",
        "certificate",
    ]
    dh.assert_ordered(d)
    await dh.assert_cites_the_trail(client, op, d)
    assert dh.only(d, "listing")["facts"]["pricing_mode"] == "auction"
    assert dh.only(d, "pricing")["facts"] == {
        "source": "auction",
        "price": "102000.00",
        "auction_id": listing["auction_id"],
    }
    signatures = [i["facts"]["organization_id"] for i in d["items"] if i["kind"] == "signature"]
    assert signatures == [seller.org_id, winner.org_id]  # the winner, named to the seller through the deal
    assert dh.only(d, "payment")["facts"] == {"amount_due": case.deal["amount_due"]}

    # SPEC §20: the losing bidders are never named, in the JSON or in the PDF.
    r = await client.get(f"{API}/deals/{case.id}/dossier", headers=seller.headers)
    pdf = await client.get(f"{API}/deals/{case.id}/dossier/pdf", headers=seller.headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    printed = dh.pdf_text(pdf.content)
    for loser in losers:
        for identity in _identities(loser):
            assert identity not in r.text and identity.replace(" ", "") not in printed, identity
    # The winner (the buyer) does not read the seller's dossier; the losers neither.
    for reader in bidders:
        r = await client.get(f"{API}/deals/{case.id}/dossier", headers=reader.headers)
        assert r.status_code == 404
    await assert_invariants(db)
