"""Drafting, review, closing and expiry of technology demands (SPEC §17.6), on both databases."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests import factories as f
from tests import trading as t
from tests.demands import helpers as h
from tests.world import World, org

API = "/api/v1"


pytestmark = pytest.mark.world(owner=org(), other=org())


async def test_a_draft_with_every_field(client: httpx.AsyncClient, world: World) -> None:
    owner = world["owner"]
    deadline = await h.today(client) + timedelta(days=30)
    demand = await h.create(
        client,
        owner,
        ipc_codes=["A01K61/00", "a01k", "A01K 61/00"],
        budget_min="0.00",
        budget_max="1250000.50",
        deadline=deadline.isoformat(),
        anonymous=True,
    )
    assert demand["status"] == "draft"
    assert demand["ipc_codes"] == ["A01K 61/00", "A01K"]  # normalised, duplicates dropped
    assert (demand["budget_min"], demand["budget_max"]) == ("0.00", "1250000.50")  # money as strings
    assert demand["deadline"] == deadline.isoformat() and demand["anonymous"] is True
    assert demand["organization"] == {"id": owner.org_id, "name": owner.org["name"], "kind": "enterprise"}
    assert demand["published_at"] is None and demand["rejection_reason"] is None
    # expires_at: 00:00 Shanghai time of the day after the deadline, returned in UTC
    midnight = f"{(deadline + timedelta(days=1)).isoformat()}T00:00:00+08:00"
    assert h.parse(demand["expires_at"]) == h.parse(midnight)
    assert demand["expires_at"].endswith(("Z", "+00:00"))
    # Optional fields
    bare = await h.create(client, owner, ipc_codes=None, budget_min=None, budget_max=None)
    assert (bare["ipc_codes"], bare["budget_min"], bare["budget_max"], bare["anonymous"]) == (
        [],
        None,
        None,
        False,
    )


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"ipc_codes": ["H01M 10"]}, "invalid_ipc_code"),
        ({"ipc_codes": ["电池"]}, "invalid_ipc_code"),
        ({"ipc_codes": [f"H01M {g}/00" for g in range(1, 22)]}, "invalid_ipc_code"),
        ({"budget_min": "500000.01", "budget_max": "500000.00"}, "invalid_budget"),
        ({"days": 0}, "invalid_deadline"),
        ({"days": -1}, "invalid_deadline"),
        ({"days": 366}, "invalid_deadline"),
        ({"deadline": "2199-12-31"}, "invalid_deadline"),
        ({"budget_min": "1.001"}, "validation_error"),
        ({"budget_max": "-1.00"}, "validation_error"),
        ({"deadline": "2027-02-30"}, "validation_error"),
        ({"deadline": 20270101}, "validation_error"),
        ({"title": ""}, "validation_error"),
        ({"unknown": 1}, "validation_error"),
    ],
)
async def test_invalid_demands_are_422_with_their_code(
    client: httpx.AsyncClient, world: World, overrides: dict[str, object], code: str
) -> None:
    r = await client.post(
        f"{API}/demands", json=await h.body(client, **overrides), headers=world["owner"].headers
    )
    assert (r.status_code, r.json()["code"]) == (422, code), r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_the_deadline_limits_are_exact(client: httpx.AsyncClient, world: World) -> None:
    await h.create(client, world["owner"], days=1)
    await h.create(client, world["owner"], days=365)


async def test_unverified_organizations_and_operators_cannot_post(
    client: httpx.AsyncClient, world: World
) -> None:
    unverified = await f.organization(client)
    r = await client.post(f"{API}/demands", json=await h.body(client), headers=unverified.headers)
    assert (r.status_code, r.json()["code"]) == (403, "organization_not_verified")
    r = await client.post(f"{API}/demands", json=await h.body(client), headers=world["op"].headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = await client.post(f"{API}/demands", json=await h.body(client))
    assert r.status_code == 401


async def test_patch_only_a_draft_and_validated_again(client: httpx.AsyncClient, world: World) -> None:
    owner, op = world["owner"], world["op"]
    demand = await h.create(client, owner)
    url = f"{API}/demands/{demand['id']}"
    r = await client.patch(url, json={"budget_min": "600000.00"}, headers=owner.headers)  # max is 500,000
    assert (r.status_code, r.json()["code"]) == (422, "invalid_budget")
    r = await client.patch(url, json={"deadline": (await h.today(client)).isoformat()}, headers=owner.headers)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_deadline")
    r = await client.patch(url, json={"ipc_codes": ["X99"]}, headers=owner.headers)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_ipc_code")
    r = await client.patch(url, json={"title": None}, headers=owner.headers)
    assert r.status_code == 422
    deadline = await h.today(client) + timedelta(days=60)
    r = await client.patch(
        url,
        json={
            "title": "寻求水质监测技术",
            "budget_max": None,
            "ipc_codes": ["G01N"],
            "deadline": deadline.isoformat(),
        },
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert (changed["title"], changed["budget_max"], changed["ipc_codes"]) == (
        "寻求水质监测技术",
        None,
        ["G01N"],
    )
    assert h.parse(changed["expires_at"]) == h.parse(
        f"{(deadline + timedelta(days=1)).isoformat()}T00:00:00+08:00"
    )
    # Found by its new text and code only
    assert [d["id"] for d in (await h.get(client, owner, "/demands", mine="true", q="水质"))["items"]] == [
        demand["id"]
    ]
    assert (await h.get(client, owner, "/demands", mine="true", q="海参"))["items"] == []
    assert len((await h.get(client, owner, "/demands", mine="true", ipc="G01N"))["items"]) == 1
    assert (await h.get(client, owner, "/demands", mine="true", ipc="A01K"))["items"] == []
    # Others: 404; not a draft: 409
    r = await client.patch(url, json={"title": "x"}, headers=world["other"].headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    await h.act(client, owner, demand["id"], "submit")
    r = await client.patch(url, json={"title": "x"}, headers=owner.headers)
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")
    r = await client.patch(url, json={"title": "x"}, headers=op.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")


async def test_the_review_workflow(client: httpx.AsyncClient, world: World) -> None:
    owner, op, other = world["owner"], world["op"], world["other"]
    demand = await h.create(client, owner)
    did = demand["id"]
    # Only the owner submits, only operators approve or reject
    await h.act(client, other, did, "submit", expect=404, code="not_found")
    await h.act(client, op, did, "submit", expect=403, code="forbidden")
    await h.act(client, op, did, "approve", expect=409, code="invalid_state")  # a draft
    await h.act(client, owner, did, "close", expect=409, code="invalid_state")
    submitted = await h.act(client, owner, did, "submit")
    assert submitted["status"] == "pending_review"
    await h.act(client, owner, did, "submit", expect=409, code="invalid_state")
    await h.act(client, owner, did, "approve", expect=403, code="forbidden")
    await h.act(client, op, did, "reject", {"reason": ""}, expect=422)
    rejected = await h.act(client, op, did, "reject", {"reason": "请补充技术指标"})
    assert (rejected["status"], rejected["rejection_reason"]) == ("draft", "请补充技术指标")
    again = await h.act(client, owner, did, "submit")
    assert (again["status"], again["rejection_reason"]) == ("pending_review", None)
    before = await t.now(client)
    approved = await h.act(client, op, did, "approve")
    assert approved["status"] == "published" and h.parse(approved["published_at"]) >= before
    await h.act(client, op, did, "approve", expect=409, code="invalid_state")
    await h.act(client, op, did, "reject", {"reason": "x"}, expect=409, code="invalid_state")
    await h.act(client, other, did, "close", expect=403, code="forbidden")  # visible, not its own
    closed = await h.act(client, owner, did, "close")
    assert closed["status"] == "closed"
    await h.act(client, owner, did, "close", expect=409, code="invalid_state")
    await h.act(client, owner, did, "submit", expect=409, code="invalid_state")
    # The trail has every step
    events = await h.get(client, op, "/audit-events", entity_type="demand", entity_id=did)
    assert [e["action"] for e in events["items"]] == [
        "created",
        "submitted",
        "rejected",
        "submitted",
        "approved",
        "closed",
    ]


@pytest.mark.parametrize("stage", ["draft", "pending_review", "published"])
async def test_the_sweeper_expires_a_demand_at_midnight_after_its_deadline(
    client: httpx.AsyncClient, world: World, stage: str
) -> None:
    owner, op = world["owner"], world["op"]
    demand = await h.create(client, owner, days=1)
    if stage != "draft":
        await h.act(client, owner, demand["id"], "submit")
    if stage == "published":
        await h.act(client, op, demand["id"], "approve")
    expires = h.parse(demand["expires_at"])
    await t.advance(client, (expires - await t.now(client)).total_seconds() - 5)
    seen = await h.get(client, owner, f"/demands/{demand['id']}")
    assert seen["status"] == stage
    await t.advance(client, 10)
    seen = await h.get(client, owner, f"/demands/{demand['id']}")
    assert seen["status"] == "expired"
    events = await h.get(client, op, "/audit-events", entity_type="demand", entity_id=demand["id"])
    last = events["items"][-1]
    assert (last["action"], last["actor"], h.parse(last["at"])) == ("expired", "system", expires)
    for verb, actor in (("submit", owner), ("close", owner), ("approve", op)):
        await h.act(client, actor, demand["id"], verb, expect=409, code="invalid_state")
    # No longer public
    await h.get(client, None, f"/demands/{demand['id']}", expect=404)
    assert (await h.get(client, None, "/demands"))["items"] == []


async def test_posts_honour_idempotency_keys(client: httpx.AsyncClient, world: World) -> None:
    owner = world["owner"]
    body = await h.body(client)
    key = {**owner.headers, "Idempotency-Key": "demand-1"}
    first = await client.post(f"{API}/demands", json=body, headers=key)
    again = await client.post(f"{API}/demands", json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    reused = await client.post(f"{API}/demands", json={**body, "title": "别的"}, headers=key)
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    assert len((await h.get(client, owner, "/demands", mine="true"))["items"]) == 1
    did = first.json()["id"]
    submit_key = {**owner.headers, "Idempotency-Key": "submit-1"}
    one = await client.post(f"{API}/demands/{did}/submit", headers=submit_key)
    two = await client.post(f"{API}/demands/{did}/submit", headers=submit_key)
    assert (one.status_code, two.status_code) == (200, 200) and two.headers.get(
        "Idempotent-Replayed"
    ) == "true"
