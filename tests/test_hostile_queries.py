"""No input is a 500 (SPEC §20 "Input that must never be a 500").

Every GET route of the app (found by walking ``app.routes``, so a new route is covered the day it is added) is
called with hostile query values — crafted cursors (base64url JSON of naive datetimes, huge integers, floats,
nested structures, the wrong arity), huge, negative and non-numeric numbers, dates out of range and malformed,
very long strings, NUL and control characters, percent-encoded bytes that are not UTF-8, repeated parameters —
as an anonymous caller, as a member and as an operator, with path parameters filled from a small world (an
organization, a patent, listings, an open auction with a bid, a deal, an open licence). No answer may be a 5xx,
and every 4xx is problem+json with a ``code``.

``test_crafted_cursors_are_invalid_cursor`` pins the cursor rule on every route that pages (and on every sort
of the listings); ``test_no_hostile_query_is_a_server_error`` explores with Hypothesis (derandomized, so CI
sees the same examples every run).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.kit.db import Database
from tests import trading as t
from tests.auctions import helpers as auctions
from tests.demands import helpers as demands
from tests.licensing import helpers as licensing
from tests.negotiation import helpers as negotiation
from tests.trials import helpers as trials

API = "/api/v1"
PROBLEM_JSON = "application/problem+json"

# The live stream of an open auction never ends by itself; its one input, Last-Event-ID, has its own tests
# (tests/auctions/test_events.py).
NOT_EXPLORED = {f"{API}/auctions/{{auction_id}}/events"}


@dataclass
class World:
    """Ids to fill path parameters with, and who calls."""

    ids: dict[str, str]
    callers: dict[str, dict[str, str]]


async def build_world(client: httpx.AsyncClient, db: Database) -> World:
    case = await auctions.open_auction(client, db)  # a university seller, two qualified bidders
    r = await auctions.bid(client, case, case.bidders[0], "100000.00")
    assert r.status_code == 201, r.text
    op, seller, buyer = case.op, case.seller, case.bidders[1]
    await t.fund(client, op, buyer, "600000.00")
    listing = await t.published_listing(client, op, seller)
    offer = await negotiation.offer(client, buyer, listing["id"], "450000.00")
    accepted = await negotiation.move(client, seller, offer["id"], "accept")
    deal = (await client.get(f"{API}/deals/{accepted['deal_id']}", headers=op.headers)).json()
    licence = await licensing.declared(client, op, seller)
    taken = await client.post(f"{API}/open-licenses/{licence['id']}/licenses", headers=buyer.headers)
    assert taken.status_code == 201, taken.text
    records = (await client.get(f"{API}/licence-records", headers=buyer.headers)).json()["items"]
    demand = await demands.published(client, buyer, op, ipc_codes=["H01M 10/0525"])
    webhook = await client.post(
        f"{API}/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_kinds": ["offer_received"]},
        headers=seller.headers,
    )
    assert webhook.status_code == 201, webhook.text
    trial_offer = await trials.offered(client, op, seller)
    await trials.make_sme(client, op, buyer)
    trial = await trials.started(client, buyer, trial_offer["id"])
    ids = {
        "org_id": buyer.org_id or "",  # funded: its ledger has entries to page through
        "patent_id": listing["patents"][0]["id"],
        "listing_id": listing["id"],
        "auction_id": case.id,
        "offer_id": offer["id"],
        "registration_id": case.registration_ids[0],
        "deal_id": deal["id"],
        "contract_id": deal.get("contract_id") or str(uuid.uuid4()),
        "open_license_id": licence["id"],
        "licence_record_id": next(x["id"] for x in records if x["deal_id"] == taken.json()["deal_id"]),
        "demand_id": demand["id"],
        "year": "2026",
        "webhook_id": webhook.json()["id"],
        "trial_offer_id": trial_offer["id"],
        "trial_id": trial["id"],
    }
    callers = {"anonymous": {}, "member": seller.headers, "buyer": buyer.headers, "operator": op.headers}
    return World(ids, callers)


def get_routes(app: Any) -> list[str]:
    routes = sorted(
        {
            rc.path_format
            for rc in iter_route_contexts(app.routes)
            if isinstance(rc.original_route, APIRoute) and "GET" in (rc.methods or ())
        }
    )
    assert len(routes) > 20, "route discovery found nothing: the walk would prove nothing"
    return routes


def fill(path: str, ids: dict[str, str], default: Callable[[str], str] | None = None) -> str:
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            value = ids.get(name) or (default(name) if default else str(uuid.uuid4()))
            path = path.replace(part, value)
    return path


def query_parameters(app: Any) -> dict[str, list[dict[str, Any]]]:
    """Each GET path's query parameters as OpenAPI describes them."""
    spec = app.openapi()
    return {
        path: [p for p in (ops.get("get") or {}).get("parameters", []) if p["in"] == "query"]
        for path, ops in spec["paths"].items()
    }


def assert_not_a_server_error(what: str, r: httpx.Response) -> None:
    assert r.status_code < 500, f"{what}: {r.status_code} {r.text[:500]}"
    if r.status_code >= 400 and r.status_code != 405:
        assert r.headers.get("content-type", "").startswith(PROBLEM_JSON), (
            f"{what}: {r.headers} {r.text[:300]}"
        )
        assert isinstance(r.json().get("code"), str), f"{what}: {r.text[:300]}"


# --- crafted cursors --------------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def crafted(values: Any) -> str:
    return b64(json.dumps(values).encode())


NAIVE = "2026-11-25T10:00:00"
AWARE = "2026-11-25T10:00:00+08:00"
HOSTILE_VALUES: list[Any] = [
    NAIVE,
    "2026-11-25",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+08:00",
    "not a date",
    10**30,
    2**63,
    -(2**63) - 1,
    1e308,
    1.5,
    True,
    None,
    {"a": 1},
    [AWARE],
    "a\x00b",
    "\ud800",
    "x" * 300,
    "",
]
# Without a cursor of the list's own to start from: a few of each kind, at every position of 1 to 4 values.
REPRESENTATIVE = [NAIVE, "not a date", 10**30, 1e308, True, None, {"a": 1}, "a\x00b"]
MALFORMED = [
    *(crafted(v) for v in ([], {"a": 1}, 42, "cursor", None, [AWARE] * 6)),
    *(b64(b) for b in (b"[NaN, 1]", b"[Infinity]", b"[1e999, 1, 2]", b"[" * 200, b"\xff\xfe")),
    "%%%",
    "!",
    "A" * 600,
]


def crafted_cursors(own: list[Any] | None = None) -> list[str]:
    """Given one of the list's own cursors, each of its values replaced by each hostile value in turn (so
    every other value is right); without one, representative values at every position of 1 to 4 values.
    Plus wrong shapes and bytes that are not JSON."""
    cursors: list[str] = []
    shapes = [own] if own is not None else [[AWARE, str(uuid.UUID(int=1)), 1, "a"][:n] for n in range(1, 5)]
    for base in shapes:
        for position in range(len(base)):
            for value in HOSTILE_VALUES if own is not None else REPRESENTATIVE:
                if not _instant(base[position]) and _plain_text(value):
                    continue  # a string key (audit ids) takes any short string: it only says where to start
                values = list(base)
                values[position] = value
                cursors.append(crafted(values))
    return cursors + MALFORMED


def _plain_text(value: Any) -> bool:
    """A string a string key would take: short, without NUL, encodable."""
    if not isinstance(value, str) or len(value) > 256 or "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _instant(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


async def own_cursor(
    client: httpx.AsyncClient, url: str, params: dict[str, str], headers: dict[str, str]
) -> list[Any] | None:
    """The values of the list's own cursor after its first item, if it has two."""
    r = await client.get(url, params={**params, "limit": "1"}, headers=headers)
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
    cursor = body.get("next_cursor") if r.status_code == 200 and isinstance(body, dict) else None
    if not cursor:
        return None
    values: list[Any] = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return values


def listing_variants() -> list[dict[str, str]]:
    """Every order of the listings (each has its own sort keys), with and without a text query."""
    from app.listings.schemas import ListingSort

    return [{}, {"q": "电池"}] + [{"sort": s.value} for s in ListingSort] + [{"q": "电池", "sort": "price"}]


async def test_crafted_cursors_are_invalid_cursor(client: httpx.AsyncClient, db: Database, app: Any) -> None:
    """Every route that pages answers a cursor that is not its own with 422 ``invalid_cursor`` naming the
    parameter; each is asked by the first of operator, member, buyer that may read it."""
    world = await build_world(client, db)
    params_of = query_parameters(app)
    paged = [p for p in get_routes(app) if any(q["name"] == "cursor" for q in params_of.get(p, []))]
    assert f"{API}/listings" in paged and f"{API}/audit-events" in paged and len(paged) >= 15
    seeded = 0
    for path in paged:
        url = fill(path, world.ids)
        for extra in listing_variants() if path == f"{API}/listings" else [{}]:
            readers = [
                role
                for role in ("operator", "member", "buyer")
                if (await client.get(url, params=extra, headers=world.callers[role])).status_code == 200
            ]
            assert readers, f"nobody may read {url}: the route proves nothing"
            headers = world.callers[readers[0]]
            own = await own_cursor(client, url, extra, headers)
            seeded += own is not None
            for cursor in crafted_cursors(own):
                r = await client.get(url, params={**extra, "cursor": cursor}, headers=headers)
                what = f"{readers[0]} GET {url} {extra} cursor={cursor[:60]}"
                assert_not_a_server_error(what, r)
                assert r.status_code == 422, f"{what}: {r.status_code} {r.text[:300]}"
                body = r.json()
                assert body["code"] == "invalid_cursor", f"{what}: {r.text[:300]}"
                assert body["errors"][0]["loc"] == ["query", "cursor"], f"{what}: {r.text[:300]}"
    assert seeded >= 10, "most lists should start from a cursor of their own"


# --- everything else, explored ----------------------------------------------------------------------------

HUGE_NUMBERS = ["99999999999999999999999", "1e308", "-1", "-99999999999999999999", "NaN", "inf", "-0", "0x10"]
BAD_DATES = ["9999-12-31", "0000-00-00", "2026-02-30", "1899-12-31", "2200-01-01", "26-1-1", "２０２６-01-01"]
NASTY_TEXT = ["\x00", "a\x00b", "\x01\x1f\x7f", "\ud800", "'; DROP TABLE x; --", "%", "\\", "💥" * 50, " "]


@dataclass
class Case:
    path: str
    role: str
    pieces: list[str] = field(default_factory=list)  # ``name=value``, already percent-encoded

    def url(self, ids: dict[str, str], path_value: str | None) -> str:
        url = fill(self.path, ids, (lambda _: path_value) if path_value is not None else None)
        return url + ("?" + "&".join(self.pieces) if self.pieces else "")


def _encoded(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def valid_values(parameter: dict[str, Any], ids: dict[str, str]) -> list[str]:
    """Values the parameter accepts, so that a hostile value of another parameter reaches deeper code."""
    schema = parameter.get("schema", {})
    name = parameter.get("name", "")
    valid: list[str] = []
    for alt in schema.get("anyOf", [schema]):
        valid += [str(v) for v in alt.get("enum", [])]
        if alt.get("type") == "boolean":
            valid += ["true", "false"]
        if alt.get("type") == "integer":
            valid += ["1", "2", "100"]
        if alt.get("format") == "date":
            valid += ["1900-01-01", "2199-12-31", "2026-11-25"]
        if alt.get("format") == "uuid":
            valid += [v for k, v in ids.items() if k.endswith("_id") and k[:-3] in name] or list(ids.values())
    by_name = {
        "q": ["电池", "锂", "a b", "CN2015"],
        "ipc": ["H01M", "H01M 10/05", "G06F16"],
        "min_price": ["1.00", "100000.00"],
        "max_price": ["999999.00"],
        "entity_type": ["listing", "auction", "deal", "organization"],
        "entity_id": list(ids.values()),
    }
    return valid + by_name.get(name, [])


def hostile_values(parameter: dict[str, Any], cursors: list[str]) -> st.SearchStrategy[str]:
    """Raw (already percent-encoded) values of every hostile kind, weighted towards the parameter's own kind
    (crafted cursors for ``cursor``, bad dates for a date, huge numbers for an integer)."""
    schema = parameter.get("schema", {})
    kinds = {(alt.get("type"), alt.get("format")) for alt in schema.get("anyOf", [schema])}
    text = st.text(st.characters(codec="utf-8"), max_size=40)
    generic = st.one_of(
        st.sampled_from(HUGE_NUMBERS + BAD_DATES + NASTY_TEXT),
        st.integers(min_value=-(2**80), max_value=2**80).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        text,
        st.just("x" * 5000),
        st.sampled_from(crafted_cursors()),
    ).map(_encoded)
    raw_bytes = st.sampled_from(["%FF", "%C3%28", "%ED%A0%80", "%E4%B8", "%", "%zz", "%FF%FE", "%0A%0D%09"])
    own: st.SearchStrategy[str] | None = None
    if parameter.get("name") == "cursor":
        own = st.sampled_from(cursors)
    elif ("string", "date") in kinds:
        own = st.sampled_from([*BAD_DATES, "1900-01-01", "2199-12-31"])
    elif ("integer", None) in kinds:
        own = st.one_of(st.sampled_from(HUGE_NUMBERS), st.integers(-(2**70), 2**70).map(str))
    if own is None:
        return st.one_of(generic, raw_bytes)
    return st.one_of(own.map(_encoded), own.map(_encoded), generic, raw_bytes)


def cases(
    path: str, parameters: list[dict[str, Any]], roles: list[str], ids: dict[str, str], cursors: list[str]
) -> st.SearchStrategy[Case]:
    """One parameter (or an unknown name) hostile, possibly repeated; each other one absent or valid."""
    names = [p["name"] for p in parameters]

    @st.composite
    def build(draw: st.DrawFn) -> Case:
        role = draw(st.sampled_from(roles))
        target = draw(st.sampled_from([*names, None]))
        pieces: list[str] = []
        for parameter in parameters:
            name = parameter["name"]
            if name == target:
                for _ in range(draw(st.integers(min_value=1, max_value=3))):  # once or repeated
                    pieces.append(f"{name}={draw(hostile_values(parameter, cursors))}")
            else:
                valid = valid_values(parameter, ids)
                if valid and draw(st.booleans()):
                    pieces.append(f"{name}={_encoded(draw(st.sampled_from(valid)))}")
        if target is None:  # an unknown or oddly spelled name
            name = draw(st.sampled_from(["unknown", "cursor%0A", "limit[]", "", "%FF", "x" * 300]))
            pieces.append(f"{name}={draw(hostile_values({}, cursors))}")
        return Case(path, role, draw(st.permutations(pieces)))

    return build()


PATH_VALUES = ["x", "%00", "%FF", "a" * 300, "0", "-1", "%20", "CN201510703489.3", "00000000-0000-0000"]


async def test_no_hostile_query_is_a_server_error(client: httpx.AsyncClient, db: Database, app: Any) -> None:
    world = await build_world(client, db)
    params_of = query_parameters(app)
    routes = [p for p in get_routes(app) if p not in NOT_EXPLORED]
    cursors_of: dict[str, list[str]] = {}  # crafted from the list's own cursor where it has one
    for path in routes:
        own = await own_cursor(client, fill(path, world.ids), {}, world.callers["operator"])
        cursors_of[path] = crafted_cursors(own)
    roles = list(world.callers)
    loop = asyncio.get_running_loop()
    failures: list[str] = []
    statuses: Counter[int] = Counter()

    def call(url: str, headers: dict[str, str]) -> httpx.Response:
        future = asyncio.run_coroutine_threadsafe(client.get(url, headers=headers), loop)
        return future.result(timeout=120)

    def explore(path: str) -> None:
        parameters = params_of.get(path, [])
        has_text_path = "{number}" in path  # the one path parameter that is free text
        examples = 50 if parameters else 5

        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        @given(
            case=cases(path, parameters, roles, world.ids, cursors_of[path]),
            path_value=st.sampled_from([None, *PATH_VALUES]),
        )
        def check(case: Case, path_value: str | None) -> None:
            url = case.url(world.ids, path_value if has_text_path else None)
            r = call(url, world.callers[case.role])
            statuses[r.status_code // 100] += 1
            try:
                assert_not_a_server_error(f"{case.role} GET {url[:400]}", r)
            except AssertionError as exc:
                failures.append(str(exc))
                raise

        check()

    for path in routes:
        try:
            await asyncio.to_thread(explore, path)
        except AssertionError:
            continue  # recorded in failures; go on so one run names every route that fails
    assert failures == [], "\n".join(sorted(set(failures))[:40])
    # Most examples carry one hostile value among valid ones: many must get past validation, or the
    # exploration only ever met the first check of each route.
    assert statuses[2] >= sum(statuses.values()) // 10, statuses


@pytest.mark.parametrize("limit", ["0", "101", "-1", "1e3", "99999999999999999999999", "NaN", "", "1.5"])
async def test_limits_out_of_range_are_422(client: httpx.AsyncClient, db: Database, limit: str) -> None:
    r = await client.get(f"{API}/listings", params={"limit": limit})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM_JSON), r.text
    assert [e["loc"] for e in r.json()["errors"]] == [["query", "limit"]]
