"""One PostgreSQL statement for a guarded change and everything written with it (data-modifying CTEs).

A change decided in Python against a row read a moment before is written by one conditional UPDATE whose
WHERE says the row is still as read (a compare-and-set), and the rows that go with the change (the bid, its
events, audit records, notices) are INSERTed by the same statement, each ``SELECT``-ing its values from the
UPDATE's result: when the UPDATE matches nothing, nothing is written. Run alone in autocommit the statement is
one transaction of one round trip, and its row lock lasts as long as the statement.

The statement's shape (which tables, how many rows) is built and compiled once and kept (``compose``): the
values are bind parameters named after the write and the row, ``params`` gives them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CTE, Insert, Select, Table, bindparam, func, insert, literal_column, select, union_all

from app.kit.statements import prepared

Builder = Callable[[CTE], Insert]


@dataclass(frozen=True)
class Write:
    """One INSERT that follows the guarded change: ``build(after)`` makes it from the guard's CTE (it must
    select from ``after``, so that it writes nothing when the guard matched nothing), ``shape`` tells its
    statements apart (it keys the compiled cache) and ``params`` are its values. ``counted``: the final row
    carries how many rows it wrote, as ``<name>_written``."""

    name: str
    shape: Hashable
    build: Builder
    params: Mapping[str, Any]
    counted: bool = False


def rows(name: str, table: Table, values: Sequence[Mapping[str, Any]]) -> Write:
    """Write ``values`` (at least one dict, all with the same keys, one per row) into ``table`` after the guard."""
    columns = tuple(values[0])

    def build(after: CTE) -> Insert:
        selects = [
            select(*(bindparam(f"{name}{i}_{c}", type_=table.c[c].type) for c in columns)).select_from(after)
            for i in range(len(values))
        ]
        return insert(table).from_select(
            list(columns), selects[0] if len(selects) == 1 else union_all(*selects)
        )

    params = {f"{name}{i}_{c}": row[c] for i, row in enumerate(values) for c in columns}
    return Write(name, (table.name, columns, len(values)), build, params)


_COMPOSED: dict[Hashable, Select[Any]] = {}


def compose(guard_name: str, guard: Callable[[], Any], writes: Sequence[Write]) -> Select[Any]:
    """The statement: ``guard()`` (an UPDATE … RETURNING) as the CTE ``guard_name``, each write after it, and
    a final SELECT of the guard's row (none: it matched nothing, and nothing was written) with a count of each
    counted write. Built once per shape and marked ``prepared``."""
    key = (guard_name, tuple((w.name, w.shape, w.counted) for w in writes))
    statement = _COMPOSED.get(key)
    if statement is None:
        after = guard().cte(guard_name)
        ctes = []
        for w in writes:
            written = w.build(after)
            ctes.append(
                (written.returning(literal_column("1").label("one")) if w.counted else written).cte(w.name)
            )
        counts = [
            select(func.count()).select_from(c).scalar_subquery().label(f"{w.name}_written")
            for w, c in zip(writes, ctes, strict=True)
            if w.counted
        ]
        statement = prepared(select(after, *counts).add_cte(*ctes))
        _COMPOSED[key] = statement
    return statement


def params(base: Mapping[str, Any], writes: Sequence[Write]) -> dict[str, Any]:
    """The guard's parameters ``base`` and every write's."""
    merged = dict(base)
    for w in writes:
        merged.update(w.params)
    return merged
