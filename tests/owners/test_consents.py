"""Owners' and use rights' consents (SPEC §18.5, 专利法 art. 14): who gives them, on which subjects and in which
states, the checks at listing submission, pledge confirmation and settlement, and what any owner may do alone."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from app.kit.db import Database
from app.models.owners import Empowerment, EmpowermentForm
from tests import factories as f
from tests import trading as t
from tests.owners import helpers as h
from tests.settlement import helpers as s
from tests.world import org

pytestmark = pytest.mark.world(
    uni=org("university"),
    co=org(),
    buyer=org(funds="2000000.00"),
    bank=org("financial_institution"),
    other=org(),
)
SHA = "ab" * 32


def listing_body(patent_ids: list[str], kind: str = "assignment") -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "一种锂电池隔膜的制备方法",
        "summary": "共有专利。",
        "patent_ids": patent_ids,
        "transaction_kind": kind,
        "pricing_mode": "negotiated",
        "price": "100000.00",
    }
    if kind != "assignment":
        body["license"] = {"term_months": 36, "territory": "中国大陆", "field_of_use": "动力电池"}
    return body


async def draft(
    client: httpx.AsyncClient, seller: f.Actor, patent_ids: list[str], kind: str = "assignment"
) -> str:
    r = await client.post("/api/v1/listings", json=listing_body(patent_ids, kind), headers=seller.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def submit(client: httpx.AsyncClient, seller: f.Actor, listing_id: str) -> httpx.Response:
    return await client.post(f"/api/v1/listings/{listing_id}/submit", headers=seller.headers)


async def co_owned(client: httpx.AsyncClient, world: Any, number: str) -> dict[str, Any]:
    """A patent of the university (60%), the company (30%) and an inventor (10%)."""
    p = await f.patent(client, world.uni)
    return await h.owners_ok(
        client,
        world.uni,
        p["id"],
        [h.org_owner(world.uni, "60"), h.org_owner(world.co, "30"), h.inventor("张明", number, "10")],
    )


async def use_right(client: httpx.AsyncClient, actor: f.Actor, patent_id: str, number: str) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/patents/{patent_id}/empowerments",
        json={
            "form": "use_right",
            "decision_number": "校发〔2024〕12号",
            "decided_on": "2024-01-31",
            "inventors": [{"name": "李华", "id_number": number}],
            "term_years": 10,
        },
        headers=actor.headers,
    )
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_an_assignment_needs_every_owners_and_use_rights_consent(
    client: httpx.AsyncClient, world: Any
) -> None:
    op, uni, co, _buyer, _bank, other = world
    person = h.id_number(11)
    p = await co_owned(client, world, person)
    right = await use_right(client, uni, p["id"], h.id_number(12))
    listing_id = await draft(client, uni, [p["id"]])
    path = f"listings/{listing_id}"

    r = await submit(client, uni, listing_id)
    assert r.status_code == 409 and r.json()["code"] == "co_owner_consent_required"
    # The other organization owner consents with {}; again → the first, 200.
    r = await h.consent(client, co, path)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["organization_id"] == co.org_id and first["owner_id"] is None and first["recorded_by"]
    r = await h.consent(client, co, path)
    assert r.status_code == 200 and r.json() == first
    r = await submit(client, uni, listing_id)
    assert r.status_code == 409 and r.json()["code"] == "co_owner_consent_required"  # the inventor's

    inventor_id = h.owner_id(p, person)
    # Natural persons have no accounts: an operator records their signed paper; the managing owner may not.
    r = await h.consent(client, uni, path, {"owner_id": inventor_id, "document_sha256": SHA})
    assert r.status_code == 403
    r = await h.consent(client, op, path)
    assert r.status_code == 403
    r = await h.consent(client, op, path, {"owner_id": inventor_id})
    assert r.status_code == 422
    r = await h.consent(client, op, path, {"owner_id": inventor_id, "document_sha256": "AB" * 32})
    assert r.status_code == 422
    r = await h.consent(client, op, path, {"owner_id": right["id"], "document_sha256": SHA})
    assert r.status_code == 422  # not an owner of these patents
    r = await h.consent(client, op, path, {"owner_id": inventor_id, "document_sha256": SHA})
    assert r.status_code == 201 and r.json()["owner_id"] == inventor_id and r.json()["document_sha256"] == SHA
    # An outsider does not see the draft.
    r = await h.consent(client, other, path)
    assert r.status_code == 404

    r = await submit(client, uni, listing_id)
    assert r.status_code == 409 and r.json()["code"] == "use_right_conflict"
    r = await h.consent(client, op, path, {"use_right_id": right["id"], "document_sha256": SHA})
    assert r.status_code == 201 and r.json()["use_right_id"] == right["id"]
    r = await submit(client, uni, listing_id)
    assert r.status_code == 200, r.text

    # Still pending review: consents are taken; published: 409 invalid_state.
    r = await h.consent(client, uni, path)
    assert r.status_code == 201
    r = await client.post(f"/api/v1/listings/{listing_id}/approve", headers=op.headers)
    assert r.status_code == 200, r.text
    r = await h.consent(client, co, path)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"

    r = await client.get(
        "/api/v1/audit-events", params={"entity_type": "listing", "entity_id": listing_id}, headers=op.headers
    )
    actions = [e["action"] for e in r.json()["items"]]
    assert actions.count("owner_consent_recorded") == 4


async def test_any_organization_owner_alone_licenses_non_exclusively(
    client: httpx.AsyncClient, world: Any
) -> None:
    _op, _uni, co, *_ = world
    p = await co_owned(client, world, h.id_number(21))
    # The company is not the managing owner, yet it lists a non-exclusive licence without anyone's consent.
    listing_id = await draft(client, co, [p["id"]], "nonexclusive_license")
    r = await submit(client, co, listing_id)
    assert r.status_code == 200, r.text
    # A sole licence needs the others' consent, the managing owner's included.
    other_id = await draft(client, co, [p["id"]], "sole_license")
    r = await submit(client, co, other_id)
    assert r.status_code == 409 and r.json()["code"] == "co_owner_consent_required"


async def test_a_seller_must_own_each_patent_and_one_listing_has_one_set_of_owners(
    client: httpx.AsyncClient, world: Any
) -> None:
    _op, uni, co, _buyer, _bank, other = world
    p = await co_owned(client, world, h.id_number(31))
    alone = await f.patent(client, uni)
    r = await client.post("/api/v1/listings", json=listing_body([p["id"], alone["id"]]), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "co_owners_differ"
    r = await client.post("/api/v1/listings", json=listing_body([alone["id"]]), headers=co.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_not_transferable"
    r = await client.post("/api/v1/listings", json=listing_body([p["id"]]), headers=other.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_not_transferable"


async def test_a_pledge_needs_every_other_owners_consent(client: httpx.AsyncClient, world: Any) -> None:
    op, uni, co, _buyer, bank, other = world
    p = await f.patent(client, uni)
    await h.owners_ok(client, uni, p["id"], [h.org_owner(uni, "50"), h.org_owner(co, "50")])
    # The company, an organization owner, pledges; the university must consent.
    r = await client.post(
        f"/api/v1/patents/{p['id']}/pledges",
        json={"pledgee_org_id": bank.org_id, "amount": "1000.00", "ends_on": "2199-12-31"},
        headers=co.headers,
    )
    assert r.status_code == 201, r.text
    pledge_id = r.json()["id"]
    r = await client.post(f"/api/v1/pledges/{pledge_id}/confirm", headers=bank.headers)
    assert r.status_code == 409 and r.json()["code"] == "co_owner_consent_required"
    r = await h.consent(client, other, f"pledges/{pledge_id}")
    assert r.status_code == 404
    r = await h.consent(client, uni, f"pledges/{pledge_id}")
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/pledges/{pledge_id}/confirm", headers=bank.headers)
    assert r.status_code == 200 and r.json()["status"] == "active"
    r = await h.consent(client, uni, f"pledges/{pledge_id}")
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    # Not an organization owner → cannot pledge it.
    r = await client.post(
        f"/api/v1/patents/{p['id']}/pledges",
        json={"pledgee_org_id": bank.org_id, "amount": "1000.00", "ends_on": "2199-12-31"},
        headers=other.headers,
    )
    assert r.status_code == 404
    del op


async def test_no_use_right_while_a_deal_runs_and_settlement_re_checks_one(
    client: httpx.AsyncClient, db: Database, world: Any
) -> None:
    op, uni, _co, buyer, _bank, other = world
    p = await f.patent(client, uni)
    listing_id = await draft(client, uni, [p["id"]])
    assert (await submit(client, uni, listing_id)).status_code == 200
    r = await client.post(f"/api/v1/listings/{listing_id}/approve", headers=op.headers)
    assert r.status_code == 200
    listing = r.json()
    offer = await s.n.offer(client, buyer, listing_id, "100000.00")
    accepted = await s.n.move(client, uni, offer["id"], "accept")
    deal = await s.get(client, op, accepted["deal_id"])
    assert deal["status"] == "public_notice"
    await t.advance_past(client, deal["notice_ends_at"])
    case = s.DealCase(op, uni, buyer, other, listing, await s.get(client, op, deal["id"]))
    # A use right granted while the deal runs would need its holders' consent to an assignment already agreed,
    # which settlement re-checks: the deal would stay paid with the money in escrow. It is refused (the same
    # lock as the ownership form).
    r = await client.post(
        f"/api/v1/patents/{p['id']}/empowerments",
        json={
            "form": "use_right",
            "decision_number": "校发〔2024〕12号",
            "decided_on": "2024-01-31",
            "inventors": [{"name": "李华", "id_number": h.id_number(42)}],
            "term_years": 10,
        },
        headers=uni.headers,
    )
    assert r.status_code == 409 and r.json()["code"] == "patent_locked"
    await s.paid(client, db, case)
    # One recorded behind the API's back is still caught by settlement's re-check.
    async with db.transaction() as session:
        session.add(
            Empowerment(
                id=uuid.uuid4(),
                patent_id=uuid.UUID(p["id"]),
                organization_id=uuid.UUID(uni.org_id),
                form=EmpowermentForm.use_right,
                decision_number="校发〔2024〕12号",
                decided_on=date(2024, 1, 31),
                inventors=[{"name": "李华", "id_number_masked": h.masked(h.id_number(42)), "share": None}],
                term_years=10,
                starts_on=date(2024, 1, 31),
                ends_on=date(2034, 1, 30),
                created_at=s.at(deal["created_at"]),
            )
        )
    r = await s.settle(client, op, case.id)
    assert r.status_code == 409 and r.json()["code"] == "use_right_conflict"
    assert (await s.get(client, op, case.id))["status"] == "paid"
    assert await s.escrow_balance(db, case.id) > 0


async def test_a_sole_trial_offer_needs_the_other_owners_consent(
    client: httpx.AsyncClient, world: Any
) -> None:
    from tests.licensing import helpers as lic
    from tests.trials import helpers as tr

    op, uni, co, *_ = world
    p = await lic.patent(client, uni)
    await h.owners_ok(client, uni, p["id"], [h.org_owner(uni, "70"), h.org_owner(co, "30")])
    offer = await tr.create_offer(client, uni, p["id"], kind="sole_license", max_trials=1)
    path = f"trial-offers/{offer['id']}"
    r = await client.post(f"/api/v1/{path}/approve", headers=op.headers)
    assert r.status_code == 409 and r.json()["code"] == "co_owner_consent_required"
    r = await h.consent(client, co, path)
    assert r.status_code == 201 and r.json()["organization_id"] == co.org_id
    r = await client.post(f"/api/v1/{path}/approve", headers=op.headers)
    assert r.status_code == 200, r.text
    r = await h.consent(client, uni, path)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"  # offered: no longer pending
