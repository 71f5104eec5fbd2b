"""Turns: one holder at a time per key, within this process (``asyncio``).

A key's lock exists while someone holds it or waits for it, so the map holds only keys in use. Nothing here is
a guarantee between processes; a caller uses a turn to avoid work it would waste (two writes of one process
racing for the same row, where one must lose), while the database stays the guarantee.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class Turns:
    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def turn(self, key: Hashable) -> AsyncIterator[None]:
        """Wait until no other task of this process holds ``key``'s turn, and hold it."""
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        """How many keys someone holds or waits for."""
        return len(self._locks)
