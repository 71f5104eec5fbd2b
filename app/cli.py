"""Command line: ``python -m app {serve, migrate, create-operator, seed-demo}`` (SPEC §16)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
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


def read_password(given: str | None) -> str:
    """The new operator's password: ``--password`` when given; else asked twice, without echo, at a terminal;
    else the first line of standard input (``echo … | python -m app create-operator``, a secret manager's
    pipe), without its line ending and otherwise exactly as typed (SPEC §20). Checked like the API's."""
    from app.accounts.rules import password_problem

    if given is not None:
        password = given
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat the password: ") != password:
            raise SystemExit("error: the passwords do not match")
    else:
        line = sys.stdin.readline()
        if not line:
            raise SystemExit("error: no password on standard input (or use the prompt at a terminal)")
        password = line.removesuffix("\n").removesuffix("\r")
    problem = password_problem(password)
    if problem is not None:
        raise SystemExit(f"error: the password {problem}")
    return password


async def _create_operator(url: str, email: str, password: str, name: str) -> None:
    from app.accounts.service import create_operator
    from app.kit.clock import SystemClock
    from app.kit.db import create_database
    from app.kit.errors import ExchangeError

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Patent exchange backend. Configuration comes from EXCHANGE_* environment variables.",
    )
    sub = parser.add_subparsers(dest="command", required=True, help="what to do")
    serve = sub.add_parser("serve", help="apply migrations, then run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    serve.add_argument(
        "--workers", type=int, default=1, help="number of server processes (default: %(default)s)"
    )
    sub.add_parser("migrate", help="apply pending migrations")
    op = sub.add_parser(
        "create-operator",
        help="create an exchange operator account",
        description="Create an exchange operator. Without --password the password is asked for twice at a "
        "terminal, or read from the first line of standard input.",
    )
    op.add_argument("--email", required=True, help="the operator's sign-in email")
    op.add_argument(
        "--password",
        help="the password; visible to every user of the machine in `ps` and kept in the shell's history, so "
        "prefer leaving it out (prompt, or the first line of standard input)",
    )
    op.add_argument(
        "--name", default="Exchange operator", help="the name shown for the operator (default: %(default)s)"
    )
    demo = sub.add_parser(
        "seed-demo",
        help="load demo organizations, patents and listings (with published passwords; never in production)",
    )
    demo.add_argument(
        "--if-empty", action="store_true", help="only into an exchange without organizations (first start)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    settings = load_settings()
    if args.command == "migrate":
        _migrate(settings.database_url)
    elif args.command == "create-operator":
        password = read_password(args.password)  # before the database is touched
        _migrate(settings.database_url)
        asyncio.run(_create_operator(settings.database_url, args.email, password, args.name))
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
                timeout_keep_alive=settings.keep_alive_seconds,
                # The app reads X-Forwarded-For itself, from EXCHANGE_TRUSTED_PROXIES only (SPEC §20);
                # uvicorn's own handling would trust any local peer's header and hide the real peer.
                proxy_headers=False,
                # uvloop, accepting every waiting connection at once instead of one per turn of the loop.
                loop="app.kit.eventloop:Loop",
            )
