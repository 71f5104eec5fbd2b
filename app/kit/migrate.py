"""Apply Alembic migrations from code (``python -m app migrate``, ``serve``, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    for candidate in (Path.cwd() / "alembic.ini", _ROOT / "alembic.ini"):
        if candidate.exists():
            cfg = Config(str(candidate))
            break
    else:
        raise SystemExit("alembic.ini not found: run from the project directory")
    cfg.attributes["url"] = url
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
