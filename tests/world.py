"""The test world: an operator and the organizations a test needs, made through the public API.

A module says which organizations it needs, by name, with the ``world`` marker; the ``world`` fixture
(registered in ``tests/conftest.py``) makes them, in the order given, after the operator::

    pytestmark = pytest.mark.world(uni=org("university"), company=org(), buyers=orgs(3, funds="10000.00"))

    async def test_something(client, world: World) -> None:
        op, uni, company, buyers = world  # the operator first, then the organizations in the marker's order
        world.uni, world["company"]  # or by name

Every organization is verified by the operator unless ``verified=False``; ``funds`` records a bank transfer
of that many yuan to its exchange account right after it is made. The closest marker wins (a test's own
marker over its module's). A package's conftest, or a module whose world holds more than organizations,
defines its own ``world`` fixture with ``build()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.kit.db import Database
from tests import factories as f
from tests import trading as t


@dataclass(frozen=True)
class Org:
    """What one organization of the world (or ``count`` alike, as a list) looks like."""

    kind: str = "enterprise"
    name: str | None = None
    verified: bool = True
    funds: str | None = None  # yuan credited by a bank transfer right after it is made
    count: int | None = None  # a list of ``count`` organizations instead of one


def org(
    kind: str = "enterprise", *, name: str | None = None, verified: bool = True, funds: str | None = None
) -> Org:
    return Org(kind=kind, name=name, verified=verified, funds=funds)


def orgs(count: int, kind: str = "enterprise", *, funds: str | None = None) -> Org:
    return Org(kind=kind, funds=funds, count=count)


class World:
    """The operator (``op``) and the named members: organizations (actors or lists of them) and whatever a
    module adds with ``add``. Read by attribute or by name; unpacks as the operator, then the organizations
    in the order they were declared."""

    def __init__(self, op: f.Actor, organizations: dict[str, f.Actor | list[f.Actor]]) -> None:
        self.op = op
        self._organizations = organizations
        self._members: dict[str, Any] = dict(organizations)

    def add(self, **members: Any) -> World:
        """Other things the module's world holds (a published demand, a listing...)."""
        clash = set(members) & {"op", *self._members}
        assert not clash, f"already in the world: {sorted(clash)}"
        self._members.update(members)
        return self

    @property
    def orgs(self) -> list[f.Actor]:
        """Every organization of the world, in the order declared (lists flattened)."""
        flat: list[f.Actor] = []
        for member in self._organizations.values():
            flat.extend(member if isinstance(member, list) else [member])
        return flat

    def __getattr__(self, name: str) -> Any:
        members = self.__dict__.get("_members", {})
        if name in members:
            return members[name]
        raise AttributeError(f"the world has no {name!r}: {sorted(members)}")

    def __getitem__(self, name: str) -> Any:
        return self.op if name == "op" else self._members[name]

    def __iter__(self) -> Iterator[Any]:
        yield self.op
        yield from self._organizations.values()


async def build(client: httpx.AsyncClient, db: Database, **organizations: Org) -> World:
    """An operator and ``organizations``, made in the order given (see the module's docstring)."""
    op = await f.operator(client, db)
    made: dict[str, f.Actor | list[f.Actor]] = {}
    for key, spec in organizations.items():
        if spec.count is None:
            made[key] = await _organization(client, op, spec)
        else:
            made[key] = [await _organization(client, op, spec) for _ in range(spec.count)]
    return World(op, made)


async def _organization(client: httpx.AsyncClient, op: f.Actor, spec: Org) -> f.Actor:
    actor = await f.organization(
        client, kind=spec.kind, verified_by=op if spec.verified else None, name=spec.name
    )
    if spec.funds is not None:
        await t.fund(client, op, actor, spec.funds)
    return actor


@pytest.fixture
async def world(request: pytest.FixtureRequest, client: httpx.AsyncClient, db: Database) -> World:
    marker = request.node.get_closest_marker("world")
    if marker is None:
        raise pytest.UsageError(
            f"{request.node.nodeid}: the world fixture needs a @pytest.mark.world(...) marker"
        )
    if marker.args:
        raise pytest.UsageError("pytest.mark.world takes keyword arguments only: name=org(...)")
    return await build(client, db, **marker.kwargs)
