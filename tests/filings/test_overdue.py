"""Overdue filings (SPEC §18.6, §18.8): a transfer task or licence record not filed when its ``filing_due``
passes (00:00 Asia/Shanghai the next day) is flagged ``overdue`` and both parties are told once
(``transfer_filing_overdue`` / ``licence_filing_overdue``); the flag stays after a late filing, and nothing is
unwound. Two sweepers flagging the same row at once notify once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, time, timedelta

import httpx

from app.filings import service
from app.kit.db import Database
from app.kit.workdays import SHANGHAI
from tests import trading as t
from tests.auctions.helpers import move_clock_only
from tests.filings import helpers as fh
from tests.invariants import assert_invariants
from tests.notifications import helpers as nh
from tests.sandbox import business_now

API = fh.API


def passes_at(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(0), tzinfo=SHANGHAI)


async def test_an_unfiled_transfer_task_becomes_overdue_once_and_stays_so(
    client: httpx.AsyncClient, db: Database
) -> None:
    case = await fh.settled(client, db)
    task = await fh.task_of(client, case)
    parties = (case.seller, case.buyer)
    deadline = passes_at(task["filing_due"])

    await t.advance_past(client, deadline, margin=-60)  # the last minute of filing_due
    assert (await fh.task_of(client, case))["overdue"] is False
    assert await nh.received(client, parties, "transfer_filing_overdue") == {}

    await t.advance(client, 120)
    task = await fh.task_of(client, case)
    assert task["overdue"] is True and task["status"] == "pending"
    told = {"transfer_task_id": task["id"], "deal_id": case.id, "filing_due": task["filing_due"]}
    expected = {case.seller.org_id: [told], case.buyer.org_id: [told]}
    assert await nh.received(client, parties, "transfer_filing_overdue") == expected
    assert await nh.received(client, (case.outsider,), "transfer_filing_overdue") == {}

    # Later sweeps and a late filing change nothing of that: one notification each, still overdue.
    await t.advance(client, 86400)
    r = await fh.post(
        client,
        case.seller,
        f"transfer-tasks/{task['id']}/filed",
        {"cnipa_receipt_number": "LATE-1", "filed_at": (await t.now(client)).isoformat()},
    )
    assert r.status_code == 200, r.text
    assert r.json()["overdue"] is True and r.json()["status"] == "filed"
    await t.advance(client, 86400)
    assert await nh.received(client, parties, "transfer_filing_overdue") == expected
    assert await fh.chain(client, case.op, "transfer_task", task["id"]) == ["created", "overdue", "filed"]

    # Nothing unwound: the deal stays settled, the patent the buyer's.
    deal = (await client.get(f"{API}/deals/{case.id}", headers=case.op.headers)).json()
    assert deal["status"] == "settled"
    patent = (await client.get(f"{API}/patents/{case.patent_ids[0]}", headers=case.buyer.headers)).json()
    assert patent["owner_org_id"] == case.buyer.org_id
    await assert_invariants(db, all_resolved=True)


async def test_a_filed_task_never_becomes_overdue(client: httpx.AsyncClient, db: Database) -> None:
    case = await fh.settled(client, db)
    task = await fh.task_of(client, case)
    r = await fh.post(
        client,
        case.buyer,
        f"transfer-tasks/{task['id']}/filed",
        {"cnipa_receipt_number": "R-3", "filed_at": (await t.now(client)).isoformat()},
    )
    assert r.status_code == 200, r.text
    await t.advance_past(client, passes_at(task["filing_due"]), margin=3600)
    assert (await fh.task_of(client, case))["overdue"] is False
    assert await nh.received(client, (case.seller, case.buyer), "transfer_filing_overdue") == {}


async def test_an_unfiled_licence_record_becomes_overdue_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    case = await fh.settled(client, db, kind="sole_license")
    licence = await fh.licence_of(client, case)
    parties = (case.seller, case.buyer)
    deadline = passes_at(licence["filing_due"])

    await t.advance_past(client, deadline, margin=-60)
    assert (await fh.licence_of(client, case))["overdue"] is False
    assert await nh.received(client, parties, "licence_filing_overdue") == {}
    await t.advance(client, 120)
    licence = await fh.licence_of(client, case)
    assert licence["overdue"] is True and licence["status"] == "pending"
    told = {
        "licence_id": licence["id"],
        "deal_id": case.id,
        "trial_id": None,
        "filing_due": licence["filing_due"],
    }
    expected = {case.seller.org_id: [told], case.buyer.org_id: [told]}
    assert await nh.received(client, parties, "licence_filing_overdue") == expected

    r = await fh.post(
        client,
        case.buyer,
        f"licence-records/{licence['id']}/filed",
        {"filing_number": "LATE-L", "filed_at": (await t.now(client)).isoformat()},
    )
    assert r.status_code == 200, r.text
    assert r.json()["overdue"] is True and r.json()["status"] == "filed"
    await t.advance(client, 86400)
    assert await nh.received(client, parties, "licence_filing_overdue") == expected
    deal = (await client.get(f"{API}/deals/{case.id}", headers=case.op.headers)).json()
    assert deal["status"] == "settled"
    await assert_invariants(db, all_resolved=True)


async def test_two_sweepers_flagging_one_task_at_once_notify_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    case = await fh.settled(client, db)
    task = await fh.task_of(client, case)
    gap = passes_at(task["filing_due"]) - await business_now(db)
    await move_clock_only(db, gap.total_seconds() + 60)  # past due, no sweep yet
    now = await business_now(db)
    task_id = uuid.UUID(task["id"])

    async def flag() -> bool:
        async with db.transaction() as session:
            return await service.mark_transfer_overdue(session, task_id, now)

    assert sorted(await asyncio.gather(flag(), flag())) == [False, True]
    assert not await flag()
    told = await nh.received(client, (case.seller, case.buyer), "transfer_filing_overdue")
    assert [len(v) for v in told.values()] == [1, 1]
