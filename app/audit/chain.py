"""Pure functions of the per-entity hash chain (SPEC §15, DESIGN.md "Audit trail").

``hash = sha256(prev_hash || canonical_json(event))`` where the canonical form has sorted keys, no
whitespace, UTF-8, and times as UTC ISO text. The first event of an entity chains from ``GENESIS``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

GENESIS = "0" * 64


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not serialisable in an audit event: {type(value).__name__}")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def normalise_data(data: dict[str, Any]) -> dict[str, Any]:
    """The data as it will read back from a JSON column (UUIDs, dates and times become strings)."""
    result: dict[str, Any] = json.loads(canonical_json(data))
    return result


def event_hash(
    *,
    prev_hash: str,
    entity_type: str,
    entity_id: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    data: dict[str, Any],
) -> str:
    body = canonical_json(
        {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "data": data,
        }
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def next_row(
    *,
    last: tuple[int, str] | None,
    entity_type: str,
    entity_id: str,
    at: datetime,
    actor: str,
    action: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The ``audit_events`` row that continues a chain whose last event is ``last`` ``(seq, hash)`` (None:
    the chain starts here): the next ``seq``, ``prev_hash``, the data as it reads back and its ``hash``."""
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    payload = normalise_data(data)
    return {
        "id": uuid.uuid4(),
        "entity_type": entity_type,
        "entity_id": entity_id,
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "data": payload,
        "prev_hash": prev_hash,
        "hash": event_hash(
            prev_hash=prev_hash,
            entity_type=entity_type,
            entity_id=entity_id,
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            data=payload,
        ),
    }
