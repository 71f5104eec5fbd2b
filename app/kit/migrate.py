"""Apply Alembic migrations from code (``python -m app migrate``, ``serve``, tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

_ROOT = Path(__file__).resolve().parents[2]


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """What autogenerate compares: not the SQLite full-text index (a virtual table and its shadow tables,
    made by hand in a migration)."""
    return not (type_ == "table" and name is not None and name.startswith("listing_fts"))


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
