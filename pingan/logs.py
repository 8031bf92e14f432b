"""Logging for the worker and the CLI: readable text lines or one JSON object per line.

``setup_logging(settings)`` configures the root logger from ``settings.log_format`` (``text`` or
``json``) and ``settings.log_level`` (the level of the ``pingan`` loggers; other libraries log at
WARNING and above). Context travels as ``extra`` fields and is kept in both formats::

    log.info("invalid message", extra={"topic": t, "partition": p, "offset": o, "reason": r})

JSON lines carry ``ts`` (RFC 3339, +08:00), ``level``, ``logger``, ``message``, every extra field
(``rule_id``, ``topic``, ``partition``, ``offset``, …) and ``exc`` (the exception, one string)
when there is one. The Faust worker is given the same handler through
:func:`worker_logging_config`, so its own log lines have the same shape.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from datetime import datetime
from typing import IO, Any

import orjson

from pingan.schemas.alert import CST

#: Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(logging.LogRecord("x", 0, "x", 0, "x", None, None).__dict__) | {"message", "asctime", "taskName"}

#: The context fields listed first in text lines, in this order.
CONTEXT_FIELDS = ("rule_id", "topic", "partition", "offset")

HANDLER_NAME = "pingan"


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra`` fields of a record (rule_id, topic, partition, offset, …)."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, CST).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; values that are not JSON types are written with ``str()``."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            doc.setdefault(key, value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exc"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")


class TextFormatter(logging.Formatter):
    """``2026-11-29T21:14:03.120+08:00 INFO pingan.worker: message topic=… partition=… offset=…``."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        extras = extra_fields(record)
        if extras:
            ordered = [k for k in CONTEXT_FIELDS if k in extras] + sorted(k for k in extras if k not in CONTEXT_FIELDS)
            line += " " + " ".join(f"{k}={_text(extras[k])}" for k in ordered)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _text(value: Any) -> str:
    text = str(value)
    return repr(text) if (" " in text or not text) else text


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return TextFormatter()
    raise ValueError(f"unknown log format {log_format!r} (text or json)")


def _levels(settings: Any) -> tuple[str, str]:
    level = str(getattr(settings, "log_level", "INFO")).upper()
    return level, "WARNING"


def setup_logging(settings: Any, stream: IO[str] | None = None) -> logging.Handler:
    """Install one handler on the root logger (replacing an earlier one of ours); returns it."""
    level, others = _levels(settings)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(make_formatter(getattr(settings, "log_format", "text")))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(others)
    logging.getLogger("pingan").setLevel(level)
    if level != "DEBUG":
        handler.addFilter(QuietLibraries())
    return handler


#: Client libraries whose connection errors Pingan reports itself, as one-line errors (CLI).
QUIET_LIBRARIES = ("kafka", "aiokafka", "urllib3", "clickhouse_connect")


class QuietLibraries(logging.Filter):
    """Drops the client libraries' own records (below CRITICAL) from the CLI's output.

    A filter on our handler, not logger levels: some libraries reset their loggers' levels when
    they are imported (clickhouse-connect sets urllib3 to WARNING).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        for prefix in QUIET_LIBRARIES:
            if name == prefix or name.startswith(prefix + "."):
                return record.levelno >= logging.CRITICAL
        return True


def worker_logging_config(settings: Any, loglevel: str = "warning") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``faust.Worker(logging_config=…)``: our formatter on stderr.

    Faust's own loggers (and the Kafka client's) use ``loglevel`` (the worker's ``--loglevel``);
    Pingan's use ``settings.log_level`` through a handler of their own, because Faust sets the
    level of the root logger's first handler to ``loglevel`` when it starts.
    """
    level, _ = _levels(settings)
    log_format = getattr(settings, "log_format", "text")
    handler = {"class": "logging.StreamHandler", "formatter": "pingan", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"pingan": {"()": JsonFormatter if log_format == "json" else TextFormatter}},
        "handlers": {HANDLER_NAME: dict(handler), f"{HANDLER_NAME}-app": dict(handler)},
        "root": {"level": loglevel.upper(), "handlers": [HANDLER_NAME]},
        "loggers": {"pingan": {"level": level, "handlers": [f"{HANDLER_NAME}-app"], "propagate": False},
                    # the worker keeps its Kafka client's warnings (the CLI hushes them)
                    **{name: {"level": loglevel.upper()} for name in QUIET_LIBRARIES}},
    }
