"""``GET /listings`` keeps each page as rendered while what it shows is unchanged (``app.kit.pagecache``).

The version it is kept under counts committed changes, written by database triggers: every change a page shows
— whoever makes it, through the API or straight in the database as another process would — is seen by the
next request; a change rolled back, or of what no page shows, keeps the pages. Full text and IPC searches
read more than the version counts and are rendered every time."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.kit.db import Database
from app.listings import repository, service
from tests.listings import helpers as h
from tests.sandbox import business_now
from tests.world import org

pytestmark = pytest.mark.world(uni=org("university"))


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One item per page rendered from the database."""
    calls: list[int] = []
    render = service.read_listings

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await render(*args, **kwargs)

    monkeypatch.setattr(service, "read_listings", counting)
    return calls


async def _page(client: httpx.AsyncClient, query: str = "", headers: dict[str, str] | None = None) -> Any:
    r = await client.get(f"/api/v1/listings{query}", headers=headers or {})
    assert r.status_code == 200, r.text
    return r


async def _version(db: Database) -> int | None:
    async with db.read() as session:
        return await repository.read_version(session)


async def test_a_page_is_rendered_once_while_nothing_changes(
    client: httpx.AsyncClient, db: Database, world: Any, renders: list[int]
) -> None:
    op, uni = world
    await h.published(client, uni, op, h.body([await h.patent(db, uni)]))
    first = await _page(client, "?limit=20")
    again = await _page(client, "?limit=20")
    assert again.content == first.content and len(renders) == 1
    assert [x["title"] for x in again.json()["items"]] == ["一种锂电池隔膜的制备方法"]
    await _page(client, "?limit=5")  # another page
    await _page(client, "?limit=20", uni.headers)  # another audience: the seller's own drafts
    assert len(renders) == 3
    for query in ("?q=隔膜", "?ipc=H01M"):  # read more than the version counts
        for _ in range(2):
            assert len((await _page(client, query)).json()["items"]) == 1
    assert len(renders) == 7


CHANGES = {
    "listing": ("UPDATE listings SET title = '改过的标题'", "改过的标题"),
    "patent title": ("UPDATE patents SET title = '改过的专利名'", "改过的专利名"),
    "patent status": ("UPDATE patents SET status_override = 'lapsed'", "lapsed"),
    "seller name": ("UPDATE organizations SET name = '改名后的大学'", "改名后的大学"),
    "patent unlinked": ("DELETE FROM listing_patents", '"patents":[]'),
}


@pytest.mark.parametrize("change", CHANGES)
async def test_a_change_made_anywhere_is_seen_by_the_next_request(
    client: httpx.AsyncClient, db: Database, world: Any, renders: list[int], change: str
) -> None:
    op, uni = world
    await h.published(client, uni, op, h.body([await h.patent(db, uni)]))
    statement, shown = CHANGES[change]
    before = await _page(client)
    assert shown not in before.text
    async with db.transaction() as session:  # as another process would: not through this app
        await session.execute(text(statement))
    after = await _page(client)
    assert shown in after.text and len(renders) == 2


async def test_a_listing_published_is_seen_by_the_next_request(
    client: httpx.AsyncClient, db: Database, world: Any
) -> None:
    op, uni = world
    await h.published(client, uni, op, h.body([await h.patent(db, uni)], title="第一件"))
    assert [x["title"] for x in (await _page(client)).json()["items"]] == ["第一件"]
    draft = await h.create(client, uni, h.body([await h.patent(db, uni)], title="第二件"))
    assert len((await _page(client)).json()["items"]) == 1  # a draft is not public
    await h.act(client, uni, draft["id"], "submit")
    await h.act(client, op, draft["id"], "approve")
    assert [x["title"] for x in (await _page(client)).json()["items"]] == ["第二件", "第一件"]


async def test_a_new_day_renders_again(client: httpx.AsyncClient, db: Database, world: Any) -> None:
    """A patent's legal status reads today: a page of yesterday is not today's."""
    op, uni = world
    today = (await business_now(db)).date()
    pid = await h.patent(db, uni, expires_on=today + timedelta(days=3))
    await h.published(client, uni, op, h.body([pid]))
    assert (await _page(client)).json()["items"][0]["patents"][0]["legal_status"] == "granted"
    await h.advance(client, 4 * 86400)
    assert (await _page(client)).json()["items"][0]["patents"][0]["legal_status"] == "expired"


async def test_what_no_page_shows_or_a_rollback_keeps_the_version(
    client: httpx.AsyncClient, db: Database, world: Any, backend: Any
) -> None:
    op, uni = world
    await h.published(client, uni, op, h.body([await h.patent(db, uni)]))
    kept = await _version(db)
    assert kept is not None
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE patents SET abstract = '新的摘要', annual_fee_paid_until = :d"),
            {"d": date(2030, 1, 1)},
        )
        await session.execute(text("UPDATE organizations SET credit_code = credit_code"))
    assert await _version(db) == kept
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await session.execute(text("UPDATE listings SET title = '回滚'"))
            raise RuntimeError("rolled back")
    assert await _version(db) == kept
    async with db.transaction() as session:
        await session.execute(text("UPDATE listings SET title = '提交'"))
        await session.execute(text("UPDATE listings SET summary = '两条语句'"))
    # PostgreSQL counts a transaction once, at its commit; SQLite each row changed, as it is changed.
    assert await _version(db) == kept + (1 if backend.name == "postgresql" else 2)


async def test_the_counter_is_taken_at_commit_so_writers_never_deadlock_on_it(
    client: httpx.AsyncClient, db: Database, world: Any, backend: Any
) -> None:
    """PostgreSQL: the counter's row is one row every listing writer updates. Taken mid-transaction, it would
    deadlock a writer that holds it and waits for another lock with a writer that holds that lock and comes
    to a listing: the deferred trigger takes it only as the transaction commits. (SQLite runs one write
    transaction at a time.)"""
    if backend.name != "postgresql":
        pytest.skip("PostgreSQL's row locks")
    op, uni = world
    first, second = [
        (await h.published(client, uni, op, h.body([await h.patent(db, uni)])))["id"] for _ in range(2)
    ]
    kept = await _version(db)
    listing_written, clock_locked = asyncio.Event(), asyncio.Event()
    other_lock = "UPDATE sandbox_clock SET offset_seconds = offset_seconds WHERE id = 1"

    async def one() -> None:
        async with db.transaction() as session:
            await session.execute(text("UPDATE listings SET title = '甲' WHERE id = :id"), {"id": first})
            listing_written.set()
            await clock_locked.wait()
            await session.execute(text(other_lock))  # waits for the other transaction

    async def other() -> None:
        async with db.transaction() as session:
            await listing_written.wait()
            await session.execute(text(other_lock))
            clock_locked.set()
            await asyncio.sleep(0.2)  # the first one is waiting for this lock now
            await session.execute(text("UPDATE listings SET title = '乙' WHERE id = :id"), {"id": second})

    await asyncio.wait_for(asyncio.gather(one(), other()), 30)
    assert (await _version(db) or 0) == (kept or 0) + 2  # once per transaction
    titles = {x["id"]: x["title"] for x in (await _page(client)).json()["items"]}
    assert (titles[first], titles[second]) == ("甲", "乙")
