"""Licence records (SPEC §18.6): read by licensor, licensee and operators (others 404) through
``GET /licence-records`` (filters ``deal_id``, ``trial_id``, ``patent_id``; ``GET /licences`` is its alias) and
``GET /licence-records/{id}``; filed once by either party or an operator, not before the record's creation nor
in the future; every move audited on the record's own chain."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

import httpx
import pytest

from app.filings import service
from app.kit.db import Database
from app.kit.workdays import SHANGHAI
from app.settlement import rules
from tests import trading as t
from tests.filings import helpers as fh
from tests.invariants import assert_invariants
from tests.notifications import helpers as nh
from tests.sandbox import business_now
from tests.settlement import helpers as h

API = fh.API
NOBODY = "00000000-0000-0000-0000-000000000001"


async def test_a_licence_record_is_read_by_its_parties_and_filed_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    case = await fh.settled(client, db, kind="exclusive_license")
    licence = await fh.licence_of(client, case)
    starts_on = fh.shanghai_day(h.at(case.deal["settled_at"]))
    assert licence == {
        **licence,
        "deal_id": case.id,
        "trial_id": None,
        "licensor_org_id": case.seller.org_id,
        "licensee_org_id": case.buyer.org_id,
        "patent_ids": case.patent_ids,
        "kind": "exclusive_license",
        "starts_on": starts_on.isoformat(),
        "filing_due": rules.add_months(starts_on, 3).isoformat(),
        "ended_on": None,
        "royalty": None,
        "status": "pending",
        "filing_number": None,
        "filed_at": None,
        "overdue": False,
    }
    for reader in (case.seller, case.buyer, case.op):
        r = await client.get(f"{API}/licence-records/{licence['id']}", headers=reader.headers)
        assert (r.status_code, r.json()) == (200, licence)
        for path in ("licence-records", "licences"):
            for params in ({}, {"deal_id": case.id}, {"patent_id": case.patent_ids[0]}):
                r = await client.get(f"{API}/{path}", params=params, headers=reader.headers)
                assert r.json()["items"] == [licence], (path, params)
            for params in ({"deal_id": NOBODY}, {"patent_id": NOBODY}, {"trial_id": NOBODY}):
                r = await client.get(f"{API}/{path}", params=params, headers=reader.headers)
                assert r.json()["items"] == [], (path, params)
    r = await client.get(f"{API}/licence-records/{licence['id']}", headers=case.outsider.headers)
    assert fh.code_of(r) == (404, "not_found")
    for path in ("licence-records", "licences"):
        assert (await client.get(f"{API}/{path}", headers=case.outsider.headers)).json()["items"] == []
        r = await client.get(f"{API}/{path}", params={"patent_id": "x"}, headers=case.op.headers)
        assert fh.code_of(r) == (422, "validation_error")

    path = f"licence-records/{licence['id']}/filed"
    created_at = h.at(licence["created_at"])
    now = await t.now(client)
    for body in (
        {"filing_number": "L-1", "filed_at": (created_at - timedelta(seconds=1)).isoformat()},
        {"filing_number": "L-1", "filed_at": (now + timedelta(hours=1)).isoformat()},
        {"filing_number": "", "filed_at": now.isoformat()},
        {"filing_number": "L" * 65, "filed_at": now.isoformat()},
        {"filing_number": "L-1"},
    ):
        r = await fh.post(client, case.buyer, path, body)
        assert fh.code_of(r) == (422, "validation_error"), (body, r.text)
    body = {"filing_number": "L" * 64, "filed_at": created_at.isoformat()}
    r = await fh.post(client, case.outsider, path, body)
    assert fh.code_of(r) == (404, "not_found")
    r = await fh.post(client, case.seller, path, body)
    assert r.status_code == 200, r.text
    assert r.json() == {
        **licence,
        "status": "filed",
        "filing_number": "L" * 64,
        "filed_at": r.json()["filed_at"],
        "updated_at": r.json()["updated_at"],
    }
    assert h.at(r.json()["filed_at"]) == created_at
    for who in (case.buyer, case.op):
        r = await fh.post(client, who, path, body)
        assert fh.code_of(r) == (409, "invalid_state")
    for reader in (case.seller, case.buyer, case.op):
        assert await fh.chain(client, reader, "licence_record", licence["id"]) == ["created", "filed"]
    await assert_invariants(db, all_resolved=True)


@pytest.mark.parametrize("who", ["op", "buyer"])
async def test_an_operator_or_the_licensee_files_with_an_idempotency_key(
    client: httpx.AsyncClient, db: Database, who: str
) -> None:
    case = await fh.settled(client, db, kind="nonexclusive_license")
    licence = await fh.licence_of(client, case)
    actor = getattr(case, who)
    body = {"filing_number": "L-9", "filed_at": (await t.now(client)).isoformat()}
    path = f"licence-records/{licence['id']}/filed"
    first = await fh.post(client, actor, path, body, **{"Idempotency-Key": f"file-licence-{who}"})
    again = await fh.post(client, actor, path, body, **{"Idempotency-Key": f"file-licence-{who}"})
    assert first.status_code == again.status_code == 200, again.text
    assert first.json() == again.json() and first.json()["status"] == "filed"
    assert await fh.chain(client, case.op, "licence_record", licence["id"]) == ["created", "filed"]


async def test_a_trials_licence_record_has_no_deal_and_is_found_by_its_trial(
    client: httpx.AsyncClient, db: Database
) -> None:
    """A trial's licence record (SPEC §18.3) is made by ``create_licence_record`` with ``trial_id`` and no deal:
    ``licence_filing_due`` names the trial, ``?trial_id=`` finds it, and it becomes overdue like any other."""
    case = await fh.settled(client, db, kind="nonexclusive_license")
    trial_id = uuid.uuid4()
    now = await business_now(db)
    starts_on = fh.shanghai_day(now)
    async with db.transaction() as session:
        made = await service.create_licence_record(
            session,
            deal_id=None,
            trial_id=trial_id,
            licensor_org_id=uuid.UUID(case.seller.org_id),
            licensee_org_id=uuid.UUID(case.buyer.org_id),
            patent_ids=[uuid.UUID(case.patent_ids[0])],
            kind="nonexclusive_license",
            starts_on=starts_on,
            ends_on=starts_on + timedelta(days=90),
            term_months=3,
            territory=None,
            field_of_use=None,
            royalty=None,
            at=now,
        )
    r = await client.get(
        f"{API}/licence-records", params={"trial_id": str(trial_id)}, headers=case.buyer.headers
    )
    (licence,) = r.json()["items"]
    assert (
        licence["id"] == str(made.id) and licence["deal_id"] is None and licence["trial_id"] == str(trial_id)
    )
    assert licence["filing_due"] == rules.add_months(starts_on, 3).isoformat()
    parties = (case.seller, case.buyer)
    due = {
        "licence_id": licence["id"],
        "deal_id": None,
        "trial_id": str(trial_id),
        "filing_due": licence["filing_due"],
    }
    told = await nh.received(client, parties, "licence_filing_due")
    assert all(due in told[p.org_id] for p in parties)

    await t.advance_past(
        client,
        datetime.combine(date.fromisoformat(licence["filing_due"]), time(0), SHANGHAI),
        margin=86400 + 60,
    )
    r = await client.get(f"{API}/licence-records/{licence['id']}", headers=case.seller.headers)
    assert r.json()["overdue"] is True
    overdue = await nh.received(client, parties, "licence_filing_overdue")
    assert all(due in overdue[p.org_id] for p in parties)
