"""Pure rules of a deal's dossier (安心屋, SPEC §18.7): which audit event states each fact, the items' order and
the digest. No I/O: ``app.dossier.service`` reads the chains and hands them here.

Every item cites the one audit event (§15) that recorded its facts, and takes its facts from that event's data
only (never from rows that may change later), so each item can be checked against the chain:

| kind | the event cited |
|---|---|
| ``decision_record`` | each ``decision_recorded`` of the deal's chain |
| ``listing`` | the listing's ``approved`` (its publication) |
| ``pricing`` | the deal's ``created`` |
| ``public_notice`` | the deal's ``created``, for a deal made into public notice |
| ``objection`` | each objection's latest event (its own chain) |
| ``owner_consent`` | each ``owner_consent_recorded`` of the listing's chain |
| ``valuation`` | the deal's latest ``valuation_recorded`` |
| ``contract`` | the deal's ``contract_completed`` (the text both signed); before it, the latest event stating the text |
| ``signature`` | each ``contract_signed`` |
| ``payment`` | the deal's ``paid`` (a deal made paid, an open licence's: its ``created``) |
| ``certificate`` | the deal's ``settled`` |
| ``reward_plan`` | the deal's latest reward-plan event (recorded, replaced, paid) |
| ``tech_contract_registration`` | the latest event of the deal's latest filing (its own chain) |

Facts show what §20 lets the seller see: no event's organization or user is copied into an item except the
parties' own (a signature's ``organization_id``) and a co-owner's consent; a losing bidder or an objector is
never named (an objection item has its id, reason and status only).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.kit.money import format_fen
from app.owners.rules import format_percent

# SPEC §18.7's table, in its row order: the tie-break of items recorded at the same instant.
KINDS = (
    "decision_record",
    "listing",
    "pricing",
    "public_notice",
    "objection",
    "owner_consent",
    "valuation",
    "contract",
    "signature",
    "payment",
    "certificate",
    "reward_plan",
    "tech_contract_registration",
)
_ROW = {kind: i for i, kind in enumerate(KINDS)}

REWARD_PLAN_ACTIONS = frozenset({"reward_plan_recorded", "reward_plan_replaced", "reward_plan_paid"})
# The ids that name how a deal was priced (one of them, by its source).
PRICING_IDS = ("offer_id", "auction_id", "open_license_id", "trial_id")
CONSENT_SUBJECTS = ("organization_id", "owner_id", "use_right_id")


@dataclass(frozen=True)
class Event:
    """An audit event as the dossier reads it."""

    entity_type: str
    entity_id: str
    seq: int
    at: datetime
    action: str
    data: Mapping[str, Any]
    hash: str


@dataclass(frozen=True)
class Item:
    kind: str
    event: Event
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def at(self) -> datetime:
        return self.event.at


@dataclass(frozen=True)
class Chains:
    """The chains a deal's dossier is built from, each in ``seq`` order."""

    deal: Sequence[Event]
    listing: Sequence[Event] = ()
    objections: Sequence[Sequence[Event]] = ()
    tech_contract_registration: Sequence[Event] = ()  # the deal's latest filing


def sort_key(item: Item) -> tuple[datetime, int, str, str, int]:
    """SPEC §18.7: items in ``at`` order, ties in the table's row order, then by entity type, id and seq."""
    e = item.event
    return (item.at, _ROW[item.kind], e.entity_type, e.entity_id, e.seq)


def ordered(items: Iterable[Item]) -> list[Item]:
    return sorted(items, key=sort_key)


def digest(hashes: Iterable[str]) -> str:
    """SHA-256 (hex) of the items' audit hashes joined with ``"\\n"``, in item order."""
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def _money(value: Any) -> str | None:
    return format_fen(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _instant(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _latest(events: Iterable[Event], actions: Iterable[str]) -> Event | None:
    wanted = frozenset(actions)
    found = None
    for e in events:
        if e.action in wanted:
            found = e
    return found


def _decisions(deal: Sequence[Event]) -> list[Item]:
    keys = ("body", "number", "decided_on", "document_sha256")
    return [
        Item("decision_record", e, {k: e.data.get(k) for k in keys})
        for e in deal
        if e.action == "decision_recorded"
    ]


def _listing(listing: Sequence[Event]) -> list[Item]:
    e = _latest(listing, ("approved",))
    if e is None:
        return []
    d = e.data
    facts = {
        "listing_id": e.entity_id,
        "pricing_mode": d.get("pricing_mode"),
        "transaction_kind": d.get("transaction_kind"),
        "price": _money(d.get("price")),
        "published_at": _instant(d.get("published_at")),
        "listing_ends_at": _instant(d.get("listing_ends_at")),
    }
    return [Item("listing", e, facts)]


def _pricing_and_notice(deal: Sequence[Event]) -> list[Item]:
    e = _latest(deal, ("created",))
    if e is None:
        return []
    d = e.data
    facts: dict[str, Any] = {"source": d.get("source"), "price": _money(d.get("price"))}
    facts.update({key: d[key] for key in PRICING_IDS if d.get(key) is not None})
    items = [Item("pricing", e, facts)]
    if d.get("notice_ends_at") is not None or d.get("status") == "public_notice":
        items.append(
            Item("public_notice", e, {"starts_at": e.at, "ends_at": _instant(d.get("notice_ends_at"))})
        )
    return items


def _objections(chains: Sequence[Sequence[Event]]) -> list[Item]:
    items = []
    for chain in chains:
        if not chain:
            continue
        e = chain[-1]
        status = e.data.get("status") or ("pending" if e.action == "filed" else e.action)
        # Never the objector (SPEC §20): the filing's organization and actor stay in the chain only.
        items.append(
            Item(
                "objection",
                e,
                {"objection_id": e.entity_id, "reason": e.data.get("reason"), "status": status},
            )
        )
    return items


def _consents(listing: Sequence[Event]) -> list[Item]:
    items = []
    for e in listing:
        if e.action != "owner_consent_recorded":
            continue
        facts = {k: e.data[k] for k in CONSENT_SUBJECTS if e.data.get(k) is not None}
        facts["document_sha256"] = e.data.get("document_sha256")
        items.append(Item("owner_consent", e, facts))
    return items


def _valuation(deal: Sequence[Event]) -> list[Item]:
    e = _latest(deal, ("valuation_recorded",))
    if e is None:
        return []
    d = e.data
    report = d.get("report", d.get("valuation"))
    if isinstance(report, dict) and "value" in report:
        report = {**report, "value": _money(report["value"])}
    facts = {
        "report": report,
        "appraisal_waiver": d.get("appraisal_waiver"),
        "price_justification": d.get("price_justification"),
    }
    return [Item("valuation", e, facts)]


def _contract(deal: Sequence[Event]) -> list[Item]:
    signed = _latest(deal, ("contract_completed",))
    if signed is not None:
        return [
            Item(
                "contract",
                signed,
                {"contract_id": signed.data.get("contract_id"), "sha256": signed.data.get("sha256")},
            )
        ]
    # Not signed by both yet: the latest event that states the contract's text (made with the deal, or
    # regenerated by a change of its terms).
    stated = None
    for e in deal:
        if e.data.get("contract_sha256") and e.data.get("contract_id"):
            stated = e
    if stated is None:
        return []
    facts = {"contract_id": stated.data["contract_id"], "sha256": stated.data["contract_sha256"]}
    return [Item("contract", stated, facts)]


def _signatures(deal: Sequence[Event]) -> list[Item]:
    return [
        Item(
            "signature",
            e,
            {
                "party": e.data.get("party"),
                "organization_id": e.data.get("organization_id"),
                "sha256": e.data.get("sha256"),
                "signed_at": e.at,
            },
        )
        for e in deal
        if e.action == "contract_signed"
    ]


def _payment(deal: Sequence[Event]) -> list[Item]:
    e = _latest(deal, ("paid",))
    if e is None:
        # A deal made paid (an open licence taken, SPEC §13) was paid by the request that made it.
        made = _latest(deal, ("created",))
        e = made if made is not None and made.data.get("status") == "paid" else None
    return [] if e is None else [Item("payment", e, {"amount_due": _money(e.data.get("amount_due"))})]


def _certificate(deal: Sequence[Event]) -> list[Item]:
    e = _latest(deal, ("settled",))
    if e is None:
        return []
    return [Item("certificate", e, {"number": e.data.get("certificate_number"), "settled_at": e.at})]


def _reward_plan(deal: Sequence[Event]) -> list[Item]:
    e = _latest(deal, REWARD_PLAN_ACTIONS)
    if e is None:
        return []
    d = e.data
    facts: dict[str, Any] = {"form": d.get("form") or "cash", "version": d.get("version")}
    if isinstance(d.get("pool_percent"), int):  # an equity plan's (SPEC §18.2), in basis points
        facts["pool_percent"] = format_percent(d["pool_percent"])
    else:
        facts["pool"] = _money(d.get("pool"))
    facts["status"] = d.get("status") or ("paid" if e.action == "reward_plan_paid" else "draft")
    return [Item("reward_plan", e, facts)]


def _tech_contract(chain: Sequence[Event]) -> list[Item]:
    if not chain:
        return []
    e = chain[-1]
    keys = ("category", "status", "registration_number")
    return [Item("tech_contract_registration", e, {k: e.data.get(k) for k in keys})]


def items(chains: Chains) -> list[Item]:
    """Every item of the dossier, in order (SPEC §18.7)."""
    found = [
        *_decisions(chains.deal),
        *_listing(chains.listing),
        *_pricing_and_notice(chains.deal),
        *_objections(chains.objections),
        *_consents(chains.listing),
        *_valuation(chains.deal),
        *_contract(chains.deal),
        *_signatures(chains.deal),
        *_payment(chains.deal),
        *_certificate(chains.deal),
        *_reward_plan(chains.deal),
        *_tech_contract(chains.tech_contract_registration),
    ]
    return ordered(found)
