"""FastAPI's reading of a route's parameter and dependency declarations, done once per declaration instead of
per request.

To take a request's path, query and header parameters, FastAPI asks of every declared parameter, on every
request, whether it is a model of parameters, which names it goes by, whether it is JSON and whether its
annotation is a sequence (``typing`` introspection, the last one twice). The answers never change: a
parameter's ``ModelField`` is built once, with its route. On ``GET /listings`` (eleven query parameters)
that was 20% of the request's CPU, on a bid 3%. FastAPI knows (fastapi/fastapi#13824, closed unmerged).

Likewise, to solve a request's dependencies FastAPI computes each dependency's cache key (its callable, the
OAuth scopes of its tree, its scope) again on every request: 3% of a refused bid's CPU. A dependency's
``Dependant`` is built once, with its route, and the key is made of what it was built with.

``install()`` puts a memo in front of those five functions in ``fastapi.dependencies.utils``, keyed by the
object asked about (held by the memo, so its ``id`` is never another's) and bounded. What a function gives is
returned as it gave it the first time; the callers only read it. FastAPI's OpenAPI generation keeps its own
references, unmemoized. ``tests/kit/test_param_fields.py`` checks every parameter of the exchange's routes
gives the same answers both ways, and fails if FastAPI renames what is memoized here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import fastapi.dependencies.utils as _utils

# What is memoized: the first four take the object asked about first (a ``ModelField`` or an annotation);
# ``_get_cache_key`` takes the ``Dependant`` by keyword, with a memo of FastAPI's own for one request.
MEMOIZED = (
    "_get_param_model",
    "_get_param_aliases",
    "_is_json_field",
    "field_annotation_is_sequence",
    "_get_cache_key",
)
_LIMIT = 4096  # objects remembered per function before it starts afresh (a process has a few hundred)


def _memo(function: Callable[..., Any]) -> Callable[..., Any]:
    seen: dict[tuple[Any, ...], tuple[Any, Any]] = {}

    @functools.wraps(function)
    def memoized(subject: Any, *args: Any, **options: Any) -> Any:
        key = (id(subject), args, tuple(options.items()))
        hit = seen.get(key)
        if hit is not None and hit[0] is subject:
            return hit[1]
        answer = function(subject, *args, **options)
        if len(seen) >= _LIMIT:
            seen.clear()
        seen[key] = (subject, answer)
        return answer

    memoized.memoized = True  # type: ignore[attr-defined]
    return memoized


def _memo_by_dependant(function: Callable[..., Any]) -> Callable[..., Any]:
    """For ``_get_cache_key(dependant=..., uses_scopes_cache=...)``: the answer is the dependant's alone (the
    other argument only spares FastAPI walking a tree twice in one request, and is not passed on)."""
    of_dependant = _memo(lambda dependant: function(dependant=dependant))

    @functools.wraps(function)
    def memoized(*, dependant: Any, **_options: Any) -> Any:
        return of_dependant(dependant)

    memoized.memoized = True  # type: ignore[attr-defined]
    return memoized


def install() -> None:
    """Memoize FastAPI's per-parameter and per-dependency questions for the request path (once per process)."""
    for name in MEMOIZED:
        function = getattr(_utils, name)  # AttributeError: FastAPI renamed it (the test says so)
        if not getattr(function, "memoized", False):
            memo = _memo_by_dependant if name == "_get_cache_key" else _memo
            setattr(_utils, name, memo(function))
