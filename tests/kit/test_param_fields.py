"""FastAPI's per-parameter questions, memoized (app.kit.param_fields): every parameter of the exchange's
routes gets the answers FastAPI's own functions give, requests still read their parameters, and a FastAPI
that renames what is memoized fails here."""

from __future__ import annotations

from collections.abc import Iterator

import fastapi.dependencies.utils as fastapi_utils
import httpx
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.kit import param_fields
from app.main import create_app


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _exchange_dependants() -> dict[int, Dependant]:
    """Every dependant of every route of the exchange, and of their dependencies, by id."""
    app = create_app()
    return {
        id(d): d
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for d in _dependants(context.original_route.dependant)
    }


def test_the_memos_are_in_place_after_the_app_is_built() -> None:
    create_app()
    for name in param_fields.MEMOIZED:
        function = getattr(fastapi_utils, name)
        assert getattr(function, "memoized", False), name
        assert callable(function.__wrapped__)


def test_every_parameter_of_the_exchange_gets_fastapi_s_answers() -> None:
    fields = {
        id(field): field
        for d in _exchange_dependants().values()
        for field in (*d.path_params, *d.query_params, *d.header_params, *d.cookie_params)
    }
    assert len(fields) > 100  # the whole API, not a corner of it
    memo = {name: getattr(fastapi_utils, name) for name in param_fields.MEMOIZED}
    for _ in range(2):  # the second round answers from the memo
        for field in fields.values():
            annotation = field.field_info.annotation
            sequence = memo["field_annotation_is_sequence"]
            assert sequence(annotation) == sequence.__wrapped__(annotation)
            for name in ("_get_param_model", "_is_json_field"):
                assert memo[name](field) == memo[name].__wrapped__(field), (name, field.name)
            aliases = memo["_get_param_aliases"]
            for convert in (False, True):
                want = aliases.__wrapped__(field, convert_underscores=convert)
                assert aliases(field, convert_underscores=convert) == want
            assert aliases(field) == aliases.__wrapped__(field)


def test_every_dependency_of_the_exchange_gets_fastapi_s_cache_key() -> None:
    """The key under which a request keeps a solved dependency (its session, its caller: one of each however
    many dependencies ask for them)."""
    dependants = _exchange_dependants()
    assert len(dependants) > 300
    key = fastapi_utils._get_cache_key
    for _ in range(2):
        for dependant in dependants.values():
            assert key(dependant=dependant, uses_scopes_cache={}) == key.__wrapped__(dependant=dependant)


def test_each_object_is_asked_once() -> None:
    calls: list[object] = []

    def ask(subject: object) -> int:
        calls.append(subject)
        return len(calls)

    memoized = param_fields._memo(ask)
    first, second = object(), object()
    assert [memoized(first), memoized(first), memoized(second), memoized(first)] == [1, 1, 2, 1]
    assert calls == [first, second]


async def test_requests_read_their_parameters_as_before(client: httpx.AsyncClient) -> None:
    listed = await client.get("/api/v1/listings", params={"limit": 2, "sort": "-published_at"})
    assert listed.status_code == 200
    assert len(listed.json()["items"]) <= 2
    refused = await client.get("/api/v1/listings", params={"limit": "many"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["query", "limit"]
    too_long = await client.get("/api/v1/listings", params={"q": "专" * 201})
    assert too_long.status_code == 422
