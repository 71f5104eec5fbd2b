"""Hot statements compiled once, run straight on the driver's cursor.

SQLAlchemy's ``Connection.execute`` spends most of a short statement's CPU around it: an execution context
per call, the compiled cache's key, the parameters rebuilt and processed through dictionaries, a cursor
result and its metadata; on a bid's SQLite transaction (eight statements) that was about a third of the
request, four times what ``sqlite3`` took to run them. A statement that runs on every request and never
changes is therefore marked where it is built: ``prepared(statement)`` returns it unchanged, so it stays an
ordinary Core statement that any connection or session runs as always, and registers it here.

``run`` is the shortcut on SQLite, taken by ``app.kit.db.InlineAsyncConnection`` for a prepared statement
on a connection whose ``sqlite3`` runs in the calling coroutine (see that module); ``run_on_asyncpg`` the
one on PostgreSQL, awaited in the calling coroutine instead of SQLAlchemy's greenlet (the greenlet spawn and
SQLAlchemy's execution cost more CPU than asyncpg's own work for a short statement). The statement is compiled
once per dialect (and, for an INSERT or UPDATE without fixed values, per set of parameter names, as
SQLAlchemy compiles them) into its SQL, the order of its parameters with each one's bind processor (UUIDs,
datetimes, JSON as SQLAlchemy stores them) and its result columns with their result processors; a call then
orders and processes the parameters, runs the driver and returns SQLAlchemy's own ``Result`` over the
rows (``first``, ``one``, ``scalar``, ``all``, attribute and ``_mapping`` access as before) with the
``rowcount``. Errors are SQLAlchemy's, as ``Connection.execute`` raises them.

What the shortcut cannot do as SQLAlchemy would, it leaves to SQLAlchemy, per call and never silently
wrong: a statement with an expanding ``IN``, a literal-rendered or computed parameter or a Python-side
default or ``onupdate`` to compute (its form is ``None``), execution options, a connection whose
transaction SQLAlchemy has yet to begin, and an engine with a ``before_cursor_execute`` or
``after_cursor_execute`` listener (tests watch statements that way, and a listener must see every
statement). Several parameter sets are one ``executemany`` on either driver.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection as _ASYNCPG
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import ValuesBase
from sqlalchemy.util import greenlet_spawn

_S = TypeVar("_S", bound=Executable)
_REQUIRED = object()


@dataclass(frozen=True, slots=True)
class _Bind:
    key: str  # the caller's name for it
    default: Any  # its value when the caller gives none; _REQUIRED: the caller must
    process: Callable[[Any], Any] | None


class _Form:
    """A statement compiled for one dialect (and one set of parameter names)."""

    __slots__ = ("_shapes", "binds", "columns", "sql")

    def __init__(self, sql: str, binds: tuple[_Bind, ...], columns: tuple[tuple[str, Any], ...]) -> None:
        self.sql = sql
        self.binds = binds
        self.columns = columns  # (key, SQLAlchemy type) of each result column; none: returns no rows
        self._shapes: dict[tuple[Any, ...], _Shape] = {}

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for bind in self.binds:
            value = params.get(bind.key, bind.default)
            if value is _REQUIRED:
                raise sa_exc.InvalidRequestError(f"A value is required for bind parameter {bind.key!r}")
            values.append(value if bind.process is None else bind.process(value))
        return values

    def shape(self, dialect: Dialect, coltypes: tuple[Any, ...]) -> _Shape:
        """The rows' keys and result processors, for the column types the driver reported (SQLite: none;
        asyncpg: type OIDs, on which some of its processors depend, as in SQLAlchemy's own results)."""
        try:
            return self._shapes[coltypes]
        except KeyError:
            processors = [
                type_._cached_result_processor(dialect, coltype)
                for (_key, type_), coltype in zip(self.columns, coltypes, strict=True)
            ]
            made = SimpleResultMetaData([key for key, _type in self.columns], _processors=processors)
            shape = self._shapes[coltypes] = _Shape(made)
            return shape


class _Shape:
    """A form's result metadata for one set of column types, and the row maker SQLAlchemy builds from it.

    A ``Result`` builds its row maker (closures over the metadata's processors) on its first row and keeps
    it for its own lifetime: about 2% of a bid's CPU went into building the same ones again. A fresh result
    over the same metadata builds the same maker, so it is given the first one, as SQLAlchemy's memoization
    would have kept it: anything that reshapes a result (``columns``, ``unique``) drops it as before."""

    __slots__ = ("metadata", "row_getter")

    def __init__(self, metadata: SimpleResultMetaData) -> None:
        self.metadata = metadata
        self.row_getter: Any = None

    def result(self, rows: Sequence[Any], rowcount: int) -> PreparedResult:
        result = PreparedResult(self.metadata, iter(rows))
        result.rowcount = rowcount
        if self.row_getter is None:
            self.row_getter = result._row_getter
        else:
            result._set_memoized_attribute("_row_getter", self.row_getter)
        return result


class _Prepared:
    __slots__ = ("by_keys", "forms", "statement", "supported")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # An INSERT or UPDATE with no values of its own compiles to the parameters it is given.
        self.by_keys = isinstance(statement, ValuesBase) and not _has_values(statement)
        self.forms: dict[tuple[type[Dialect], tuple[str, ...]], _Form | None] = {}
        # An ORM option is nothing to Core; any other (``stream_results``, ...) is SQLAlchemy's to honour.
        self.supported = set(statement._execution_options) <= {"synchronize_session"}

    def form(self, dialect: Dialect, keys: Sequence[str]) -> _Form | None:
        names = tuple(keys) if self.by_keys else ()
        cache_key = (type(dialect), names)
        try:
            return self.forms[cache_key]
        except KeyError:
            form = self.forms[cache_key] = _compile(self.statement, dialect, names if self.by_keys else None)
            return form


_PREPARED: dict[int, _Prepared] = {}


def prepared(statement: _S) -> _S:
    """Mark a statement built once (a module constant) for the shortcut; returns it unchanged."""
    _PREPARED[id(statement)] = _Prepared(statement)  # kept alive here, so its id stays its own
    return statement


def _has_values(statement: ValuesBase) -> bool:
    return bool(getattr(statement, "_values", None) or getattr(statement, "_multi_values", None))


def _compile(statement: Any, dialect: Dialect, column_keys: tuple[str, ...] | None) -> _Form | None:
    compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
    assert isinstance(compiled, SQLCompiler)
    if (
        not compiled.positional
        or compiled.positiontup is None
        or compiled.post_compile_params
        or compiled.literal_execute_params
        or compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.escaped_bind_names
    ):
        return None
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    processors = compiled._bind_processors
    binds = []
    for name in compiled.positiontup:
        bind = by_name[name]
        process = processors.get(name)
        if bind.callable or isinstance(process, tuple):  # a value computed per call, a tuple type's
            return None
        binds.append(_Bind(bind.key, _REQUIRED if bind.required else bind.value, cast(Any, process)))
    columns = tuple((column.keyname, column.type) for column in compiled._result_columns)
    if len({key for key, _type in columns}) != len(columns):
        return None  # a name twice: SQLAlchemy's rows refuse it as ambiguous, these would not
    return _Form(compiled.string, tuple(binds), columns)


class PreparedResult(IteratorResult[Any]):
    """SQLAlchemy's ``Result`` over the shortcut's rows, with the cursor's ``rowcount``."""

    rowcount: int


def _plan(
    connection: Connection, statement: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
) -> tuple[_Form, list[list[Any]], bool] | None:
    """(the statement's form, the arguments of each parameter set, whether there are several), or None when
    it is not prepared or the shortcut does not apply."""
    entry = _PREPARED.get(id(statement))
    if entry is None or not entry.supported:
        return None
    dispatch = connection.dispatch
    if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        return None
    many = isinstance(params, Sequence) and not isinstance(params, Mapping)
    if many and not params:
        return None
    rows_in: Sequence[Mapping[str, Any]] = params if many else [params or {}]  # type: ignore[assignment, list-item]
    form = entry.form(connection.dialect, list(rows_in[0]))
    if form is None or (many and form.columns):
        return None
    return form, [form.arguments(row) for row in rows_in], many


def _no_rows(rowcount: int) -> PreparedResult:
    """The result of a statement that returns no rows (it has no result columns)."""
    result = PreparedResult(_NO_COLUMNS, iter(()))
    result.rowcount = rowcount
    result._soft_close()
    return result


def run(
    connection: Connection, statement: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
) -> PreparedResult | None:
    """Run a prepared ``statement`` on ``connection``'s ``sqlite3`` connection, in the calling thread; None
    when it is not prepared or the shortcut does not apply (the caller then runs it through SQLAlchemy).
    The caller has checked that the connection's statements may run inline now."""
    plan = _plan(connection, statement, params)
    if plan is None:
        return None
    form, arguments, many = plan
    raw: Any = connection.connection.driver_connection
    raw = raw._conn  # InlineSQLite's sqlite3 connection
    try:
        cursor = raw.cursor()
        try:
            rows: list[Any] = []
            if many:
                cursor.executemany(form.sql, arguments)
            else:
                cursor.execute(form.sql, arguments[0])
                if form.columns:
                    rows = cursor.fetchall()
            rowcount = cursor.rowcount
        finally:
            cursor.close()
    except sqlite3.Error as error:
        raise sa_exc.DBAPIError.instance(
            form.sql, arguments if many else arguments[0], error, sqlite3.Error, dialect=connection.dialect
        ) from error
    if not form.columns:
        return _no_rows(rowcount)
    return form.shape(connection.dialect, (None,) * len(form.columns)).result(rows, rowcount)


def handle_dbapi_error(
    connection: Connection, error: BaseException, statement: str | None, parameters: Any
) -> None:
    """SQLAlchemy's handling of ``error``, raised by the driver outside SQLAlchemy's execution (translated,
    ``handle_error``, a lost connection invalidated), to run in a greenlet of SQLAlchemy's; it raises.

    SQLAlchemy re-raises what it does not translate (a cancellation, say) from ``sys.exc_info()``, which a new
    greenlet does not have: the error is raised again here first, or it would become an ``AssertionError`` (a
    cancelled task's worker took that for a failed pass and never stopped)."""
    try:
        raise error
    except BaseException:
        connection._handle_dbapi_exception(error, statement, parameters, None, None)
    raise error  # not reached: SQLAlchemy raised


_STATUS = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+) (\d+)")


async def run_on_asyncpg(
    connection: Connection, statement: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
) -> PreparedResult | None:
    """Run a prepared ``statement`` on ``connection``'s asyncpg connection, awaited in the calling coroutine
    instead of in a greenlet of SQLAlchemy's; None when the shortcut does not apply. It does what
    SQLAlchemy's asyncpg cursor does (the adapter's lock, its transaction begun on the first statement, its
    cache of prepared statements, the rowcount from the status), and an error goes through SQLAlchemy's own
    handling (translated, the ``handle_error`` listeners, a lost connection invalidated), in a greenlet."""
    adapted = connection._dbapi_connection
    if adapted is None or connection.invalidated or not isinstance(adapted.dbapi_connection, _ASYNCPG):
        return None
    if not connection.in_transaction() and not adapted.dbapi_connection.autocommit:
        return None  # SQLAlchemy's autobegin first
    plan = _plan(connection, statement, params)
    if plan is None:
        return None
    form, arguments, many = plan
    adapt: Any = adapted.dbapi_connection
    try:
        async with adapt._execute_mutex:
            if adapt._transaction is None:
                await adapt._start_transaction()
            try:
                prepared_statement, attributes = await adapt._prepare(
                    form.sql,
                    connection.dialect._invalidate_schema_cache_asof,
                )
                rows: list[Any] = []
                several = len(arguments) > 1
                if several:  # one round trip for them all: asyncpg pipelines them
                    await prepared_statement.executemany(arguments)
                else:
                    rows = await prepared_statement.fetch(*arguments[0])
            except Exception as error:
                adapt._handle_exception(error)  # raises the DB-API error SQLAlchemy's cursor would
            # Of several parameter sets asyncpg reports no count, nor does SQLAlchemy's cursor (-1).
            status = None if several else _STATUS.match(prepared_statement.get_statusmsg() or "")
    except BaseException as error:
        sent = arguments if many else arguments[0]
        await greenlet_spawn(handle_dbapi_error, connection, error, form.sql, sent)
        raise  # not reached: SQLAlchemy raised its own error
    rowcount = int(status.group(1)) if status else -1
    if not form.columns:
        return _no_rows(rowcount)
    return form.shape(connection.dialect, tuple(a.type.oid for a in attributes)).result(rows, rowcount)


_NO_COLUMNS = SimpleResultMetaData([])
