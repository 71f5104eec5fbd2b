"""Structured logs: one JSON line per record, with the request id bound for the request's lifetime."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Third-party loggers kept at WARNING whatever the level (SPEC §21): fontTools logs some 34 INFO lines per PDF
# (font subsetting), fpdf2 its own progress.
NOISY_LOGGERS = ("uvicorn.access", "sqlalchemy.engine", "aiosqlite", "fontTools", "fpdf")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
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
        return json.dumps(entry, ensure_ascii=False, default=str)


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


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    # Every request logs a line: skip what no formatter here prints (the Python logging HOWTO's
    # "Optimization"): the caller's file and line (a stack walk per record), thread, process and task names.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined,unused-ignore]  # Python 3.12+
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    server = logging.getLogger("uvicorn.error")
    if _not_logged_before not in server.filters:
        server.addFilter(_not_logged_before)
