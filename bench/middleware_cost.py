"""What each layer around a route costs: ``GET /healthz`` (a route that does nothing) in CPU per request, with
the exchange's middleware stack as it is, then with its layers taken off one by one from the outside, down to
FastAPI with none and a bare Starlette route; each layer's cost is the difference to the row below it.

The app is the production app (``bench/request_cost.py`` builds it, its log lines go to a file as a server's
would); the driver hands each request straight to the ASGI app, so the server's own cost is not in the figures.

  .venv/bin/python bench/middleware_cost.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._setup import fresh_database  # noqa: E402
from bench.request_cost import Driver, _getter, _product, lifespan, measure  # noqa: E402


def _without(app: Any, names: set[str]) -> None:
    """Take the middleware classes named off the app; Starlette builds its stack again on the next request."""
    app.user_middleware = [m for m in app.user_middleware if m.cls.__name__ not in names]
    app.middleware_stack = None


async def run(url: str, args: argparse.Namespace, tmp: Path) -> list[tuple[str, float]]:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    kw = {"warmup": args.warmup, "requests": args.requests, "rounds": args.rounds}
    rows: list[tuple[str, float]] = []
    app = _product(url, sandbox=False, log_file=tmp / "requests.log")
    get = _getter(Driver(app), "/healthz")
    async with lifespan(app):
        present = [m.cls.__name__ for m in app.user_middleware]
        print("the exchange's stack, outermost first:", " > ".join(present))
        rows.append(("the exchange's stack", (await measure("all", get, expect=200, **kw))["cpu_us"]))
        request_log = logging.getLogger("app.request")
        request_log.disabled = True
        rows.append(
            (
                "  the same without the request's log line",
                (await measure("nolog", get, expect=200, **kw))["cpu_us"],
            )
        )
        request_log.disabled = False
        taken: set[str] = set()
        for name in present:
            taken.add(name)
            _without(app, taken)
            rows.append((f"without {name}", (await measure(name, get, expect=200, **kw))["cpu_us"]))

    async def healthz(_: Any) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    bare = Starlette(routes=[Route("/healthz", healthz)])
    rows.append(
        (
            "a bare Starlette route",
            (await measure("bare", _getter(Driver(bare), "/healthz"), expect=200, **kw))["cpu_us"],
        )
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5, help="rounds per row; the best one counts")
    ap.add_argument("--warmup", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="middleware-cost-") as tmpdir, fresh_database(None, "mw") as url:
        rows = asyncio.run(run(url, args, Path(tmpdir)))
    stack = [(label, us) for label, us in rows if not label.startswith("  ")]
    below = {label: nxt[1] for (label, _), nxt in itertools.pairwise(stack)}
    full = rows[0][1]
    print(f"{'GET /healthz, CPU per request':<70} {'µs':>7} {'its cost':>9}")
    for label, us in rows:
        cost = full - us if label.startswith("  ") else us - below.get(label, 0.0)
        print(f"{label:<70} {us:7.1f} {cost:9.1f}")


if __name__ == "__main__":
    main()
