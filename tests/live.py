"""Real server processes for tests that must cross process boundaries (several uvicorn workers on one
database, schemathesis over HTTP). Each server gets a fresh database built by the CLI's migrate command."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from app.config import Settings
from tests.conftest import PG_ADMIN_URL, SECRET, _create_pg_database, _drop_pg_database
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_EMAIL = "ops@live.example.cn"


@dataclass
class LiveServer:
    base: str
    database_url: str
    operator_headers: dict[str, str]
    pid: int  # uvicorn's (the supervisor's, with several workers)


def accept_queue(port: int) -> int:
    """Connections to ``port`` on 127.0.0.1 the kernel has completed and the server has not accepted yet: the
    listening socket's ``rx_queue`` in ``/proc/net/tcp``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
            return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"nothing listens on port {port}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def fresh_database(backend: str, directory: Path, admin_url: str | None = None) -> Iterator[str]:
    """A new database: a file in ``directory``, or one on the PostgreSQL server of ``admin_url`` (default
    the test server's)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'exchange.db'}"
        return
    admin = admin_url or PG_ADMIN_URL
    assert admin
    name = f"exchange_live_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_create_pg_database(admin, name))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_drop_pg_database(admin, name))


@contextmanager
def live_server(
    backend: str,
    directory: Path,
    *,
    workers: int = 1,
    admin_url: str | None = None,
    log: Path | None = None,
    serve_command: bool = False,
    **settings: str,
) -> Iterator[LiveServer]:
    """A uvicorn server (``workers`` processes) in the sandbox on a fresh database, with an operator.
    ``admin_url``: the PostgreSQL server to make the database on (default the test server); ``log``: a file
    that receives the server's output (default: the test run's); ``serve_command``: started the way
    production starts it, ``python -m app serve`` (which also prepares the workers' metrics directory),
    instead of uvicorn directly."""
    with fresh_database(backend, directory, admin_url) as url:
        env = {
            **os.environ,
            "EXCHANGE_DATABASE_URL": url,
            "EXCHANGE_ENV": "test",
            "EXCHANGE_SECRET_KEY": SECRET,
            "EXCHANGE_SANDBOX": "true",
            "EXCHANGE_FAST_PASSWORD_HASHING": "true",
            "EXCHANGE_LOG_LEVEL": "WARNING",
            **{f"EXCHANGE_{k.upper()}": v for k, v in settings.items()},
        }
        subprocess.run([sys.executable, "-m", "app", "migrate"], env=env, cwd=ROOT, check=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "app",
                "create-operator",
                "--email",
                OPERATOR_EMAIL,
                "--password",
                PASSWORD,
            ],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        port = free_port()
        output = open(log, "ab") if log is not None else None  # noqa: SIM115 (closed below)
        # Directly, uvicorn would close an idle connection after 5 s, the very moment an httpx client (whose
        # connections expire after 5 s too) may send on it: the keep-alive ``serve`` uses, well above that.
        keep_alive = str(Settings.model_fields["keep_alive_seconds"].default)
        command = (
            ["app", "serve"]
            if serve_command
            else ["uvicorn", "app.asgi:app", "--log-level", "warning", "--timeout-keep-alive", keep_alive]
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", *command, "--port", str(port), "--workers", str(workers)],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=output,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    tail = log.read_text(errors="replace")[-3000:] if log is not None else ""
                    raise RuntimeError(f"the server did not start\n{tail}")
                time.sleep(0.1)
            token = httpx.post(
                f"{base}/api/v1/auth/token", data={"username": OPERATOR_EMAIL, "password": PASSWORD}
            ).json()["access_token"]
            yield LiveServer(
                base=base,
                database_url=url,
                operator_headers={"Authorization": f"Bearer {token}"},
                pid=proc.pid,
            )
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            if output is not None:
                output.close()
