"""Read-only open-licence look-ups used by other domains (listings, patents). Models only, so any service may
import this without an import cycle."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.policy import OpenLicense, OpenLicenseStatus


async def declared(session: AsyncSession, patent_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
    """Patents among these with a declared open licence (SPEC §13: no exclusive or sole licence meanwhile)."""
    if not patent_ids:
        return []
    rows = await session.scalars(
        select(OpenLicense.patent_id).where(
            OpenLicense.patent_id.in_(list(patent_ids)), OpenLicense.status == OpenLicenseStatus.declared
        )
    )
    return sorted(set(rows.all()))


def published() -> ColumnElement[bool]:
    """The declarations anyone may read: those that were declared (published by the patent office, SPEC §13),
    withdrawn since or not. One withdrawn before approval was never published and stays private to its owner
    and operators (SPEC §20). The one home of this rule (open-licence reads and patent visibility)."""
    return OpenLicense.declared_at.is_not(None)
