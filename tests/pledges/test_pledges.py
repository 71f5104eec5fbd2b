"""Pledges over HTTP (SPEC §14): lifecycle, the pledgee's consents to listings and open licences, preservation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from app.models.trading import Deal
from app.pledges.service import unconsented_pledges_for_deal
from tests import factories as f
from tests.invariants import assert_invariants
from tests.licensing import helpers as h
from tests.world import org

pytestmark = pytest.mark.world(uni=org("university"), bank=org("financial_institution"))


def pledge_body(bank: f.Actor, **overrides: Any) -> dict[str, Any]:
    return {"pledgee_org_id": bank.org_id, "amount": "2000000.00", "ends_on": "2030-12-31", **overrides}


async def active_pledge(
    client: httpx.AsyncClient, owner: f.Actor, bank: f.Actor, patent_id: str
) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/patents/{patent_id}/pledges", json=pledge_body(bank), headers=owner.headers
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/pledges/{r.json()['id']}/confirm", headers=bank.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def pledged_flag(client: httpx.AsyncClient, owner: f.Actor, patent_id: str) -> bool:
    r = await client.get(f"/api/v1/patents/{patent_id}", headers=owner.headers)
    return bool(r.json()["pledged"])


def listing_body(patent_id: str, kind: str = "assignment") -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "一种锂电池隔膜的制备方法",
        "summary": "转让。",
        "patent_ids": [patent_id],
        "transaction_kind": kind,
        "pricing_mode": "negotiated",
        "price": "500000.00",
    }
    return body


async def test_lifecycle_pending_active_consent_release(client: httpx.AsyncClient, db, world) -> None:
    _op, uni, bank = world
    p = await h.patent(client, uni)
    r = await client.post(f"/api/v1/patents/{p['id']}/pledges", json=pledge_body(bank), headers=uni.headers)
    assert r.status_code == 201, r.text
    pledge = r.json()
    assert pledge["status"] == "pending" and pledge["amount"] == "2000000.00" and pledge["consents"] == []
    assert not await pledged_flag(client, uni, p["id"])
    # Only the pledgee confirms.
    r = await client.post(f"/api/v1/pledges/{pledge['id']}/confirm", headers=uni.headers)
    assert r.status_code == 403
    r = await client.post(f"/api/v1/pledges/{pledge['id']}/confirm", headers=bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "active" and r.json()["confirmed_at"]
    assert await pledged_flag(client, uni, p["id"])
    r = await client.post(f"/api/v1/pledges/{pledge['id']}/confirm", headers=bank.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    # A consent for a draft listing.
    r = await client.post("/api/v1/listings", json=listing_body(p["id"]), headers=uni.headers)
    listing_id = r.json()["id"]
    r = await client.post(
        f"/api/v1/pledges/{pledge['id']}/consents", json={"listing_id": listing_id}, headers=uni.headers
    )
    assert r.status_code == 403
    r = await client.post(
        f"/api/v1/pledges/{pledge['id']}/consents", json={"listing_id": listing_id}, headers=bank.headers
    )
    assert r.status_code == 201, r.text
    consent = r.json()
    assert consent["listing_id"] == listing_id and consent["pledge_id"] == pledge["id"]
    r = await client.post(
        f"/api/v1/pledges/{pledge['id']}/consents", json={"listing_id": listing_id}, headers=bank.headers
    )
    assert r.status_code == 201 and r.json()["id"] == consent["id"]
    r = await client.get(f"/api/v1/pledges/{pledge['id']}", headers=uni.headers)
    assert [c["id"] for c in r.json()["consents"]] == [consent["id"]]
    # Release by the pledgee only.
    r = await client.post(f"/api/v1/pledges/{pledge['id']}/release", headers=uni.headers)
    assert r.status_code == 403
    r = await client.post(f"/api/v1/pledges/{pledge['id']}/release", headers=bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "released" and r.json()["released_at"]
    assert not await pledged_flag(client, uni, p["id"])
    # Lists and visibility: both parties see it, an outsider does not.
    r = await client.get("/api/v1/pledges", params={"patent_id": p["id"]}, headers=bank.headers)
    assert [x["id"] for x in r.json()["items"]] == [pledge["id"]]
    outsider = await f.organization(client, verified_by=_op)
    assert (await client.get(f"/api/v1/pledges/{pledge['id']}", headers=outsider.headers)).status_code == 404
    r = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "pledge", "entity_id": pledge["id"]},
        headers=bank.headers,
    )
    assert [e["action"] for e in r.json()["items"]] == ["created", "confirmed", "consent_given", "released"]
    await assert_invariants(db)


async def test_pledge_creation_rules(client: httpx.AsyncClient, db, world) -> None:
    op, uni, bank = world
    company = await f.organization(client, verified_by=op)
    p = await h.patent(client, uni)
    url = f"/api/v1/patents/{p['id']}/pledges"
    r = await client.post(url, json=pledge_body(company), headers=uni.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "pledgee_org_id"]
    unverified_bank = await f.organization(client, kind="financial_institution")
    r = await client.post(url, json=pledge_body(unverified_bank), headers=uni.headers)
    assert r.status_code == 422
    r = await client.post(url, json=pledge_body(bank, ends_on="2001-01-01"), headers=uni.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "ends_on"]
    r = await client.post(url, json=pledge_body(bank, amount="0.00"), headers=uni.headers)
    assert r.status_code == 422
    r = await client.post(url, json=pledge_body(bank), headers=company.headers)
    assert r.status_code == 404
    pending = await h.patent(client, uni, grant_date=None)
    r = await client.post(
        f"/api/v1/patents/{pending['id']}/pledges", json=pledge_body(bank), headers=uni.headers
    )
    assert r.status_code == 409 and r.json()["code"] == "patent_not_granted"
    first = await client.post(url, json=pledge_body(bank), headers=uni.headers)
    assert first.status_code == 201
    r = await client.post(url, json=pledge_body(bank), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_pledged"
    r = await client.post(f"/api/v1/pledges/{first.json()['id']}/cancel", headers=bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = await client.post(url, json=pledge_body(bank), headers=uni.headers)
    assert r.status_code == 201
    await assert_invariants(db)


async def test_preservation_freezes_pledges(client: httpx.AsyncClient, db, world) -> None:
    op, uni, bank = world
    p = await h.patent(client, uni)
    r = await client.post(f"/api/v1/patents/{p['id']}/pledges", json=pledge_body(bank), headers=uni.headers)
    pledge_id = r.json()["id"]
    await h.set_preservation(client, op, p["id"], True)
    r = await client.post(f"/api/v1/pledges/{pledge_id}/confirm", headers=bank.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_preserved"
    other = await h.patent(client, uni)
    await h.set_preservation(client, op, other["id"], True)
    r = await client.post(
        f"/api/v1/patents/{other['id']}/pledges", json=pledge_body(bank), headers=uni.headers
    )
    assert r.status_code == 409 and r.json()["code"] == "patent_preserved"
    # Listing creation refuses a preserved patent already (SPEC §5).
    r = await client.post("/api/v1/listings", json=listing_body(other["id"]), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_not_transferable"
    await assert_invariants(db)


async def test_listing_submission_needs_the_pledgees_consent(client: httpx.AsyncClient, db, world) -> None:
    _op, uni, bank = world
    p = await h.patent(client, uni)
    pledge = await active_pledge(client, uni, bank, p["id"])
    r = await client.post("/api/v1/listings", json=listing_body(p["id"]), headers=uni.headers)
    assert r.status_code == 201  # a draft may be prepared
    listing_id = r.json()["id"]
    r = await client.post(f"/api/v1/listings/{listing_id}/submit", headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_pledged"
    # A consent to another listing does not count.
    r = await client.post(
        "/api/v1/listings",
        json=listing_body(p["id"], "nonexclusive_license")
        | {"license": {"term_months": 12, "territory": "中国", "field_of_use": "全部"}},
        headers=uni.headers,
    )
    other_id = r.json()["id"]
    r = await client.post(
        f"/api/v1/pledges/{pledge['id']}/consents", json={"listing_id": other_id}, headers=bank.headers
    )
    assert r.status_code == 201
    r = await client.post(f"/api/v1/listings/{listing_id}/submit", headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_pledged"
    r = await client.post(
        f"/api/v1/pledges/{pledge['id']}/consents", json={"listing_id": listing_id}, headers=bank.headers
    )
    assert r.status_code == 201
    r = await client.post(f"/api/v1/listings/{listing_id}/submit", headers=uni.headers)
    assert r.status_code == 200, r.text
    # A consent given before is returned, even once the listing is no longer a draft.
    r = await client.post(
        f"/api/v1/pledges/{pledge['id']}/consents", json={"listing_id": listing_id}, headers=bank.headers
    )
    assert r.status_code == 201  # the consent given before is returned
    r = await client.post(
        f"/api/v1/pledges/{pledge['id']}/consents",
        json={"listing_id": str(uuid.uuid4())},
        headers=bank.headers,
    )
    assert r.status_code == 404
    r = await client.post(
        f"/api/v1/pledges/{pledge['id']}/consents",
        json={"listing_id": listing_id, "open_license_id": str(uuid.uuid4())},
        headers=bank.headers,
    )
    assert r.status_code == 422
    await assert_invariants(db)


async def test_no_pledge_is_made_or_confirmed_while_the_patent_is_committed(
    client: httpx.AsyncClient, db, world
) -> None:
    """SPEC §14, §20: the pledgee consents to a draft listing only, and settlement re-checks the consent, so a
    pledge made or confirmed while the patent is in an active listing (or an unsettled deal) could never be
    consented to and would hold the deal's money in escrow for good: 409 ``patent_locked`` instead."""
    _op, uni, bank = world
    p = await h.patent(client, uni)
    r = await client.post("/api/v1/listings", json=listing_body(p["id"]), headers=uni.headers)
    listing_id = r.json()["id"]
    assert (
        await client.post(f"/api/v1/listings/{listing_id}/submit", headers=uni.headers)
    ).status_code == 200
    r = await client.post(f"/api/v1/patents/{p['id']}/pledges", json=pledge_body(bank), headers=uni.headers)
    assert (r.status_code, r.json()["code"]) == (409, "patent_locked")
    # A pledge filed before the listing was submitted waits for the listing to end before its confirmation.
    q = await h.patent(client, uni)
    r = await client.post(f"/api/v1/patents/{q['id']}/pledges", json=pledge_body(bank), headers=uni.headers)
    assert r.status_code == 201, r.text
    pledge_id = r.json()["id"]
    r = await client.post("/api/v1/listings", json=listing_body(q["id"]), headers=uni.headers)
    other_id = r.json()["id"]
    assert (await client.post(f"/api/v1/listings/{other_id}/submit", headers=uni.headers)).status_code == 200
    r = await client.post(f"/api/v1/pledges/{pledge_id}/confirm", headers=bank.headers)
    assert (r.status_code, r.json()["code"]) == (409, "patent_locked")
    r = await client.get(f"/api/v1/pledges/{pledge_id}", headers=bank.headers)
    assert r.json()["status"] == "pending"
    r = await client.post(f"/api/v1/listings/{other_id}/withdraw", headers=uni.headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/pledges/{pledge_id}/confirm", headers=bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "active"
    await assert_invariants(db)


async def test_open_licence_approval_needs_the_pledgees_consent(client: httpx.AsyncClient, db, world) -> None:
    op, uni, bank = world
    p = await h.patent(client, uni)
    pledge = await active_pledge(client, uni, bank, p["id"])
    item = await h.declare(client, uni, p["id"])  # creation is allowed
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/approve", headers=op.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_pledged"
    r = await client.post(
        f"/api/v1/pledges/{pledge['id']}/consents", json={"open_license_id": item["id"]}, headers=bank.headers
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/approve", headers=op.headers)
    assert r.status_code == 200 and r.json()["status"] == "declared"
    # Consent only for a declaration pending review.
    r = await client.post(
        f"/api/v1/pledges/{pledge['id']}/consents", json={"open_license_id": item["id"]}, headers=bank.headers
    )
    assert r.status_code == 201  # the first consent, returned again
    await assert_invariants(db)


async def test_released_pledge_no_longer_blocks(client: httpx.AsyncClient, db, world) -> None:
    op, uni, bank = world
    p = await h.patent(client, uni)
    pledge = await active_pledge(client, uni, bank, p["id"])
    item = await h.declare(client, uni, p["id"])
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/approve", headers=op.headers)
    assert r.status_code == 409
    await client.post(f"/api/v1/pledges/{pledge['id']}/release", headers=bank.headers)
    r = await client.post(f"/api/v1/open-licenses/{item['id']}/approve", headers=op.headers)
    assert r.status_code == 200
    r = await client.post(
        f"/api/v1/pledges/{pledge['id']}/consents", json={"open_license_id": item["id"]}, headers=bank.headers
    )
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    await assert_invariants(db)


async def test_unconsented_pledges_for_deal(client: httpx.AsyncClient, db, world) -> None:
    _op, uni, bank = world
    p = await h.patent(client, uni)
    q = await h.patent(client, uni)
    r = await client.post(
        "/api/v1/listings",
        json={**listing_body(p["id"]), "patent_ids": [p["id"], q["id"]]},
        headers=uni.headers,
    )
    listing_id = r.json()["id"]
    pledge = await active_pledge(client, uni, bank, q["id"])
    deal = Deal(listing_id=uuid.UUID(listing_id))
    async with db.read() as session:
        assert await unconsented_pledges_for_deal(session, deal) == [uuid.UUID(q["id"])]
        assert await unconsented_pledges_for_deal(session, Deal(listing_id=None)) == []
    await client.post(
        f"/api/v1/pledges/{pledge['id']}/consents", json={"listing_id": listing_id}, headers=bank.headers
    )
    async with db.read() as session:
        assert await unconsented_pledges_for_deal(session, deal) == []
