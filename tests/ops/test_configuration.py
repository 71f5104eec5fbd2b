"""Defaults that would expose an exchange (SPEC §20 "Sandbox and configuration", §21 ``EXCHANGE_PUBLIC_URL``):
``EXCHANGE_ENV=production`` refuses to start — every command — with the sandbox on, the default or a short
secret, CORS open to every origin, or without the exchange's public URL; the message names the variable."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import ValidationError

from app.config import DEFAULT_SECRET_KEY, Settings
from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a-production-secret-that-is-long-enough-0123456789"
PRODUCTION = {
    "env": "production",
    "secret_key": SECRET,
    "public_url": "https://ip.example.cn",
}


def _settings(**values: Any) -> Settings:
    return Settings(**values)


def test_a_complete_production_configuration_starts() -> None:
    settings = _settings(**PRODUCTION, cors_origins="https://www.example.cn")
    assert settings.public_url == "https://ip.example.cn"
    assert settings.sandbox is False


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"sandbox": True}, "EXCHANGE_SANDBOX"),
        ({"secret_key": DEFAULT_SECRET_KEY}, "EXCHANGE_SECRET_KEY"),
        ({"secret_key": "x" * 31}, "EXCHANGE_SECRET_KEY"),
        ({"cors_origins": "*"}, "EXCHANGE_CORS_ORIGINS"),
        ({"cors_origins": "https://www.example.cn, *"}, "EXCHANGE_CORS_ORIGINS"),
        ({"public_url": None}, "EXCHANGE_PUBLIC_URL"),
    ],
)
def test_production_refuses_what_would_expose_the_exchange(change: dict[str, Any], variable: str) -> None:
    with pytest.raises(ValidationError, match=variable):
        _settings(**{**PRODUCTION, **change})
    # The same values are fine outside production.
    _settings(**{**PRODUCTION, "env": "development", **change})


@pytest.mark.parametrize(
    "url",
    [
        "ip.example.cn",
        "ftp://ip.example.cn",
        "https://",
        "https://ip.example.cn/exchange",
        "https://ip.example.cn/?a=1",
        "https://ip.example.cn#top",
        "https://user:pw@ip.example.cn",
        "https://ip example.cn",
        "https://ip.example.cn:99999",
        "javascript:alert(1)",
    ],
)
def test_the_public_url_is_a_base_url(url: str) -> None:
    with pytest.raises(ValidationError, match="public_url"):
        _settings(public_url=url)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://ip.example.cn", "https://ip.example.cn"),
        ("https://ip.example.cn/", "https://ip.example.cn"),
        ("HTTP://localhost:8000", "http://localhost:8000"),
        ("https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443"),
        ("https://交易所.example.cn", "https://交易所.example.cn"),
    ],
)
def test_a_public_url_is_kept_without_its_trailing_slash(url: str, kept: str) -> None:
    assert _settings(public_url=url).public_url == kept


def _run(command: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}
    database = tmp_path / "exchange.db"
    return subprocess.run(
        [sys.executable, "-m", "app", *command],
        env={**clean, "EXCHANGE_DATABASE_URL": f"sqlite+aiosqlite:///{database}", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION_ENV = {
    "EXCHANGE_ENV": "production",
    "EXCHANGE_SECRET_KEY": SECRET,
    "EXCHANGE_PUBLIC_URL": "https://ip.example.cn",
}


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"EXCHANGE_SANDBOX": "true"}, "EXCHANGE_SANDBOX"),
        ({"EXCHANGE_SECRET_KEY": ""}, "EXCHANGE_SECRET_KEY"),
        ({"EXCHANGE_SECRET_KEY": "short-secret"}, "EXCHANGE_SECRET_KEY"),
        ({"EXCHANGE_CORS_ORIGINS": "*"}, "EXCHANGE_CORS_ORIGINS"),
        ({"EXCHANGE_PUBLIC_URL": ""}, "EXCHANGE_PUBLIC_URL"),
        ({"EXCHANGE_PUBLIC_URL": "https://ip.example.cn/path"}, "EXCHANGE_PUBLIC_URL"),
    ],
)
def test_every_command_refuses_to_start(tmp_path: Path, change: dict[str, str], variable: str) -> None:
    env = {**PRODUCTION_ENV, **change}
    env = {k: v for k, v in env.items() if v}  # an empty value stands for "not set"
    for command in (["migrate"], ["create-operator", "--email", "o@x.example.cn", "--password", "p" * 12]):
        result = _run(command, tmp_path, **env)
        assert result.returncode == 2, result
        assert variable in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "exchange.db").exists(), "nothing may touch the database"


def test_migrate_runs_with_a_complete_production_configuration(tmp_path: Path) -> None:
    result = _run(["migrate"], tmp_path, **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "exchange.db").exists()


def test_demo_data_is_never_loaded_in_production(tmp_path: Path) -> None:
    result = _run(["seed-demo"], tmp_path, **PRODUCTION_ENV)
    assert result.returncode == 2, result
    assert "EXCHANGE_ENV" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("env", ["development", "production"])
def test_a_server_never_loads_demo_data(tmp_path: Path, env: str) -> None:
    """Only ``seed-demo`` (which ``scripts/serve.sh`` runs in development) loads it: a server started from
    the image or by hand opens on an empty exchange, without the demo's published credentials."""
    port = free_port()
    settings = {**PRODUCTION_ENV, "EXCHANGE_ENV": env}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}
    database = tmp_path / "exchange.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        env={**clean, **settings, "EXCHANGE_DATABASE_URL": f"sqlite+aiosqlite:///{database}"},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        with sqlite3.connect(database) as conn:
            assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM organizations").fetchone() == (0,)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_image_runs_in_production() -> None:
    # The stage the image runs, its continued lines joined.
    runtime = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").rsplit("\nFROM ", 1)[1]
    assert re.search(r"^ENV\b.*\bEXCHANGE_ENV=production\b", runtime, re.MULTILINE), runtime
    # compose.yaml passes what production requires; the secret and the public URL come from the caller.
    app = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["app"]
    environment = app["environment"]
    assert environment["EXCHANGE_ENV"] == "production"
    assert environment["EXCHANGE_SECRET_KEY"].startswith("${EXCHANGE_SECRET_KEY:?")
    assert environment["EXCHANGE_PUBLIC_URL"].startswith("${EXCHANGE_PUBLIC_URL")
    assert str(environment.get("EXCHANGE_SANDBOX", "false")).lower() == "false"
