"""Command line: ``python -m app {serve, migrate, create-operator, seed-demo}`` (SPEC §16)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator

from app.config import Environment, load_settings

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _migrate(url: str) -> None:
    from app.kit.migrate import upgrade

    upgrade(url)


async def _create_operator(url: str, email: str, password: str, name: str) -> None:
    from app.accounts.rules import MIN_PASSWORD_LENGTH
    from app.accounts.service import create_operator
    from app.kit.clock import SystemClock
    from app.kit.db import create_database
    from app.kit.errors import ExchangeError

    if len(password) < MIN_PASSWORD_LENGTH:
        raise SystemExit(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    db = create_database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            user = await create_operator(session, email, password, name, SystemClock())
        print(f"operator created: {user.email} ({user.id})")
    except ExchangeError as exc:
        raise SystemExit(f"error: {exc.detail}") from None
    finally:
        await db.dispose()


async def _seed_demo(url: str, *, only_if_empty: bool) -> None:
    from app.demo import seed_demo
    from app.kit.db import create_database

    db = create_database(url, pool_size=1)
    try:
        await seed_demo(db, only_if_empty=only_if_empty)
    finally:
        await db.dispose()


@contextlib.contextmanager
def metrics_directory() -> Iterator[str]:
    """The directory the server's workers share their metrics in (Prometheus multiprocess mode, SPEC §21),
    set in ``PROMETHEUS_MULTIPROC_DIR`` before any worker starts, so ``/metrics`` adds up every worker's
    (``app.kit.metrics``). A directory the operator names there is kept but emptied of an earlier run's
    files (their process ids mean nothing now); else a new temporary one, removed when the server stops.
    This module must not import prometheus_client: it reads the variable when it is first imported."""
    given = os.environ.get(METRICS_DIR_ENV)
    if given:
        os.makedirs(given, exist_ok=True)
        for stale in glob.glob(os.path.join(given, "*.db")):
            os.remove(stale)
        yield given
        return
    path = tempfile.mkdtemp(prefix="exchange-metrics-")
    os.environ[METRICS_DIR_ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(METRICS_DIR_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app", description="Patent exchange backend")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="apply migrations, then run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    sub.add_parser("migrate", help="apply pending migrations")
    op = sub.add_parser("create-operator", help="create an exchange operator account")
    op.add_argument("--email", required=True)
    op.add_argument("--password", required=True)
    op.add_argument("--name", default="Exchange operator")
    demo = sub.add_parser(
        "seed-demo",
        help="load demo organizations, patents and listings (with published passwords; never in production)",
    )
    demo.add_argument(
        "--if-empty", action="store_true", help="only into an exchange without organizations (first start)"
    )
    args = parser.parse_args(argv)

    settings = load_settings()
    if args.command == "migrate":
        _migrate(settings.database_url)
    elif args.command == "create-operator":
        _migrate(settings.database_url)
        asyncio.run(_create_operator(settings.database_url, args.email, args.password, args.name))
    elif args.command == "seed-demo":
        if settings.env == Environment.production:
            # Its operator's password is printed in the README: an open door on a real exchange (SPEC §20).
            sys.stderr.write("Demo data is never loaded with EXCHANGE_ENV=production.\n")
            raise SystemExit(2)
        _migrate(settings.database_url)
        asyncio.run(_seed_demo(settings.database_url, only_if_empty=args.if_empty))
    elif args.command == "serve":
        import uvicorn

        # No demo data here, in any environment: scripts/serve.sh loads it in development (SPEC §20).
        _migrate(settings.database_url)
        print(
            f"Patent exchange on http://{args.host}:{args.port}  (docs: http://{args.host}:{args.port}/docs)",
            file=sys.stderr,
        )
        with metrics_directory():
            uvicorn.run(
                "app.asgi:app",
                host=args.host,
                port=args.port,
                workers=args.workers,
                log_level="warning",
                # The app reads X-Forwarded-For itself, from EXCHANGE_TRUSTED_PROXIES only (SPEC §20);
                # uvicorn's own handling would trust any local peer's header and hide the real peer.
                proxy_headers=False,
            )
