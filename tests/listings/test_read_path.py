"""The public reads (``GET /listings``, ``GET /listings/{id}``) read Core rows on a pooled connection and
serialise them once; they show every listing exactly as the routes that change one present it (``Listing``
objects through the ORM), byte for byte, whatever its kind, pricing mode and state. The first page of the
list is a statement built once per audience: each member still sees its own drafts and no one else's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.deps import sandbox_offset
from app.kit.clock import SystemClock
from app.kit.pagination import Page
from app.listings import service
from app.listings.schemas import ListingOut
from app.models.listings import Listing
from app.models.patents import PatentKind
from tests import trading as t
from tests.listings import helpers as h
from tests.world import org

pytestmark = pytest.mark.world(uni=org("university"), lab=org("research_institute"))

LICENSE = {"term_months": 24, "territory": '全国 "华东" \\ 地区', "field_of_use": "动力电池"}


async def _catalogue(client: httpx.AsyncClient, db: Any, world: Any) -> dict[str, Any]:
    op, uni, lab = world
    patents = [
        await h.patent(db, uni, title="隔膜 B"),
        await h.patent(db, uni, title="隔膜 A", granted=False),
        await h.patent(db, uni, title="外观", kind=PatentKind.design),
    ]
    first = await h.published(
        client, uni, op, h.body(patents, title="三件专利，卖方的顺序", summary="多行\n摘要")
    )
    licence = await h.published(
        client,
        lab,
        op,
        h.body(
            [await h.patent(db, lab, kind=PatentKind.utility_model)],
            transaction_kind="nonexclusive_license",
            pricing_mode="listed",
            price="150000.00",
            deposit="10000.00",
            license=LICENSE,
        ),
    )
    await h.published(client, uni, op, h.auction_body([await h.patent(db, uni)]))
    dutch = {"format": "dutch", "increment": "1.00", "decrement": "1000.00", "step_seconds": 60}
    await h.published(
        client,
        lab,
        op,
        h.body(
            [await h.patent(db, lab)],
            pricing_mode="auction",
            price="500000.00",
            deposit="50000.00",
            auction={**dutch, "floor_price": "300000.00", "reserve_price": "400000.00"},
        ),
    )
    suspended = await h.published(client, uni, op, h.body([await h.patent(db, uni)], price=None))
    await h.act(client, op, suspended["id"], "suspend", json={"reason": "暂停：核实权属"})
    rejected = await h.create(client, uni, h.body([await h.patent(db, uni)], title="被驳回的草稿"))
    await h.act(client, uni, rejected["id"], "submit")
    await h.act(client, op, rejected["id"], "reject", json={"reason": "材料不全"})
    await h.create(client, lab, h.body([await h.patent(db, lab)], title="研究所的草稿"))
    expiring = await h.published(
        client,
        lab,
        op,
        h.body(
            [await h.patent(db, lab)],
            pricing_mode="listed",
            price="100000.00",
            deposit="10000.00",
            max_extensions=0,
        ),
    )
    await t.advance_past(client, expiring["listing_ends_at"])
    return {"first": first, "patents": patents, "licence": licence, "expired": expiring["id"]}


async def _presented(db: Any) -> dict[str, ListingOut]:
    """Every listing as the changing routes present it: ``Listing`` objects, the business clock's today."""
    async with db.read() as session:
        clock = SystemClock(await sandbox_offset(session))
        listings = list((await session.scalars(select(Listing))).all())
        return {str(x.id): x for x in await service.present(session, listings, clock)}


async def test_reads_show_each_listing_as_the_writes_do(client: httpx.AsyncClient, db, world) -> None:
    op, uni, _lab = world
    made = await _catalogue(client, db, world)
    presented = await _presented(db)
    assert len(presented) == 8
    for listing_id, model in presented.items():
        r = await client.get(f"/api/v1/listings/{listing_id}", headers=op.headers)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.content == model.model_dump_json().encode()
    page = await client.get("/api/v1/listings?limit=100", headers=op.headers)
    items = [presented[x["id"]] for x in page.json()["items"]]
    assert page.content == Page[ListingOut](items=items).model_dump_json().encode()
    # The brief itself, not only its agreement with the other path.
    first = presented[made["first"]["id"]]
    assert [str(p.id) for p in first.patents] == made["patents"]
    assert [p.legal_status for p in first.patents] == ["granted", "pending", "granted"]
    assert (str(first.seller.id), first.seller.kind) == (uni.org_id, "university")
    assert presented[made["licence"]["id"]].license is not None
    assert presented[made["expired"]].status == "expired" and presented[made["expired"]].relist_by is not None
    assert "400000" not in page.text and "876543" not in page.text  # never a reserve


async def test_first_page_is_each_callers_own(client: httpx.AsyncClient, db, world) -> None:
    op, uni, lab = world
    await _catalogue(client, db, world)

    async def titles(headers: dict[str, str], query: str = "") -> set[str]:
        r = await client.get(f"/api/v1/listings{query}", headers=headers)
        assert r.status_code == 200, r.text
        return {x["title"] for x in r.json()["items"]}

    for query in ("", "?sort=price", "?sort=listing_ends_at"):
        for _ in range(2):  # the statement is built on the first request and reused after
            public = await titles({}, query)
            assert not {"被驳回的草稿", "研究所的草稿"} & public
            assert await titles(uni.headers, query) == public | {"被驳回的草稿"}
            assert await titles(lab.headers, query) == public | {"研究所的草稿"}
            assert await titles(op.headers, query) == public | {"被驳回的草稿", "研究所的草稿"}
