"""An anonymous demand's owner reaches no one but itself, operators and the sellers it accepted (SPEC §17.6,
§17.7): every route that shows a demand, its responses, its matches, the audit trail and the notifications,
read as the public, an outsider, sellers whose response is pending or declined, and the accepted seller."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from app.kit.db import Database
from tests import factories as f
from tests.demands import helpers as h
from tests.world import World, build, org, orgs

TITLE = "寻求锂电池隔膜技术"


@pytest.fixture
async def world(client: httpx.AsyncClient, db: Database) -> World:
    w = await build(client, db, owner=org(name="保密需求方科技有限公司"), sellers=orgs(3, "university"))
    op = w.op
    listings = [await h.listing(client, db, op, s, title="一种锂电池隔膜的制备方法") for s in w.sellers]
    demand = await h.published(client, w.owner, op, title=TITLE, ipc_codes=["H01M 10/0525"], anonymous=True)
    open_owner = await f.organization(client, verified_by=op)
    open_demand = await h.published(client, open_owner, op, title="寻求隔膜技术", ipc_codes=["H01M"])
    outsider = await f.organization(client, verified_by=op)
    return w.add(
        listings=listings, demand=demand, open_demand=open_demand, open_owner=open_owner, outsider=outsider
    )


def secrets(owner: f.Actor) -> list[str]:
    """What names the owner: its organization's id, name and credit code, its user's id, e-mail and name."""
    assert owner.org is not None
    return [owner.org_id or "", owner.org["name"], owner.org["credit_code"], owner.id, owner.email, "管理员"]


async def reads(client: httpx.AsyncClient, db: Database, w: World, viewer: f.Actor | None) -> str:
    """Everything ``viewer`` can read about the anonymous demand, as raw text."""
    did = w["demand"]["id"]
    headers = viewer.headers if viewer is not None else {}
    paths = [
        "/demands",
        f"/demands?q={TITLE}",
        "/demands?ipc=H01M",
        "/demands?sort=deadline",
        f"/demands/{did}",
        f"/demands/{did}/matches",
        f"/demands/{did}/responses",
        f"/audit-events?entity_type=demand&entity_id={did}",
        *[f"/listings/{x['id']}/matching-demands" for x in w["listings"]],
        *[f"/listings/{x['id']}" for x in w["listings"]],
        *[f"/audit-events?entity_type=listing&entity_id={x['id']}" for x in w["listings"]],
    ]
    if viewer is not None and viewer.org_id is not None:
        paths.append("/demands?mine=true")
        responses = await client.get(f"/api/v1/demands/{did}/responses", headers=headers)
        for item in responses.json().get("items", []) if responses.status_code == 200 else []:
            paths.append(f"/audit-events?entity_type=demand_response&entity_id={item['id']}")
    texts = []
    for path in paths:
        r = await client.get(f"/api/v1{path}", headers=headers)
        assert r.status_code < 500, (path, r.text)
        texts.append(r.text)
    if viewer is not None and viewer.org_id is not None:
        texts += [json.dumps(n.data, ensure_ascii=False) for n in await h.notifications(db, viewer)]
    return "\n".join(texts)


async def organization_seen(client: httpx.AsyncClient, w: World, viewer: f.Actor | None) -> set[Any]:
    """The ``organization`` the viewer is shown for the anonymous demand, wherever it is shown."""
    did = w["demand"]["id"]
    headers = viewer.headers if viewer is not None else {}
    seen: set[Any] = set()

    def note(demand: dict[str, Any]) -> None:
        if demand["id"] == did:
            org = demand["organization"]
            seen.add(None if org is None else org["id"])

    r = await client.get(f"/api/v1/demands/{did}", headers=headers)
    note(r.json())
    for item in (await client.get("/api/v1/demands", headers=headers)).json()["items"]:
        note(item)
    for listing in w["listings"]:
        r = await client.get(f"/api/v1/listings/{listing['id']}/matching-demands", headers=headers)
        for item in r.json()["items"]:
            note(item["demand"])
    return seen


async def test_nobody_but_the_owner_operators_and_accepted_sellers_learns_the_owner(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    w = world
    owner, op, outsider = w["owner"], w["op"], w["outsider"]
    accepted, declined, pending = w["sellers"]
    did = w["demand"]["id"]
    # Responding: what the sellers get back names nobody
    responses = []
    for seller, listing in zip(w["sellers"], w["listings"], strict=True):
        responses.append(await h.respond(client, seller, did, listing["id"]))
    for response in responses:
        assert not any(s in json.dumps(response, ensure_ascii=False) for s in secrets(owner))
    # Before any decision: only the owner and operators
    for viewer in (None, outsider, *w["sellers"]):
        text = await reads(client, db, w, viewer)
        assert [s for s in secrets(owner) if s in text] == [], viewer
        assert await organization_seen(client, w, viewer) == {None}
    for viewer in (owner, op):
        assert await organization_seen(client, w, viewer) == {owner.org_id}
    # The owner accepts one seller's response and declines another's
    await h.decide(client, owner, responses[0]["id"], "accept")
    await h.decide(client, owner, responses[1]["id"], "decline")
    assert await organization_seen(client, w, accepted) == {owner.org_id}
    assert owner.org_id in await reads(client, db, w, accepted)  # its notification and the demand name it
    for viewer in (None, outsider, declined, pending):
        text = await reads(client, db, w, viewer)
        assert [s for s in secrets(owner) if s in text] == [], viewer
        assert await organization_seen(client, w, viewer) == {None}
    # The audit trail of the demand and its responses stays the owner's (and operators')
    for viewer in (accepted, declined, pending, outsider):
        await h.get(client, viewer, "/audit-events", entity_type="demand", entity_id=did, expect=404)
        for response in responses:
            await h.get(
                client,
                viewer,
                "/audit-events",
                entity_type="demand_response",
                entity_id=response["id"],
                expect=404,
            )
    assert (await h.get(client, owner, "/audit-events", entity_type="demand", entity_id=did))["items"]
    # Every notification written, to whoever, names the owner only to the owner and the accepted seller
    for note in await h.all_notifications(db):
        text = json.dumps(note.data, ensure_ascii=False)
        if str(note.organization_id) not in (owner.org_id, accepted.org_id):
            assert [s for s in secrets(owner) if s in text] == [], (note.kind, text)


async def test_a_demand_that_is_not_anonymous_names_its_owner_to_everyone(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    owner = world["open_owner"]
    demand = world["open_demand"]
    brief = {"id": owner.org_id, "name": owner.org["name"], "kind": "enterprise"}
    for viewer in (None, world["outsider"], world["sellers"][0], world["op"], owner, world["owner"]):
        assert (await h.get(client, viewer, f"/demands/{demand['id']}"))["organization"] == brief
    page = await h.get(client, None, f"/listings/{world['listings'][0]['id']}/matching-demands")
    shown = {i["demand"]["id"]: i["demand"]["organization"] for i in page["items"]}
    assert shown == {demand["id"]: brief, world["demand"]["id"]: None}
