# ruff: noqa: ASYNC110, ASYNC220, ASYNC230, ASYNC240 - a harness: its blocking file and process calls are set-up
"""Webhook deliveries: throughput of one worker process, and the lag from commit to first attempt.

    python bench/webhooks.py [--database-url URL] [--burst 3000] [--events 200]

Without ``--database-url`` the database is a fresh SQLite file under a temporary directory; a PostgreSQL URL
is an admin URL: a scratch database ``bench_webhooks_<pid>`` is created next to it and dropped at the end.

Three processes: this one (set-up, commits, measurements), a **receiver** (a bare asyncio HTTP/1.1 server on
127.0.0.1 answering 200 at once, keep-alive, writing each event id and its arrival time) and **one worker
process** running the exchange's own ``DeliveryWorker`` (``app.webhooks.deliveries``, as every server process
runs it; environment ``test``, so no address check on 127.0.0.1).

- **lag, commit in the worker's process**: the worker process itself commits ``--events`` notifications 20 ms
  apart (as a request or the sweeper of a server process does): its commit wakes its worker at once.
- **lag, commit in another process**: this process commits ``--events`` notifications 20 ms apart: the worker
  finds them on its poll (every ``POLL_SECONDS``) — a server process whose own requests did not write them.
- **throughput**: ``--burst`` notifications committed in one transaction (one delivery each); timed from the
  commit to the last delivery recorded ``succeeded`` in the database.

Lag = arrival at the receiver (real time) − the commit's return (real time), per event; p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup as s

SPACING_SECONDS = 0.02
KIND = "offer_received"


# --- the receiver process ----------------------------------------------------------------------------------


async def _receiver(port: int, out_path: str) -> None:
    out = open(out_path, "a", buffering=1)  # noqa: SIM115 - open for the process's life

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length, event_id = 0, ""
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    key = name.strip().lower()
                    if key == b"content-length":
                        length = int(value)
                    elif key == b"x-exchange-event-id":
                        event_id = value.strip().decode()
                await reader.readexactly(length)
                out.write(f"{event_id} {time.time():.6f}\n")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


# --- the worker process -------------------------------------------------------------------------------------


def _settings(url: str) -> Any:
    from app.config import Settings

    return Settings(
        env="test", database_url=url, secret_key=s.SECRET, sandbox=False, log_level="WARNING", log_json=False
    )


async def _notify(db: Any, org: uuid.UUID, count: int = 1) -> list[str]:
    """``count`` notifications to ``org`` committed in one transaction; their ids."""
    import app.webhooks.deliveries  # noqa: F401 - registers the outbox's webhook subscriber
    from app.kit.clock import SystemClock
    from app.notifications.outbox import notify

    now = SystemClock().now()
    ids: list[str] = []
    async with db.transaction() as session:
        for _ in range(count):
            rows = await notify(
                session, KIND, [org], {"offer_id": str(uuid.uuid4()), "price": "1000.00"}, at=now
            )
            ids += [str(r.id) for r in rows]
    return ids


async def _commit_spaced(db: Any, org: uuid.UUID, count: int) -> dict[str, float]:
    """``count`` notifications, one transaction each, ``SPACING_SECONDS`` apart: event id → commit time."""
    committed: dict[str, float] = {}
    for _ in range(count):
        (event_id,) = await _notify(db, org)
        committed[event_id] = time.time()
        await asyncio.sleep(SPACING_SECONDS)
    return committed


async def _worker(url: str, org: str, events: int, out_path: str) -> None:
    from app.kit.db import create_database
    from app.main import create_app
    from app.webhooks.deliveries import run_worker

    db = create_database(url)
    app = create_app(_settings(url), db=db)
    worker = asyncio.create_task(run_worker(app))
    await asyncio.sleep(1.0)
    committed = await _commit_spaced(db, uuid.UUID(org), events)
    Path(out_path).write_text(json.dumps(committed))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    await db.dispose()


# --- the benchmark ------------------------------------------------------------------------------------------


async def _setup(url: str, receiver_url: str) -> uuid.UUID:
    """One organization with one active webhook subscribed to the benchmark's kind."""
    from app.kit.clock import SystemClock
    from app.kit.db import create_database
    from app.models.accounts import Organization
    from app.models.webhooks import Webhook
    from app.webhooks.rules import new_secret

    db = create_database(url)
    now = SystemClock().now()
    org = uuid.uuid4()
    async with db.transaction() as session:
        session.add(
            Organization(
                id=org,
                name="基准测试机构",
                kind="enterprise",
                credit_code="91330000BENCH0001X",
                status="verified",
                is_public_institution=False,
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        session.add(
            Webhook(
                id=uuid.uuid4(),
                organization_id=org,
                url=receiver_url,
                event_kinds=[KIND],
                description=None,
                status="active",
                secret=new_secret(),
                created_at=now,
            )
        )
    await db.dispose()
    return org


async def _wait_succeeded(db: Any, total: int, limit: float = 300.0) -> float:
    """Poll until ``total`` deliveries have succeeded; the real time it happened (first seen)."""
    from sqlalchemy import func, select

    from app.models.webhooks import WebhookDelivery

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        async with db.read_connection() as conn:
            done = await conn.scalar(
                select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "succeeded")
            )
        if done >= total:
            return time.time()
        await asyncio.sleep(0.01)
    raise SystemExit(f"only {done} of {total} deliveries succeeded within {limit:.0f} s")


def _arrivals(path: str) -> dict[str, float]:
    arrivals: dict[str, float] = {}
    for line in Path(path).read_text().splitlines():
        event_id, at = line.split()
        arrivals.setdefault(event_id, float(at))
    return arrivals


def _lags(committed: dict[str, float], arrivals: dict[str, float]) -> list[float]:
    missing = [e for e in committed if e not in arrivals]
    if missing:
        raise SystemExit(f"{len(missing)} events never arrived")
    return [arrivals[e] - t for e, t in committed.items()]


def _report_lag(label: str, lags: list[float]) -> None:
    print(
        f"lag {label:<32} n={len(lags):<5} p50={s.percentile(lags, 50) * 1000:7.1f} ms  "
        f"p99={s.percentile(lags, 99) * 1000:7.1f} ms  max={max(lags) * 1000:7.1f} ms"
    )


async def _bench(url: str, burst: int, events: int) -> None:
    from app.kit.db import create_database

    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        arrivals_path, local_path = f"{tmp}/arrivals.txt", f"{tmp}/local.json"
        port = s.free_port()
        org = await _setup(url, f"http://127.0.0.1:{port}/hook")
        env = {**s.server_env(url, sandbox=False), "PYTHONPATH": str(s.ROOT)}
        me = str(Path(__file__).resolve())
        receiver = subprocess.Popen([sys.executable, me, "--receiver", str(port), arrivals_path], env=env)
        worker = subprocess.Popen(
            [sys.executable, me, "--worker", url, str(org), str(events), local_path], env=env
        )
        db = create_database(url)
        try:
            while not Path(local_path).exists():  # the worker process commits its own events first
                await asyncio.sleep(0.05)
            await _wait_succeeded(db, events)
            local = json.loads(Path(local_path).read_text())

            remote = await _commit_spaced(db, org, events)
            await _wait_succeeded(db, 2 * events)

            started = time.time()
            await _notify(db, org, burst)
            committed = time.time()
            cpu_before = s.cpu_seconds(worker.pid)
            finished = await _wait_succeeded(db, 2 * events + burst)
            cpu = s.cpu_seconds(worker.pid) - cpu_before
            arrivals = _arrivals(arrivals_path)
        finally:
            worker.terminate()
            worker.wait(10)
            receiver.terminate()
            receiver.wait(10)
            await db.dispose()

        print(f"webhooks on {s.backend_of(url)}: one worker process, receiver on 127.0.0.1 answering 200")
        _report_lag("(commit in the worker's process)", _lags(local, arrivals))
        _report_lag("(commit in another process)", _lags(remote, arrivals))
        elapsed = finished - committed
        print(
            f"throughput: {burst} deliveries committed at once (commit took {committed - started:.2f} s), all "
            f"recorded succeeded {elapsed:.2f} s after the commit: {burst / elapsed:.0f} deliveries/s"
        )
        print(
            f"worker process CPU during the burst: {cpu:.2f} s, {burst / cpu:.0f} deliveries per CPU-second "
            f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: the wall-clock rate is what this "
            "process got of them)"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--receiver":
        asyncio.run(_receiver(int(sys.argv[2]), sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, org, events, out = sys.argv[2:6]
        asyncio.run(_worker(url, org, int(events), out))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL admin URL (default: a fresh SQLite file)")
    parser.add_argument("--burst", type=int, default=3000, help="deliveries committed at once (throughput)")
    parser.add_argument(
        "--events", type=int, default=200, help="events committed one by one (lag), per phase"
    )
    args = parser.parse_args()
    with s.fresh_database(args.database_url, "webhooks") as url:
        asyncio.run(_bench(url, args.burst, args.events))


if __name__ == "__main__":
    os.environ.setdefault("EXCHANGE_LOG_LEVEL", "WARNING")
    main()
