"""Prometheus metrics for the whole server (SPEC §16, §21 "Metrics for the whole server").

Every metric the exchange exports is declared here, so one file lists them all:

- ``exchange_http_requests_total{method,route,status}`` and ``exchange_http_request_seconds{method,route}``
  (``app.kit.middleware``): ``route`` is the matched route's template, ``unmatched`` for any other path, and
  ``method`` one of HTTP's own methods, ``other`` for any other, so the number of series stays bounded whatever
  clients ask for;
- ``exchange_bids_accepted_total`` and ``exchange_bids_refused_total{code}`` (the bid route), by the refusal's
  problem ``code``;
- ``exchange_sweeper_lag_seconds``: how long the oldest due deadline had waited when a sweeper pass began
  (0 when nothing was due), and ``exchange_sweeper_failures_total{kind}`` (``app.deadlines.sweeper``);
- ``exchange_sse_connections``: open live-event streams (``app.auctions.events``).

Several worker processes (``python -m app serve --workers N``): prometheus_client's multiprocess mode. The
serving command gives the workers one directory through ``PROMETHEUS_MULTIPROC_DIR`` before they start
(``app.cli``); prometheus_client reads that variable when it is first imported, and every metric of a
worker then lives in memory-mapped files there, which ``render`` merges on each scrape, whichever worker
answers it. Counters and histograms of a worker that died stay in the sums (their totals do not go
backwards); its gauges are dropped (``live*`` modes) at the next scrape after it exited or was killed
(``forget_dead_workers``: uvicorn's supervisor, which restarts dead workers, has no hook for it). Without
the variable (one process, the tests under ASGITransport) the metrics are ordinary in-memory ones in the
default registry, which also carries the process and Python collectors that multiprocess mode cannot merge.
"""

from __future__ import annotations

import hmac
import os
import re

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client import values as _values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("exchange_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "exchange_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
BIDS_ACCEPTED = Counter("exchange_bids_accepted_total", "Bids accepted (English and sealed)")
BIDS_REFUSED = Counter(
    "exchange_bids_refused_total", "Bids refused by the auction's rules, by problem code", ["code"]
)
SWEEPER_FAILURES = Counter(
    "exchange_sweeper_failures_total",
    "Deadline items whose processing raised (each is isolated and retried later)",
    ["kind"],
)
# Each process sets its own value at the start of each pass; the server's is the largest of the live ones.
SWEEPER_LAG = Gauge(
    "exchange_sweeper_lag_seconds",
    "Seconds the oldest due deadline had waited when the last sweeper pass began (0: nothing was due)",
    multiprocess_mode="livemax",
)
SSE_CONNECTIONS = Gauge(
    "exchange_sse_connections", "Open live-event streams (Server-Sent Events)", multiprocess_mode="livesum"
)

_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")
# prometheus_client chose where metric values live when it was first imported (above): memory-mapped files
# if PROMETHEUS_MULTIPROC_DIR was set then, else memory. A variable set later changes nothing here.
_MULTIPROCESS_PATH = (
    (os.environ.get(MULTIPROC_ENV) or None) if _values.ValueClass is not _values.MutexValue else None
)


def multiprocess_path() -> str | None:
    """The directory the workers share their metrics in, or None (one process, in-memory metrics)."""
    return _MULTIPROCESS_PATH


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def forget_dead_workers(path: str) -> None:
    """Drop the gauges of worker processes that are gone (killed, or restarted by uvicorn's supervisor,
    which offers no hook to do it when it happens): an open stream of a dead worker is not open."""
    for name in os.listdir(path):
        match = _LIVE_GAUGE_FILE.match(name)
        if match and not _alive(int(match.group(1))):
            _multiprocess.mark_process_dead(int(match.group(1)), path)  # type: ignore[no-untyped-call]


def render() -> bytes:
    """The text exposition of every worker's metrics (multiprocess mode) or of this process's."""
    path = multiprocess_path()
    if path is None:
        return generate_latest(REGISTRY)
    forget_dead_workers(path)
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` as a bearer token (compared in constant time)."""
    scheme, _, presented = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())
