"""The bid's hot path: its statements run on the driver in the request's own coroutine
(``app.kit.statements``), not through SQLAlchemy's per-call greenlet and execution, on both databases. A
statement left out of that path still works, so only counting shows it: the ``spawns`` fixture
(tests/conftest.py) counts the calls SQLAlchemy's asyncio API runs in a greenlet while bids are placed."""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from app.kit.db import Database, WriteGate
from tests.auctions import helpers as h

COUNTDOWN = timedelta(seconds=300)  # open_auction's


async def test_a_bid_runs_no_statement_through_sqlalchemy_s_greenlet(
    client: httpx.AsyncClient, db, spawns: list[str]
) -> None:
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    for who, amount in ((b1, "100000.00"), (b2, "101000.00")):  # the pools and the bidders known
        assert (await h.bid(client, case, who, amount)).status_code == 201
    for who, amount in ((b1, "102000.00"), (b2, "103000.00"), (b1, "104000.00")):
        spawns.clear()
        r = await h.bid(client, case, who, amount)
        assert r.status_code == 201, r.text
        placed = r.json()
        assert placed["leading"] is True
        # Each bid extends the countdown: two live events, written by one statement.
        assert (
            datetime.fromisoformat(placed["ends_at"])
            == datetime.fromisoformat(placed["placed_at"]) + COUNTDOWN
        )
        # The bid's transaction waits for its connection once (checkout and BEGIN: SQLite's write gate);
        # its statements (the auction's UPDATE and the bid, the live events of the bid and the extension
        # (two parameter sets), the audit chain and its flush of nothing, the outbid notice and its
        # webhooks) do not.
        assert "execute" not in spawns and "flush" not in spawns, spawns
        assert "__exit__" not in spawns, spawns  # the commit


async def test_a_bidder_s_first_bid_on_an_auction_looks_the_bidder_up_on_the_same_path(
    client: httpx.AsyncClient, db, spawns: list[str]
) -> None:
    """The first bid of a bidder this process does not know on the auction yet reads its registration with
    one prepared statement outside any session (``Database.read_first``), not through SQLAlchemy: under load
    every bidder's first bid on every auction does, a sixth of a 10-second storm on 100 auctions."""
    case = await h.open_auction(client, db, bidders=3)
    b1, b2, b3 = case.bidders
    for who, amount in ((b1, "100000.00"), (b2, "101000.00")):  # the pools known
        assert (await h.bid(client, case, who, amount)).status_code == 201
    spawns.clear()
    r = await h.bid(client, case, b3, "102000.00")
    assert r.status_code == 201, r.text
    assert "execute" not in spawns and "flush" not in spawns and "__exit__" not in spawns, spawns
    spawns.clear()
    r = await h.bid(client, case, case.op, "103000.00")  # an operator is no bidder: refused on that read
    assert (r.status_code, h.code_of(r)) == (403, "not_qualified"), r.text
    assert "execute" not in spawns, spawns


async def test_a_refused_bid_runs_no_statement_through_sqlalchemy_s_greenlet(
    client: httpx.AsyncClient, db, spawns: list[str]
) -> None:
    """Most bids of a busy auction are refused (another got there first): the UPDATE matches nothing, and the
    reason is read by a second statement, on the same path."""
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    for who, amount in ((b1, "100000.00"), (b2, "101000.00")):
        assert (await h.bid(client, case, who, amount)).status_code == 201
    spawns.clear()
    r = await h.bid(client, case, b1, "101000.00")
    assert r.status_code == 409 and h.code_of(r) == "bid_too_low", r.text
    assert "execute" not in spawns and "__exit__" not in spawns, spawns  # nor the rollback
    if db.is_sqlite:  # refused on a read: no write connection, no write lock
        assert "connection" not in spawns, spawns


def _cyclic_garbage_of_the_app() -> list[str]:
    """The types of the application's and SQLAlchemy's objects that only the garbage collector would free
    (its other objects belong to the test client)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = [type(o) for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return sorted({t.__qualname__ for t in found if t.__module__.split(".")[0] in ("app", "sqlalchemy")})


async def test_bids_and_refusals_leave_no_reference_cycles(client: httpx.AsyncClient, db) -> None:
    """A busy server places and refuses hundreds of bids a second. Objects of a request that form a cycle
    outlive it until the garbage collector runs, which promotes those of requests still in flight and then
    walks its oldest generation in full, stalling every request: a write request's session, transaction and
    connection were such a cycle (``app.kit.db.connection_of``)."""
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    for who, amount in ((b1, "100000.00"), (b2, "101000.00")):  # the pools and the bidders known
        assert (await h.bid(client, case, who, amount)).status_code == 201
    auction = f"/api/v1/auctions/{case.id}"
    assert (await client.get(auction)).status_code == 200  # its statements built once, as in a server
    gc.collect()
    gc.disable()
    try:
        for who, amount in ((b1, "102000.00"), (b2, "103000.00"), (b1, "104000.00")):
            assert (await h.bid(client, case, who, amount)).status_code == 201
        refused = await h.bid(client, case, b2, "104000.00")
        assert refused.status_code == 409, refused.text
        assert (await client.get(auction)).status_code == 200
        assert _cyclic_garbage_of_the_app() == []
    finally:
        gc.enable()


async def test_a_bid_that_waited_for_another_s_lock_is_refused_for_what_that_one_did(
    client: httpx.AsyncClient, db: Database
) -> None:
    """PostgreSQL: the bid's UPDATE matches the auction as its statement began, waits for a transaction that
    holds the row, and no longer matches the row that transaction commits: the bid is refused with the
    reason the committed row gives (DESIGN.md: zero rows, then re-read the row to explain why). When the
    other transaction rolls back instead, the waiting bid is taken."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's row locks (SQLite refuses on a read outside its one writer)")
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    assert (await h.bid(client, case, b1, "100000.00")).status_code == 201
    raise_price = text("UPDATE auctions SET current_price = :fen WHERE id = :id")

    async def bid_behind_another(who: Any, amount: str, end: str) -> httpx.Response:
        async with db.write_engine.connect() as other:
            await other.execute(raise_price, {"fen": 10_200_000, "id": case.id})  # 102,000.00, uncommitted
            waiting = asyncio.create_task(h.bid(client, case, who, amount))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # its UPDATE waits for the row
            await (other.commit() if end == "commit" else other.rollback())
        return await asyncio.wait_for(waiting, timeout=10)

    r = await bid_behind_another(b2, "101000.00", "rollback")
    assert r.status_code == 201, r.text
    r = await bid_behind_another(b1, "102000.00", "commit")  # valid at 101,000.00, not at 102,000.00
    assert r.status_code == 409 and h.code_of(r) == "bid_too_low", r.text
    assert "103000.00" in r.json()["detail"], r.text


async def test_sqlite_refuses_a_bid_without_waiting_for_the_write_lock(
    client: httpx.AsyncClient, db: Database
) -> None:
    """While another process writes (it holds the write gate), a bid the auction's state refuses is answered
    at once; a bid it takes waits for the lock as before, and is accepted once the lock is free."""
    if not db.is_sqlite:
        pytest.skip("SQLite's one writer at a time")
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    assert (await h.bid(client, case, b1, "100000.00")).status_code == 201
    other_process = WriteGate(str(make_url(db.url).database), timeout=1)
    await other_process.acquire()
    try:
        refusals = [
            (b2, "100000.00", "bid_too_low"),
            (b2, "100500.00", "bid_too_low"),
            (b1, "102000.00", "already_leading"),
        ]
        for who, amount, code in refusals:
            r = await asyncio.wait_for(h.bid(client, case, who, amount), timeout=5)
            assert r.status_code == 409 and h.code_of(r) == code, r.text
        waiting = asyncio.create_task(h.bid(client, case, b2, "101000.00"))
        await asyncio.sleep(0.2)
        assert not waiting.done()
    finally:
        other_process.release()
    assert (await asyncio.wait_for(waiting, timeout=10)).status_code == 201


@asynccontextmanager
async def _another_writer(db: Database, case: h.AuctionCase) -> AsyncIterator[None]:
    """Another process writing: it holds SQLite's write gate, or the auction's row on PostgreSQL."""
    if db.is_sqlite:
        other_process = WriteGate(str(make_url(db.url).database), timeout=1)
        await other_process.acquire()
        try:
            yield
        finally:
            other_process.release()
        return
    async with db.write_engine.connect() as other:
        await other.execute(text("UPDATE auctions SET version = version WHERE id = :id"), {"id": case.id})
        try:
            yield
        finally:
            await other.rollback()


async def test_a_keyed_bid_the_auction_refuses_is_refused_without_waiting_for_a_writer(
    client: httpx.AsyncClient, db: Database
) -> None:
    """A keyed bid's key is stored in its write's transaction, which waits for SQLite's write lock or the
    auction's row on PostgreSQL. A keyed bid the auction's state refuses is refused on a read before that
    transaction, as one without a key is, and stores no key: its retry is decided again. A keyed bid the
    state takes still waits for the writer, and is taken when it is done."""
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    assert (await h.bid(client, case, b1, "100000.00")).status_code == 201
    async with _another_writer(db, case):
        for who, amount, code in [
            (b2, "100000.00", "bid_too_low"),
            (b2, "100500.00", "bid_too_low"),
            (b1, "102000.00", "already_leading"),
        ]:
            r = await asyncio.wait_for(h.bid(client, case, who, amount, **{"Idempotency-Key": code}), 5)
            assert r.status_code == 409 and h.code_of(r) == code, r.text
        waiting = asyncio.create_task(h.bid(client, case, b2, "101000.00", **{"Idempotency-Key": "taken"}))
        await asyncio.sleep(0.3)
        assert not waiting.done()
    r = await asyncio.wait_for(waiting, timeout=10)
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers, r.text
    # Refused, b1's request stored nothing: outbid now, the same request is taken.
    r = await h.bid(client, case, b1, "102000.00", **{"Idempotency-Key": "already_leading"})
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers, r.text
    assert (await h.state(client, case))["bid_count"] == 3


async def test_a_keyed_bid_whose_first_attempt_was_taken_meanwhile_is_replayed_not_refused(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry arrives while its first attempt is being written: no response is stored yet when the retry
    looks for one, and the state its screen reads next already holds the first attempt's bid (the bidder
    leads, which refuses the bid). The response stored with that bid is looked up again, and replayed."""
    from app.auctions import service

    if not db.is_sqlite:  # PostgreSQL screens only a bid that cannot go alone: an auction with proxies
        pytest.skip(
            "PostgreSQL: test_a_keyed_bid_whose_key_a_parallel_attempt_took_wrote_nothing_and_is_replayed"
        )
    case = await h.open_auction(client, db, bidders=2)
    b1 = case.bidders[0]
    screen = service.screen_bid
    first: list[httpx.Response] = []

    async def first_attempt_lands_first(*args: Any, **kwargs: Any) -> None:
        if not first:
            with monkeypatch.context() as m:
                m.setattr(service, "screen_bid", screen)
                first.append(await h.bid(client, case, b1, "100000.00", **{"Idempotency-Key": "k-1"}))
        await screen(*args, **kwargs)

    monkeypatch.setattr(service, "screen_bid", first_attempt_lands_first)
    retry = await h.bid(client, case, b1, "100000.00", **{"Idempotency-Key": "k-1"})
    assert first[0].status_code == 201, first[0].text
    assert retry.status_code == 201 and retry.headers.get("Idempotent-Replayed") == "true", retry.text
    assert retry.json() == first[0].json()
    reused = await h.bid(client, case, b1, "101000.00", **{"Idempotency-Key": "k-1"})
    assert reused.status_code == 422 and h.code_of(reused) == "idempotency_key_reused", reused.text
    assert (await h.state(client, case))["bid_count"] == 1


# --- PostgreSQL: the English bid as one statement (a compare-and-set) ----------------------------------------


def _compare_and_set(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL's compare-and-set bid (SQLite's bids take its one write lock)")


def _between_read_and_write(
    monkeypatch: pytest.MonkeyPatch, db: Database, meddle: Any, times: int = 1, *, elsewhere: bool = True
) -> list[str]:
    """Run ``meddle()`` right after each of the next ``times`` reads a bid decides on, before its write; the
    returned list names, in order, the statements the bids ran alone (``seen``, ``write``). ``elsewhere``:
    as if another process had meddled (this one forgets what its own writes committed). The bids read first:
    no auction is known to be this process's alone (``service._CURRENT``)."""
    from app.auctions import service

    run_alone, ran, left = db.run_alone, [], [times]
    service._CURRENT.clear()

    async def meddling(statement: Any, params: dict[str, Any]) -> Any:
        seen = statement is service._ENGLISH_SEEN
        ran.append("seen" if seen else "write")
        row = await run_alone(statement, params)
        if seen and left[0] > 0:
            left[0] -= 1
            await meddle()
            if elsewhere:
                service._COMMITTED.clear()
        return row

    monkeypatch.setattr(db, "run_alone", meddling)
    return ran


def _statements(monkeypatch: pytest.MonkeyPatch, db: Database) -> list[str]:
    """The statements the next bids run alone, in order (``seen``, ``write``)."""
    return _between_read_and_write(monkeypatch, db, lambda: asyncio.sleep(0), times=0)


async def _bids_events_and_chain(client: httpx.AsyncClient, db: Database, case: h.AuctionCase) -> list[Any]:
    """The auction's bids (seq, amount, code) oldest first, after checking that its live events are numbered
    without a gap and every audit chain verifies."""
    from app.audit.service import verify_all
    from app.models.trading import AuctionEvent

    async with db.read() as session:
        seqs = (
            await session.scalars(
                select(AuctionEvent.seq).where(AuctionEvent.auction_id == case.id).order_by(AuctionEvent.seq)
            )
        ).all()
        report = await verify_all(session)
    assert list(seqs) == list(range(1, len(seqs) + 1))
    assert report.ok, report.broken
    return sorted((b["seq"], b["amount"], b["bidder_code"]) for b in await h.all_bids(client, case))


@pytest.mark.parametrize(
    ("elsewhere", "refused_after", "taken_after"),
    [
        (True, ["seen", "write", "seen"], ["seen", "write", "seen", "write"]),
        (False, ["seen"], ["seen", "write"]),
    ],
    ids=["another-process", "this-process"],
)
async def test_a_bid_whose_auction_moved_after_its_read_is_decided_again_and_wrote_nothing(
    client: httpx.AsyncClient,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    elsewhere: bool,
    refused_after: list[str],
    taken_after: list[str],
) -> None:
    """Another bid is taken between a bid's read and its write, and the bid is decided again on the new
    state: refused when it no longer beats it, taken after it when it still does. Another process's bid: the
    write matches no row and writes nothing (no bid, event, audit record or notice), and the bid reads the
    auction again. This process's: the bid waited for that write and decides on the state it committed,
    with no statement of its own to refuse, and a write that does not lose to take."""
    _compare_and_set(db)
    case = await h.open_auction(client, db, bidders=3)
    b1, b2, b3 = case.bidders
    assert (await h.bid(client, case, b1, "100000.00")).status_code == 201
    others = iter([(b3, "101000.00"), (b1, "102000.00")])
    run_alone = db.run_alone

    async def another_bid() -> None:
        who, amount = next(others)
        with monkeypatch.context() as m:
            m.setattr(db, "run_alone", run_alone)
            assert (await h.bid(client, case, who, amount)).status_code == 201

    ran = _between_read_and_write(monkeypatch, db, another_bid, elsewhere=elsewhere)
    r = await h.bid(client, case, b2, "101000.00")
    assert r.status_code == 409 and h.code_of(r) == "bid_too_low", r.text
    assert "102000.00" in r.json()["detail"]
    assert ran == refused_after

    ran = _between_read_and_write(monkeypatch, db, another_bid, elsewhere=elsewhere)
    r = await h.bid(client, case, b2, "105000.00")
    assert r.status_code == 201, r.text
    assert ran == taken_after
    c1, c2, c3 = case.codes
    assert await _bids_events_and_chain(client, db, case) == [
        (1, "100000.00", c1),
        (2, "101000.00", c3),
        (3, "102000.00", c1),
        (4, "105000.00", c2),
    ]
    # Another process: the first attempt of b2's second bid, which would have told b3 it was outbid at
    # 105,000.00, wrote nothing.
    assert await _notices(db, "outbid") == [
        (b1.org_id, "101000.00"),
        (b3.org_id, "102000.00"),
        (b1.org_id, "105000.00"),
    ]


async def test_a_bid_on_an_auction_only_this_process_writes_is_written_without_reading_it(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a read found the auction as this process's last bid left it, the next bid is written on that state
    with no read before it: one statement. A bid that state refuses is refused on a read, with the reason the
    read gives."""
    _compare_and_set(db)
    case = await h.open_auction(client, db, bidders=3)
    b1, b2, b3 = case.bidders
    ran = _statements(monkeypatch, db)
    assert (await h.bid(client, case, b1, "100000.00")).status_code == 201
    assert (await h.bid(client, case, b2, "101000.00")).status_code == 201  # its read finds b1's bid
    assert ran == ["seen", "write", "seen", "write"]
    ran.clear()
    r = await h.bid(client, case, b3, "102000.00")
    assert r.status_code == 201, r.text
    assert (r.json()["current_price"], r.json()["leading"]) == ("102000.00", True)
    assert (await h.bid(client, case, b2, "103000.00")).status_code == 201
    assert ran == ["write", "write"]
    ran.clear()
    low = await h.bid(client, case, b1, "103000.00")
    assert (low.status_code, h.code_of(low)) == (409, "bid_too_low")
    leading = await h.bid(client, case, b2, "104000.00")
    assert (leading.status_code, h.code_of(leading)) == (409, "already_leading")
    assert ran == ["seen", "seen"]
    c1, c2, c3 = case.codes
    assert await _bids_events_and_chain(client, db, case) == [
        (1, "100000.00", c1),
        (2, "101000.00", c2),
        (3, "102000.00", c3),
        (4, "103000.00", c2),
    ]
    assert await _notices(db, "outbid") == [
        (b1.org_id, "101000.00"),
        (b2.org_id, "102000.00"),
        (b3.org_id, "103000.00"),
    ]


@asynccontextmanager
async def _unseen_by_this_process() -> AsyncIterator[None]:
    """What is done inside is done as by another process: this one keeps believing what it knew before."""
    from app.auctions import service

    committed, current = dict(service._COMMITTED), set(service._CURRENT)
    try:
        yield
    finally:
        service._COMMITTED.clear()
        service._COMMITTED.update(committed)
        service._CURRENT.clear()
        service._CURRENT.update(current)


async def test_a_bid_written_on_a_state_another_process_overtook_wrote_nothing_and_is_decided_on_a_read(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process bid on the auction since this process's last bid: the write on the state this process
    kept matches no row and leaves nothing (no bid, event, audit record, or notice to the leader it knew),
    and the bid is decided on a read: taken over the other process's bid, or refused for what it did. The
    auction's bids are then read first."""
    _compare_and_set(db)
    case = await h.open_auction(client, db, bidders=3)
    b1, b2, b3 = case.bidders
    ran = _statements(monkeypatch, db)
    assert (await h.bid(client, case, b1, "100000.00")).status_code == 201
    assert (await h.bid(client, case, b2, "101000.00")).status_code == 201
    async with _unseen_by_this_process():
        assert (await h.bid(client, case, b3, "102000.00")).status_code == 201
    ran.clear()
    r = await h.bid(client, case, b1, "105000.00")
    assert r.status_code == 201, r.text
    assert ran == ["write", "seen", "write"]
    async with _unseen_by_this_process():
        assert (await h.bid(client, case, b2, "106000.00")).status_code == 201
    ran.clear()
    r = await h.bid(client, case, b3, "106000.00")  # on what it knew, 106,000.00 beats b1's 105,000.00
    assert (r.status_code, h.code_of(r)) == (409, "bid_too_low")
    assert ran == ["seen"]
    c1, c2, c3 = case.codes
    assert await _bids_events_and_chain(client, db, case) == [
        (1, "100000.00", c1),
        (2, "101000.00", c2),
        (3, "102000.00", c3),
        (4, "105000.00", c1),
        (5, "106000.00", c2),
    ]
    assert await _notices(db, "outbid") == [
        (b1.org_id, "101000.00"),
        (b2.org_id, "102000.00"),
        (b3.org_id, "105000.00"),  # not b2, the leader this process knew of
        (b1.org_id, "106000.00"),
    ]


async def test_a_bidder_disqualified_since_this_process_s_last_bid_is_refused_as_such(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state this process kept does not know a registration's status: the write on it checks the status,
    and a bidder disqualified since is refused for that (403), with nothing written."""
    _compare_and_set(db)
    case = await h.open_auction(client, db, bidders=3)
    b1, b2, b3 = case.bidders
    ran = _statements(monkeypatch, db)
    for who, amount in [(b3, "100000.00"), (b1, "101000.00"), (b2, "102000.00")]:
        assert (await h.bid(client, case, who, amount)).status_code == 201
    assert ran == ["seen", "write", "seen", "write", "write"]
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE registrations SET status = 'disqualified' WHERE id = :id"),
            {"id": uuid.UUID(case.registration_ids[2])},
        )
    ran.clear()
    r = await h.bid(client, case, b3, "103000.00")
    assert (r.status_code, h.code_of(r)) == (403, "not_qualified"), r.text
    assert ran == ["write", "seen"]
    c1, c2, c3 = case.codes
    assert await _bids_events_and_chain(client, db, case) == [
        (1, "100000.00", c3),
        (2, "101000.00", c1),
        (3, "102000.00", c2),
    ]


async def _notices(db: Database, kind: str) -> list[tuple[str, str]]:
    from app.models.notifications import Notification

    async with db.read() as session:
        rows = (
            await session.scalars(
                select(Notification)
                .where(Notification.kind == kind)
                .order_by(Notification.data["current_price"].as_string())
            )
        ).all()
    return [(str(n.organization_id), n.data["current_price"]) for n in rows]


async def test_a_bid_written_after_another_event_joined_the_auction_s_chain_is_written_again(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit event joins the auction's chain between a bid's read and its write (the row itself unchanged):
    the chain's unique key fails the write, which leaves nothing, and the bid is written again after it."""
    from app.audit.service import record

    _compare_and_set(db)
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    assert (await h.bid(client, case, b1, "100000.00")).status_code == 201

    async def note() -> None:
        async with db.transaction() as session:
            await record(
                session,
                entity_type="auction",
                entity_id=case.id,
                action="noted",
                actor="system",
                at=await t_now(client),
            )

    ran = _between_read_and_write(monkeypatch, db, note)
    assert (await h.bid(client, case, b2, "101000.00")).status_code == 201
    assert ran == ["seen", "write", "seen", "write"]
    c1, c2 = case.codes
    assert await _bids_events_and_chain(client, db, case) == [(1, "100000.00", c1), (2, "101000.00", c2)]
    assert await _notices(db, "outbid") == [(b1.org_id, "101000.00")]


async def t_now(client: httpx.AsyncClient) -> datetime:
    from tests import trading

    return await trading.now(client)


async def test_a_bid_that_keeps_losing_the_race_waits_its_turn_on_the_row_lock(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bid that finds the auction moved every time it writes falls back, after ``MAX_BID_ATTEMPTS`` reads,
    to the transaction that waits for the row lock, and is taken there."""
    from app.auctions.service import MAX_BID_ATTEMPTS

    _compare_and_set(db)
    case = await h.open_auction(client, db, bidders=3)
    b1, b2, b3 = case.bidders
    amounts = iter(f"{100_000 + 1000 * i}.00" for i in range(MAX_BID_ATTEMPTS))
    whose = iter([b1, b3] * MAX_BID_ATTEMPTS)
    run_alone = db.run_alone

    async def another_bid() -> None:
        with monkeypatch.context() as m:
            m.setattr(db, "run_alone", run_alone)
            assert (await h.bid(client, case, next(whose), next(amounts))).status_code == 201

    ran = _between_read_and_write(monkeypatch, db, another_bid, times=MAX_BID_ATTEMPTS)
    r = await h.bid(client, case, b2, "200000.00")
    assert r.status_code == 201, r.text
    assert ran == ["seen", "write"] * MAX_BID_ATTEMPTS
    bids = await _bids_events_and_chain(client, db, case)
    assert [b[0] for b in bids] == list(range(1, MAX_BID_ATTEMPTS + 2))
    assert bids[-1] == (MAX_BID_ATTEMPTS + 1, "200000.00", case.codes[1])


async def _stored_keys(db: Database) -> list[tuple[str, int, Any]]:
    """Every stored Idempotency-Key of a bid: (key, status, response)."""
    from app.models.trading import IdempotencyKey

    async with db.read() as session:
        rows = await session.execute(
            select(IdempotencyKey.key, IdempotencyKey.status_code, IdempotencyKey.response_body)
            .where(IdempotencyKey.path.like("%/bids"))
            .order_by(IdempotencyKey.created_at)
        )
        return [(key, status, json.loads(body)) for key, status, body in rows]


def _screens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The amounts of the bids screened on a read before a transaction (``service.screen_bid``)."""
    from app.auctions import service

    screened: list[str] = []
    real = service.screen_bid

    async def screen_bid(*args: Any, **kwargs: Any) -> None:
        screened.append(f"{args[3] / 100:.2f}")
        await real(*args, **kwargs)

    monkeypatch.setattr(service, "screen_bid", screen_bid)
    return screened


async def test_a_keyed_bid_is_written_alone_with_its_key_and_replayed(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key's row is written by the bid's one statement, after the one read that decides the bid (no
    screen: it guards a transaction): no transaction, yet a retry replays the stored response and the key's
    reuse with another bid is refused."""
    _compare_and_set(db)
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    ran = _between_read_and_write(monkeypatch, db, lambda: asyncio.sleep(0), times=0)
    screened = _screens(monkeypatch)
    r = await h.bid(client, case, b1, "100000.00", **{"Idempotency-Key": "k-1"})
    assert r.status_code == 201, r.text
    assert (ran, screened) == (["seen", "write"], [])
    assert await _stored_keys(db) == [("k-1", 201, r.json())]
    retry = await h.bid(client, case, b1, "100000.00", **{"Idempotency-Key": "k-1"})
    assert retry.status_code == 201 and retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json() == r.json()
    assert (await h.bid(client, case, b2, "101000.00", **{"Idempotency-Key": "k-1"})).status_code == 201
    reused = await h.bid(client, case, b1, "102000.00", **{"Idempotency-Key": "k-1"})
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    bids = await _bids_events_and_chain(client, db, case)
    assert bids == [(1, "100000.00", case.codes[0]), (2, "101000.00", case.codes[1])]


async def test_a_keyed_bid_written_without_a_read_stores_its_key_in_the_same_statement(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an auction only this process writes, a keyed bid is one statement with its key's row: its retry is
    replayed, and a retry of a keyed bid the auction then refuses is replayed too, not refused."""
    _compare_and_set(db)
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    ran = _statements(monkeypatch, db)
    assert (await h.bid(client, case, b1, "100000.00")).status_code == 201
    assert (await h.bid(client, case, b2, "101000.00")).status_code == 201
    ran.clear()
    r = await h.bid(client, case, b1, "102000.00", **{"Idempotency-Key": "kept-1"})
    assert r.status_code == 201, r.text
    assert ran == ["write"]
    assert await _stored_keys(db) == [("kept-1", 201, r.json())]
    assert (await h.bid(client, case, b2, "103000.00")).status_code == 201
    ran.clear()
    retry = await h.bid(client, case, b1, "102000.00", **{"Idempotency-Key": "kept-1"})
    assert (retry.status_code, retry.headers.get("Idempotent-Replayed")) == (201, "true")
    assert retry.json() == r.json()
    assert "write" not in ran
    c1, c2 = case.codes
    assert await _bids_events_and_chain(client, db, case) == [
        (1, "100000.00", c1),
        (2, "101000.00", c2),
        (3, "102000.00", c1),
        (4, "103000.00", c2),
    ]


async def test_a_keyed_bid_whose_key_a_parallel_attempt_took_wrote_nothing_and_is_replayed(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double click: the second attempt read the auction before the first wrote. Its statement is refused
    by the auction's row (moved) or the key's unique index; decided again, the bid is refused, and the first
    attempt's response is replayed. One bid."""
    _compare_and_set(db)
    case = await h.open_auction(client, db, bidders=2)
    b1 = case.bidders[0]
    first: list[httpx.Response] = []

    async def the_first_attempt() -> None:
        with monkeypatch.context() as m:
            m.setattr(db, "run_alone", run_alone)
            first.append(await h.bid(client, case, b1, "100000.00", **{"Idempotency-Key": "twice"}))

    run_alone = db.run_alone
    ran = _between_read_and_write(monkeypatch, db, the_first_attempt)
    second = await h.bid(client, case, b1, "100000.00", **{"Idempotency-Key": "twice"})
    assert first[0].status_code == 201, first[0].text
    assert (second.status_code, second.json()) == (201, first[0].json()), second.text
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert ran == ["seen", "write", "seen"]
    assert await _bids_events_and_chain(client, db, case) == [(1, "100000.00", case.codes[0])]
    assert await _stored_keys(db) == [("twice", 201, first[0].json())]


async def test_a_bid_on_an_auction_with_proxies_is_written_in_a_transaction_keyed_or_not(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bid the auction's proxies answer is written in a transaction (after the one read that tells it has
    proxies), and a keyed one stores its key there."""
    _compare_and_set(db)
    case = await h.open_auction(client, db, bidders=3)
    b1, b2, b3 = case.bidders
    assert (await h.bid(client, case, b1, "100000.00")).status_code == 201
    proxy = await client.put(f"{case.url}/proxy", json={"max_amount": "110000.00"}, headers=b3.headers)
    assert proxy.status_code == 201, proxy.text
    ran = _between_read_and_write(monkeypatch, db, lambda: asyncio.sleep(0), times=0)
    r = await h.bid(client, case, b2, "102000.00")
    assert r.status_code == 201, r.text
    assert ran == ["seen"]
    assert r.json()["leading_bidder_code"] == case.codes[2]  # the proxy answered in the same transaction
    ran.clear()
    screened = _screens(monkeypatch)
    r = await h.bid(client, case, b2, "104000.00", **{"Idempotency-Key": "k-2"})
    assert r.status_code == 201, r.text
    assert (ran, screened) == (["seen"], ["104000.00"])  # the transaction is screened
    assert r.json()["leading_bidder_code"] == case.codes[2]
    assert await _stored_keys(db) == [("k-2", 201, r.json())]
    retry = await h.bid(client, case, b2, "104000.00", **{"Idempotency-Key": "k-2"})
    assert (retry.json(), retry.headers.get("Idempotent-Replayed")) == (r.json(), "true")


async def test_a_proxy_left_between_a_bid_s_read_and_its_write_answers_the_bid(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader leaves a maximum after a bid read the auction without proxies (the row's price and version
    unchanged): the bid's write does not take it alone, and the transaction it falls back to lets the proxy
    answer (SPEC §17.1: proxies answer every accepted bid)."""
    _compare_and_set(db)
    case = await h.open_auction(client, db, bidders=2)
    b1, b2 = case.bidders
    assert (await h.bid(client, case, b1, "100000.00")).status_code == 201

    async def leave_a_maximum() -> None:
        r = await client.put(f"{case.url}/proxy", json={"max_amount": "110000.00"}, headers=b1.headers)
        assert r.status_code == 201, r.text

    ran = _between_read_and_write(monkeypatch, db, leave_a_maximum, elsewhere=False)
    r = await h.bid(client, case, b2, "101000.00")
    assert r.status_code == 201, r.text
    assert ran == ["seen", "write", "seen"]
    placed = r.json()
    assert (placed["leading"], placed["leading_bidder_code"], placed["current_price"]) == (
        False,
        case.codes[0],
        "102000.00",
    )
    c1, c2 = case.codes
    assert await _bids_events_and_chain(client, db, case) == [
        (1, "100000.00", c1),
        (2, "101000.00", c2),
        (3, "102000.00", c1),
    ]
