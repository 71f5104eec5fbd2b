"""The registry over HTTP (SPEC §4, §14): create, read, visibility, edits, legal status, preservation, lists."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from app.kit.db import Database
from app.models.listings import Listing, ListingPatent
from tests import factories as f

BASE = "/api/v1/patents"


async def test_create_derives_kind_number_status_and_expiry(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    uni = await f.organization(client, kind="university", verified_by=op)
    body = {
        "application_number": "CN 2015 1070 3489 3",
        "title": "一种锂离子电池负极材料",
        "abstract": "摘要",
        "ipc_codes": ["h01m10/0525", "H01M 10/0525", "G06F16/30"],
        "inventors": ["张三", " 李四 "],
        "filing_date": "2015-10-26",
        "grant_date": "2018-03-02",
        "annual_fee_paid_until": "2026-10-25",
        "evaluation_report": True,
    }
    r = await client.post(BASE, json=body, headers=uni.headers)
    assert r.status_code == 201, r.text
    p = r.json()
    assert set(p) == {
        "id",
        "owner_org_id",
        "application_number",
        "kind",
        "patent_number",
        "title",
        "abstract",
        "ipc_codes",
        "inventors",
        "filing_date",
        "grant_date",
        "annual_fee_paid_until",
        "evaluation_report",
        "legal_status",
        "expires_on",
        "pledged",
        "preserved",
        "owners",
        "use_rights",
    }
    assert p["owners"] == [
        {
            "id": p["owners"][0]["id"],
            "kind": "organization",
            "organization_id": uni.org_id,
            "name": uni.org["name"],
            "id_number_masked": None,
            "institution_org_id": None,
            "share": "100.00",
        }
    ]
    assert p["use_rights"] == []
    assert p["application_number"] == "201510703489.3"
    assert p["patent_number"] == "ZL201510703489.3"
    assert p["kind"] == "invention"
    assert p["legal_status"] == "granted"
    assert p["expires_on"] == "2035-10-26"
    assert p["ipc_codes"] == ["H01M 10/0525", "G06F 16/30"]
    assert p["inventors"] == ["张三", "李四"]
    assert p["owner_org_id"] == uni.org_id
    assert p["pledged"] is False and p["preserved"] is False
    assert p["evaluation_report"] is True

    # Pending application, utility model, old number, design filed before/after 2021-06-01.
    pending = await f.patent(
        client,
        uni,
        application_number=f.application_number(77, kind_digit="2"),
        grant_date=None,
        filing_date="2024-02-29",
    )
    assert pending["kind"] == "utility_model" and pending["patent_number"] is None
    assert pending["legal_status"] == "pending" and pending["expires_on"] == "2034-03-01"
    old = await f.patent(
        client, uni, application_number="ZL97101765.4", filing_date="1997-02-10", grant_date="2000-01-05"
    )
    assert old["application_number"] == "97101765.4" and old["legal_status"] == "expired"
    assert old["patent_number"] == "ZL97101765.4" and old["expires_on"] == "2017-02-10"
    design = await f.patent(
        client,
        uni,
        application_number=f.application_number(78, year=2021, kind_digit="3"),
        filing_date="2021-06-01",
    )
    assert design["kind"] == "design" and design["expires_on"] == "2036-06-01"


async def test_duplicates_invalid_numbers_and_ipc(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    other = await f.organization(client, verified_by=op)
    await f.patent(client, org, application_number="201810698291.4")
    for number in ("201810698291.4", "ZL2018106982914", "CN 201810698291.4"):
        r = await client.post(
            BASE,
            json={"application_number": number, "title": "x", "filing_date": "2018-06-29"},
            headers=other.headers,
        )
        assert r.status_code == 409 and r.json()["code"] == "patent_exists", number

    for number in ("202310123456.7", "201711469835.X", "201820953320.X", "202410001234.5", "2023101234", "x"):
        r = await client.post(
            BASE,
            json={"application_number": number, "title": "x", "filing_date": "2023-01-01"},
            headers=org.headers,
        )
        assert r.status_code == 422, number
        problem = r.json()
        assert problem["code"] == "invalid_patent_number"
        assert problem["errors"][0]["loc"][-1] == "application_number"

    for codes in (["H01M"], ["Z01M 10/0525"], ["H01M 10/5"], ["G06F16/30", "bad"]):
        r = await client.post(
            BASE,
            json={
                "application_number": f.application_number(900),
                "title": "x",
                "filing_date": "2020-01-01",
                "ipc_codes": codes,
            },
            headers=org.headers,
        )
        assert r.status_code == 422 and r.json()["code"] == "invalid_ipc_code", codes

    r = await client.post(
        BASE,
        json={
            "application_number": f.application_number(901),
            "title": "x",
            "filing_date": "2020-01-01",
            "grant_date": "2019-01-01",
        },
        headers=org.headers,
    )
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = await client.post(
        BASE,
        json={
            "application_number": f.application_number(902),
            "title": "x",
            "filing_date": "2020-01-01",
            "kind": "design",
        },
        headers=org.headers,
    )
    assert r.status_code == 422  # unknown field


async def test_only_verified_members_create(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    pending = await f.organization(client)
    body = {"application_number": f.application_number(1), "title": "x", "filing_date": "2020-01-01"}
    r = await client.post(BASE, json=body, headers=pending.headers)
    assert r.status_code == 403 and r.json()["code"] == "organization_not_verified"
    r = await client.post(BASE, json=body, headers=op.headers)
    assert r.status_code == 403
    assert (await client.post(BASE, json=body)).status_code == 401


async def test_visibility_is_owner_operator_or_public_listing(
    client: httpx.AsyncClient, db: Database
) -> None:
    op = await f.operator(client, db)
    owner = await f.organization(client, verified_by=op)
    stranger = await f.organization(client, verified_by=op)
    p = await f.patent(client, owner)
    assert (await client.get(f"{BASE}/{p['id']}", headers=owner.headers)).status_code == 200
    assert (await client.get(f"{BASE}/{p['id']}", headers=op.headers)).status_code == 200
    r = await client.get(f"{BASE}/{p['id']}", headers=stranger.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert (await client.get(f"{BASE}/{uuid.uuid4()}", headers=owner.headers)).status_code == 404
    assert (await client.get(f"{BASE}/{p['id']}")).status_code == 401
    # A stranger cannot edit it either, and gets the same 404.
    r = await client.patch(f"{BASE}/{p['id']}", json={"title": "mine"}, headers=stranger.headers)
    assert r.status_code == 404

    # In a draft listing it stays private; once the listing is public, any signed-in user may read it.
    now = datetime.now(UTC)
    listing_id = uuid.uuid4()
    async with db.transaction() as session:
        session.add(
            Listing(
                id=listing_id,
                seller_org_id=uuid.UUID(owner.org_id or ""),
                title="t",
                summary="s",
                transaction_kind="assignment",
                pricing_mode="listed",
                price=100,
                deposit=10,
                listing_days=10,
                extension_days=5,
                max_extensions=0,
                min_bidders_for_auction=2,
                requires_qualification_review=False,
                status="draft",
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        session.add(ListingPatent(listing_id=listing_id, patent_id=uuid.UUID(p["id"])))
    assert (await client.get(f"{BASE}/{p['id']}", headers=stranger.headers)).status_code == 404
    async with db.transaction() as session:
        listing = await session.get(Listing, listing_id)
        assert listing is not None
        listing.status, listing.published_at = "published", now
    r = await client.get(f"{BASE}/{p['id']}", headers=stranger.headers)
    assert r.status_code == 200 and r.json()["application_number"] == p["application_number"]
    # Seeing is not owning: the role may not edit it.
    r = await client.patch(f"{BASE}/{p['id']}", json={"title": "mine"}, headers=stranger.headers)
    assert r.status_code == 403
    # The registry list stays the caller's own stock.
    r = await client.get(BASE, headers=stranger.headers)
    assert r.json()["items"] == []


async def test_owner_edits_and_operator_legal_status(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    owner = await f.organization(client, verified_by=op)
    p = await f.patent(client, owner, grant_date=None)
    url = f"{BASE}/{p['id']}"

    r = await client.patch(
        url,
        json={
            "title": "新标题",
            "ipc_codes": ["G06F16/30"],
            "grant_date": "2021-01-04",
            "annual_fee_paid_until": "2027-03-14",
        },
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["title"] == "新标题" and body["ipc_codes"] == ["G06F 16/30"]
    assert body["legal_status"] == "granted" and body["patent_number"] == "ZL" + p["application_number"]
    assert (await client.get(BASE, params={"ipc": "G06F"}, headers=owner.headers)).json()["items"][0][
        "id"
    ] == p["id"]
    assert (await client.get(BASE, params={"ipc": "H01M"}, headers=owner.headers)).json()["items"] == []

    # Owners may not set the legal status; operators may not edit descriptive fields.
    r = await client.patch(url, json={"legal_status": "lapsed"}, headers=owner.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.patch(url, json={"legal_status": "lapsed", "title": "x"}, headers=op.headers)
    assert r.status_code == 403
    r = await client.patch(url, json={"application_number": "201510703489.3"}, headers=owner.headers)
    assert r.status_code == 422
    r = await client.patch(url, json={"title": None}, headers=owner.headers)
    assert r.status_code == 422
    r = await client.patch(url, json={"grant_date": "2000-01-01"}, headers=owner.headers)
    assert r.status_code == 422

    r = await client.patch(url, json={"legal_status": "lapsed"}, headers=op.headers)
    assert r.status_code == 200 and r.json()["legal_status"] == "lapsed"
    r = await client.patch(url, json={"legal_status": "granted"}, headers=op.headers)
    assert r.status_code == 422  # derived statuses are not set by hand
    r = await client.patch(url, json={"legal_status": "invalidated"}, headers=op.headers)
    assert r.json()["legal_status"] == "invalidated"
    r = await client.patch(url, json={"legal_status": None}, headers=op.headers)
    assert r.status_code == 200 and r.json()["legal_status"] == "granted"

    # Court preservation (SPEC §14): operators only.
    pres = f"{url}/preservation"
    r = await client.post(pres, json={"active": True, "reason": "(2026)浙01执保12号"}, headers=owner.headers)
    assert r.status_code == 403
    r = await client.post(pres, json={"active": True}, headers=op.headers)
    assert r.status_code == 422
    r = await client.post(pres, json={"active": True, "reason": "(2026)浙01执保12号"}, headers=op.headers)
    assert r.status_code == 200 and r.json()["preserved"] is True
    r = await client.post(f"{BASE}/{uuid.uuid4()}/preservation", json={"active": False}, headers=op.headers)
    assert r.status_code == 404
    r = await client.post(pres, json={"active": False}, headers=op.headers)
    assert r.status_code == 200 and r.json()["preserved"] is False

    # Every change is in the patent's audit chain, and every chain verifies.
    r = await client.get(
        "/api/v1/audit-events", params={"entity_type": "patent", "entity_id": p["id"]}, headers=owner.headers
    )
    actions = [e["action"] for e in r.json()["items"]]
    assert actions == [
        "created",
        "updated",
        "legal_status_set",
        "legal_status_set",
        "legal_status_set",
        "preservation_set",
        "preservation_cleared",
    ]
    assert [e["seq"] for e in r.json()["items"]] == list(range(1, 8))
    r = await client.get("/api/v1/audit-events/verify", headers=op.headers)
    assert r.json()["ok"] is True, r.json()


async def test_list_filters_and_pagination(client: httpx.AsyncClient, db: Database) -> None:
    op = await f.operator(client, db)
    a = await f.organization(client, verified_by=op)
    b = await f.organization(client, verified_by=op)
    granted = await f.patent(client, a, title="石墨烯散热膜", ipc_codes=["H01L 23/373"])
    pending = await f.patent(
        client, a, grant_date=None, abstract="含有 100%_纯度 的材料", ipc_codes=["H01M 4/36"]
    )
    expired = await f.patent(
        client,
        a,
        application_number=f.application_number(55, year=2010, kind_digit="2"),
        filing_date="2010-05-01",
        grant_date="2011-01-01",
        ipc_codes=["H01M 10/0525"],
    )
    lapsed = await f.patent(client, a, ipc_codes=["G06F 16/30", "H01M 100/00"])
    await client.patch(f"{BASE}/{lapsed['id']}", json={"legal_status": "lapsed"}, headers=op.headers)
    theirs = await f.patent(client, b, title="石墨烯电极")

    async def ids(headers: dict[str, str], **params: str) -> list[str]:
        r = await client.get(BASE, params=params, headers=headers)
        assert r.status_code == 200, r.text
        return [p["id"] for p in r.json()["items"]]

    mine = [granted["id"], pending["id"], expired["id"], lapsed["id"]]
    assert await ids(a.headers) == mine
    assert await ids(a.headers, owner_org_id=b.org_id or "") == []
    assert await ids(op.headers) == [*mine, theirs["id"]]
    assert await ids(op.headers, owner_org_id=b.org_id or "") == [theirs["id"]]
    assert await ids(a.headers, legal_status="granted") == [granted["id"]]
    assert await ids(a.headers, legal_status="pending") == [pending["id"]]
    assert await ids(a.headers, legal_status="expired") == [expired["id"]]
    assert await ids(a.headers, legal_status="lapsed") == [lapsed["id"]]
    assert await ids(a.headers, legal_status="invalidated") == []
    assert await ids(a.headers, kind="utility_model") == [expired["id"]]
    assert await ids(op.headers, q="石墨烯") == [granted["id"], theirs["id"]]
    assert await ids(a.headers, q="100%_") == [pending["id"]]
    assert await ids(a.headers, q="%") == [pending["id"]]
    assert await ids(a.headers, q="ZL" + expired["application_number"]) == [expired["id"]]
    assert await ids(a.headers, ipc="H01M") == [pending["id"], expired["id"], lapsed["id"]]
    assert await ids(a.headers, ipc="H01M 10") == [expired["id"]]
    assert await ids(a.headers, ipc="h01m10/05") == [expired["id"]]
    assert await ids(a.headers, ipc="H01M 100") == [lapsed["id"]]
    assert await ids(a.headers, ipc="H01") == [granted["id"], pending["id"], expired["id"], lapsed["id"]]
    r = await client.get(BASE, params={"ipc": "H01M%"}, headers=a.headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid_ipc_code"
    r = await client.get(BASE, params={"legal_status": "sold"}, headers=a.headers)
    assert r.status_code == 422

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(BASE, params=params, headers=op.headers)).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [*mine, theirs["id"]]
    r = await client.get(BASE, params={"cursor": "garbage"}, headers=op.headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"


async def test_operation_ids_and_error_responses_declared(client: httpx.AsyncClient, db: Database) -> None:
    spec = (await client.get("/openapi.json")).json()
    ops = {
        m["operationId"]: m
        for path, item in spec["paths"].items()
        if path.startswith(BASE)
        for m in item.values()
    }
    assert set(ops) >= {
        "create_patent",
        "import_patents",
        "list_patents",
        "get_patent",
        "update_patent",
        "set_patent_preservation",
    }
    for name, op in ops.items():
        assert op["tags"] == ["patents"], name
        assert any(code.startswith("4") for code in op["responses"]), name


async def _readable(client: httpx.AsyncClient, actor: f.Actor, patent_id: str) -> bool:
    r = await client.get(f"{BASE}/{patent_id}", headers=actor.headers)
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


async def _listing(
    client: httpx.AsyncClient, owner: f.Actor, patent_id: str, *verbs: tuple[f.Actor, str]
) -> str:
    body = {
        "title": "一种测试方法转让",
        "summary": "协议定价。",
        "patent_ids": [patent_id],
        "transaction_kind": "assignment",
        "pricing_mode": "negotiated",
        "price": "100000.00",
    }
    r = await client.post("/api/v1/listings", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    listing_id: str = r.json()["id"]
    for actor, verb in verbs:
        r = await client.post(f"/api/v1/listings/{listing_id}/{verb}", headers=actor.headers)
        assert r.status_code == 200, r.text
    return listing_id


async def test_never_published_patent_stays_private(client: httpx.AsyncClient, db: Database) -> None:
    """SPEC §20: a patent is readable by other organizations only while (or after) it was in a published
    listing or a declared open licence, and by the other party of a deal or pledge on it."""
    from tests.licensing import helpers as lh

    op = await f.operator(client, db)
    owner = await f.organization(client, kind="university", verified_by=op)
    stranger = await f.organization(client, verified_by=op)
    bank = await f.organization(client, kind="financial_institution", verified_by=op)

    # Listings withdrawn before publication, from draft and from review: never public.
    for verbs in ([(owner, "withdraw")], [(owner, "submit"), (owner, "withdraw")]):
        p = await f.patent(client, owner)
        await _listing(client, owner, p["id"], *verbs)
        assert not await _readable(client, stranger, p["id"]), [verb for _, verb in verbs]
        assert await _readable(client, op, p["id"]) and await _readable(client, owner, p["id"])
    # Pending review is not published either; publication makes it readable, and it stays so after withdrawal.
    p = await f.patent(client, owner)
    listing_id = await _listing(client, owner, p["id"], (owner, "submit"))
    assert not await _readable(client, stranger, p["id"])
    await client.post(f"/api/v1/listings/{listing_id}/approve", headers=op.headers)
    assert await _readable(client, stranger, p["id"])
    r = await client.post(f"/api/v1/listings/{listing_id}/withdraw", headers=owner.headers)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert await _readable(client, stranger, p["id"])

    # An open licence withdrawn before approval: never public; a declared one: public, also after withdrawal.
    p = await lh.patent(client, owner)
    item = await lh.declare(client, owner, p["id"])
    assert not await _readable(client, stranger, p["id"])
    await client.post(f"/api/v1/open-licenses/{item['id']}/withdraw", headers=owner.headers)
    assert not await _readable(client, stranger, p["id"])
    item = await lh.declared(client, op, owner, patent_id=p["id"])
    assert await _readable(client, stranger, p["id"])
    await client.post(f"/api/v1/open-licenses/{item['id']}/withdraw", headers=owner.headers)
    assert await _readable(client, stranger, p["id"])

    # A pledgee reads the patent from the pledge's creation; nobody else does.
    p = await f.patent(client, owner)
    assert not await _readable(client, bank, p["id"])
    body = {"pledgee_org_id": bank.org_id, "amount": "2000000.00", "ends_on": "2030-12-31"}
    r = await client.post(f"{BASE}/{p['id']}/pledges", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    assert await _readable(client, bank, p["id"])
    assert not await _readable(client, stranger, p["id"])

    # The other party of a deal on it. Through the API a deal always follows a publication, so this deal is
    # written to an unpublished listing directly: the deal alone must make the patent readable to its buyer.
    p = await f.patent(client, owner)
    listing_id = await _listing(client, owner, p["id"])
    deal_id = await lh.settled_deal(db, owner, stranger, price=100, seller_fee=0)
    assert not await _readable(client, stranger, p["id"])
    async with db.transaction() as session:
        from app.models.trading import Deal

        deal = await session.get(Deal, uuid.UUID(deal_id))
        assert deal is not None
        deal.listing_id = uuid.UUID(listing_id)
    assert await _readable(client, stranger, p["id"])
    assert not await _readable(client, bank, p["id"])


async def test_patent_locked_while_offered_or_dealt(client: httpx.AsyncClient, db: Database) -> None:
    """SPEC §20: a patent in an active listing, a live open-licence declaration or an unsettled deal cannot be
    edited by its owner (409 ``patent_locked``); operators may still set ``legal_status``."""
    from app.models.listings import ListingStatus
    from app.models.trading import Deal, DealStatus
    from tests.licensing import helpers as lh

    op = await f.operator(client, db)
    owner = await f.organization(client, kind="university", verified_by=op)
    buyer = await f.organization(client, verified_by=op)
    counter = iter(range(1, 1000))

    async def edit(patent_id: str) -> httpx.Response:
        body = {"title": f"改后的标题{next(counter)}"}
        return await client.patch(f"{BASE}/{patent_id}", json=body, headers=owner.headers)

    async def assert_locked(patent_id: str, why: str) -> None:
        r = await edit(patent_id)
        assert r.status_code == 409 and r.json()["code"] == "patent_locked", (why, r.text)
        r = await client.patch(f"{BASE}/{patent_id}", json={"legal_status": "lapsed"}, headers=op.headers)
        assert r.status_code == 200 and r.json()["legal_status"] == "lapsed", (why, r.text)
        r = await client.patch(f"{BASE}/{patent_id}", json={"legal_status": None}, headers=op.headers)
        assert r.status_code == 200 and r.json()["legal_status"] == "granted", (why, r.text)

    # Through the workflow: review, publication, suspension lock it; withdrawal frees it.
    p = await f.patent(client, owner)
    listing_id = await _listing(client, owner, p["id"])
    assert (await edit(p["id"])).status_code == 200  # a draft does not lock
    await client.post(f"/api/v1/listings/{listing_id}/submit", headers=owner.headers)
    await assert_locked(p["id"], "pending_review")
    # Sending what is already there edits nothing, so it is not refused (as a re-import of an unchanged row).
    current = (await client.get(f"{BASE}/{p['id']}", headers=owner.headers)).json()
    r = await client.patch(f"{BASE}/{p['id']}", json={"title": current["title"]}, headers=owner.headers)
    assert r.status_code == 200 and r.json() == current
    await client.post(f"/api/v1/listings/{listing_id}/approve", headers=op.headers)
    await assert_locked(p["id"], "published")
    await client.post(f"/api/v1/listings/{listing_id}/suspend", json={"reason": "核查"}, headers=op.headers)
    await assert_locked(p["id"], "suspended")
    await client.post(f"/api/v1/listings/{listing_id}/resume", headers=op.headers)
    r = await client.post(f"/api/v1/listings/{listing_id}/withdraw", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert (await edit(p["id"])).status_code == 200

    # Every listing status: the active ones lock, the others do not.
    for status in ListingStatus:
        async with db.transaction() as session:
            listing = await session.get(Listing, uuid.UUID(listing_id))
            assert listing is not None
            listing.status = status
        if status in ("pending_review", "published", "suspended", "in_auction", "under_contract"):
            await assert_locked(p["id"], status)
        else:
            assert (await edit(p["id"])).status_code == 200, status

    # Open-licence declarations pending review or declared lock it; a withdrawn one does not.
    p = await lh.patent(client, owner)
    item = await lh.declare(client, owner, p["id"])
    await assert_locked(p["id"], "open licence pending_review")
    await client.post(f"/api/v1/open-licenses/{item['id']}/approve", headers=op.headers)
    await assert_locked(p["id"], "open licence declared")
    await client.post(f"/api/v1/open-licenses/{item['id']}/withdraw", headers=owner.headers)
    assert (await edit(p["id"])).status_code == 200

    # An unsettled deal locks it even when its listing has ended (written directly: the listing is failed).
    p = await f.patent(client, owner)
    listing_id = await _listing(client, owner, p["id"], (owner, "submit"), (op, "approve"))
    async with db.transaction() as session:
        listing = await session.get(Listing, uuid.UUID(listing_id))
        assert listing is not None
        listing.status = ListingStatus.failed
    deal_id = await lh.settled_deal(db, owner, buyer, price=100, seller_fee=0)
    for status in DealStatus:
        async with db.transaction() as session:
            deal = await session.get(Deal, uuid.UUID(deal_id))
            assert deal is not None
            deal.listing_id, deal.status = uuid.UUID(listing_id), status
        if status in ("public_notice", "awaiting_signatures", "awaiting_payment", "paid"):
            await assert_locked(p["id"], f"deal {status}")
        else:
            assert (await edit(p["id"])).status_code == 200, status

    r = await client.get("/api/v1/audit-events/verify", headers=op.headers)
    assert r.json()["ok"] is True
