"""Pure rules of technology-contract registration (SPEC §18.7).

A patent deal is a technology contract of 民法典: an assignment or an equity contribution transfers the
technology (技术转让), a licence of any kind licenses it (技术许可). The other categories (development,
consulting, service) are never a patent deal's. A filing is registered or rejected once; after a rejection the
seller files anew (a new filing)."""

from __future__ import annotations

from app.models.techcontracts import TechContractCategory, TechContractStatus

# SPEC §18.1: wherever settled deals count, ``completed`` counts as settled. Plain values, so the rule holds
# whether or not the deal states already name ``completed``.
SETTLED_DEAL_STATUSES: frozenset[str] = frozenset({"settled", "completed"})

CATEGORY_OF_KIND: dict[str, TechContractCategory] = {
    "assignment": TechContractCategory.technology_transfer,
    "equity_contribution": TechContractCategory.technology_transfer,
    "exclusive_license": TechContractCategory.technology_licensing,
    "sole_license": TechContractCategory.technology_licensing,
    "nonexclusive_license": TechContractCategory.technology_licensing,
}

# A filing's moves (by operators); a rejected filing stays rejected, the seller files anew.
TRANSITIONS: dict[TechContractStatus, frozenset[TechContractStatus]] = {
    TechContractStatus.filed: frozenset({TechContractStatus.registered, TechContractStatus.rejected}),
    TechContractStatus.registered: frozenset(),
    TechContractStatus.rejected: frozenset(),
}


def category_for(transaction_kind: str) -> TechContractCategory | None:
    """The one category a deal of this kind is registered under; None for a kind that is no patent deal."""
    return CATEGORY_OF_KIND.get(transaction_kind)


def is_settled(deal_status: str) -> bool:
    return deal_status in SETTLED_DEAL_STATUSES


def may_file(current: TechContractStatus | None) -> bool:
    """Whether the seller may file, given the deal's latest filing: none yet, or the latest was rejected."""
    return current is None or current == TechContractStatus.rejected


def may_move(current: TechContractStatus, new: TechContractStatus) -> bool:
    return new in TRANSITIONS[current]
