"""Test steps for royalty reports (SPEC §18.4): a royalty-bearing open licence taken, its reports, the clock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.kit.db import Database
from app.kit.workdays import SHANGHAI
from app.models.ledger import AccountKind, LedgerAccount
from app.models.settlement import LicenceRecord
from tests import factories as f
from tests import trading as t
from tests.licensing import helpers as lic


@dataclass
class RoyaltyLicence:
    op: f.Actor
    licensor: f.Actor
    licensee: f.Actor
    declaration: dict[str, Any]
    grant: dict[str, Any]
    licence_id: str


async def royalty_licence(
    client: httpx.AsyncClient,
    db: Database,
    op: f.Actor,
    licensor: f.Actor,
    licensee: f.Actor,
    *,
    fee_type: str = "royalty",
    rate: str = "0.05",
    period: str | None = "month",
    term_months: int = 36,
) -> RoyaltyLicence:
    """A declared open licence of ``licensor`` bearing royalties, taken by ``licensee`` today."""
    overrides: dict[str, Any] = {
        "fee_type": fee_type,
        "royalty_rate": rate,
        "royalty_base": "许可产品净销售额",
        "term_months": term_months,
        "royalty_period": period,
    }
    if fee_type == "royalty":
        overrides["lump_sum"] = None
    declaration = await lic.declared(client, op, licensor, **overrides)
    r = await client.post(f"/api/v1/open-licenses/{declaration['id']}/licenses", headers=licensee.headers)
    assert r.status_code == 201, r.text
    grant = r.json()
    async with db.read() as session:
        licence_id = await session.scalar(
            select(LicenceRecord.id).where(LicenceRecord.deal_id == uuid.UUID(grant["deal_id"]))
        )
    assert licence_id is not None
    return RoyaltyLicence(op, licensor, licensee, declaration, grant, str(licence_id))


async def reports(client: httpx.AsyncClient, actor: f.Actor, licence_id: str) -> list[dict[str, Any]]:
    """Every report of the licence record, oldest period first (the API lists the latest first)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(
            f"/api/v1/licence-records/{licence_id}/royalty-reports", params=params, headers=actor.headers
        )
        assert r.status_code == 200, r.text
        items.extend(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return list(reversed(items))


def shanghai_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def first_of_next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


async def advance_to(client: httpx.AsyncClient, instant: datetime, margin: float = 1.0) -> datetime:
    """The business clock just after ``instant`` (every deadline before it processed)."""
    return await t.advance_past(client, instant, margin)


async def first_report(client: httpx.AsyncClient, case: RoyaltyLicence) -> dict[str, Any]:
    """The first period's report: the clock moved just past the end of the current month (monthly)."""
    today = shanghai_day(await t.now(client))
    await advance_to(client, midnight(first_of_next_month(today)))
    found = await reports(client, case.licensee, case.licence_id)
    assert found, "no report after the first period ended"
    return found[0]


async def file(
    client: httpx.AsyncClient, actor: f.Actor, report_id: str, base: str, **headers: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/royalty-reports/{report_id}/file",
        json={"base_amount": base},
        headers={**actor.headers, **headers},
    )


async def pay(client: httpx.AsyncClient, actor: f.Actor, report_id: str, **headers: str) -> httpx.Response:
    return await client.post(f"/api/v1/royalty-reports/{report_id}/pay", headers={**actor.headers, **headers})


async def settle(client: httpx.AsyncClient, actor: f.Actor, report_id: str, **headers: str) -> httpx.Response:
    return await client.post(
        f"/api/v1/royalty-reports/{report_id}/settle", headers={**actor.headers, **headers}
    )


async def escrow_of(db: Database, report_id: str) -> int:
    async with db.read() as session:
        value = await session.scalar(
            select(LedgerAccount.balance).where(
                LedgerAccount.kind == AccountKind.escrow, LedgerAccount.owner_id == uuid.UUID(report_id)
            )
        )
    return int(value or 0)


DAY = timedelta(days=1)
