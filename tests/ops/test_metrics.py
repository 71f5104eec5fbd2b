"""``/metrics`` in one process (SPEC §16, §21 "Metrics for the whole server"): the app under ASGITransport, no
``PROMETHEUS_MULTIPROC_DIR``, so prometheus_client's default registry. The aggregation across worker processes
is proved on a real server in ``test_metrics_multiprocess.py``.

- requests are counted per route template (never the raw path; unmatched paths under one label) and the
  latency histogram agrees with the counter;
- bids accepted and refused (by refusal code); an idempotent replay is not a second bid;
- SSE connections: up while a stream is open, down when it ends;
- sweeper lag: the seconds the oldest due deadline has waited, set by each pass, 0 when nothing is due;
- ``EXCHANGE_METRICS_TOKEN``: a bearer token (401 problem+json without it or with another one);
- the serving command's metrics directory: fresh at every start.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import cli
from app.deadlines import sweeper
from app.kit import middleware
from app.main import create_app
from tests.auctions import helpers as h
from tests.conftest import make_settings

TOKEN = "metrics-token-for-the-scraper-0123456789"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, keyed by (name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scrape: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


async def scrape(
    client: httpx.AsyncClient, **headers: str
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = await client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


async def test_requests_by_route_template_with_a_histogram_that_agrees(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    ids = [uuid.uuid4() for _ in range(3)]
    for listing_id in ids:
        assert (await client.get(f"/api/v1/listings/{listing_id}")).status_code == 404
    for path in ("/no/such/page", f"/no/such/{uuid.uuid4()}", "/api/v1/nothing-here"):
        assert (await client.get(path)).status_code == 404
    after = await scrape(client)

    route = "/api/v1/listings/{listing_id}"
    counted = value(after, "exchange_http_requests_total", method="GET", route=route, status="404")
    assert (
        counted - value(before, "exchange_http_requests_total", method="GET", route=route, status="404") == 3
    )
    unmatched = "exchange_http_requests_total", {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, unmatched[0], **unmatched[1]) - value(before, unmatched[0], **unmatched[1]) == 3
    # Never the raw path: no label carries an id or an unknown path.
    labels = {v for name, ls in after for k, v in ls if k == "route"}
    assert not any(
        str(i) in label or "no/such" in label or "nothing-here" in label for i in ids for label in labels
    )
    # The histogram counted the same requests, and every one fell into a bucket no later than +Inf.
    for r in (route, "unmatched"):
        requests = sum(
            v
            for (name, ls), v in after.items()
            if name == "exchange_http_requests_total" and ("route", r) in ls and ("method", "GET") in ls
        )
        count = value(after, "exchange_http_request_seconds_count", method="GET", route=r)
        assert count == requests
        assert value(after, "exchange_http_request_seconds_bucket", method="GET", route=r, le="+Inf") == count


async def test_the_documentation_routes_have_their_own_templates(client: httpx.AsyncClient) -> None:
    """The docs pages are Starlette routes, not FastAPI routes: labelled by their templates too; their assets are
    the web client's static files, labelled by its route (``/static/{name:path}``), found or not."""
    before = await scrape(client)
    asked = {
        "/docs": 200,
        "/redoc": 200,
        "/openapi.json": 200,
        "/static/vendor/swagger-ui-5.35.0.css": 200,
        f"/static/vendor/{uuid.uuid4()}.js": 404,
    }
    for path, status in asked.items():
        assert (await client.get(path)).status_code == status, path
    after = await scrape(client)

    def delta(route: str, status: str) -> float:
        labels = {"method": "GET", "route": route, "status": status}
        return value(after, "exchange_http_requests_total", **labels) - value(
            before, "exchange_http_requests_total", **labels
        )

    assert delta("/docs", "200") == 1 and delta("/redoc", "200") == 1 and delta("/openapi.json", "200") == 1
    assert delta("/static/{name:path}", "200") == 1 and delta("/static/{name:path}", "404") == 1
    assert delta("unmatched", "200") == 0 and delta("unmatched", "404") == 0


async def test_invented_methods_share_one_label(client: httpx.AsyncClient) -> None:
    """The method is the client's word: a label per invented method would grow the series (and every scrape)
    without bound. HTTP's own methods keep their names; any other is counted as ``other``."""
    before = await scrape(client)
    invented = [f"X{uuid.uuid4().hex[:8].upper()}" for _ in range(5)]
    for method in invented:
        assert (await client.request(method, "/healthz")).status_code == 405
    assert (await client.request("DELETE", "/healthz")).status_code == 405
    after = await scrape(client)

    methods = {v for name, ls in after for k, v in ls if k == "method"}
    assert not methods & set(invented)
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}

    def delta(method: str) -> float:
        labels = {"method": method, "route": "/healthz", "status": "405"}
        return value(after, "exchange_http_requests_total", **labels) - value(
            before, "exchange_http_requests_total", **labels
        )

    assert delta("other") == len(invented) and delta("DELETE") == 1
    count = value(after, "exchange_http_request_seconds_count", method="other", route="/healthz")
    assert count - value(before, "exchange_http_request_seconds_count", method="other", route="/healthz") == 5


async def test_bids_accepted_and_refused_by_code(client: httpx.AsyncClient, db) -> None:  # type: ignore[no-untyped-def]
    case = await h.open_auction(client, db)
    b1, b2 = case.bidders
    before = await scrape(client)

    answers = [
        await h.bid(client, case, b1, "100000.00"),  # accepted
        await h.bid(client, case, b1, "101000.00"),  # already leading
        await h.bid(client, case, b2, "100500.00"),  # not a whole increment above
        await h.bid(client, case, b2, "100000.00"),  # too low
        await h.bid(client, case, b2, "101000.00", **{"Idempotency-Key": "m-1"}),  # accepted
        await h.bid(client, case, b2, "101000.00", **{"Idempotency-Key": "m-1"}),  # a replay, not a bid
        await h.bid(client, case, b1, "101000.00", **{"Idempotency-Key": "m-2"}),  # too low, refused keyed
        await h.bid(client, case, case.seller, "105000.00"),  # not a registrant
    ]
    after = await scrape(client)

    statuses = [r.status_code for r in answers]
    assert statuses[:7] == [201, 409, 409, 409, 201, 201, 409] and statuses[7] >= 400
    assert answers[5].headers.get("Idempotent-Replayed") == "true"
    refused = Counter(h.code_of(r) for r in answers if r.status_code >= 400)
    accepted = value(after, "exchange_bids_accepted_total") - value(before, "exchange_bids_accepted_total")
    assert accepted == 2
    for code, n in refused.items():
        delta = value(after, "exchange_bids_refused_total", code=code) - value(
            before, "exchange_bids_refused_total", code=code
        )
        assert delta == n, code
    total_refused = sum(v for (name, _), v in after.items() if name == "exchange_bids_refused_total") - sum(
        v for (name, _), v in before.items() if name == "exchange_bids_refused_total"
    )
    assert total_refused == 5


async def test_sse_connections_while_a_stream_is_open(client: httpx.AsyncClient, db, app) -> None:  # type: ignore[no-untyped-def]
    case = await h.open_auction(client, db, auction={"free_bidding_minutes": 10})
    assert (await h.bid(client, case, case.bidders[0], "100000.00")).status_code == 201
    before = value(await scrape(client), "exchange_sse_connections")

    live = httpx.AsyncClient(transport=h.StreamingASGITransport(app), base_url="http://test")
    async with live, live.stream("GET", f"{case.url}/events", headers={"Last-Event-ID": "0"}) as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()  # kept while the stream is open: dropping it would close the stream
        async with asyncio.timeout(15):
            async for line in lines:
                if line.startswith("id:"):  # the first event: the stream is being served
                    break
        assert value(await scrape(client), "exchange_sse_connections") == before + 1

    for _ in range(100):  # the stream's clean-up runs as the app sees the disconnect
        if value(await scrape(client), "exchange_sse_connections") == before:
            break
        await asyncio.sleep(0.05)
    assert value(await scrape(client), "exchange_sse_connections") == before


async def test_sweeper_lag_is_the_wait_of_the_oldest_due_deadline(client: httpx.AsyncClient, db, app) -> None:  # type: ignore[no-untyped-def]
    case = await h.open_auction(client, db, bidders=1, opened=False)
    ends = datetime.fromisoformat(case.listing["listing_ends_at"])
    now = ends + timedelta(seconds=90)
    ctx = sweeper.sweep_context(app)

    lags: list[float] = []
    await sweeper.run_until_idle(ctx, now, on_lag=lags.append)
    await sweeper.run_until_idle(ctx, now, on_lag=lags.append)
    assert lags == [90.0, 0.0]  # the listing's end had waited 90 s; once handled, nothing is due

    # The loop every process runs reports it to /metrics at the start of each pass.
    case = await h.open_auction(client, db, bidders=1, opened=False)
    ends = datetime.fromisoformat(case.listing["listing_ends_at"])

    async def business_now() -> datetime:
        return ends + timedelta(seconds=42.5)

    loop = asyncio.create_task(sweeper.sweep_loop(sweeper.sweep_context(app), business_now, 3600))
    try:
        for _ in range(200):
            if value(await scrape(client), "exchange_sweeper_lag_seconds") == 42.5:
                break
            await asyncio.sleep(0.05)
        assert value(await scrape(client), "exchange_sweeper_lag_seconds") == 42.5
        for _ in range(200):  # the pass goes on to handle it
            if await listing_status(client, case) == "in_auction":
                break
            await asyncio.sleep(0.05)
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    assert await listing_status(client, case) == "in_auction"


async def listing_status(client: httpx.AsyncClient, case: h.AuctionCase) -> str:
    r = await client.get(f"/api/v1/listings/{case.listing['id']}", headers=case.seller.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


async def test_metrics_token(backend, db) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(backend.url, metrics_token=TOKEN), db=db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for headers in (
            {},
            {"Authorization": f"Bearer {TOKEN[:-1]}"},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer 令牌".encode()},
            {"Authorization": TOKEN},
        ):
            r = await client.get("/metrics", headers=headers)
            assert r.status_code == 401, headers
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["code"] in ("unauthorized", "invalid_token")
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "exchange_http_requests_total" not in r.text
        r = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and "exchange_http_requests_total" in r.text
        r = await client.get("/metrics", headers={"Authorization": f"bearer  {TOKEN}"})
        assert r.status_code == 200
        # The rest of the server is not behind the token.
        assert (await client.get("/healthz")).status_code == 200


async def test_metrics_stay_public_without_a_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert r.status_code == 200


def test_the_token_setting() -> None:
    assert make_settings("sqlite+aiosqlite:///x.db").metrics_token is None
    assert make_settings("sqlite+aiosqlite:///x.db", metrics_token="  ").metrics_token is None
    assert make_settings("sqlite+aiosqlite:///x.db", metrics_token=TOKEN).metrics_token == TOKEN


def test_the_serving_command_starts_with_a_fresh_metrics_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A directory of its own for each start, removed at the end.
    monkeypatch.delenv(cli.METRICS_DIR_ENV, raising=False)
    with cli.metrics_directory() as first:
        assert Path(first).is_dir() and not any(Path(first).iterdir())
        assert os.environ[cli.METRICS_DIR_ENV] == first  # for the workers the server spawns
        (Path(first) / "counter_1.db").write_bytes(b"")
    assert not Path(first).exists() and cli.METRICS_DIR_ENV not in os.environ
    with cli.metrics_directory() as second:
        assert second != first and not any(Path(second).iterdir())
    assert not Path(second).exists()

    # A directory the operator names (PROMETHEUS_MULTIPROC_DIR) is kept, but emptied of an earlier run's files.
    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_12345.db").write_bytes(b"stale")
    (given / "gauge_livesum_12345.db").write_bytes(b"stale")
    monkeypatch.setenv(cli.METRICS_DIR_ENV, str(given))
    with cli.metrics_directory() as path:
        assert Path(path) == given and not any(given.iterdir())
    assert given.is_dir()


async def test_metrics_are_documented(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/metrics"]["get"]
    assert "401" in operation["responses"] and "EXCHANGE_METRICS_TOKEN" in operation.get("description", "")


def test_every_metric_has_its_help() -> None:
    names = {
        "exchange_http_requests",
        "exchange_http_request_seconds",
        "exchange_bids_accepted",
        "exchange_bids_refused",
        "exchange_sweeper_lag_seconds",
        "exchange_sse_connections",
        "exchange_sweeper_failures",
    }
    from prometheus_client import REGISTRY

    families = {m.name: m for m in REGISTRY.collect()}
    for name in names:
        assert name in families and families[name].documentation, name


async def test_a_server_maps_its_routes_before_its_first_request(
    backend, db, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Mapping the routes to their templates takes ~0.6 s: a server does it as it starts, so its first request,
    and every request arriving meanwhile, does not wait for it."""
    monkeypatch.setattr(middleware, "_API_TEMPLATES", {})  # as in a new process
    app = create_app(make_settings(backend.url))  # no database given: the lifespan of a server
    async with app.router.lifespan_context(app):
        assert middleware._API_TEMPLATES

        def unexpected(_routes: object) -> None:
            raise AssertionError("the routes are mapped again")

        monkeypatch.setattr(middleware, "iter_route_contexts", unexpected)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get(f"/api/v1/listings/{uuid.uuid4()}")).status_code == 404
            after = await scrape(client)
    route = "/api/v1/listings/{listing_id}"
    assert value(after, "exchange_http_requests_total", method="GET", route=route, status="404") >= 1
