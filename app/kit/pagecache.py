"""Rendered responses kept while what they show is unchanged.

A ``VersionedCache`` keeps, per request key, the body rendered for it and the data version it was rendered
at. The version is a counter in the database that triggers bump with every committed change of the tables
the response shows (``read_versions``), whichever process wrote it, so a body is served only while the
database still reads the version it was rendered at.

The caller reads the version *before* the data: the body kept under a version is then at least as new as
that version (a change committed in between makes it newer, never older), and once a change commits, every
reader sees a newer version and renders again. A missing version (``None``) caches nothing.

The cache is bounded by its number of entries, least recently used first out, so that a client asking for
ever new pages cannot make it grow; each process has its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class VersionedCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[int, bytes]] = OrderedDict()

    def get(self, key: Hashable, version: int | None) -> bytes | None:
        """The body kept for ``key`` if it was rendered at ``version``."""
        entry = self._entries.get(key)
        if entry is None or version is None or entry[0] != version:
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Hashable, version: int | None, body: bytes) -> None:
        """Keep ``body``, rendered from data read after ``version`` was."""
        if version is None:
            return
        kept = self._entries.get(key)
        if kept is not None and kept[0] > version:  # a slower render of older data finishing last
            return
        self._entries[key] = (version, body)
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
