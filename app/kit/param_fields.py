"""FastAPI's reading of a route's parameter declarations, done once per declaration instead of per request.

To take a request's path, query and header parameters, FastAPI asks of every declared parameter, on every
request, whether it is a model of parameters, which names it goes by, whether it is JSON and whether its
annotation is a sequence (``typing`` introspection, the last one twice). The answers never change: a
parameter's ``ModelField`` is built once, with its route. On ``GET /listings`` (eleven query parameters)
that was 20% of the request's CPU, on a bid 3%. FastAPI knows (fastapi/fastapi#13824, closed unmerged).

``install()`` puts a memo in front of those four functions in ``fastapi.dependencies.utils``, keyed by the
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

# What is memoized: each takes the object asked about first (a ``ModelField`` or an annotation).
MEMOIZED = ("_get_param_model", "_get_param_aliases", "_is_json_field", "field_annotation_is_sequence")
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


def install() -> None:
    """Memoize FastAPI's per-parameter questions for the request path (once per process)."""
    for name in MEMOIZED:
        function = getattr(_utils, name)  # AttributeError: FastAPI renamed it (the test says so)
        if not getattr(function, "memoized", False):
            setattr(_utils, name, _memo(function))
