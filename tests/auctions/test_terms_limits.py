"""SPEC §20: auction terms whose times cannot be are refused when the listing is created or changed — 422
``invalid_auction`` — rather than poisoning the sweeper later: a Dutch clock must reach its floor within 30 days
of its start; every instant the terms imply, counted from the listing's creation, lies in 1900-01-01 …
2199-12-31. Large but valid terms keep working. No auction terms ever make listing creation a 500."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.auctions import rules
from app.kit.money import format_fen, parse_yuan
from app.models.listings import AuctionFormat
from tests import factories as f
from tests import trading as t
from tests.auctions import helpers as h
from tests.conftest import pin_business_clock

POISON = {
    "format": "dutch",
    "increment": "1.00",
    "decrement": "0.01",
    "step_seconds": 86_400,
    "floor_price": "0.00",
}
POISON_PRICE = "100000000.00"
SHANGHAI_OFFSET = timezone(timedelta(hours=8))


def _body(patent_id: str, price: str, auction: dict[str, Any], deposit: str | None = None) -> dict[str, Any]:
    return {
        "title": "一种锂电池隔膜的制备方法",
        "summary": "高孔隙率隔膜。",
        "patent_ids": [patent_id],
        "transaction_kind": "assignment",
        "pricing_mode": "auction",
        "price": price,
        "deposit": deposit or "0.01",
        "auction": auction,
    }


async def _seller(client: httpx.AsyncClient, db) -> tuple[f.Actor, f.Actor]:  # type: ignore[no-untyped-def]
    op = await f.operator(client, db)
    return op, await f.organization(client, kind="university", verified_by=op)


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_auction", body
    assert ["body", "auction"] in [e["loc"] for e in body["errors"]], body


async def test_a_dutch_clock_that_never_reaches_its_floor_is_refused_at_creation(
    client: httpx.AsyncClient, db
) -> None:
    _op, seller = await _seller(client, db)
    patent = await f.patent(client, seller)
    r = await client.post(
        "/api/v1/listings", json=_body(patent["id"], POISON_PRICE, POISON), headers=seller.headers
    )
    _refused(r)
    assert "30 days" in r.json()["errors"][0]["msg"]


async def test_patch_cannot_make_the_terms_poison(client: httpx.AsyncClient, db) -> None:
    _op, seller = await _seller(client, db)
    patent = await f.patent(client, seller)
    ok = {
        **POISON,
        "decrement": "100000.00",
    }  # 1,000 steps of a day to the floor? no: 100000000/100000 = 1000
    ok["step_seconds"] = 60  # 1,000 minutes: well within 30 days
    r = await client.post(
        "/api/v1/listings", json=_body(patent["id"], POISON_PRICE, ok), headers=seller.headers
    )
    assert r.status_code == 201, r.text
    url = f"/api/v1/listings/{r.json()['id']}"

    r = await client.patch(url, json={"auction": POISON}, headers=seller.headers)  # the terms themselves
    _refused(r)
    r = await client.patch(url, json={"auction": {**ok, "step_seconds": 86_400}}, headers=seller.headers)
    _refused(r)  # 1,000 days
    r = await client.patch(url, json={"price": "900000000000.00"}, headers=seller.headers)  # the price only
    _refused(r)
    # Nothing was changed by the refusals.
    listing = (await client.get(url, headers=seller.headers)).json()
    assert listing["price"] == POISON_PRICE
    assert (listing["auction"]["decrement"], listing["auction"]["step_seconds"]) == ("100000.00", 60)


async def test_large_but_valid_terms_are_accepted_and_run(client: httpx.AsyncClient, db) -> None:
    """A billion yuan falling by ten million every 7 hours to a floor of a hundred million: 90 steps, 26.25
    days. It is created, published, opened and priced by the clock like any Dutch auction."""
    large = {
        "format": "dutch",
        "increment": "1.00",
        "decrement": "10000000.00",
        "step_seconds": 7 * 3600,
        "floor_price": "100000000.00",
    }
    case = await h.open_auction(client, db, price="1000000000.00", deposit="1000.00", auction=large)
    view = await h.state(client, case)
    starts, ends = datetime.fromisoformat(view["starts_at"]), datetime.fromisoformat(view["ends_at"])
    assert (ends - starts).total_seconds() == 91 * 7 * 3600
    assert view["current_price"] == "1000000000.00"
    await t.advance(client, 7 * 3600 + 1)
    assert (await h.state(client, case))["current_price"] == "990000000.00"


async def test_instants_past_2199_are_refused_at_creation_and_patch(client: httpx.AsyncClient, db) -> None:
    """Counted from the listing's creation: with the business clock on 2199-12-02 (Shanghai), 30 days of free
    bidding and a countdown would end after 2199-12-31."""
    _op, seller = await _seller(client, db)
    await pin_business_clock(db, datetime(2199, 12, 2, 10, 0, tzinfo=SHANGHAI_OFFSET))
    patent = await f.patent(client, seller, filing_date="2199-06-01", grant_date="2199-11-02")
    english = {"format": "english", "increment": "1000.00", "countdown_seconds": 300}
    body = _body(patent["id"], "100000.00", {**english, "free_bidding_minutes": 30 * 1440}, "10000.00")
    r = await client.post("/api/v1/listings", json=body, headers=seller.headers)
    _refused(r)
    assert "2199-12-31" in r.json()["errors"][0]["msg"]
    body = _body(patent["id"], "100000.00", {**english, "free_bidding_minutes": 1440}, "10000.00")
    r = await client.post("/api/v1/listings", json=body, headers=seller.headers)
    assert r.status_code == 201, r.text
    url = f"/api/v1/listings/{r.json()['id']}"
    r = await client.patch(
        url, json={"auction": {**english, "free_bidding_minutes": 30 * 1440}}, headers=seller.headers
    )
    _refused(r)


def _money(fen: int) -> str:
    return format_fen(fen)


fen_values = st.one_of(
    st.integers(min_value=-(10**3), max_value=10**15),
    st.sampled_from([1, 100, 10**4, 10**8, 10**10, 99_999_999_999_999, 10**14]),
)
seconds = st.one_of(
    st.integers(min_value=-10, max_value=10**7),
    st.sampled_from([0, 1, 60, 86_399, 86_400, 86_401, 30 * 1440, 30 * 1440 + 1, 2**31, 2**63]),
)
terms_strategy = st.fixed_dictionaries(
    {
        "format": st.sampled_from(["english", "sealed", "dutch"]),
        "price": fen_values,
        "increment": fen_values,
        "decrement": fen_values,
        "floor_price": fen_values,
        "step_seconds": seconds,
        "free_bidding_minutes": seconds,
        "countdown_seconds": seconds,
    }
)


def _examples(count: int) -> list[dict[str, Any]]:
    """Deterministic examples drawn by Hypothesis (the API calls below need the test's event loop)."""
    drawn: list[dict[str, Any]] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(terms_strategy)
    def collect(terms: dict[str, Any]) -> None:
        drawn.append(terms)

    collect()
    return drawn


async def test_extreme_terms_never_fail_creation_and_accepted_ones_schedule(
    client: httpx.AsyncClient, db
) -> None:
    _op, seller = await _seller(client, db)
    patent = await f.patent(client, seller)
    outcomes: dict[int, int] = {}
    for terms in _examples(60):
        auction = {k: v for k, v in terms.items() if k != "price"}
        for key in ("increment", "decrement", "floor_price"):
            auction[key] = _money(auction[key])
        price = _money(terms["price"])
        deposit = _money(max(terms["price"] * 3 // 10, 1))
        r = await client.post(
            "/api/v1/listings", json=_body(patent["id"], price, auction, deposit), headers=seller.headers
        )
        outcomes[r.status_code] = outcomes.get(r.status_code, 0) + 1
        assert r.status_code in (201, 422), (terms, r.status_code, r.text)
        if r.status_code != 201:
            assert r.headers["content-type"].startswith("application/problem+json")
            continue
        listing = r.json()
        stored = listing["auction"]
        plan = rules.schedule(
            AuctionFormat(stored["format"]),
            datetime.fromisoformat(listing["created_at"]),
            free_bidding_seconds=stored["free_bidding_minutes"] * 60,
            countdown_seconds=stored["countdown_seconds"],
            start_price=parse_yuan(listing["price"]),
            decrement=None if stored["decrement"] is None else parse_yuan(stored["decrement"]),
            step_seconds=stored["step_seconds"],
            floor_price=None if stored["floor_price"] is None else parse_yuan(stored["floor_price"]),
        )
        assert rules.FIRST_INSTANT <= plan.starts_at <= plan.ends_at < rules.END_OF_RANGE
        # The same terms are accepted again by PATCH (its validation is the same).
        r = await client.patch(
            f"/api/v1/listings/{listing['id']}", json={"auction": auction}, headers=seller.headers
        )
        assert r.status_code == 200, r.text
    assert outcomes.get(201, 0) >= 5 and outcomes.get(422, 0) >= 5, outcomes
