"""Patent owners over HTTP (SPEC §18.5): the default sole owner, replacing the list, who may, shares, ID numbers
(never shown in full), visibility and ``?owner_org_id=`` for every organization owner, locks."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests import factories as f
from tests import trading as t
from tests.owners import helpers as h
from tests.world import org

pytestmark = pytest.mark.world(
    uni=org("university"), co=org(), other=org(), bank=org("financial_institution")
)


async def test_a_patent_without_co_owners_has_its_owner_at_100(client: httpx.AsyncClient, world) -> None:
    _op, uni, *_ = world
    p = await f.patent(client, uni)
    assert [(o["kind"], o["organization_id"], o["share"]) for o in p["owners"]] == [
        ("organization", uni.org_id, "100.00")
    ]
    assert p["owners"][0]["name"] == uni.org["name"]
    assert p["use_rights"] == []


async def test_the_managing_owner_records_co_owners_and_inventors(client: httpx.AsyncClient, world) -> None:
    op, uni, co, other, _bank = world
    p = await f.patent(client, uni)
    number = h.id_number(1)
    body = await h.owners_ok(
        client,
        uni,
        p["id"],
        [h.org_owner(uni, "60"), h.org_owner(co, "30.5"), h.inventor("张明", number, "9.50")],
    )
    assert body["owner_org_id"] == uni.org_id
    shares = [(o["kind"], o.get("organization_id"), o["share"]) for o in body["owners"]]
    assert shares == [
        ("organization", uni.org_id, "60.00"),
        ("organization", co.org_id, "30.50"),
        ("inventor", None, "9.50"),
    ]
    person = body["owners"][2]
    assert person["name"] == "张明" and person["id_number_masked"] == h.masked(number)
    assert person["institution_org_id"] == uni.org_id and "id_number" not in person
    # Every organization owner reads the patent and finds it by ?owner_org_id= and in its own list.
    r = await client.get(f"/api/v1/patents/{p['id']}", headers=co.headers)
    assert r.status_code == 200 and r.json()["owners"] == body["owners"]
    r = await client.get("/api/v1/patents", params={"owner_org_id": co.org_id}, headers=op.headers)
    assert p["id"] in [x["id"] for x in r.json()["items"]]
    r = await client.get("/api/v1/patents", headers=co.headers)
    assert p["id"] in [x["id"] for x in r.json()["items"]]
    r = await client.get(f"/api/v1/patents/{p['id']}", headers=other.headers)
    assert r.status_code == 404
    # The other owner may not replace the list; an outsider does not see it.
    r = await h.set_owners(client, co, p["id"], [h.org_owner(uni, "50"), h.org_owner(co, "50")])
    assert r.status_code == 403
    r = await h.set_owners(client, other, p["id"], [h.org_owner(uni, "100")])
    assert r.status_code == 404
    # Ids stay with their owners when the list is replaced (raising a share is the managing owner's).
    again = await h.owners_ok(
        client,
        uni,
        p["id"],
        [h.org_owner(uni, "50"), h.org_owner(co, "40.5"), h.inventor("张明", number, "9.50")],
    )
    assert [o["id"] for o in again["owners"]] == [o["id"] for o in body["owners"]]


async def test_dropping_or_lowering_another_owner_is_for_operators(client: httpx.AsyncClient, world) -> None:
    op, uni, co, *_ = world
    p = await f.patent(client, uni)
    await h.owners_ok(client, uni, p["id"], [h.org_owner(uni, "70"), h.org_owner(co, "30")])
    r = await h.set_owners(client, uni, p["id"], [h.org_owner(uni, "80"), h.org_owner(co, "20")])
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await h.set_owners(client, uni, p["id"], [h.org_owner(uni, "100")])
    assert r.status_code == 403
    body = await h.owners_ok(client, op, p["id"], [h.org_owner(uni, "100")])
    assert [o["share"] for o in body["owners"]] == ["100.00"]


@pytest.mark.parametrize(
    ("shares", "code"),
    [
        (("60", "30"), "invalid_shares"),
        (("60", "40.01"), "invalid_shares"),
        (("100", "0"), "invalid_shares"),
        (("100", "0.00"), "invalid_shares"),
        (("60", "40.001"), "validation_error"),
        (("60", "-40"), "validation_error"),
        (("60", "forty"), "validation_error"),
    ],
)
async def test_share_rules(client: httpx.AsyncClient, world, shares: tuple[str, str], code: str) -> None:
    _op, uni, co, *_ = world
    p = await f.patent(client, uni)
    r = await h.set_owners(client, uni, p["id"], [h.org_owner(uni, shares[0]), h.org_owner(co, shares[1])])
    assert r.status_code == 422 and r.json()["code"] == code, r.text


async def test_list_rules(client: httpx.AsyncClient, world) -> None:
    _op, uni, co, *_ = world
    p = await f.patent(client, uni)
    # The caller's organization stays an owner; organizations must exist; no owner twice.
    r = await h.set_owners(client, uni, p["id"], [h.org_owner(co, "100")])
    assert r.status_code == 422
    r = await h.set_owners(
        client,
        uni,
        p["id"],
        [
            h.org_owner(uni, "50"),
            {"kind": "organization", "organization_id": str(uuid.uuid4()), "share": "50"},
        ],
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "organization_id"
    number = h.id_number(2)
    r = await h.set_owners(
        client,
        uni,
        p["id"],
        [h.org_owner(uni, "50"), h.inventor("甲", number, "25"), h.inventor("乙", number, "25")],
    )
    assert r.status_code == 422
    r = await h.set_owners(client, uni, p["id"], [h.org_owner(uni, "50"), {"kind": "person", "share": "50"}])
    assert r.status_code == 422


@pytest.mark.parametrize(
    "bad", ["330106199001010051", "330106199002300053", "33010619900101", "ABCDEFGHIJKLMNOPQR"]
)
async def test_invalid_id_numbers(client: httpx.AsyncClient, world, bad: str) -> None:
    _op, uni, *_ = world
    p = await f.patent(client, uni)
    r = await h.set_owners(client, uni, p["id"], [h.org_owner(uni, "90"), h.inventor("张明", bad, "10")])
    assert r.status_code == 422 and r.json()["code"] == "invalid_id_number", r.text
    assert bad not in r.text


async def test_locked_while_listed_or_pledged(client: httpx.AsyncClient, world) -> None:
    op, uni, co, _other, bank = world
    listing = await t.published_listing(client, op, uni)
    pid = listing["patents"][0]["id"]
    r = await h.set_owners(client, uni, pid, [h.org_owner(uni, "60"), h.org_owner(co, "40")])
    assert r.status_code == 409 and r.json()["code"] == "patent_locked"
    p = await f.patent(client, uni)
    r = await client.post(
        f"/api/v1/patents/{p['id']}/pledges",
        json={"pledgee_org_id": bank.org_id, "amount": "1000.00", "ends_on": "2199-12-31"},
        headers=uni.headers,
    )
    assert r.status_code == 201, r.text
    r = await h.set_owners(client, uni, p["id"], [h.org_owner(uni, "60"), h.org_owner(co, "40")])
    assert r.status_code == 409 and r.json()["code"] == "patent_locked"
    # Validation comes first: a bad list is 422 even while locked.
    r = await h.set_owners(client, uni, p["id"], [h.org_owner(uni, "60")])
    assert r.status_code == 422


async def test_owners_are_audited_on_the_patents_chain_masked(client: httpx.AsyncClient, world) -> None:
    op, uni, co, other, _bank = world
    p = await f.patent(client, uni)
    number = h.id_number(3)
    await h.owners_ok(
        client,
        uni,
        p["id"],
        [h.org_owner(uni, "80"), h.org_owner(co, "10"), h.inventor("张明", number, "10")],
    )
    r = await client.get(
        "/api/v1/audit-events", params={"entity_type": "patent", "entity_id": p["id"]}, headers=op.headers
    )
    assert r.status_code == 200, r.text
    events = r.json()["items"]
    assert "owners_set" in [e["action"] for e in events]
    assert number not in r.text and h.masked(number) in r.text
    # Every organization owner reads the patent's chain; an outsider does not.
    r = await client.get(
        "/api/v1/audit-events", params={"entity_type": "patent", "entity_id": p["id"]}, headers=co.headers
    )
    assert r.status_code == 200 and "owners_set" in [e["action"] for e in r.json()["items"]], r.text
    r = await client.get(
        "/api/v1/audit-events", params={"entity_type": "patent", "entity_id": p["id"]}, headers=other.headers
    )
    assert r.status_code == 404 or r.json()["items"] == []
