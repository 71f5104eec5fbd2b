"""The deal state machine (SPEC §18.1): every move of the table, made through the one mover, succeeds (status,
version, audit event, notification); every other (from, to, by) is 409 ``invalid_state`` and leaves the deal
as it was; a guard that no longer holds loses the conditional UPDATE; ``completed`` counts as settled."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import false, select, update

from app.deals import rules
from app.deals import service as deals
from app.deals.rules import By
from app.kit.db import Database
from app.kit.errors import InvalidState
from app.models.audit import AuditEvent
from app.models.notifications import Notification
from app.models.trading import Deal, DealSource, DealStatus
from tests import trading as t
from tests.world import World, org

pytestmark = pytest.mark.world(seller=org("university"), buyer=org())

S = DealStatus
STEPPED = "kind_with_completion_steps"  # a kind that is a new row with a completion step (like equity's)

# SPEC §18.1's table, written out here (not read from the code): (from, to, by).
ALLOWED = {
    (S.public_notice, S.awaiting_signatures, By.sweeper),  # the notice over, no objection pending
    (S.public_notice, S.awaiting_signatures, By.operator),  # the last pending objection dismissed after that
    (S.public_notice, S.cancelled, By.operator),  # an objection upheld
    (S.awaiting_signatures, S.awaiting_payment, By.parties),  # the second signature
    (S.awaiting_signatures, S.defaulted, By.sweeper),  # sign_by, the buyer has not signed
    (S.awaiting_signatures, S.cancelled, By.sweeper),  # sign_by, only the seller has not signed
    (S.awaiting_payment, S.paid, By.buyer),
    (S.awaiting_payment, S.defaulted, By.sweeper),  # pay_by
    (S.paid, S.settled, By.operator),
    (S.paid, S.settled, By.open_licence),  # an open licence taken: paid and settled at once
    (S.settled, S.completed, By.rules),  # every completion step done (kinds with steps only)
}
# What entering a status tells whom (SPEC §17.4).
NOTICES = {S.awaiting_signatures: ("deal_signing_due", 2), S.awaiting_payment: ("payment_due", 1)}
KINDS_TODAY = ("assignment", "exclusive_license", "sole_license", "nonexclusive_license")


@pytest.fixture
def stepped_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    row = dataclasses.replace(rules.KINDS["assignment"], completion_steps=("registered",))
    monkeypatch.setitem(rules.KINDS, STEPPED, row)  # type: ignore[arg-type]


async def _deal(
    db: Database, world: World, status: DealStatus, at: datetime, kind: str = "assignment"
) -> Deal:
    async with db.transaction() as session:
        deal = Deal(
            id=uuid.uuid4(),
            listing_id=None,
            buyer_org_id=uuid.UUID(world.buyer.org_id),
            seller_org_id=uuid.UUID(world.seller.org_id),
            source=DealSource.offer,
            transaction_kind=kind,
            status=status,
            price=100_000,
            cash_price=100_000,
            buyer_fee=1_000,
            seller_fee=1_000,
            deposit_applied=0,
            amount_due=101_000,
            created_at=at,
            updated_at=at,
        )
        session.add(deal)
    return deal


async def _chain(db: Database, deal_id: uuid.UUID) -> list[str]:
    async with db.transaction() as session:
        rows = await session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.entity_type == "deal", AuditEvent.entity_id == str(deal_id))
            .order_by(AuditEvent.seq)
        )
        return list(rows.all())


async def _told(db: Database, deal_id: uuid.UUID) -> dict[str, int]:
    """How many organizations were told what about the deal."""
    async with db.transaction() as session:
        rows = (await session.scalars(select(Notification))).all()
    told: dict[str, int] = {}
    for n in rows:
        if n.data.get("deal_id") == str(deal_id):
            told[n.kind] = told.get(n.kind, 0) + 1
    return told


def test_the_table_is_the_specs() -> None:
    assert {(a, b, by) for (a, b), bys in rules.MOVES.items() for by in bys} == ALLOWED
    assert set(rules.KINDS) == {*KINDS_TODAY, "equity_contribution"}
    assert all(not rules.KINDS[k].completion_steps for k in KINDS_TODAY)  # settled is final for them
    equity = rules.KINDS["equity_contribution"]  # SPEC §18.1's new row
    assert (equity.contract_title, equity.cash, equity.settlement) == (
        "专利权作价入股协议",
        rules.CashRule.fees,
        rules.SettlementEffect.transfer,
    )
    assert equity.completion_steps == ("assignment", "equity_registration")


def test_an_equity_contribution_pays_only_the_fees() -> None:
    """max(buyer fee + seller fee − deposit, 0), and no price in money (SPEC §18.1)."""
    due = rules.amount_due
    assert due("equity_contribution", price=100_000, deposit=0, buyer_fee=1_500, seller_fee=900) == 2_400
    assert due("equity_contribution", price=100_000, deposit=2_000, buyer_fee=1_500, seller_fee=900) == 400
    assert due("equity_contribution", price=100_000, deposit=10_000, buyer_fee=1_500, seller_fee=900) == 0
    assert rules.cash_price("equity_contribution", 100_000) == 0
    assert rules.cash_price("assignment", 100_000) == 100_000


def test_how_a_deal_starts() -> None:
    """Only an offer deal with a public-institution seller starts in public notice; an open licence's deal is
    made paid and settled in the same request; every other deal awaits signatures."""
    start = rules.initial_status
    assert start(DealSource.offer, seller_is_public_institution=True) == S.public_notice
    for source in (DealSource.listing, DealSource.auction):
        assert start(source, seller_is_public_institution=True) == S.awaiting_signatures
    assert start(DealSource.offer, seller_is_public_institution=False) == S.awaiting_signatures
    assert start(DealSource.open_license, seller_is_public_institution=True) == S.paid


@pytest.mark.parametrize("kind", KINDS_TODAY)
def test_cash_due_of_todays_kinds(kind: str) -> None:
    """max(price − deposit, 0) + buyer fee: a deposit above the price is not owed back here (settlement
    returns it), and the seller's fee is never the buyer's."""
    due = rules.amount_due
    assert due(kind, price=100_000, deposit=10_000, buyer_fee=1_500, seller_fee=900) == 91_500
    assert due(kind, price=5_000, deposit=10_000, buyer_fee=500, seller_fee=500) == 500


def test_completion_needs_steps_and_every_step(stepped_kind: None) -> None:
    assert not rules.completion_done("assignment", frozenset())  # no steps: settled is final
    assert not rules.completion_done(STEPPED, frozenset())
    assert rules.completion_done(STEPPED, frozenset({"registered"}))


async def test_every_allowed_move_succeeds_through_the_mover(
    client: httpx.AsyncClient, db: Database, world: World, stepped_kind: None
) -> None:
    at = await t.now(client)
    for current, target, by in sorted(ALLOWED):
        kind = STEPPED if target == S.completed else "assignment"
        deal = await _deal(db, world, current, at, kind)
        async with db.transaction() as session:
            held = await session.get(Deal, deal.id)
            assert held is not None
            moved = await deals.move(
                session, held, target, by=by, actor="system", at=at, action=f"to_{target}", data={"n": 1}
            )
            assert moved is True and held.status == target and held.version == 2, (current, target, by)
        async with db.transaction() as session:
            row = await session.get(Deal, deal.id)
            assert row is not None and (row.status, row.version) == (target, 2)
        assert await _chain(db, deal.id) == [f"to_{target}"]
        assert await _told(db, deal.id) == dict([NOTICES[target]] if target in NOTICES else []), (
            current,
            target,
        )


async def test_every_other_move_is_refused(
    client: httpx.AsyncClient, db: Database, world: World, stepped_kind: None
) -> None:
    at = await t.now(client)
    refused = 0
    for current in S:
        for kind in (*KINDS_TODAY, STEPPED):
            deal = await _deal(db, world, current, at, kind)
            async with db.transaction() as session:
                held = await session.get(Deal, deal.id)
                assert held is not None
                for target in S:
                    for by in By:
                        if (current, target, by) in ALLOWED and (target != S.completed or kind == STEPPED):
                            continue
                        with pytest.raises(InvalidState) as refusal:
                            await deals.move(
                                session, held, target, by=by, actor="system", at=at, action="refused"
                            )
                        assert (refusal.value.status, refusal.value.code) == (409, "invalid_state")
                        refused += 1
            async with db.transaction() as session:
                row = await session.get(Deal, deal.id)
                assert row is not None and (row.status, row.version) == (current, 1)
            assert await _chain(db, deal.id) == []
    # Every (from, to, by) for each kind but the allowed ones: today's kinds never complete.
    total = len(S) * len(S) * len(By)
    assert refused == 4 * (total - (len(ALLOWED) - 1)) + (total - len(ALLOWED))


async def test_a_guard_that_no_longer_holds_loses(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """The mover is one conditional UPDATE on the status read (and ``expect_version``, and the caller's
    ``where``): a deal moved meanwhile by someone else is not moved again."""
    at = await t.now(client)
    deal = await _deal(db, world, S.awaiting_payment, at)
    async with db.transaction() as session:
        held = await session.get(Deal, deal.id)
        assert held is not None
        # another transaction's payment, as this one's stale copy does not show it
        await session.execute(
            update(Deal)
            .where(Deal.id == deal.id)
            .values(status=S.paid, version=Deal.version + 1)
            .execution_options(synchronize_session=False)
        )
        assert held.status == S.awaiting_payment
        lost = await deals.move(
            session,
            held,
            S.defaulted,
            by=By.sweeper,
            actor="system",
            at=at,
            action="defaulted",
            must_win=False,
        )
        assert lost is False and held.status == S.paid and held.version == 2
        with pytest.raises(InvalidState):  # a caller that must win is told
            await deals.move(
                session, held, S.settled, by=By.operator, actor="x", at=at, action="s", where=[false()]
            )
    other = await _deal(db, world, S.awaiting_payment, at)
    async with db.transaction() as session:
        held = await session.get(Deal, other.id)
        assert held is not None
        lost = await deals.move(
            session,
            held,
            S.paid,
            by=By.buyer,
            actor="x",
            at=at,
            action="paid",
            expect_version=7,
            must_win=False,
        )
        assert lost is False and held.status == S.awaiting_payment
    assert await _chain(db, deal.id) == [] and await _chain(db, other.id) == []


async def test_completed_counts_as_settled(client: httpx.AsyncClient, db: Database, world: World) -> None:
    """Turnover and reward plans count a completed deal as a settled one (SPEC §18.1)."""
    settled_at = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
    deal = await _deal(db, world, S.completed, settled_at)
    async with db.transaction() as session:
        row = await session.get(Deal, deal.id)
        assert row is not None
        row.settled_at = settled_at
    r = await client.get("/api/v1/stats/turnover", params={"group_by": "transaction_kind"})
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [{"key": "assignment", "deals": 1, "amount": "1000.00", "royalties": "0.00"}]
    # net income 990.00 (price 1,000.00 less the seller's fee 10.00): a pool of 750.00 meets Zhejiang's rules
    allocations = [
        {"name": "张三", "role": "main_contributor", "amount": "700.00"},
        {"name": "李四", "role": "transfer_staff", "amount": "50.00"},
    ]
    r = await client.post(
        f"/api/v1/deals/{deal.id}/reward-plan",
        json={"costs": "0.00", "allocations": allocations},
        headers=world.seller.headers,
    )
    assert r.status_code == 201, r.text  # recorded "after settlement": a completed deal qualifies
