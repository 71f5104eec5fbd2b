"""The shared dependencies of ``app.deps``: a dependency that runs another itself (``document_calls``) gets the
value a route's declared dependency gets, one per request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app import deps
from app.deps import CalendarDep, IdempotencyDep, OperatorDep, PrincipalDep, SessionDep
from app.kit.db import Database
from app.kit.routing import ExchangeRouter
from tests import factories


@pytest.fixture
def principal_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The principal lookups (``_load_principal``) of the requests made while it is in use."""
    loads: list[str] = []
    real = deps._load_principal

    async def counting(request: Any, settings: Any) -> Any:
        loads.append(request.url.path)
        return await real(request, settings)

    monkeypatch.setattr(deps, "_load_principal", counting)
    return loads


def _with_probe(app: FastAPI) -> None:
    router = ExchangeRouter()

    # The dependencies that run others themselves first, then the ones they run, declared as a route would.
    @router.post("/probe")
    async def probe(
        idem: IdempotencyDep,
        operator: OperatorDep,
        calendar: CalendarDep,
        session: SessionDep,
        principal: PrincipalDep,
    ) -> dict[str, bool]:
        return {
            "one_session": idem.session is session,
            "one_principal": idem.caller is principal and operator is principal,
        }

    app.include_router(router, prefix="/api/v1")


async def test_a_route_gets_one_session_and_looks_its_caller_up_once(
    app: FastAPI, client: httpx.AsyncClient, db: Database, principal_loads: list[str]
) -> None:
    _with_probe(app)
    operator = await factories.operator(client, db)
    principal_loads.clear()
    r = await client.post("/api/v1/probe", headers=operator.headers | {"Idempotency-Key": "probe-1"})
    assert r.status_code == 200, r.text
    assert r.json() == {"one_session": True, "one_principal": True}
    assert principal_loads == ["/api/v1/probe"]


async def test_an_anonymous_call_is_refused_by_the_dependency_that_runs_the_principal(
    app: FastAPI, client: httpx.AsyncClient, principal_loads: list[str]
) -> None:
    _with_probe(app)
    r = await client.post("/api/v1/probe")
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized"
    assert principal_loads == ["/api/v1/probe"]
