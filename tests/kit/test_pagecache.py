"""``VersionedCache``: a body is served only at the version it was rendered at, and the cache stays bounded."""

from __future__ import annotations

from app.kit.pagecache import VersionedCache


def test_a_body_is_served_at_its_version_only() -> None:
    cache = VersionedCache(4)
    cache.put("front", 7, b"seven")
    assert cache.get("front", 7) == b"seven"
    assert cache.get("front", 8) is None  # something changed since
    assert cache.get("other", 7) is None
    cache.put("front", 8, b"eight")
    assert cache.get("front", 8) == b"eight" and cache.get("front", 7) is None


def test_an_older_render_finishing_last_does_not_replace_a_newer_one() -> None:
    cache = VersionedCache(4)
    cache.put("front", 9, b"new")
    cache.put("front", 8, b"old")
    assert cache.get("front", 9) == b"new"


def test_without_a_version_nothing_is_kept() -> None:
    cache = VersionedCache(4)
    cache.put("front", None, b"body")
    assert len(cache) == 0 and cache.get("front", None) is None


def test_the_least_recently_used_page_goes_first() -> None:
    cache = VersionedCache(3)
    for n in range(3):
        cache.put(n, 1, b"%d" % n)
    assert cache.get(0, 1) == b"0"  # used: 1 is now the oldest
    cache.put(3, 1, b"3")
    assert len(cache) == 3 and cache.get(1, 1) is None
    assert [cache.get(n, 1) for n in (0, 2, 3)] == [b"0", b"2", b"3"]
    for n in range(100, 1000):  # however many pages a client asks for
        cache.put(n, 1, b"x")
    assert len(cache) == 3
