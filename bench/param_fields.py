"""What FastAPI's reading of a route's parameters costs per request, with ``app.kit.param_fields``' memo and
with FastAPI's own functions, in one run: ``request_params_to_args`` over each route's path, query and header
parameters (its own and its dependencies'), as a request with only the route's path parameters gives them.

  .venv/bin/python bench/param_fields.py [--number N]

Prints one line per route: µs per request with the memo, without it, and the ratio.
"""

from __future__ import annotations

import argparse
import logging
import sys
import timeit
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ROUTES = (
    ("GET", "/api/v1/listings"),
    ("GET", "/api/v1/auctions/{auction_id}"),
    ("POST", "/api/v1/auctions/{auction_id}/bids"),
    ("GET", "/healthz"),
)


def _route(app: Any, method: str, path: str) -> Any:
    from fastapi.routing import APIRoute, iter_route_contexts

    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and method in route.methods and context.path_format == path:
            return route
    raise SystemExit(f"no route {method} {path}")


def _parameters(dependant: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {"path": [], "query": [], "header": []}
    for sub in (dependant, *dependant.dependencies):
        for kind in found:
            found[kind] += getattr(sub, f"{kind}_params")
        if sub is not dependant:
            for kind, fields in _parameters(sub).items():
                found[kind] += fields
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=2000, help="calls per timing (best of 7)")
    args = parser.parse_args()
    import fastapi.dependencies.utils as fastapi_utils
    from starlette.datastructures import Headers, QueryParams

    from app.kit import param_fields
    from app.main import create_app

    app = create_app()  # installs the memo
    logging.disable(logging.CRITICAL)
    memo = {name: getattr(fastapi_utils, name) for name in param_fields.MEMOIZED}
    own = {name: function.__wrapped__ for name, function in memo.items()}
    print(f"{'route':42s} {'memo µs':>8s} {'FastAPI µs':>11s} {'ratio':>6s}")
    for method, path in ROUTES:
        fields = _parameters(_route(app, method, path).dependant)
        received = {
            "path": {field.alias: str(uuid.uuid4()) for field in fields["path"]},
            "query": QueryParams(""),
            "header": Headers({"authorization": "Bearer x", "content-type": "application/json"}),
        }

        def request(fields: dict[str, list[Any]] = fields, received: dict[str, Any] = received) -> None:
            for kind, given in received.items():
                fastapi_utils.request_params_to_args(fields[kind], given)

        timings = {}
        for label, functions in (("memo", memo), ("own", own)):
            for name, function in functions.items():
                setattr(fastapi_utils, name, function)
            timings[label] = min(timeit.repeat(request, number=args.number, repeat=7)) / args.number * 1e6
        for name, function in memo.items():
            setattr(fastapi_utils, name, function)
        ratio = timings["memo"] / timings["own"]
        print(f"{method + ' ' + path:42s} {timings['memo']:8.1f} {timings['own']:11.1f} {ratio:6.2f}")


if __name__ == "__main__":
    main()
