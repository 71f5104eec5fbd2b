"""Settings: one pydantic-settings object, read from ``EXCHANGE_*`` environment variables."""

from __future__ import annotations

import sys
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.kit.proxies import IPNetwork, parse_networks

DEFAULT_SECRET_KEY = "development-secret-change-me"  # noqa: S105 - refused outside development


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
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = Field(
        default=(),
        description="Reverse proxies whose X-Forwarded-For is believed: comma-separated addresses or CIDRs",
    )
    access_token_minutes: int = Field(default=60, ge=1, le=24 * 60)
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
    fast_password_hashing: bool = Field(
        default=False, description="Cheaper Argon2id parameters; only allowed with EXCHANGE_ENV=test"
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

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env != Environment.development and self.secret_key == DEFAULT_SECRET_KEY:
            raise ValueError(f"EXCHANGE_SECRET_KEY must be set when EXCHANGE_ENV={self.env.value}")
        if self.fast_password_hashing and self.env != Environment.test:
            raise ValueError("EXCHANGE_FAST_PASSWORD_HASHING is only for EXCHANGE_ENV=test")
        if self.env == Environment.production and len(self.secret_key) < 32:
            raise ValueError("EXCHANGE_SECRET_KEY must be at least 32 characters in production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings() -> Settings:
    """Read settings, or exit with a readable message naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = ["Invalid configuration:"]
        for err in exc.errors():
            name = "EXCHANGE_" + str(err["loc"][0]).upper() if err["loc"] else "settings"
            lines.append(f"  {name}: {err['msg']}")
        sys.stderr.write("\n".join(lines) + "\n")
        raise SystemExit(2) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
