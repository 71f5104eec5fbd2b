"""What the metrics cost a request, in one process and in Prometheus multiprocess mode (SPEC §21).

    python bench/metrics_cost.py [--rounds 200000] [--requests 20000]

prometheus_client picks where metric values live when it is first imported (memory, or memory-mapped files
under ``PROMETHEUS_MULTIPROC_DIR``, as ``python -m app serve`` sets it), so each mode runs in a child process
of its own. Each child measures:

- ``per request``: what ``RequestContextMiddleware`` does per request (one counter ``inc`` and one histogram
  ``observe`` on labelled children looked up by label values), and a bid's counter ``inc``;
- ``scrape``: one ``/metrics`` rendering with the series of ~100 routes;
- ``GET /healthz``: the whole request through the app (middleware, routing, a JSON response) under
  ``httpx.ASGITransport``, so the metrics' share of a real request shows.

Prints microseconds per operation for both modes and the differences.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(rounds: int, requests: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    import httpx

    from app.config import Settings
    from app.kit import metrics
    from app.main import create_app

    routes = [f"/api/v1/bench/{i}/{{item_id}}" for i in range(100)]
    for route in routes:  # the series a busy server has: every route, a few statuses
        for status in ("200", "404", "409"):
            metrics.REQUESTS.labels("GET", route, status).inc()
        metrics.LATENCY.labels("GET", route).observe(0.003)

    def per_request() -> None:
        metrics.REQUESTS.labels("GET", "/api/v1/bench/7/{item_id}", "200").inc()
        metrics.LATENCY.labels("GET", "/api/v1/bench/7/{item_id}").observe(0.0042)

    result: dict[str, float] = {}
    for name, op in (("per request", per_request), ("bid counter", metrics.BIDS_ACCEPTED.inc)):
        op()
        started = time.perf_counter()
        for _ in range(rounds):
            op()
        result[name] = (time.perf_counter() - started) / rounds * 1e6

    started = time.perf_counter()
    scrapes = 50
    for _ in range(scrapes):
        body = metrics.render()
    result["scrape"] = (time.perf_counter() - started) / scrapes * 1e6
    result["scrape bytes"] = float(len(body))

    settings = Settings(
        env="test",
        secret_key="bench-secret-key-that-is-long-enough-0123456789",
        database_url="sqlite+aiosqlite:///" + os.path.join(tempfile.gettempdir(), "bench-metrics.db"),
        log_level="WARNING",
        log_json=False,
    )
    app = create_app(settings)

    async def through_the_app() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _ in range(200):
                await client.get("/healthz")
            started = time.perf_counter()
            for _ in range(requests):
                await client.get("/healthz")
            return (time.perf_counter() - started) / requests * 1e6

    result["GET /healthz"] = asyncio.run(through_the_app())
    result["multiprocess"] = float(metrics.multiprocess_path() is not None)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.rounds, args.requests)))
        return

    results: dict[str, dict[str, float]] = {}
    for mode in ("one process", "multiprocess"):
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        with tempfile.TemporaryDirectory(prefix="bench-metrics-") as directory:
            if mode == "multiprocess":
                env["PROMETHEUS_MULTIPROC_DIR"] = directory
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    f"--rounds={args.rounds}",
                    f"--requests={args.requests}",
                ],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
        assert results[mode]["multiprocess"] == (mode == "multiprocess"), "the mode did not take effect"

    one, multi = results["one process"], results["multiprocess"]
    print(f"{'µs per operation':<46}{'one process':>14}{'multiprocess':>14}{'difference':>12}")
    for name, label in (
        ("per request", "middleware: counter inc + histogram observe"),
        ("bid counter", "bid: counter inc"),
        ("scrape", "one /metrics rendering (~300 series)"),
        ("GET /healthz", "GET /healthz through the app"),
    ):
        print(f"{label:<46}{one[name]:>14.2f}{multi[name]:>14.2f}{multi[name] - one[name]:>+12.2f}")
    print(
        f"scrape size: {one['scrape bytes'] / 1024:.0f} KiB (one process), {multi['scrape bytes'] / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
