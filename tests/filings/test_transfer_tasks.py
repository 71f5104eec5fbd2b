"""Transfer tasks (SPEC §18.6): read by their parties and operators (others 404), filed by either party or an
operator, registered by operators (the parties 403); any other move 409 ``invalid_state``; the dates checked
(422); every move audited on the task's own chain, readable by both parties; Idempotency-Key honoured."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import httpx

from app.kit.db import Database
from tests import trading as t
from tests.filings import helpers as fh
from tests.invariants import assert_invariants
from tests.settlement import helpers as h

API = fh.API


async def test_a_task_is_filed_by_a_party_and_registered_by_an_operator(
    client: httpx.AsyncClient, db: Database
) -> None:
    case = await fh.settled(client, db)
    task = await fh.task_of(client, case)
    settled_on = fh.shanghai_day(h.at(case.deal["settled_at"]))
    assert task == {
        "id": task["id"],
        "deal_id": case.id,
        "patent_ids": case.patent_ids,
        "from_org_id": case.seller.org_id,
        "to_org_id": case.buyer.org_id,
        "status": "pending",
        "filing_due": (settled_on + timedelta(days=30)).isoformat(),
        "cnipa_receipt_number": None,
        "filed_at": None,
        "announcement_date": None,
        "overdue": False,
        "created_at": task["created_at"],
        "updated_at": task["updated_at"],
    }
    # Its parties and operators read it; anyone else does not learn it exists.
    for reader in (case.seller, case.buyer, case.op):
        r = await client.get(f"{API}/transfer-tasks/{task['id']}", headers=reader.headers)
        assert (r.status_code, r.json()) == (200, task)
        r = await client.get(f"{API}/transfer-tasks", params={"deal_id": case.id}, headers=reader.headers)
        assert r.json()["items"] == [task]
    r = await client.get(f"{API}/transfer-tasks/{task['id']}", headers=case.outsider.headers)
    assert fh.code_of(r) == (404, "not_found")
    assert (await client.get(f"{API}/transfer-tasks/{task['id']}")).status_code == 401
    r = await client.get(f"{API}/transfer-tasks", params={"deal_id": case.id}, headers=case.outsider.headers)
    assert r.json()["items"] == []
    other = "00000000-0000-0000-0000-000000000001"
    r = await client.get(f"{API}/transfer-tasks", params={"deal_id": other}, headers=case.op.headers)
    assert r.json()["items"] == []

    # Registered before it is filed: 409. The outsider cannot move it (404).
    today = await fh.today(client)
    r = await fh.post(
        client, case.op, f"transfer-tasks/{task['id']}/registered", {"announcement_date": str(today)}
    )
    assert fh.code_of(r) == (409, "invalid_state")
    filed_at = await t.now(client)
    body = {"cnipa_receipt_number": "2026-RCPT-0001", "filed_at": filed_at.isoformat()}
    r = await fh.post(client, case.outsider, f"transfer-tasks/{task['id']}/filed", body)
    assert fh.code_of(r) == (404, "not_found")

    r = await fh.post(client, case.buyer, f"transfer-tasks/{task['id']}/filed", body)
    assert r.status_code == 200, r.text
    filed = r.json()
    assert filed["status"] == "filed" and filed["cnipa_receipt_number"] == "2026-RCPT-0001"
    assert h.at(filed["filed_at"]) == filed_at and filed["overdue"] is False
    r = await fh.post(client, case.seller, f"transfer-tasks/{task['id']}/filed", body)
    assert fh.code_of(r) == (409, "invalid_state")

    # Only operators record the registration: the parties 403, an outsider 404.
    announced = {"announcement_date": str(fh.shanghai_day(filed_at))}
    for party in (case.seller, case.buyer):
        r = await fh.post(client, party, f"transfer-tasks/{task['id']}/registered", announced)
        assert fh.code_of(r) == (403, "forbidden")
    r = await fh.post(client, case.outsider, f"transfer-tasks/{task['id']}/registered", announced)
    assert fh.code_of(r) == (404, "not_found")
    r = await fh.post(client, case.op, f"transfer-tasks/{task['id']}/registered", announced)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "registered"
    assert r.json()["announcement_date"] == announced["announcement_date"]
    for path, move_body in (("registered", announced), ("filed", body)):
        r = await fh.post(client, case.op, f"transfer-tasks/{task['id']}/{path}", move_body)
        assert fh.code_of(r) == (409, "invalid_state")

    # The chain: created, filed, registered; both parties read it, an outsider does not.
    for reader in (case.seller, case.buyer, case.op):
        assert await fh.chain(client, reader, "transfer_task", task["id"]) == [
            "created",
            "filed",
            "registered",
        ]
    params = {"entity_type": "transfer_task", "entity_id": task["id"]}
    r = await client.get(f"{API}/audit-events", params=params, headers=case.outsider.headers)
    assert fh.code_of(r) == (404, "not_found")
    await assert_invariants(db, all_resolved=True)


async def test_an_operator_files_too_and_the_dates_are_checked(
    client: httpx.AsyncClient, db: Database
) -> None:
    case = await fh.settled(client, db)
    task = await fh.task_of(client, case)
    path = f"transfer-tasks/{task['id']}/filed"
    settled_at = h.at(case.deal["settled_at"])
    now = await t.now(client)

    def filing(**changes: object) -> dict[str, object]:
        return {"cnipa_receipt_number": "R-1", "filed_at": settled_at.isoformat(), **changes}

    refused = [
        filing(filed_at=(settled_at - timedelta(seconds=1)).isoformat()),  # before the settlement
        filing(filed_at=(now + timedelta(hours=1)).isoformat()),  # in the future
        filing(filed_at=settled_at.replace(tzinfo=None).isoformat()),  # no offset
        filing(filed_at="yesterday"),
        filing(cnipa_receipt_number=""),
        filing(cnipa_receipt_number="R" * 65),
        {"filed_at": settled_at.isoformat()},
        filing(extra=1),
    ]
    for body in refused:
        r = await fh.post(client, case.seller, path, body)
        assert fh.code_of(r) == (422, "validation_error"), (body, r.text)
    r = await fh.post(
        client, case.seller, path, filing(filed_at=(settled_at - timedelta(seconds=1)).isoformat())
    )
    assert any(e["loc"] == ["body", "filed_at"] for e in r.json()["errors"]), r.text

    # At the settlement instant itself, by an operator, with the longest receipt number.
    r = await fh.post(client, case.op, path, filing(cnipa_receipt_number="R" * 64))
    assert r.status_code == 200, r.text
    filed_on = fh.shanghai_day(settled_at)

    # Two days on: the announcement is not before the filing day nor after today.
    await t.advance(client, 2 * 86400)
    today = await fh.today(client)
    registered = f"transfer-tasks/{task['id']}/registered"
    for day in (
        str(filed_on - timedelta(days=1)),
        str(today + timedelta(days=1)),
        "2026-02-30",
        "20260101",
        None,
    ):
        r = await fh.post(client, case.op, registered, {"announcement_date": day})
        assert fh.code_of(r) == (422, "validation_error"), (day, r.text)
    r = await fh.post(client, case.op, registered, {"announcement_date": str(filed_on)})
    assert r.status_code == 200, r.text
    assert date.fromisoformat(r.json()["announcement_date"]) == filed_on


async def test_a_move_with_an_idempotency_key_is_made_once(client: httpx.AsyncClient, db: Database) -> None:
    case = await fh.settled(client, db)
    task = await fh.task_of(client, case)
    body = {"cnipa_receipt_number": "R-2", "filed_at": (await t.now(client)).isoformat()}
    path = f"transfer-tasks/{task['id']}/filed"
    first = await fh.post(client, case.seller, path, body, **{"Idempotency-Key": "file-task-1"})
    again = await fh.post(client, case.seller, path, body, **{"Idempotency-Key": "file-task-1"})
    assert first.status_code == again.status_code == 200, again.text
    assert first.json() == again.json()
    assert await fh.chain(client, case.op, "transfer_task", task["id"]) == ["created", "filed"]


async def test_four_filings_of_one_task_at_once_make_one(client: httpx.AsyncClient, db: Database) -> None:
    case = await fh.settled(client, db)
    task = await fh.task_of(client, case)
    now = (await t.now(client)).isoformat()
    responses = await asyncio.gather(
        *(
            fh.post(
                client,
                who,
                f"transfer-tasks/{task['id']}/filed",
                {"cnipa_receipt_number": f"R-{i}", "filed_at": now},
            )
            for i, who in enumerate((case.seller, case.buyer, case.op, case.seller))
        )
    )
    assert sorted(fh.code_of(r) if r.status_code != 200 else (200, None) for r in responses) == [
        (200, None),
        (409, "invalid_state"),
        (409, "invalid_state"),
        (409, "invalid_state"),
    ]
    assert await fh.chain(client, case.op, "transfer_task", task["id"]) == ["created", "filed"]
