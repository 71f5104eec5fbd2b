"""The dossier's pure rules (SPEC §18.7): which event each item cites, the order, the digest."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from app.dossier import rules

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def event(
    entity_type: str, entity_id: str, seq: int, action: str, data: dict[str, Any], at: datetime = T0
) -> rules.Event:
    return rules.Event(entity_type, entity_id, seq, at, action, data, f"{entity_type}-{entity_id}-{seq}")


def test_ties_follow_the_table_then_entity_type_id_and_seq() -> None:
    deal = [
        event(
            "deal",
            "d",
            1,
            "created",
            {"source": "offer", "price": 100, "offer_id": "o", "notice_ends_at": "2026-12-10T02:00:00+00:00"},
        ),
        event(
            "deal",
            "d",
            2,
            "decision_recorded",
            {"body": "校长办公会", "number": "1", "decided_on": "2026-11-25", "document_sha256": "a" * 64},
        ),
    ]
    objections = [
        [
            event(
                "objection",
                "b",
                1,
                "filed",
                {"reason": "二", "organization_id": "secret", "status": "pending"},
            )
        ],
        [
            event(
                "objection",
                "a",
                1,
                "filed",
                {"reason": "一", "organization_id": "secret", "status": "pending"},
            )
        ],
    ]
    items = rules.items(rules.Chains(deal=deal, objections=objections))
    # All at one instant: decision (row 1) before pricing (row 3), public notice, then the objections by id.
    assert [(i.kind, i.event.entity_id) for i in items] == [
        ("decision_record", "d"),
        ("pricing", "d"),
        ("public_notice", "d"),
        ("objection", "a"),
        ("objection", "b"),
    ]
    assert all("secret" not in str(i.facts) for i in items)
    assert items[1].facts == {"source": "offer", "price": "1.00", "offer_id": "o"}


def test_time_comes_before_the_table() -> None:
    later = T0 + timedelta(seconds=1)
    deal = [
        event("deal", "d", 1, "created", {"source": "listing", "price": 100}, at=later),
        event("deal", "d", 2, "decision_recorded", {"number": "1"}, at=later + timedelta(seconds=1)),
    ]
    listing = [event("listing", "l", 3, "approved", {"price": 100, "pricing_mode": "listed"}, at=T0)]
    kinds = [i.kind for i in rules.items(rules.Chains(deal=deal, listing=listing))]
    assert kinds == ["listing", "pricing", "decision_record"]


def test_the_latest_event_of_each_singular_kind_and_every_one_of_each_plural_kind() -> None:
    deal = [
        event(
            "deal",
            "d",
            1,
            "created",
            {"source": "offer", "price": 100, "contract_id": "c", "contract_sha256": "1" * 64},
        ),
        event("deal", "d", 2, "valuation_recorded", {"valuation": {"value": 1}, "price_justification": None}),
        event("deal", "d", 3, "valuation_recorded", {"appraisal_waiver": {"decision_number": "7"}}),
        event(
            "deal", "d", 4, "contract_signed", {"party": "seller", "organization_id": "s", "sha256": "2" * 64}
        ),
        event(
            "deal", "d", 5, "contract_signed", {"party": "buyer", "organization_id": "b", "sha256": "2" * 64}
        ),
        event("deal", "d", 6, "contract_completed", {"contract_id": "c", "sha256": "2" * 64}),
        event("deal", "d", 7, "reward_plan_recorded", {"version": 1, "pool": 500, "status": "draft"}),
        event("deal", "d", 8, "reward_plan_replaced", {"version": 2, "pool": 700, "status": "draft"}),
        event("deal", "d", 9, "reward_plan_paid", {"version": 2, "pool": 700, "status": "paid"}),
    ]
    listing = [
        event(
            "listing", "l", 1, "owner_consent_recorded", {"organization_id": "o1", "document_sha256": None}
        ),
        event("listing", "l", 2, "owner_consent_recorded", {"owner_id": "p1", "document_sha256": "3" * 64}),
    ]
    items = rules.items(rules.Chains(deal=deal, listing=listing))
    by_kind: dict[str, list[rules.Item]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    assert [i.event.seq for i in by_kind["valuation"]] == [3]
    assert by_kind["valuation"][0].facts == {
        "report": None,
        "appraisal_waiver": {"decision_number": "7"},
        "price_justification": None,
    }
    reported = rules.items(rules.Chains(deal=deal[:2]))
    assert [i.facts for i in reported if i.kind == "valuation"] == [
        {"report": {"value": "0.01"}, "appraisal_waiver": None, "price_justification": None}
    ]
    assert [(i.event.seq, i.facts["sha256"]) for i in by_kind["contract"]] == [(6, "2" * 64)]
    assert [i.facts["party"] for i in by_kind["signature"]] == ["seller", "buyer"]
    assert [i.facts for i in by_kind["owner_consent"]] == [
        {"organization_id": "o1", "document_sha256": None},
        {"owner_id": "p1", "document_sha256": "3" * 64},
    ]
    assert by_kind["reward_plan"][0].facts == {"form": "cash", "version": 2, "pool": "7.00", "status": "paid"}
    assert "payment" not in by_kind and "certificate" not in by_kind and "public_notice" not in by_kind


def test_the_digest_is_the_sha256_of_the_hashes_joined_by_line_breaks() -> None:
    hashes = ["a" * 64, "b" * 64]
    assert rules.digest(hashes) == hashlib.sha256(("a" * 64 + "\n" + "b" * 64).encode()).hexdigest()
    assert rules.digest([]) == hashlib.sha256(b"").hexdigest()


def test_an_open_licence_deal_is_paid_by_the_event_that_made_it() -> None:
    made = {
        "source": "open_license",
        "open_license_id": "ol",
        "price": 10000,
        "amount_due": 10100,
        "status": "paid",
    }
    deal = [
        event("deal", "d", 1, "created", made),
        event("deal", "d", 2, "settled", {"certificate_number": "N1"}, at=T0 + timedelta(seconds=1)),
    ]
    items = rules.items(rules.Chains(deal=deal))
    assert [(i.kind, i.event.seq) for i in items] == [("pricing", 1), ("payment", 1), ("certificate", 2)]
    assert items[0].facts == {"source": "open_license", "price": "100.00", "open_license_id": "ol"}
    assert items[1].facts == {"amount_due": "101.00"}
    # A deal made awaiting signatures is not paid by its making.
    deal = [event("deal", "d", 1, "created", {**made, "status": "awaiting_signatures"})]
    assert [i.kind for i in rules.items(rules.Chains(deal=deal))] == ["pricing"]


def test_an_equity_reward_plan_shows_its_pool_as_a_percentage() -> None:
    deal = [
        event(
            "deal",
            "d",
            1,
            "reward_plan_recorded",
            {"version": 1, "form": "equity", "pool": 0, "pool_percent": 700, "status": "draft"},
        )
    ]
    (item,) = rules.items(rules.Chains(deal=deal))
    assert item.facts == {"form": "equity", "version": 1, "pool_percent": "7.00", "status": "draft"}
