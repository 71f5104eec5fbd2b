from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.audit import guards
from app.audit.chain import GENESIS, event_hash
from tests import factories as f


async def _tamper(backend, statement: str) -> None:  # type: ignore[no-untyped-def]
    """Edit the trail as someone with full database rights could, around the append-only triggers."""
    async with backend.db.write_engine.begin() as conn:
        if backend.name == "postgresql":
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(text(statement))
        else:
            for ddl in guards.SQLITE_DROP:
                await conn.execute(text(ddl))
            await conn.execute(text(statement))
            for ddl in guards.SQLITE_CREATE:
                await conn.execute(text(ddl))


async def test_chain_per_entity_and_verify(client: httpx.AsyncClient, db, backend) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    r = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "organization", "entity_id": org.org_id},
        headers=op.headers,
    )
    assert r.status_code == 200
    events = r.json()["items"]
    assert [e["seq"] for e in events] == [1, 2]
    assert [e["action"] for e in events] == ["created", "verified"]
    assert events[0]["prev_hash"] == GENESIS
    assert events[1]["prev_hash"] == events[0]["hash"]

    # The party sees its own organization's events; another organization gets 404.
    mine = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "organization", "entity_id": org.org_id},
        headers=org.headers,
    )
    assert mine.status_code == 200 and len(mine.json()["items"]) == 2
    other = await f.organization(client)
    theirs = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "organization", "entity_id": org.org_id},
        headers=other.headers,
    )
    assert theirs.status_code == 404
    assert (await client.get("/api/v1/audit-events/verify", headers=org.headers)).status_code == 403

    report = (await client.get("/api/v1/audit-events/verify", headers=op.headers)).json()
    assert report == {"ok": True, "count": report["count"], "broken": []}
    assert report["count"] >= 3


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 2", "hash_mismatch"),
        ("DELETE FROM audit_events WHERE seq = 1", "sequence_gap"),
    ],
)
async def test_tampering_is_detected(
    client: httpx.AsyncClient, db, backend, statement: str, problem: str
) -> None:
    op = await f.operator(client, db)
    org = await f.organization(client, verified_by=op)
    await _tamper(backend, statement)
    report = (await client.get("/api/v1/audit-events/verify", headers=op.headers)).json()
    assert report["ok"] is False
    assert {"entity_type": "organization", "entity_id": org.org_id, "problem": problem} in [
        {k: b[k] for k in ("entity_type", "entity_id", "problem")} for b in report["broken"]
    ]


async def test_database_refuses_update_and_delete(client: httpx.AsyncClient, db, backend) -> None:
    op = await f.operator(client, db)
    await f.organization(client, verified_by=op)
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.write_engine.begin() as conn:
                await conn.execute(text(statement))


def test_hash_depends_on_every_field() -> None:
    from datetime import UTC, datetime

    base = dict(
        prev_hash=GENESIS,
        entity_type="listing",
        entity_id="x",
        seq=1,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        actor="user:1",
        action="created",
        data={"price": 100, "title": "电池"},
    )
    h = event_hash(**base)  # type: ignore[arg-type]
    assert len(h) == 64
    for key, value in [
        ("seq", 2),
        ("actor", "user:2"),
        ("action", "approved"),
        ("data", {"price": 101}),
        ("prev_hash", "1" * 64),
        ("entity_id", "y"),
    ]:
        assert event_hash(**{**base, key: value}) != h  # type: ignore[arg-type]
    # Key order of data does not matter (canonical JSON).
    assert event_hash(**{**base, "data": {"title": "电池", "price": 100}}) == h  # type: ignore[arg-type]
