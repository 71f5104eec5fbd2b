"""Bidders stay anonymous to the seller and to each other until a deal names the winner (SPEC §20
"Confidentiality"): no response body or header, live event, audit event, error or statistic the seller or
another bidder can read carries a registrant's organization id, name, credit code, or a user's id, email or
name; they see bidder codes only.

One world: a listed-trading listing with qualification review and four registrants (two qualified, one
disqualified, one withdrawn) that goes to an English auction with bids and closes with a deal, and a second
listed-trading listing whose auction nobody bids in (the two deposits are forfeited to the seller). At each
phase — listing period, auction, after the close — a walk GETs every route of the app (generated from
``app.routes``, path parameters filled with every id the world knows), the audit trail of every entity, the
live-event replay, and the error bodies of refused actions, as the seller and as another bidder, and searches
the raw text of every response for the identities that reader may not learn."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.routing import APIRoute, iter_route_contexts

from tests import factories as f
from tests import trading as t
from tests.auctions.helpers import StreamingASGITransport

API = "/api/v1"
_numbers = itertools.count(1)

# Path parameters the world fills; every other parameter names an object that a listing and its auction do
# not create, and is listed here so that a route with a new kind of parameter fails the walk until it is
# decided how to fill it.
NOT_IN_THIS_WORLD = {
    "key_id",
    "offer_id",
    "objection_id",
    "number",
    "reward_plan_id",
    "open_license_id",
    "pledge_id",
    "webhook_id",  # a webhook's routes show its own organization's subscriptions and delivery states only
    "demand_id",  # a demand's routes show demands, responses and listings, no registration (tests/demands/)
    # A filing is made after settlement, which this world does not reach; it shows its deal's amounts and
    # registration outcome, naming no registrant (tests/techcontracts/).
    "tech_contract_registration_id",
    # Transfer tasks and licence records are made at settlement too; they name the deal's two parties and
    # patents only (tests/filings/).
    "transfer_task_id",
    "licence_record_id",
    # Royalty reports follow a licence record; they name its two parties only (tests/royalties/).
    "royalty_report_id",
    # Trial offers and trials are the offering owner's and the trying company's, outside any listing or auction;
    # they name those two parties only (tests/trials/).
    "trial_offer_id",
    "trial_id",
}
# Walked on their own: the live-event stream (it ends only when the auction does, so it is read by count).
WALKED_APART = {f"{API}/auctions/{{auction_id}}/events"}
# Query variants worth a call besides the defaults.
EXTRA_QUERIES: dict[str, list[dict[str, str]]] = {
    f"{API}/deals": [{"role": "seller"}, {"role": "buyer"}],
    f"{API}/listings": [{"q": "锂电池"}],
}
# The audit chains each kind of id is the entity of.
ENTITY_TYPES = {
    "org_id": "organization",
    "patent_id": "patent",
    "listing_id": "listing",
    "auction_id": "auction",
    "registration_id": "registration",
    "deal_id": "deal",
    "contract_id": "contract",
}


@dataclass
class Party:
    """An organization with its admin user; ``tokens`` are what must not reach those it is hidden from."""

    tag: str
    actor: f.Actor
    name: str
    credit_code: str
    user_name: str

    def tokens(self) -> list[tuple[str, str]]:
        assert self.actor.org_id is not None
        return [
            ("organization id", self.actor.org_id),
            ("organization name", self.name),
            ("credit code", self.credit_code),
            ("user id", self.actor.id),
            ("user email", self.actor.email),
            ("user name", self.user_name),
        ]


async def _party(client: httpx.AsyncClient, op: f.Actor, tag: str) -> Party:
    n = next(_numbers)
    mark = uuid.uuid4().hex[:8]
    name, user_name = f"{tag}方{mark}科技有限公司", f"联络人{tag}{mark}"
    email, code = f"{tag.lower()}-{mark}@bidder.example.cn", f.credit_code(700_000_000 + n)
    r = await client.post(
        f"{API}/organizations",
        json={
            "name": name,
            "kind": "enterprise",
            "credit_code": code,
            "admin": {"email": email, "password": f.PASSWORD, "name": user_name},
        },
    )
    assert r.status_code == 201, r.text
    org_id = r.json()["id"]
    r = await client.post(f"{API}/organizations/{org_id}/verify", headers=op.headers)
    assert r.status_code == 200, r.text
    headers = await f.login(client, email)
    me = (await client.get(f"{API}/me", headers=headers)).json()
    return Party(tag, f.Actor(me["id"], email, org_id, headers), name, code, user_name)


def _found(text: str, hidden: Iterable[Party]) -> list[str]:
    """The hidden identities that occur in ``text`` (as written, or JSON-escaped)."""
    low = text.lower()
    out = []
    for party in hidden:
        for label, token in party.tokens():
            forms = {token.lower(), json.dumps(token)[1:-1].lower()}
            if any(form in low for form in forms):
                out.append(f"{party.tag}'s {label}")
    return out


def _raw(r: httpx.Response) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in r.headers.items())
    return headers + "\n" + r.content.decode("utf-8", errors="replace")


@dataclass
class Walk:
    """What one reader saw: every request made and every leak found."""

    reader: str
    hidden: list[Party]
    calls: int = 0
    leaks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # 5xx: no input may cause one
    audit_actions: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    bodies: dict[str, Any] = field(default_factory=dict)

    def check(self, what: str, r: httpx.Response) -> None:
        self.calls += 1
        self.leaks += [
            f"{self.reader} {what} ({r.status_code}): {leak}" for leak in _found(_raw(r), self.hidden)
        ]
        if r.status_code >= 500:
            self.failures.append(f"{self.reader} {what}: {r.status_code} {r.text[:300]}")


def _get_routes(app: Any) -> list[str]:
    return sorted(
        {
            rc.path_format
            for rc in iter_route_contexts(app.routes)
            if isinstance(rc.original_route, APIRoute) and "GET" in (rc.methods or ())
        }
    )


def _params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


async def _get_all_pages(
    client: httpx.AsyncClient, walk: Walk, path: str, headers: dict[str, str], params: dict[str, str]
) -> None:
    query: dict[str, str] = {**params}
    for _ in range(50):
        r = await client.get(path, params=query, headers=headers)
        walk.check(f"GET {path} {params}", r)
        body = r.json() if r.headers.get("content-type", "").endswith("json") else None
        walk.bodies[f"{path} {sorted(params.items())}"] = body
        cursor = body.get("next_cursor") if isinstance(body, dict) else None
        if not cursor:
            return
        query = {**params, "cursor": cursor, "limit": "100"}
    raise AssertionError(f"{path}: more than 50 pages")


async def _replay(
    client: httpx.AsyncClient, app: Any, walk: Walk, auction_id: str, headers: dict[str, str]
) -> int:
    """The live-event replay from ``Last-Event-ID: 0``, read until every event written so far has arrived (an
    open auction's stream never ends by itself). Returns the number of events read."""
    state = (await client.get(f"{API}/auctions/{auction_id}")).json()
    url = f"{API}/auctions/{auction_id}/events"
    replay_headers = {**headers, "Last-Event-ID": "0"}
    if state["status"] != "open":
        r = await client.get(url, headers=replay_headers)
        walk.check(f"GET {url} (replay)", r)
        return r.text.count("\nevent:") + r.text.startswith("event:")
    expected = state["bid_count"] + state["extensions"]
    live = httpx.AsyncClient(transport=StreamingASGITransport(app), base_url="http://test")
    text, events = "", 0
    async with live, live.stream("GET", url, headers=replay_headers) as stream:

        async def read() -> None:
            nonlocal text, events
            async for line in stream.aiter_lines():
                text += line + "\n"
                events += line.startswith("event:")
                if events >= expected and not line.strip():
                    return

        if expected:
            await asyncio.wait_for(read(), 20)
        walk.check(
            f"GET {url} (replay)",
            httpx.Response(stream.status_code, headers=stream.headers, content=text.encode()),
        )
    return events


async def walk(
    client: httpx.AsyncClient,
    app: Any,
    reader: Party,
    hidden: list[Party],
    ids: dict[str, list[str]],
    refused: list[tuple[str, str, dict[str, Any] | None]],
) -> Walk:
    """Every GET route of the app as ``reader``, with every known id in its path, each list followed to its
    last page; the audit trail of every entity; the live-event replay of every auction; the ``refused``
    requests (method, path, body) whose error bodies are read too."""
    seen = Walk(reader.tag, hidden)
    headers = reader.actor.headers
    for path in _get_routes(app):
        if path in WALKED_APART:
            continue
        names = _params(path)
        unknown = [n for n in names if n not in ids and n not in NOT_IN_THIS_WORLD]
        assert not unknown, f"{path}: decide how the walk fills {unknown}"
        if any(n in NOT_IN_THIS_WORLD for n in names):
            continue
        for values in itertools.product(*(ids[n] for n in names)):
            url = path
            for name, value in zip(names, values, strict=True):
                url = url.replace("{" + name + "}", value)
            for params in [{}, *EXTRA_QUERIES.get(path, [])]:
                await _get_all_pages(client, seen, url, headers, params)
    for kind, entity_type in ENTITY_TYPES.items():
        for entity_id in ids.get(kind, []):
            params = {"entity_type": entity_type, "entity_id": entity_id}
            await _get_all_pages(client, seen, f"{API}/audit-events", headers, params)
            body = seen.bodies[f"{API}/audit-events {sorted(params.items())}"]
            if isinstance(body, dict) and "items" in body:
                seen.audit_actions[entity_type, entity_id] = [e["action"] for e in body["items"]]
    for auction_id in ids["auction_id"]:
        await _replay(client, app, seen, auction_id, headers)
    for method, path, body in refused:
        r = await client.request(method, path, json=body, headers=headers)
        assert r.status_code >= 400, f"{method} {path} was meant to be refused: {r.status_code} {r.text}"
        seen.check(f"{method} {path}", r)
    return seen


@dataclass
class World:
    op: f.Actor
    seller: Party
    a: Party  # qualified, bids, wins
    b: Party  # qualified, bids, loses
    c: Party  # disqualified
    d: Party  # withdraws
    e: Party  # second listing: nobody bids, deposits forfeited
    g: Party
    listing: dict[str, Any]
    quiet: dict[str, Any]  # the second listing
    year: int  # the business clock's, for routes by calendar year
    reg: dict[str, str] = field(default_factory=dict)  # tag → registration id
    auction_ids: list[str] = field(default_factory=list)
    deal_id: str | None = None
    contract_id: str | None = None

    @property
    def registrants(self) -> list[Party]:
        return [self.a, self.b, self.c, self.d, self.e, self.g]

    def ids(self, reader: Party) -> dict[str, list[str]]:
        assert self.seller.actor.org_id and reader.actor.org_id
        return {
            "org_id": sorted({reader.actor.org_id, self.seller.actor.org_id}),
            "patent_id": [p["id"] for lst in (self.listing, self.quiet) for p in lst["patents"]],
            "listing_id": [self.listing["id"], self.quiet["id"]],
            "auction_id": list(self.auction_ids),
            "registration_id": list(self.reg.values()),
            "deal_id": [self.deal_id] if self.deal_id else [],
            "contract_id": [self.contract_id] if self.contract_id else [],
            "year": [str(self.year)],
        }


async def _register(client: httpx.AsyncClient, party: Party, listing: dict[str, Any]) -> str:
    r = await client.post(f"{API}/listings/{listing['id']}/registrations", headers=party.actor.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _world(client: httpx.AsyncClient, db: Any) -> World:
    op = await f.operator(client, db)
    seller = await _party(client, op, "Seller")
    parties = [await _party(client, op, tag) for tag in ("A", "B", "C", "D", "E", "G")]
    for party in parties:
        await t.fund(client, op, party.actor, "300000.00" if party.tag == "A" else "10000.00")
    terms = {"pricing_mode": "listed", "price": "100000.00", "deposit": "10000.00"}
    listing = await t.published_listing(client, op, seller.actor, requires_qualification_review=True, **terms)
    quiet = await t.published_listing(client, op, seller.actor, **terms)
    w = World(op, seller, *parties, listing=listing, quiet=quiet, year=(await t.now(client)).year)
    for party in (w.a, w.b, w.c, w.d):
        w.reg[party.tag] = await _register(client, party, listing)
    for party in (w.e, w.g):
        w.reg[party.tag] = await _register(client, party, quiet)
    for tag in ("A", "B"):
        r = await client.post(f"{API}/registrations/{w.reg[tag]}/qualify", headers=op.headers)
        assert r.status_code == 200, r.text
    r = await client.post(
        f"{API}/registrations/{w.reg['C']}/disqualify", json={"reason": "资格不符"}, headers=op.headers
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"{API}/registrations/{w.reg['D']}/withdraw", headers=w.d.actor.headers)
    assert r.status_code == 200, r.text
    return w


def _seller_refusals(w: World) -> list[tuple[str, str, dict[str, Any] | None]]:
    refused: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", f"{API}/listings/{w.listing['id']}/registrations", None),
    ]
    for reg in w.reg.values():
        refused += [
            ("POST", f"{API}/registrations/{reg}/withdraw", None),
            ("POST", f"{API}/registrations/{reg}/qualify", None),
            ("POST", f"{API}/registrations/{reg}/disqualify", {"reason": "x"}),
        ]
    for auction_id in w.auction_ids:
        refused += [
            ("POST", f"{API}/auctions/{auction_id}/bids", {"amount": "999999.00"}),
            ("POST", f"{API}/auctions/{auction_id}/accept", None),
        ]
    return refused


def _bidder_refusals(w: World) -> list[tuple[str, str, dict[str, Any] | None]]:
    refused: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", f"{API}/listings/{w.listing['id']}/registrations", None),  # already registered
        ("POST", f"{API}/registrations/{w.reg['A']}/withdraw", None),  # another's registration
        ("POST", f"{API}/registrations/{w.reg['C']}/qualify", None),
    ]
    for auction_id in w.auction_ids:
        refused += [
            ("POST", f"{API}/auctions/{auction_id}/bids", {"amount": "1.00"}),  # too low / not a bidder
            ("POST", f"{API}/auctions/{auction_id}/accept", None),
        ]
    return refused


async def _walk_both(
    client: httpx.AsyncClient, app: Any, w: World, *, winner_named: bool
) -> tuple[Walk, Walk]:
    """The seller's and bidder B's walks; once the deal exists the seller may know the winner A."""
    hidden_from_seller = [p for p in w.registrants if not (winner_named and p is w.a)]
    hidden_from_b = [p for p in w.registrants if p is not w.b]
    by_seller = await walk(client, app, w.seller, hidden_from_seller, w.ids(w.seller), _seller_refusals(w))
    by_b = await walk(client, app, w.b, hidden_from_b, w.ids(w.b), _bidder_refusals(w))
    return by_seller, by_b


def assert_clean(*walks: Walk) -> None:
    for seen in walks:
        assert seen.calls > 50, "the walk made too few requests to prove anything"
    problems = [p for seen in walks for p in seen.leaks + seen.failures]
    assert problems == [], "\n".join(problems)


async def _operator_sees(client: httpx.AsyncClient, w: World, tag: str) -> list[dict[str, Any]]:
    r = await client.get(
        f"{API}/audit-events",
        params={"entity_type": "registration", "entity_id": w.reg[tag]},
        headers=w.op.headers,
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_no_route_tells_the_seller_or_another_bidder_who_registered(
    client: httpx.AsyncClient, db: Any, app: Any
) -> None:
    w = await _world(client, db)

    # 1. The listing period: four registrations, reviewed, one withdrawn.
    by_seller, by_b = await _walk_both(client, app, w, winner_named=False)
    assert_clean(by_seller, by_b)
    registrations = by_seller.bodies[f"{API}/listings/{w.listing['id']}/registrations []"]["items"]
    assert sorted(r["bidder_code"] for r in registrations) == ["B01", "B02", "B03", "B04"]
    # The seller still follows the review on the registration's chain; only events naming the registrant are
    # withheld — operators and the registrant itself read them all.
    assert by_seller.audit_actions["registration", w.reg["A"]] == ["qualified"]
    assert by_seller.audit_actions["registration", w.reg["C"]] == ["disqualified"]
    assert "registered" in by_b.audit_actions["registration", w.reg["B"]]
    registered = (await _operator_sees(client, w, "A"))[0]
    assert registered["action"] == "registered" and registered["data"]["organization_id"] == w.a.actor.org_id

    # 2. The auctions: A and B bid on the first; nobody on the second.
    await t.advance_past(client, max(w.listing["listing_ends_at"], w.quiet["listing_ends_at"]))
    for listing in (w.listing, w.quiet):
        r = await client.get(f"{API}/listings/{listing['id']}")
        assert r.json()["status"] == "in_auction", r.text
        w.auction_ids.append(r.json()["auction_id"])
    auction = (await client.get(f"{API}/auctions/{w.auction_ids[0]}")).json()
    start, step = float(auction["start_price"]), float(auction["increment"])
    for party, amount in ((w.a, start), (w.b, start + step), (w.a, start + 2 * step)):
        r = await client.post(
            f"{API}/auctions/{w.auction_ids[0]}/bids",
            json={"amount": f"{amount:.2f}"},
            headers=party.actor.headers,
        )
        assert r.status_code == 201, r.text
    by_seller, by_b = await _walk_both(client, app, w, winner_named=False)
    assert_clean(by_seller, by_b)
    bids = by_seller.bodies[f"{API}/auctions/{w.auction_ids[0]}/bids []"]["items"]
    assert sorted(b["bidder_code"] for b in bids) == ["B01", "B01", "B02"]
    # The bids' audit events name the bidders' users: withheld from the seller, kept for operators.
    assert by_seller.audit_actions["auction", w.auction_ids[0]] == ["scheduled", "opened"]
    r = await client.get(
        f"{API}/audit-events",
        params={"entity_type": "auction", "entity_id": w.auction_ids[0]},
        headers=w.op.headers,
    )
    assert [e["action"] for e in r.json()["items"]].count("bid_accepted") == 3

    # 3. The closes: a deal with A; the second auction fails and both deposits go to the seller.
    for auction_id in w.auction_ids:
        ends_at = (await client.get(f"{API}/auctions/{auction_id}")).json()["ends_at"]
        await t.advance_past(client, ends_at)
    first, second = [(await client.get(f"{API}/auctions/{a}")).json() for a in w.auction_ids]
    assert (first["status"], first["winner_bidder_code"], second["status"]) == ("closed", "B01", "failed")
    w.deal_id = first["deal_id"]
    deal = (await client.get(f"{API}/deals/{w.deal_id}", headers=w.seller.actor.headers)).json()
    assert deal["buyer_org_id"] == w.a.actor.org_id  # the deal names the winner to the seller
    w.contract_id = deal["contract_id"]
    for party in (w.seller, w.a):
        sha = (await client.get(f"{API}/contracts/{w.contract_id}", headers=party.actor.headers)).json()[
            "sha256"
        ]
        r = await client.post(
            f"{API}/contracts/{w.contract_id}/sign", json={"sha256": sha}, headers=party.actor.headers
        )
        assert r.status_code == 200, r.text
    r = await client.post(f"{API}/deals/{w.deal_id}/pay", headers=w.a.actor.headers)  # applies the deposit
    assert r.status_code == 200, r.text

    by_seller, by_b = await _walk_both(client, app, w, winner_named=True)
    assert_clean(by_seller, by_b)
    assert w.seller.actor.org_id
    ledger = by_seller.bodies[f"{API}/organizations/{w.seller.actor.org_id}/ledger []"]["items"]
    assert [e["kind"] for e in ledger].count("deposit_forfeit") == 2
