"""The garbage collector in a server process (app.main: GC_THRESHOLDS)."""

from __future__ import annotations

import gc

from app.main import GC_THRESHOLDS, create_app
from tests.conftest import make_settings


async def test_a_server_freezes_its_start_up_heap_and_collects_less_often(backend) -> None:  # type: ignore[no-untyped-def]
    """While it serves, what was built at start-up is out of the collector's generations and the collections
    run at the server's thresholds; the process's own come back when it stops (a test's process, here)."""
    before = gc.get_threshold()
    assert before != GC_THRESHOLDS
    app = create_app(make_settings(backend.url))  # no database given: the lifespan of a server
    async with app.router.lifespan_context(app):
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
