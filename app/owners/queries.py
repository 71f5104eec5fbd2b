"""Read-only co-ownership look-ups other domains use (patents, listings, pledges, settlement, exports): who owns a
patent and with what share, which use rights are in force, and the patent's ``owners``/``use_rights`` as the API
shows them (SPEC §18.5). Models and pure rules only, so any service may import this without a cycle.

A patent without owner rows has one owner: its ``owner_org_id`` (the managing owner) with ``"100.00"``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.accounts import Organization
from app.models.owners import FULL_SHARE, Empowerment, EmpowermentForm, OwnerKind, PatentOwner
from app.models.patents import Patent
from app.owners import rules


def org_owner(org_id: uuid.UUID) -> ColumnElement[bool]:
    """The organization is an owner of ``Patent`` (SPEC §18.5: ``?owner_org_id=`` and visibility match any
    organization owner): the managing owner, or an organization among its owner rows."""
    return or_(
        Patent.owner_org_id == org_id,
        exists().where(PatentOwner.patent_id == Patent.id, PatentOwner.organization_id == org_id),
    )


async def owned_by(
    session: AsyncSession, patent_ids: Collection[uuid.UUID], org_id: uuid.UUID
) -> set[uuid.UUID]:
    """Which of these patents the organization is an owner of."""
    if not patent_ids:
        return set()
    rows = await session.scalars(select(Patent.id).where(Patent.id.in_(list(patent_ids)), org_owner(org_id)))
    return set(rows.all())


@dataclass(frozen=True)
class Owner:
    """One owner of a patent as the rules see it. ``id`` is None for the implied sole owner of a patent
    without owner rows."""

    id: uuid.UUID | None
    kind: OwnerKind
    organization_id: uuid.UUID | None
    name: str
    id_number_masked: str | None
    id_number_hash: str | None
    institution_org_id: uuid.UUID | None
    share_bp: int

    @property
    def identity(self) -> tuple[str, str]:
        """The same owner across patents and across replacements of the list."""
        if self.kind == OwnerKind.organization:
            return ("organization", str(self.organization_id))
        return ("inventor", str(self.id_number_hash))

    @property
    def credited_org_id(self) -> uuid.UUID:
        """The organization whose ledger receives this owner's part (an inventor's: its institution's)."""
        org = self.organization_id if self.kind == OwnerKind.organization else self.institution_org_id
        assert org is not None
        return org


def _owner(row: PatentOwner) -> Owner:
    return Owner(
        id=row.id,
        kind=OwnerKind(row.kind),
        organization_id=row.organization_id,
        name=row.name,
        id_number_masked=row.id_number_masked,
        id_number_hash=row.id_number_hash,
        institution_org_id=row.institution_org_id,
        share_bp=row.share_bp,
    )


async def owners_of(session: AsyncSession, patent_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[Owner]]:
    """Every patent's owners in their order; a patent without rows: its managing owner with 100.00 (named by the
    organization's current name)."""
    if not patent_ids:
        return {}
    ids = list(patent_ids)
    result: dict[uuid.UUID, list[Owner]] = {pid: [] for pid in ids}
    rows = await session.scalars(
        select(PatentOwner)
        .where(PatentOwner.patent_id.in_(ids))
        .order_by(PatentOwner.position, PatentOwner.id)
    )
    for row in rows.all():
        result[row.patent_id].append(_owner(row))
    bare = [pid for pid, owners in result.items() if not owners]
    if bare:
        for pid, org_id, name in await session.execute(
            select(Patent.id, Patent.owner_org_id, Organization.name)
            .join(Organization, Organization.id == Patent.owner_org_id)
            .where(Patent.id.in_(bare))
        ):
            result[pid] = [Owner(None, OwnerKind.organization, org_id, name, None, None, None, FULL_SHARE)]
    return result


async def use_rights_of(
    session: AsyncSession, patent_ids: Collection[uuid.UUID], *, today: date | None
) -> dict[uuid.UUID, list[Empowerment]]:
    """The use rights of these patents in force on ``today`` (``None``: every one not over yet by any day, i.e.
    all of them), oldest first."""
    if not patent_ids:
        return {}
    query = select(Empowerment).where(
        Empowerment.patent_id.in_(list(patent_ids)), Empowerment.form == EmpowermentForm.use_right
    )
    if today is not None:
        query = query.where(Empowerment.starts_on <= today, Empowerment.ends_on >= today)
    result: dict[uuid.UUID, list[Empowerment]] = {pid: [] for pid in patent_ids}
    for row in (await session.scalars(query.order_by(Empowerment.created_at, Empowerment.id))).all():
        result[row.patent_id].append(row)
    return result


def owner_entry(patent_id: uuid.UUID, owner: Owner) -> dict[str, Any]:
    """An owner as the API shows it (never the full ID number, which is not stored)."""
    entry: dict[str, Any] = {
        # The implied sole owner has no row; its id is derived, stable while it stays the sole owner.
        "id": owner.id or uuid.uuid5(patent_id, f"owner:{owner.organization_id}"),
        "kind": owner.kind,
        "name": owner.name,
        "share": rules.format_percent(owner.share_bp),
    }
    if owner.kind == OwnerKind.organization:
        entry["organization_id"] = owner.organization_id
    else:
        entry["id_number_masked"] = owner.id_number_masked
        entry["institution_org_id"] = owner.institution_org_id
    return entry


def use_right_entry(right: Empowerment) -> dict[str, Any]:
    return {
        "id": right.id,
        "holders": [{"name": h["name"], "id_number_masked": h["id_number_masked"]} for h in right.inventors],
        "decision_number": right.decision_number,
        "starts_on": right.starts_on,
        "ends_on": right.ends_on,
    }


@dataclass(frozen=True)
class PatentOwnership:
    owners: list[dict[str, Any]]
    use_rights: list[dict[str, Any]]


async def ownership_views(
    session: AsyncSession, patent_ids: Sequence[uuid.UUID], *, today: date
) -> dict[uuid.UUID, PatentOwnership]:
    """The ``owners`` and ``use_rights`` (in force today) of each patent, as the patent's API output shows them."""
    owners = await owners_of(session, patent_ids)
    rights = await use_rights_of(session, patent_ids, today=today)
    return {
        pid: PatentOwnership(
            owners=[owner_entry(pid, o) for o in owners.get(pid, [])],
            use_rights=[use_right_entry(r) for r in rights.get(pid, [])],
        )
        for pid in patent_ids
    }
