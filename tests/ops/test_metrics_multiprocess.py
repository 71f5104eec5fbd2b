"""``/metrics`` of a real server with two worker processes (SPEC §21 "Metrics for the whole server"): the
server is started as production starts it, ``python -m app serve --workers 2``, with ``EXCHANGE_METRICS_TOKEN``.

Requests and bids go through connections pinned to EACH worker (which process serves a connection is the
kernel's choice; /proc says which one did, as in ``tests/test_sse_multiprocess.py``), a different number to
each, and then one scrape, through either worker, shows the sums of both: request counts, the latency
histogram's counts, bids accepted and refused by code. Each worker's own share is read from its files in the
metrics directory, so the test also sees that both contributed. An event stream open on one worker shows in
the gauge; once that worker is killed, the gauge no longer counts it while its counters stay in the totals.
The serving command made the metrics directory for this run and removes it when it stops.
"""

from __future__ import annotations

import asyncio
import glob
import os
import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.conftest import BACKENDS
from tests.live import LiveServer, live_server
from tests.ops.test_metrics import samples, value
from tests.test_multiprocess import Api, _client
from tests.test_sse_multiprocess import Server, _server_pids, pinned_client

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/net/tcp").exists(), reason="needs Linux /proc to see which worker serves a connection"
    ),
]

TOKEN = "metrics-token-for-the-live-server-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HEALTHZ = {"method": "GET", "route": "/healthz"}
BIDS_ROUTE = {"method": "POST", "route": "/api/v1/auctions/{auction_id}/bids"}


def metrics_directory_of(pid: int) -> str:
    """The ``PROMETHEUS_MULTIPROC_DIR`` a worker was started with."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    assert found, f"worker {pid} runs without a metrics directory"
    return found[0]


def exists(path: str) -> bool:
    return os.path.exists(path)


def own_share(directory: str, pid: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples one worker wrote (its own files only)."""
    files = glob.glob(os.path.join(directory, f"*_{pid}.db"))
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for metric in MultiProcessCollector.merge(files)
        for s in metric.samples
    }


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = await client.get("/metrics", headers=AUTH)
    assert r.status_code == 200, r.text
    return samples(r.text)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_scrape_adds_up_every_worker(backend: str, tmp_path: Path) -> None:
    with live_server(backend, tmp_path, workers=2, serve_command=True, metrics_token=TOKEN) as live:
        directory = asyncio.run(adds_up(live))
    assert not exists(directory), "the serving command leaves its metrics directory behind"


async def adds_up(live: LiveServer) -> str:
    """The checks against a running server; the metrics directory it uses."""
    port = int(live.base.rsplit(":", 1)[1])
    pids = _server_pids(port)
    workers = sorted(pids - {live.pid})
    assert len(workers) == 2, pids
    server = Server(live=live, port=port, pids=pids)
    directory = metrics_directory_of(workers[0])
    assert metrics_directory_of(workers[1]) == directory and exists(directory)
    pinned = {pid: await pinned_client(server, pid) for pid in workers}
    first, second = (pinned[pid] for pid in workers)
    opened = list(pinned.values())
    try:
        # Requests: 15 through the first worker, 25 through the second.
        for client, n in ((first, 15), (second, 25)):
            for _ in range(n):
                assert (await client.get("/healthz")).status_code == 200

        # Bids through both workers: accepted, and refused for three reasons.
        async with _client(live) as setup:
            api = Api(setup, live)
            seller, b1, b2 = await api.org(), await api.org(), await api.org()
            for b in (b1, b2):
                await api.fund(b, "5000.00")
            listing = await api.english_auction(seller, [b1, b2])
        url = f"/api/v1/auctions/{listing['auction_id']}/bids"
        plan = [
            (first, b1, "100000.00"),  # accepted
            (second, b1, "100100.00"),  # already leading
            (second, b2, "100000.00"),  # too low
            (first, b2, "100150.00"),  # not a whole increment above
            (second, b2, "100100.00"),  # accepted
            (first, b1, "100300.00"),  # accepted
        ]
        answers = [await c.post(url, json={"amount": a}, headers=b["headers"]) for c, b, a in plan]
        assert [r.status_code for r in answers] == [201, 409, 409, 409, 201, 201], [r.text for r in answers]
        refused = Counter(r.json()["code"] for r in answers if r.status_code == 409)
        assert len(refused) == 3

        # The token: 401 problem+json without it, through either worker.
        for client in (first, second):
            r = await client.get("/metrics")
            assert r.status_code == 401 and r.json()["code"] == "unauthorized"

        # One scrape, through either worker, holds both workers' counts.
        for client in (first, second):
            total = await scrape(client)
            assert value(total, "exchange_http_requests_total", **HEALTHZ, status="200") == 40
            assert value(total, "exchange_http_request_seconds_count", **HEALTHZ) == 40
            assert value(total, "exchange_http_request_seconds_bucket", **HEALTHZ, le="+Inf") == 40
            bids = sum(
                v
                for (name, labels), v in total.items()
                if name == "exchange_http_requests_total" and set(BIDS_ROUTE.items()) <= set(labels)
            )
            assert bids == 6
            assert value(total, "exchange_http_request_seconds_count", **BIDS_ROUTE) == 6
            assert value(total, "exchange_bids_accepted_total") == 3
            for code, n in refused.items():
                assert value(total, "exchange_bids_refused_total", code=code) == n, code
            assert value(total, "exchange_sweeper_lag_seconds") >= 0
            assert ("exchange_sweeper_lag_seconds", frozenset()) in total
        # Each worker's own share: what went through it.
        shares = [own_share(directory, pid) for pid in workers]
        assert [value(s, "exchange_http_requests_total", **HEALTHZ, status="200") for s in shares] == [
            15,
            25,
        ]
        assert [value(s, "exchange_bids_accepted_total") for s in shares] == [2, 1]

        # An event stream open on one worker counts; once that worker is killed, it no longer does, and
        # what it counted stays in the totals.
        streamer = await pinned_client(server, workers[0])
        opened.append(streamer)
        events = f"/api/v1/auctions/{listing['auction_id']}/events"
        async with streamer.stream("GET", events) as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()  # kept until the end: dropping it would close the stream
            async with asyncio.timeout(30):
                async for line in lines:
                    if line.startswith("id:"):  # the first event: the stream is being served
                        break
            assert value(await scrape(second), "exchange_sse_connections") == 1
            os.kill(workers[0], signal.SIGKILL)
            for _ in range(200):  # until uvicorn's supervisor has reaped it (it then starts another)
                if not exists(f"/proc/{workers[0]}"):
                    break
                await asyncio.sleep(0.05)
            after = await scrape(second)
        assert value(after, "exchange_sse_connections") == 0
        assert value(after, "exchange_http_requests_total", **HEALTHZ, status="200") == 40
        assert value(after, "exchange_bids_accepted_total") == 3
    finally:
        for client in opened:
            await client.aclose()
    return directory
