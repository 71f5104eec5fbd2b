"""Column types: ``UTCDateTime`` binds on SQLite in one step the text SQLAlchemy's own chain would give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from app.kit.types import UTCDateTime

_SQLITE = sqlite.dialect()
_TYPE = UTCDateTime()
_ON_SQLITE = _TYPE.dialect_impl(_SQLITE)  # what SQLAlchemy binds with: its impl is SQLite's DATETIME
_FUSED = _ON_SQLITE._cached_bind_processor(_SQLITE)
_CHAIN = TypeDecorator.bind_processor(_ON_SQLITE, _SQLITE)  # process_bind_param, then the DATETIME's

_ZONES = st.builds(lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60, 23 * 60))


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=_ZONES))
def test_sqlite_text_is_sqlalchemy_s(value: datetime) -> None:
    assert _FUSED is not None and _CHAIN is not None
    assert _FUSED(value) == _CHAIN(value)


def test_none_and_naive_values_are_treated_as_before() -> None:
    assert _FUSED is not None and _CHAIN is not None
    assert _FUSED(None) is None and _CHAIN(None) is None
    for process in (_FUSED, _CHAIN):
        with pytest.raises(ValueError, match="naive"):
            process(datetime(2026, 1, 1))
    assert _FUSED(datetime(2026, 1, 1, 0, 0, 0, 5, tzinfo=UTC)) == "2026-01-01 00:00:00.000005"


def test_other_databases_keep_sqlalchemy_s_chain() -> None:
    process = _TYPE.bind_processor(postgresql.asyncpg.dialect())
    value = datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))
    assert process is None or process(value) == datetime(2026, 1, 1, tzinfo=UTC)
