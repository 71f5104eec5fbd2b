from __future__ import annotations

from datetime import datetime
from typing import Any

from app.kit.schemas import ResponseModel


class AuditEventOut(ResponseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


class BrokenLink(ResponseModel):
    entity_type: str
    entity_id: str
    seq: int
    problem: str


class VerifyOut(ResponseModel):
    ok: bool
    count: int
    broken: list[BrokenLink]
