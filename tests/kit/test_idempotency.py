"""``Idempotency.run``'s arguments (its behaviour is tested through the routes that use it)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from app.kit.idempotency import Idempotency
from app.kit.security import Principal


async def test_a_screen_without_the_read_that_looks_keys_up_is_refused() -> None:
    """A screened request the screen refuses is answered only after its key is looked up: without the read
    that does it, a retry of a request that succeeded would be refused instead of replayed."""
    ran: list[str] = []

    async def action() -> Any:
        ran.append("action")

    async def screen() -> None:
        ran.append("screen")

    caller = Principal(user_id=uuid.uuid4(), role="member")
    idem = Idempotency(None, None, caller, "k-1", None)  # type: ignore[arg-type]  # never reached
    with pytest.raises(TypeError, match="needs the read that looks"):
        await idem.run(action, screen=screen)
    assert ran == []
