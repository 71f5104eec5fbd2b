"""Settings: one pydantic-settings object, read from ``EXCHANGE_*`` environment variables."""

from __future__ import annotations

import ipaddress
import sys
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.kit.proxies import IPNetwork, parse_networks

DEFAULT_SECRET_KEY = "development-secret-change-me"  # noqa: S105 - refused outside development
MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXCHANGE_", extra="ignore")

    env: Environment = Environment.development
    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/exchange.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user:pw@host/db",
    )
    secret_key: str = DEFAULT_SECRET_KEY
    sandbox: bool = False
    public_url: str | None = Field(
        default=None,
        description="The exchange's external base URL (https://ip.example.cn), for links it prints; "
        "required in production",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = Field(
        default=(),
        description="Reverse proxies whose X-Forwarded-For is believed: comma-separated addresses or CIDRs",
    )
    access_token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    session_idle_minutes: float = Field(
        default=120.0,
        gt=0,
        le=7 * 24 * 60,
        description="A web session ends after this long unused (real time)",
    )
    session_max_hours: float = Field(
        default=12.0, gt=0, le=30 * 24, description="A web session ends this long after sign-in (real time)"
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Largest JSON body accepted")
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, description="Largest CSV upload")
    holiday_file: Path | None = Field(
        default=None,
        description="Operator-edited holiday file for years the official calendar does not cover yet",
    )
    fee_schedule_file: Path | None = Field(
        default=None,
        description="Fee schedule JSON (default: the documented sample in app/data/fee_schedule.json)",
    )
    sweeper_interval_seconds: float = Field(default=1.0, gt=0)
    keep_alive_seconds: int = Field(
        default=75,
        ge=1,
        le=3600,
        description="How long `serve` keeps an idle HTTP connection open: longer than the proxy's idle timeout "
        "for its connections to the exchange, so that the proxy never sends a request (a bid) on a connection "
        "the server is closing at that moment",
    )
    webhook_worker: bool = Field(
        default=True,
        description="Deliver webhooks from this process (SPEC §17.5). Every process does by default; a "
        "deployment may turn it off on processes that should only serve requests, as long as others deliver",
    )
    metrics_token: str | None = Field(
        default=None,
        description="When set, GET /metrics needs it as a bearer token (Authorization: Bearer …)",
    )
    fast_password_hashing: bool = Field(
        default=False, description="Cheaper Argon2id parameters; only allowed with EXCHANGE_ENV=test"
    )
    use_right_min_years: int = Field(
        default=10,
        ge=1,
        le=50,
        description="Shortest use right granted to inventors (赋权, SPEC §18.5), in years",
    )
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: object) -> object:
        return parse_networks(value) if isinstance(value, str) else value

    @field_validator("public_url", mode="before")
    @classmethod
    def _check_public_url(cls, value: object) -> object:
        if isinstance(value, str):
            return base_url(value) if value.strip() else None
        return value

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        """SPEC §20: production refuses to start with anything that would expose the exchange."""
        problems = []
        if self.env != Environment.development and self.secret_key == DEFAULT_SECRET_KEY:
            problems.append(f"EXCHANGE_SECRET_KEY: must be set when EXCHANGE_ENV={self.env.value}")
        elif self.env == Environment.production and len(self.secret_key) < MIN_SECRET_LENGTH:
            problems.append(
                f"EXCHANGE_SECRET_KEY: must be at least {MIN_SECRET_LENGTH} characters in production"
            )
        if self.fast_password_hashing and self.env != Environment.test:
            problems.append("EXCHANGE_FAST_PASSWORD_HASHING: only for EXCHANGE_ENV=test")
        if self.env == Environment.production:
            if self.sandbox:
                problems.append(
                    "EXCHANGE_SANDBOX: must be false in production (operators could move the business clock)"
                )
            if "*" in self.cors_origins:
                problems.append("EXCHANGE_CORS_ORIGINS: list the origins allowed in production, not '*'")
            if self.public_url is None:
                problems.append(
                    "EXCHANGE_PUBLIC_URL: required in production (the exchange's external base URL, "
                    "e.g. https://ip.example.cn)"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry ``Secure`` (and the session cookie the ``__Host-`` prefix) outside development and
        test, which run on plain HTTP (SPEC §19.2)."""
        return self.env == Environment.production

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def base_url(value: str) -> str:
    """An http(s) URL of a host, without path, query, fragment or credentials (``https://ip.example.cn``,
    a trailing slash dropped): where the exchange is reached from outside (SPEC §21)."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host, like https://ip.example.cn")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError("must be the base URL only (no path, query or fragment), like https://ip.example.cn")
    if "@" in parts.netloc:
        raise ValueError("must not carry a user name or password")
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise ValueError("has an invalid port") from None
    host = parts.hostname
    if ":" in host:  # an IPv6 literal
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("has an invalid IPv6 address") from None
    elif not all(label and all(c.isalnum() or c == "-" for c in label) for label in host.split(".")):
        raise ValueError(f"has an invalid host name: {host!r}")
    return f"{scheme}://{parts.netloc}"


def load_settings() -> Settings:
    """Read settings, or exit with a readable message naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = ["Invalid configuration:"]
        for err in exc.errors():
            message = str((err.get("ctx") or {}).get("error", err["msg"]))  # without "Value error, "
            if err["loc"]:
                lines.append(f"  EXCHANGE_{str(err['loc'][0]).upper()}: {message}")
            else:  # the checks across variables: each line names its own
                lines += [f"  {line}" for line in message.splitlines()]
        sys.stderr.write("\n".join(lines) + "\n")
        raise SystemExit(2) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
