"""A co-owned patent's royalties (SPEC §18.4, §18.5): settlement splits the licensor's net among the owners by
their shares — every owner but the licensor rounded down to the fen, the licensor the rest; an inventor's part
to its institution's payable-to-inventors account — in the one settlement entry."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from app.kit.money import parse_yuan
from app.models.ledger import AccountKind, LedgerAccount
from app.models.settlement import LicenceRecord
from tests import trading as t
from tests.invariants import assert_invariants
from tests.licensing import helpers as lic
from tests.owners import helpers as o
from tests.royalties import helpers as h
from tests.world import org

pytestmark = pytest.mark.world(uni=org("university"), co=org(), company=org(funds="10000.00"))


async def _payable(db, org_id: str) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        value = await session.scalar(
            select(LedgerAccount.balance).where(
                LedgerAccount.kind == AccountKind.payable_to_inventors,
                LedgerAccount.owner_id == uuid.UUID(org_id),
            )
        )
    return int(value or 0)


async def test_settlement_splits_the_net_among_the_owners(client: httpx.AsyncClient, db, world) -> None:
    op, uni, co, company = world
    p = await lic.patent(client, uni)
    await o.owners_ok(
        client,
        uni,
        p["id"],
        [o.org_owner(uni, "60"), o.org_owner(co, "30"), o.inventor("张明", o.id_number(7), "10")],
    )
    declaration = await lic.declared(
        client,
        op,
        uni,
        p["id"],
        fee_type="royalty",
        lump_sum=None,
        royalty_rate="0.05",
        royalty_period="month",
    )
    r = await client.post(f"/api/v1/open-licenses/{declaration['id']}/licenses", headers=company.headers)
    assert r.status_code == 201, r.text
    async with db.read() as session:
        licence_id = await session.scalar(
            select(LicenceRecord.id).where(LicenceRecord.deal_id == uuid.UUID(r.json()["deal_id"]))
        )
    case = h.RoyaltyLicence(op, uni, company, declaration, r.json(), str(licence_id))
    report = await h.first_report(client, case)
    # Royalty 333.33 (6,666.66 × 0.05 = 333.333); each fee 2% of it, 6.67; the net 326.66.
    filed = await h.file(client, company, report["id"], "6666.66")
    assert filed.status_code == 200, filed.text
    assert (filed.json()["royalty"], filed.json()["licensor_fee"]) == ("333.33", "6.67")
    assert (await h.pay(client, company, report["id"])).status_code == 200
    before = {a.org_id: parse_yuan((await t.balance(client, a))["available"]) for a in (uni, co)}
    assert (await h.settle(client, op, report["id"])).status_code == 200
    net = 33333 - 667
    co_part, inventor_part = net * 30 // 100, net * 10 // 100  # 9,799 and 3,266 fen
    after = {a.org_id: parse_yuan((await t.balance(client, a))["available"]) for a in (uni, co)}
    assert after[co.org_id] - before[co.org_id] == co_part
    assert await _payable(db, uni.org_id) == inventor_part
    assert after[uni.org_id] - before[uni.org_id] == net - co_part - inventor_part
    r = await client.get(
        "/api/v1/audit-events",
        params={"entity_type": "royalty_report", "entity_id": report["id"]},
        headers=op.headers,
    )
    settled = r.json()["items"][-1]
    assert settled["action"] == "settled"
    assert sorted(part["amount"] for part in settled["data"]["parts"]) == sorted(
        [co_part, inventor_part, net - co_part - inventor_part]
    )
    await assert_invariants(db)
