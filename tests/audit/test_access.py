"""Which audit events a party may read (SPEC §20 "Confidentiality"): the naming rule as a pure function, and
pages of a chain some of whose events are withheld."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.audit import service
from app.audit.access import Concealed
from app.kit.db import Database

# Fixed ids: test ids name them, and every worker of a parallel run must collect the same tests.
ORG, USER = "5b0c1c9e-2f4e-4d0a-9a51-6f1f0e3c7a01", "0d6a3b52-8e71-4c2f-b1d4-3a9e7c5f2b10"
HIDDEN = Concealed(
    tokens=frozenset(
        t.casefold() for t in (ORG, USER, "竞买方甲科技有限公司", "91330000700000001N", "Buyer@Example.cn")
    ),
    person_names=frozenset({"王明"}),
)


@pytest.mark.parametrize(
    ("actor", "data"),
    [
        (f"user:{USER}", {}),
        (f"apikey:{USER}", {}),
        (USER, {}),  # some chains write the bare user id
        ("system", {"organization_id": ORG}),
        ("system", {"deal": {"parties": [{"org": ORG.upper()}]}}),
        ("system", {"note": "竞买方甲科技有限公司资质不符"}),
        ("system", {"credit_code": "91330000700000001n"}),
        ("system", {"contact": "buyer@example.cn"}),
        ("system", {"by": "王明"}),
    ],
)
def test_an_event_names_a_concealed_organization(actor: str, data: dict[str, object]) -> None:
    assert HIDDEN.names(actor, data)


@pytest.mark.parametrize(
    ("actor", "data"),
    [
        ("system", {}),
        (
            "user:7e9d2c41-0b3a-4f65-8d17-c2a4e6f80b93",
            {"organization_id": "a3f1e8b2-6c5d-4e70-9b2a-1d4c7e9f0a36", "bidder_code": "B01"},
        ),
        ("system", {ORG: 1}),  # keys are field names, not values
        ("system", {"reason": "王明提出的方案"}),  # a personal name counts only as a whole value
        ("system", {"amount": 1000000, "extended": True, "ends_at": None}),
    ],
)
def test_an_event_that_names_nobody_hidden(actor: str, data: dict[str, object]) -> None:
    assert not HIDDEN.names(actor, data)


def test_nothing_concealed_is_falsy() -> None:
    assert not Concealed(frozenset(), frozenset())
    assert HIDDEN


async def test_pages_skip_withheld_events_and_stay_full(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page holds ``limit`` readable events whatever number of withheld ones lie between them, and its
    cursor continues after the last one returned."""
    entity = str(uuid.uuid4())
    start = datetime(2026, 1, 5, tzinfo=UTC)
    async with db.transaction() as session:
        for i in range(1, 12):
            await service.record(
                session,
                entity_type="listing",
                entity_id=entity,
                action=f"step{i}",
                actor="system",
                at=start + timedelta(seconds=i),
                data={"i": i},
            )
    monkeypatch.setattr(service, "_SCAN_BATCH", 2)  # several scans per page

    def shows(e: object) -> bool:
        return e.data["i"] in (1, 5, 6, 11)  # type: ignore[attr-defined,no-any-return]

    pages, cursor = [], None
    async with db.read() as session:
        for _ in range(5):
            rows, cursor = await service.list_events(
                session, entity_type="listing", entity_ids=[entity], limit=2, cursor=cursor, shows=shows
            )
            pages.append([e.data["i"] for e in rows])
            if cursor is None:
                break
    assert pages == [[1, 5], [6, 11]]
    async with db.read() as session:
        rows, cursor = await service.list_events(
            session, entity_type="listing", entity_ids=[entity], limit=3, cursor=None, shows=lambda e: False
        )
    assert (rows, cursor) == ([], None)
