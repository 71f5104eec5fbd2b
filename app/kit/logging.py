"""Structured logs: one JSON line per record, with the request id bound for the request's lifetime."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import sys
import time
import traceback
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Third-party loggers kept at WARNING whatever the level (SPEC §21): fontTools logs some 34 INFO lines per PDF
# (font subsetting), fpdf2 its own progress.
NOISY_LOGGERS = ("uvicorn.access", "sqlalchemy.engine", "aiosqlite", "fontTools", "fpdf")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


# Values JSON has no type for are written as ``str()`` gives them, datetimes included (orjson's own format
# for them would differ from the standard library's, which wrote these lines before).
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _encode(entry: dict[str, Any]) -> str:
    """``entry`` as one line of JSON: orjson, a tenth of the standard library's cost on every request's line;
    what it refuses (an integer beyond 64 bits, say) goes through the standard library instead."""
    try:
        return orjson.dumps(entry, default=str, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return json.dumps(entry, ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (UTC, milliseconds), ``level``, ``logger``, ``msg``, the request id
    and the record's ``extra`` fields. It formats every request's line, so the second's text is kept."""

    _second: tuple[int, str] = (-1, "")

    def _timestamp(self, record: logging.LogRecord) -> str:
        second, millis = divmod(int(record.created * 1000), 1000)
        if second != self._second[0]:
            self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return f"{self._second[1]}.{millis:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            entry["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _encode(entry)


_LOGGED = "_exchange_logged"


def mark_logged(exc: BaseException) -> None:
    """Note that ``exc`` and its traceback have been logged (``configure_logging`` drops the server's copy)."""
    setattr(exc, _LOGGED, True)


def _not_logged_before(record: logging.LogRecord) -> bool:
    """Starlette re-raises the exception of a 500 after the application's handler has logged it and answered;
    the server would log the same traceback again as "Exception in ASGI application"."""
    return not (record.exc_info and getattr(record.exc_info[1], _LOGGED, False))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = request_id_var.get()
        base = super().format(record)
        return f"{base} [{rid}]" if rid else base


class TurnBatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes the lines logged in one turn of the event loop together, in one write
    after the turn, instead of one write (a system call: stderr is line-buffered) per line: every request
    logs a line, and a server's turn answers several requests. A line logged where no loop runs (another
    thread, start-up, a command) is written at once, after any waiting. ``flush()`` and ``close()`` (which
    ``logging.shutdown()`` calls at exit) write what waits; a process killed outright loses one turn's lines.
    """

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._waiting: list[str] = []
        self._turn_of: asyncio.AbstractEventLoop | None = None  # the loop asked to write after its turn

    def emit(self, record: logging.LogRecord) -> None:  # called holding the handler's lock
        try:
            self._waiting.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self._turn_of is not loop:  # a loop that closed before its turn came is replaced here
            self._turn_of = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # Handler.createLock made it
            self._turn_of = None
            if self._waiting:
                text = "".join(self._waiting)
                self._waiting.clear()
                try:
                    self.stream.write(text)
                except Exception:  # as logging.Handler.handleError: the lines are lost, the caller goes on
                    if logging.raiseExceptions and sys.stderr:
                        traceback.print_exc(file=sys.stderr)
            super().flush()

    def close(self) -> None:
        self.flush()
        super().close()


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    # Every request logs a line: skip what no formatter here prints (the Python logging HOWTO's
    # "Optimization"): the caller's file and line (a stack walk per record), thread, process and task names.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined,unused-ignore]  # Python 3.12+
    handler = TurnBatchedStreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    server = logging.getLogger("uvicorn.error")
    if _not_logged_before not in server.filters:
        server.addFilter(_not_logged_before)
