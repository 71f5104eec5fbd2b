"""Listings over HTTP (SPEC §5): creation rules, the review workflow, visibility, operator actions."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import chinese_calendar
import httpx
import pytest

from app.kit.workdays import SHANGHAI, WorkdayCalendar
from tests import factories as f
from tests.listings import helpers as h
from tests.world import org

RESERVE = "876543.21"


pytestmark = pytest.mark.world(uni=org("university"), company=org())


async def test_create_draft_and_read_it(client: httpx.AsyncClient, db, world) -> None:
    _op, uni, _company = world
    p = await h.patent(db, uni, title="一种锂电池隔膜的制备方法")
    r = await client.post("/api/v1/listings", json=h.auction_body([p]), headers=uni.headers)
    assert r.status_code == 201, r.text
    listing = r.json()
    assert listing["status"] == "draft"
    assert listing["price"] == "500000.00" and listing["deposit"] == "50000.00"
    assert (listing["listing_days"], listing["extension_days"], listing["max_extensions"]) == (10, 5, 1)
    assert listing["min_bidders_for_auction"] == 2 and listing["requires_qualification_review"] is False
    assert listing["auction"] == {
        "format": "english",
        "increment": "5000.00",
        "free_bidding_minutes": 1440,
        "countdown_seconds": 300,
        "sealed_pricing": "first_price",
        "decrement": None,
        "step_seconds": None,
        "floor_price": None,
    }
    assert listing["seller"] == {"id": uni.org_id, "name": uni.org["name"], "kind": "university"}  # type: ignore[index]
    [patent] = listing["patents"]
    assert patent["id"] == p and patent["legal_status"] == "granted" and patent["kind"] == "invention"
    assert patent["patent_number"] == "ZL" + patent["application_number"]
    assert (
        listing["published_at"] is None and listing["auction_id"] is None and listing["extensions_used"] == 0
    )
    assert RESERVE not in r.text


async def test_only_verified_sellers_members_create(client: httpx.AsyncClient, db, world) -> None:
    op, _uni, _company = world
    pending_org = await f.organization(client, kind="university")
    p = await h.patent(db, pending_org)
    r = await client.post("/api/v1/listings", json=h.body([p]), headers=pending_org.headers)
    assert r.status_code == 403 and r.json()["code"] == "organization_not_verified"
    r = await client.post("/api/v1/listings", json=h.body([p]), headers=op.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await client.post("/api/v1/listings", json=h.body([p]))
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("overrides", "code", "loc"),
    [
        ({"pricing_mode": "listed", "price": None, "deposit": "1.00"}, "validation_error", "price"),
        ({"pricing_mode": "listed", "deposit": None}, "invalid_deposit", "deposit"),
        ({"pricing_mode": "listed", "deposit": "150000.01"}, "invalid_deposit", "deposit"),
        ({"pricing_mode": "listed", "deposit": "0.00"}, "invalid_deposit", "deposit"),
        ({"pricing_mode": "auction", "deposit": "1000.00"}, "validation_error", "auction"),
        (
            {
                "pricing_mode": "auction",
                "deposit": "1000.00",
                "auction": {"format": "dutch", "increment": "1.00"},
            },
            "validation_error",
            "decrement",
        ),
        (
            {
                "pricing_mode": "auction",
                "deposit": "1000.00",
                "auction": {
                    "format": "dutch",
                    "increment": "1.00",
                    "decrement": "10.00",
                    "step_seconds": 60,
                    "floor_price": "600000.00",
                },
            },
            "validation_error",
            "floor_price",
        ),
        (
            {
                "pricing_mode": "auction",
                "deposit": "1000.00",
                "auction": {"format": "english", "increment": "0.00"},
            },
            "validation_error",
            "increment",
        ),
        (
            {
                "pricing_mode": "auction",
                "deposit": "1000.00",
                "auction": {"format": "open-cry", "increment": "1.00"},
            },
            "validation_error",
            "format",
        ),
        ({"transaction_kind": "exclusive_license"}, "validation_error", "license"),
        (
            {"license": {"term_months": 12, "territory": "全国", "field_of_use": "电池"}},
            "validation_error",
            "license",
        ),
        ({"listing_days": 4}, "validation_error", "listing_days"),
        ({"price": "12.345"}, "validation_error", "price"),
        ({"price": "-1.00"}, "validation_error", "price"),
        ({"surprise": 1}, "validation_error", "surprise"),
        ({"patent_ids": []}, "validation_error", "patent_ids"),
    ],
)
async def test_creation_validation(client: httpx.AsyncClient, db, world, overrides, code, loc) -> None:
    _op, uni, _company = world
    p = await h.patent(db, uni)
    data = {**h.body([p]), **overrides}
    r = await client.post(
        "/api/v1/listings", json={k: v for k, v in data.items() if v is not None}, headers=uni.headers
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == code
    assert any(loc in e["loc"] for e in problem["errors"]), problem


async def test_licence_and_dutch_listings_are_accepted(client: httpx.AsyncClient, db, world) -> None:
    _op, uni, _company = world
    p = await h.patent(db, uni)
    lic = {"term_months": 36, "territory": "中国大陆", "field_of_use": "动力电池"}
    listing = await h.create(
        client,
        uni,
        h.body([p], transaction_kind="sole_license", license=lic, pricing_mode="listed", deposit="150000.00"),
    )
    assert listing["license"] == lic
    dutch = {
        "format": "dutch",
        "increment": "1.00",
        "decrement": "1000.00",
        "step_seconds": 60,
        "floor_price": "200000.00",
    }
    p2 = await h.patent(db, uni)
    listing = await h.create(client, uni, h.body([p2], pricing_mode="auction", deposit="1.00", auction=dutch))
    assert listing["auction"]["floor_price"] == "200000.00" and listing["auction"]["step_seconds"] == 60


@pytest.mark.parametrize(
    "patent_kw",
    [
        {"granted": False},  # pending: only for assignment
        {"status_override": "lapsed"},
        {"status_override": "invalidated"},
        {"preserved": True},
        {"expires_on": __import__("datetime").date(2020, 1, 1)},
    ],
)
async def test_patent_not_transferable(client: httpx.AsyncClient, db, world, patent_kw) -> None:
    _op, uni, _company = world
    p = await h.patent(db, uni, **patent_kw)
    lic = {"term_months": 12, "territory": "全国", "field_of_use": "电池"}
    r = await client.post(
        "/api/v1/listings",
        json=h.body([p], transaction_kind="nonexclusive_license", license=lic),
        headers=uni.headers,
    )
    assert r.status_code == 409 and r.json()["code"] == "patent_not_transferable"
    r = await client.post("/api/v1/listings", json=h.body([p]), headers=uni.headers)
    if patent_kw == {"granted": False}:
        assert r.status_code == 201, r.text  # an application may be assigned
    else:
        assert r.status_code == 409 and r.json()["code"] == "patent_not_transferable"


async def test_patent_of_another_org_or_unknown(client: httpx.AsyncClient, db, world) -> None:
    _op, uni, company = world
    theirs = await h.patent(db, company)
    for pid in (theirs, "00000000-0000-4000-8000-000000000000"):
        r = await client.post("/api/v1/listings", json=h.body([pid]), headers=uni.headers)
        assert r.status_code == 409 and r.json()["code"] == "patent_not_transferable"


async def test_patent_already_listed(client: httpx.AsyncClient, db, world) -> None:
    _op, uni, _company = world
    p = await h.patent(db, uni)
    lic = {"term_months": 12, "territory": "全国", "field_of_use": "电池"}
    first = await h.create(client, uni, h.body([p]))
    # A draft holds nothing: a second draft is fine, until the first is submitted.
    second = await h.create(client, uni, h.body([p]))
    await h.act(client, uni, first["id"], "submit")
    r = await client.post("/api/v1/listings", json=h.body([p]), headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_already_listed"
    problem = await h.act(client, uni, second["id"], "submit", expect=409)
    assert problem["code"] == "patent_already_listed"
    r = await client.patch(f"/api/v1/listings/{second['id']}", json={"title": "新标题"}, headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "patent_already_listed"
    # An active assignment listing holds the patent against every other listing, a licence included.
    r = await client.post(
        "/api/v1/listings",
        json=h.body([p], transaction_kind="nonexclusive_license", license=lic),
        headers=uni.headers,
    )
    assert r.status_code == 409 and r.json()["code"] == "patent_already_listed"
    # Once the first is withdrawn the patent is free again. A non-exclusive licence listing does not hold it
    # (SPEC §5 names assignment/exclusive/sole listings only).
    await h.act(client, uni, first["id"], "withdraw")
    nonex = await h.create(client, uni, h.body([p], transaction_kind="nonexclusive_license", license=lic))
    await h.act(client, uni, nonex["id"], "submit")
    await h.act(client, uni, second["id"], "submit")


async def test_workflow_and_audit_chain(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company = world
    p = await h.patent(db, uni)
    listing = await h.create(client, uni, h.auction_body([p]))
    lid = listing["id"]
    # Wrong roles: the seller cannot approve, the operator cannot submit, another org cannot see the draft.
    assert (await h.act(client, uni, lid, "approve", expect=403))["code"] == "forbidden"
    assert (await h.act(client, op, lid, "submit", expect=403))["code"] == "forbidden"
    assert (await h.act(client, company, lid, "submit", expect=404))["code"] == "not_found"
    assert (await h.act(client, op, lid, "approve", expect=409))["code"] == "invalid_state"

    submitted = await h.act(client, uni, lid, "submit")
    assert submitted["status"] == "pending_review"
    r = await client.patch(f"/api/v1/listings/{lid}", json={"title": "x"}, headers=uni.headers)
    assert r.status_code == 409 and r.json()["code"] == "invalid_state"
    rejected = await h.act(client, op, lid, "reject", {"reason": "摘要不完整"})
    assert rejected["status"] == "draft" and rejected["rejection_reason"] == "摘要不完整"
    r = await client.patch(f"/api/v1/listings/{lid}", json={"summary": "补充后的摘要"}, headers=uni.headers)
    assert r.status_code == 200 and r.json()["summary"] == "补充后的摘要"
    resubmitted = await h.act(client, uni, lid, "submit")
    assert resubmitted["rejection_reason"] is None
    approved = await h.act(client, op, lid, "approve")
    assert approved["status"] == "published" and approved["published_at"] is not None
    # Published: the company may see it but not act as the seller.
    assert (await h.act(client, company, lid, "withdraw", expect=403))["code"] == "forbidden"
    assert (await h.act(client, company, lid, "suspend", {"reason": "x"}, expect=403))["code"] == "forbidden"
    await h.act(client, op, lid, "suspend", {"reason": "核查权属"})
    assert (await h.act(client, uni, lid, "withdraw", expect=409))["code"] == "invalid_state"
    await h.act(client, op, lid, "resume")
    terminated = await h.act(client, op, lid, "terminate", {"reason": "权属争议"})
    assert terminated["status"] == "terminated" and terminated["status_reason"] == "权属争议"
    assert (await h.act(client, op, lid, "resume", expect=409))["code"] == "invalid_state"

    r = await client.get("/api/v1/audit-events", params={"entity_type": "listing"}, headers=op.headers)
    assert r.status_code == 200, r.text
    actions = [e["action"] for e in r.json()["items"] if e["entity_id"] == lid]
    assert actions == [
        "created",
        "submitted",
        "rejected",
        "updated",
        "submitted",
        "approved",
        "suspended",
        "resumed",
        "terminated",
    ]
    assert RESERVE not in r.text
    r = await client.get("/api/v1/audit-events/verify", headers=op.headers)
    assert r.status_code == 200 and r.json()["ok"] is True, r.text


async def test_withdraw_from_each_state(client: httpx.AsyncClient, db, world) -> None:
    op, uni, _company = world
    for steps, ok in ([[], True], [["submit"], True], [["submit", "approve"], True]):
        p = await h.patent(db, uni)
        listing = await h.create(client, uni, h.body([p]))
        for step in steps:
            await h.act(client, op if step == "approve" else uni, listing["id"], step)
        assert (await h.act(client, uni, listing["id"], "withdraw"))["status"] == "withdrawn"
        assert (await h.act(client, uni, listing["id"], "withdraw", expect=409))["code"] == "invalid_state"


async def test_visibility_and_reserve_never_shown(client: httpx.AsyncClient, db, world) -> None:
    op, uni, company = world
    p = await h.patent(db, uni)
    draft = await h.create(client, uni, h.auction_body([p]))
    url = f"/api/v1/listings/{draft['id']}"
    assert (await client.get(url)).status_code == 404
    r = await client.get(url, headers=company.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    for actor in (uni, op):
        r = await client.get(url, headers=actor.headers)
        assert r.status_code == 200 and RESERVE not in r.text
    assert (await client.get("/api/v1/listings")).json()["items"] == []
    assert [x["id"] for x in (await client.get("/api/v1/listings", headers=uni.headers)).json()["items"]] == [
        draft["id"]
    ]
    assert [x["id"] for x in (await client.get("/api/v1/listings", headers=op.headers)).json()["items"]] == [
        draft["id"]
    ]
    assert (await client.get("/api/v1/listings", headers=company.headers)).json()["items"] == []
    await h.act(client, uni, draft["id"], "submit")
    assert (await client.get(url)).status_code == 404
    approved = await h.act(client, op, draft["id"], "approve")
    assert RESERVE not in str(approved)
    for headers in ({}, company.headers, uni.headers, op.headers):
        r = await client.get(url, headers=headers)
        assert r.status_code == 200 and RESERVE not in r.text
        r = await client.get("/api/v1/listings", headers=headers)
        assert r.status_code == 200 and RESERVE not in r.text and len(r.json()["items"]) == 1
    # Another org's draft cannot be changed either (404, not 403).
    p2 = await h.patent(db, uni)
    other = await h.create(client, uni, h.body([p2]))
    r = await client.patch(f"/api/v1/listings/{other['id']}", json={"title": "x"}, headers=company.headers)
    assert r.status_code == 404
    # A draft withdrawn before publication never becomes public.
    await h.act(client, uni, other["id"], "withdraw")
    assert (await client.get(f"/api/v1/listings/{other['id']}")).status_code == 404


async def test_patch_rules(client: httpx.AsyncClient, db, world) -> None:
    _op, uni, _company = world
    p, p2 = await h.patent(db, uni), await h.patent(db, uni, title="一种芯片封装结构")
    listing = await h.create(client, uni, h.body([p]))
    url = f"/api/v1/listings/{listing['id']}"
    r = await client.patch(url, json={"pricing_mode": "listed"}, headers=uni.headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid_deposit"
    r = await client.patch(url, json={"pricing_mode": "listed", "deposit": "100.00"}, headers=uni.headers)
    assert r.status_code == 200 and r.json()["pricing_mode"] == "listed"
    r = await client.patch(url, json={"title": None}, headers=uni.headers)
    assert r.status_code == 422
    r = await client.patch(
        url,
        json={"patent_ids": [p2], "pricing_mode": "negotiated", "deposit": None, "price": None},
        headers=uni.headers,
    )
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["patents"]] == [p2] and r.json()["price"] is None
    # The search document follows the patents.
    found = (await client.get("/api/v1/listings", params={"q": "芯片"}, headers=uni.headers)).json()["items"]
    assert [x["id"] for x in found] == [listing["id"]]


def _covered(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_listing_ends_at_working_days_and_suspension(client: httpx.AsyncClient, db, world) -> None:
    op, uni, _company = world
    cal = WorkdayCalendar()
    p = await h.patent(db, uni)
    listing = await h.published(client, uni, op, h.body([p]))
    published, ends = _at(listing["published_at"]), _at(listing["listing_ends_at"])
    assert ends.astimezone(SHANGHAI).time() == published.astimezone(SHANGHAI).time()
    # Counted day by day: the tenth working day after the publication day, whatever day that was.
    first, last = published.astimezone(SHANGHAI).date(), ends.astimezone(SHANGHAI).date()
    between = [first + timedelta(days=i) for i in range(1, (last - first).days + 1)]
    assert sum(cal.is_workday(day) for day in between) == 10 and cal.is_workday(last)

    await h.act(client, op, listing["id"], "suspend", {"reason": "核查"})
    await h.advance(client, 3 * 86400 + 0.5)
    resumed = await h.act(client, op, listing["id"], "resume")
    moved = _at(resumed["listing_ends_at"]) - ends
    assert timedelta(days=3) <= moved < timedelta(days=3, seconds=30)
    assert resumed["status"] == "published" and resumed["status_reason"] is None


async def test_listing_ends_at_in_an_uncovered_year(client: httpx.AsyncClient, db, world) -> None:
    op, uni, _company = world
    p = await h.patent(db, uni)
    listing = await h.create(client, uni, h.body([p], listing_days=5))
    await h.act(client, uni, listing["id"], "submit")
    # The first year the bundled official calendar does not cover, on its 6th of January.
    now = _at((await client.get("/api/v1/sandbox/clock")).json()["now"])
    year = now.astimezone(SHANGHAI).year
    while _covered(year):
        year += 1
    if datetime(year, 1, 6, 10, tzinfo=SHANGHAI) <= now:
        year += 1  # already inside an uncovered year: the next one is not covered either
    target = datetime(year, 1, 6, 10, tzinfo=SHANGHAI)
    await h.advance(client, (target - now).total_seconds())
    approved = await h.act(client, op, listing["id"], "approve")
    published, ends = _at(approved["published_at"]), _at(approved["listing_ends_at"])
    assert ends.year == year
    # That year falls back to Monday-Friday.
    day, remaining = published.astimezone(SHANGHAI).date(), 5
    while remaining:
        day += timedelta(days=1)
        remaining -= day.weekday() < 5
    assert ends.astimezone(SHANGHAI).date() == day
