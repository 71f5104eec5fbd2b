"""Idempotency keys (SPEC §2; Stripe's semantics, draft-ietf-httpapi-idempotency-key-header).

The key's record is written in the request's own transaction, so a failure before commit leaves no key
behind and a retry runs again. Same key + same body from the same principal → the stored response is
replayed with ``Idempotent-Replayed: true``; same key + another body → 422 ``idempotency_key_reused``;
while the first request is still running → 409 ``idempotency_in_progress`` (PostgreSQL: a transaction-scoped
advisory lock on the key; SQLite serialises write transactions, so the second simply waits and replays).
A route may screen a keyed request before that transaction (``Idempotency.run``'s ``screen``): a refusal the
current state gives is then answered after two reads, once no response is stored for the key. On PostgreSQL a
route whose write is one statement in autocommit may write the key's row in that statement instead
(``Idempotency.run``'s ``alone``, given a ``KeyRecord``): no transaction, advisory lock or lookup; the key's
unique index refuses a second writer, whose statement then writes nothing.

The kit imports no other part of the application: ``dependency()`` is given the request's session and
principal dependencies and the table of stored responses, and ``app.deps`` builds ``IdempotencyDep`` with it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import Table, bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.kit.db import dialect_name
from app.kit.errors import Conflict, ExchangeError, Unprocessable
from app.kit.openapi import document_calls, document_dependency
from app.kit.security import Principal
from app.kit.statements import prepared

RETENTION = timedelta(hours=48)  # SPEC: kept at least 24 h
REPLAYED = "Idempotent-Replayed"
ReadFirst = Callable[[Any, dict[str, Any]], Awaitable[Any]]  # (statement, parameters) -> first row or None


class Unstored(Exception):
    """Raised by an ``alone`` action (``Idempotency.run``) that wrote nothing and cannot write the key's row
    with its own statement this time: the request is then run in its transaction, as without ``alone``."""


class KeyRecord:
    """The key's row for an ``alone`` action to write in its own statement (``row``), into ``table``."""

    def __init__(self, table: Table, values: dict[str, Any]) -> None:
        self.table = table
        self._values = values
        self.body: str | None = None

    def row(self, result: Any) -> dict[str, Any]:
        """The key's row storing ``result`` (what the action will return) as the response."""
        self.body = _body(result)
        return self._values | {"id": uuid.uuid4(), "response_body": self.body, "created_at": utcnow()}


class Idempotency:
    def __init__(
        self, session: AsyncSession, request: Request, caller: Principal, key: str | None, table: Table
    ) -> None:
        self.session = session
        self.request = request
        # The request's session and caller: a hot route may take them from here instead of declaring them
        # again (FastAPI solves every declared dependency anew, at a cost, even when it gives the same value).
        self.caller = caller
        self.principal = caller.label
        self.key = key
        self.table = table

    @property
    def keyed(self) -> bool:
        """Whether the request has a key: then its response is stored in the request's own transaction, and
        the action must write there too (a write that commits apart from it could outlive a lost response),
        or write the key's row itself with its one statement (``run``'s ``alone``)."""
        return self.key is not None

    async def run(
        self,
        action: Callable[[], Awaitable[Any]],
        *,
        status_code: int = 201,
        screen: Callable[[], Awaitable[None]] | None = None,
        read: ReadFirst | None = None,
        alone: Callable[[KeyRecord], Awaitable[Any]] | None = None,
    ) -> Response:
        """Run ``action`` once per key; its result (a Pydantic model) becomes the JSON response.

        ``screen`` (with ``read``, a one-row read in autocommit): a check that raises the refusal the current
        state gives the request, cheaply and outside any transaction; a keyed request is screened before its
        transaction begins (which takes a write connection, and on PostgreSQL a lock on the key), so that a
        refusal costs reads, as it does without a key. A refusal is answered only if no response is stored
        for the key (looked up with ``read``): the state that refuses a retry may be its first attempt's own
        doing, committed with that attempt's response, which is replayed (or the key's reuse refused). A
        request the screen lets through looks its key up in its transaction, as one without a screen does. A
        request without a key is screened by its action, as it sees fit.

        ``alone`` (PostgreSQL, with ``read``): the action as one statement in autocommit that also writes the
        ``KeyRecord``'s row, tried first for a keyed request, before the screen (which only spares the
        transaction: ``alone`` refuses on its own read). It raises ``Unstored`` when it wrote nothing and
        cannot do so this time (then the screen and ``action`` run as without ``alone``). A refusal it raises
        is answered as the screen's are: the key's unique index may have refused its statement because an
        attempt of the same request got there first, whose response is then replayed."""
        if (screen is not None or alone is not None) and read is None:
            raise TypeError(
                "a screen (or an alone action) needs the read that looks a refused request's key up"
            )
        if self.key is None:
            result = await action()
            if isinstance(result, BaseModel):  # serialised by pydantic-core straight to JSON bytes
                return Response(
                    result.model_dump_json(), status_code=status_code, media_type="application/json"
                )
            return JSONResponse(_encode(result), status_code=status_code)
        method, path = self.request.method, self.request.url.path
        body_hash = hashlib.sha256(
            method.encode() + b" " + path.encode() + b"\n" + await self.request.body()
        ).hexdigest()
        keys = {"principal": self.principal, "method": method, "path": path, "key": self.key}
        where = {f"p_{column}": value for column, value in keys.items()}
        record = KeyRecord(self.table, keys | {"request_hash": body_hash, "status_code": status_code})
        postgresql = dialect_name(self.session) == "postgresql"
        if not postgresql:
            alone = None  # one statement in autocommit is PostgreSQL's (Database.run_alone)
        if read is not None and (screen is not None or alone is not None):
            try:
                if alone is not None:
                    try:
                        await alone(record)
                    except Unstored:
                        pass
                    else:
                        if record.body is None:
                            raise RuntimeError(
                                "an alone action writes its key's row (KeyRecord.row) or raises Unstored"
                            )
                        return Response(record.body, status_code=status_code, media_type="application/json")
                if screen is not None:
                    await screen()
            except ExchangeError:
                replay = _replayed(await read(_stored_statement(self.table), where), body_hash)
                if replay is not None:
                    return replay
                raise
        if postgresql:
            lock_key = int.from_bytes(
                hashlib.sha256(f"{self.principal}|{method}|{path}|{self.key}".encode()).digest()[:8],
                "big",
                signed=True,
            )
            got = await self.session.scalar(select(func.pg_try_advisory_xact_lock(lock_key)))
            if not got:
                raise Conflict(
                    "A request with this Idempotency-Key is still running.", code="idempotency_in_progress"
                )
        replay = _replayed(
            (await self.session.execute(_stored_statement(self.table), where)).first(), body_hash
        )
        if replay is not None:
            return replay
        await self.session.execute(insert(self.table).values(record.row(await action())))
        return Response(record.body, status_code=status_code, media_type="application/json")


_STORED: dict[str, Any] = {}


def _stored_statement(table: Table) -> Any:
    """The stored response of a key (parameters ``p_principal``, ``p_method``, ``p_path``, ``p_key``),
    built once per table."""
    try:
        return _STORED[table.name]
    except KeyError:
        keys = table.c
        statement = _STORED[table.name] = prepared(
            select(keys.request_hash, keys.status_code, keys.response_body).where(
                keys.principal == bindparam("p_principal", type_=keys.principal.type),
                keys.method == bindparam("p_method", type_=keys.method.type),
                keys.path == bindparam("p_path", type_=keys.path.type),
                keys.key == bindparam("p_key", type_=keys.key.type),
            )
        )
        return statement


def _replayed(stored: Any, body_hash: str) -> Response | None:
    """The response stored for the key (``stored``: its row, or None), if the request is the same."""
    if stored is None:
        return None
    if stored.request_hash != body_hash:
        raise Unprocessable(
            "This Idempotency-Key was used with a different request.",
            code="idempotency_key_reused",
            errors=[{"loc": ["header", "Idempotency-Key"], "msg": "already used with another body"}],
        )
    return Response(
        stored.response_body,
        status_code=stored.status_code,
        media_type="application/json",
        headers={REPLAYED: "true"},
    )


def _encode(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return jsonable_encoder(result)


def _body(result: Any) -> str:
    """The stored (and first) response body of an action's result."""
    return json.dumps(_encode(result), ensure_ascii=False, separators=(",", ":"))


def dependency(
    table: Table,
    session_dependency: Callable[[Request], Awaitable[AsyncSession]],
    principal_dependency: Callable[[Request], Awaitable[Principal]],
) -> Callable[..., Awaitable[Idempotency]]:
    """The FastAPI dependency that gives a route its ``Idempotency``: the request's session (``session_dependency``,
    committed before the response), its authenticated principal and the ``Idempotency-Key`` header, with the
    responses stored in ``table``. It runs the two dependencies itself (``document_calls``): each must give a
    route that also declares it the same value (the request's one session, its one principal)."""

    async def idempotency(
        request: Request,
        idempotency_key: Annotated[
            str | None,
            Header(
                max_length=255,
                min_length=1,
                description="Makes a retry safe: the first response is replayed.",
            ),
        ] = None,
    ) -> Idempotency:
        principal = await principal_dependency(request)
        return Idempotency(await session_dependency(request), request, principal, idempotency_key, table)

    document_dependency(idempotency, {409: ("idempotency_in_progress",), 422: ("idempotency_key_reused",)})
    document_calls(idempotency, session_dependency, principal_dependency)
    return idempotency


async def purge_expired(session: AsyncSession, table: Table) -> int:
    result = await session.execute(delete(table).where(table.c.created_at < utcnow() - RETENTION))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
