"""Test steps for payment and settlement: deals made through the public API (an accepted offer, or the one
registrant of a listed listing), moved to ``awaiting_payment``, paid and settled.

``awaiting_payment`` signs the deal's contract by both parties through the contracts API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from app.kit.db import Database
from app.kit.money import format_fen, parse_yuan
from app.models.ledger import EXCHANGE_OWNER, AccountKind, LedgerAccount
from app.models.trading import Deal, DealStatus
from tests import factories as f
from tests import trading as t
from tests.negotiation import helpers as n
from tests.world import build, org

LICENSE = {"term_months": 36, "territory": "中国大陆", "field_of_use": "动力电池"}
LICENCE_KINDS = ("exclusive_license", "sole_license", "nonexclusive_license")


@dataclass
class DealCase:
    op: f.Actor
    seller: f.Actor
    buyer: f.Actor
    outsider: f.Actor
    listing: dict[str, Any]
    deal: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.deal["id"])

    @property
    def patent_ids(self) -> list[str]:
        return [str(p["id"]) for p in self.listing["patents"]]


async def parties(
    client: httpx.AsyncClient, db: Database, *, seller_kind: str = "enterprise"
) -> tuple[f.Actor, ...]:
    """(operator, seller, buyer, outsider): the test world (tests/world.py) of a deal."""
    return tuple(await build(client, db, seller=org(seller_kind), buyer=org(), outsider=org()))


def _listing_terms(kind: str) -> dict[str, Any]:
    return {"transaction_kind": kind, "license": LICENSE if kind in LICENCE_KINDS else None}


async def offer_deal(
    client: httpx.AsyncClient,
    db: Database,
    *,
    kind: str = "assignment",
    price: str = "500000.00",
    patents: int = 1,
    actors: tuple[f.Actor, ...] | None = None,
) -> DealCase:
    """A negotiated listing of an enterprise seller (no public notice), the buyer's offer accepted: a deal
    without a deposit, ``awaiting_signatures``."""
    op, seller, buyer, outsider = actors or await parties(client, db)
    listing = await t.published_listing(
        client, op, seller, patents=patents, price=price, **_listing_terms(kind)
    )
    offer = await n.offer(client, buyer, listing["id"], price)
    accepted = await n.move(client, seller, offer["id"], "accept")
    deal = await get(client, op, accepted["deal_id"])
    return DealCase(op, seller, buyer, outsider, listing, deal)


async def listed_deal(
    client: httpx.AsyncClient,
    db: Database,
    *,
    kind: str = "assignment",
    price: str = "100000.00",
    deposit: str = "10000.00",
    patents: int = 1,
    actors: tuple[f.Actor, ...] | None = None,
) -> DealCase:
    """A listed listing with one registrant (deposit held): at the end of the listing period the registrant
    gets a deal at the listed price, its deposit to be applied at payment."""
    op, seller, buyer, outsider = actors or await parties(client, db)
    await t.fund(client, op, buyer, deposit)
    listing = await t.published_listing(
        client,
        op,
        seller,
        patents=patents,
        pricing_mode="listed",
        price=price,
        deposit=deposit,
        **_listing_terms(kind),
    )
    r = await client.post(f"/api/v1/listings/{listing['id']}/registrations", headers=buyer.headers)
    assert r.status_code == 201, r.text
    await t.advance_past(client, listing["listing_ends_at"])
    async with db.read() as session:
        deal_id = await session.scalar(select(Deal.id).where(Deal.listing_id == uuid.UUID(listing["id"])))
    assert deal_id is not None
    return DealCase(op, seller, buyer, outsider, listing, await get(client, op, str(deal_id)))


async def sign(client: httpx.AsyncClient, actor: f.Actor, contract_id: str) -> None:
    r = await client.get(f"/api/v1/contracts/{contract_id}", headers=actor.headers)
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/v1/contracts/{contract_id}/sign", json={"sha256": r.json()["sha256"]}, headers=actor.headers
    )
    assert r.status_code == 200, r.text


async def awaiting_payment(client: httpx.AsyncClient, db: Database, case: DealCase) -> dict[str, Any]:
    """Both parties sign the deal's contract through the API: the deal awaits payment, ``pay_by`` 5 working
    days later."""
    assert case.deal["status"] == "awaiting_signatures", case.deal["status"]
    contract_id = case.deal["contract_id"]
    assert contract_id is not None
    await sign(client, case.seller, contract_id)
    await sign(client, case.buyer, contract_id)
    case.deal = await get(client, case.op, case.id)
    assert case.deal["status"] == "awaiting_payment" and case.deal["pay_by"] is not None
    return case.deal


async def fund_amount_due(client: httpx.AsyncClient, case: DealCase) -> None:
    await t.fund(client, case.op, case.buyer, case.deal["amount_due"])


async def paid(client: httpx.AsyncClient, db: Database, case: DealCase) -> dict[str, Any]:
    await awaiting_payment(client, db, case)
    await fund_amount_due(client, case)
    r = await pay(client, case.buyer, case.id)
    assert r.status_code == 200, r.text
    case.deal = r.json()
    return case.deal


async def settled(client: httpx.AsyncClient, db: Database, case: DealCase) -> dict[str, Any]:
    await paid(client, db, case)
    r = await settle(client, case.op, case.id)
    assert r.status_code == 200, r.text
    case.deal = r.json()
    return case.deal


async def get(client: httpx.AsyncClient, actor: f.Actor, deal_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/deals/{deal_id}", headers=actor.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def pay(client: httpx.AsyncClient, actor: f.Actor, deal_id: str, **headers: str) -> httpx.Response:
    return await client.post(f"/api/v1/deals/{deal_id}/pay", headers={**actor.headers, **headers})


async def settle(client: httpx.AsyncClient, actor: f.Actor, deal_id: str, **headers: str) -> httpx.Response:
    return await client.post(f"/api/v1/deals/{deal_id}/settle", headers={**actor.headers, **headers})


async def escrow_balance(db: Database, deal_id: str) -> int:
    async with db.read() as session:
        value = await session.scalar(
            select(LedgerAccount.balance).where(
                LedgerAccount.kind == AccountKind.escrow, LedgerAccount.owner_id == uuid.UUID(deal_id)
            )
        )
    return int(value or 0)


async def fee_income(db: Database) -> int:
    async with db.read() as session:
        value = await session.scalar(
            select(LedgerAccount.balance).where(
                LedgerAccount.kind == AccountKind.fee_income, LedgerAccount.owner_id == EXCHANGE_OWNER
            )
        )
    return int(value or 0)


async def settled_escrows_are_zero(db: Database) -> None:
    """DESIGN.md "Money": the escrow of every settled deal is zero."""
    async with db.read() as session:
        ids = (await session.scalars(select(Deal.id).where(Deal.status == DealStatus.settled))).all()
    for deal_id in ids:
        assert await escrow_balance(db, str(deal_id)) == 0, deal_id


def yuan(value: str) -> int:
    return parse_yuan(value)


def money(fen: int) -> str:
    return format_fen(fen)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def code_of(r: httpx.Response) -> str:
    return str(r.json().get("code"))
