"""Logging for every genhook process: readable text by default, one JSON object per
line with ``GENHOOK_LOG_FORMAT=json``.

One :func:`logging_config` (a :func:`logging.config.dictConfig` document) is the whole
setup, so every process applies the same one: ``genhook serve`` hands it to uvicorn
(which applies it in each process it starts, workers included), ``genhook worker``
and ``genhook simulate`` apply it themselves. uvicorn's and APScheduler's loggers
propagate to the one root handler, so their lines come out in the same format.

A JSON line carries ``time`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``
first, then whatever the call site attached: ``extra={"task_id": ...}`` and the
fields bound for the current request or job with :func:`bind` (``task_id``,
``provider``, ``event_id``, ``delivery_id``). A traceback is one string field
(``exc_info``), never extra lines.

Noise: APScheduler logs every run of every job at INFO, so it is held at WARNING;
httpx logs every request it sends, and uvicorn's access log every request it
serves, at INFO: both are demoted to DEBUG (visible with ``GENHOOK_LOG_LEVEL=debug``).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.config
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
CONTEXT_FIELDS = ("task_id", "provider", "event_id", "delivery_id")
# Attributes some libraries add to their records that say nothing new (uvicorn's
# ANSI-coloured copy of the message, asyncio's task name).
IGNORED_ATTRIBUTES = ("color_message", "taskName")

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "genhook_log_context", default=None
)


@contextlib.contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Attach ``fields`` to every line logged inside the block (in this task and the
    tasks it starts). ``None`` values are left out."""
    current = _context.get() or {}
    token = _context.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the fields bound with :func:`bind` onto each record (a handler filter,
    so records of every logger get them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class DemoteToDebug(logging.Filter):
    """A logger's INFO lines become DEBUG lines (one line per HTTP request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


class JsonFormatter(_LibraryJsonFormatter):
    """python-json-logger's formatter, with genhook's field names and order."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, *IGNORED_ATTRIBUTES],
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = (
            datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        ).replace("+00:00", "Z")
        super().add_fields(log_data, record, message_dict)


def logging_config(level: str = "info", log_format: str = "text") -> dict[str, Any]:
    """The dictConfig document for ``level`` and ``log_format`` (``text`` or ``json``)."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        # genhook's modules create their loggers at import time, before this runs
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": f"{__name__}.ContextFilter"},
            "demote": {"()": f"{__name__}.DemoteToDebug"},
        },
        "formatters": {"genhook": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "genhook",
                "filters": ["context"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            # propagate to the root handler, none of their own
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True, "filters": ["demote"]},
            "apscheduler": {"level": "WARNING"},
            "httpx": {"filters": ["demote"]},
        },
    }


def configure(level: str = "info", log_format: str = "text") -> dict[str, Any]:
    """Apply :func:`logging_config` to this process; returns the document (for uvicorn).

    In JSON mode warnings and uncaught exceptions go through logging too, so that not
    even a crash writes a line that is not JSON.
    """
    config = logging_config(level, log_format)
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
    if log_format == "json":
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
    return config


def _log_uncaught(
    kind: type[BaseException], value: BaseException, traceback: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    logging.getLogger("genhook").critical("uncaught exception", exc_info=(kind, value, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    logging.getLogger("genhook").critical(
        "uncaught exception in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
