"""Every server process delivers webhooks (SPEC §17.5): a real uvicorn server with two worker processes
attempts a committed notification within 5 s, once, though both processes' workers look for it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.kit.clock import SystemClock
from app.kit.db import create_database
from app.notifications.outbox import notify
from app.webhooks import deliveries as _  # noqa: F401 - registers the outbox's webhook subscriber
from tests.conftest import BACKENDS
from tests.factories import PASSWORD, credit_code
from tests.live import LiveServer, live_server
from tests.webhooks.receiver import running_receiver, verify

pytestmark = pytest.mark.slow
API = "/api/v1"


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(request.param, tmp_path_factory.mktemp("hooks"), workers=2) as s:
        yield s


async def test_a_server_with_two_processes_delivers_each_event_once_within_5_seconds(
    server: LiveServer, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        email = f"hooks-{uuid.uuid4().hex[:8]}@example.cn"
        r = await client.post(
            f"{API}/organizations",
            json={
                "name": "网络钩子测试公司",
                "kind": "enterprise",
                "credit_code": credit_code(880_000 + int(time.time()) % 100_000),
                "admin": {"email": email, "password": PASSWORD, "name": "管理员"},
            },
        )
        assert r.status_code == 201, r.text
        org = r.json()["id"]
        token = (
            await client.post(f"{API}/auth/token", data={"username": email, "password": PASSWORD})
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        with running_receiver() as receiver:
            r = await client.post(
                f"{API}/webhooks",
                json={"url": receiver.url(), "event_kinds": ["offer_received"]},
                headers=headers,
            )
            assert r.status_code == 201, r.text
            hook = r.json()
            db = create_database(server.database_url)
            try:
                events = []
                async with db.transaction() as session:
                    for n in range(5):
                        (row,) = await notify(
                            session, "offer_received", [uuid.UUID(org)], {"n": n}, at=SystemClock().now()
                        )
                        events.append(str(row.id))
                committed = time.time()
            finally:
                await db.dispose()
            got = await receiver.wait_for(5, within=5.0)
            assert max(g.at for g in got) - committed < 5.0
            await asyncio.sleep(1.0)  # a second attempt by the other process would arrive by now
            got = receiver.received()
            assert sorted(g.headers["x-exchange-event-id"] for g in got) == sorted(events)
            assert all(verify(hook["secret"], g) for g in got)
            for _ in range(50):
                r = await client.get(f"{API}/webhooks/{hook['id']}/deliveries", headers=headers)
                if all(d["status"] == "succeeded" for d in r.json()["items"]):
                    break
                await asyncio.sleep(0.1)
            assert [d["status"] for d in r.json()["items"]] == ["succeeded"] * 5
