"""Structured logs: JSON lines with context fields; text lines keep the same context."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace

import pytest

from pingan.logs import HANDLER_NAME, JsonFormatter, setup_logging, worker_logging_config


@pytest.fixture()
def restore_root():
    root, pingan = logging.getLogger(), logging.getLogger("pingan")
    handlers, level = list(root.handlers), root.level
    pingan_state = (list(pingan.handlers), pingan.level, pingan.propagate)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    pingan.handlers[:], level_, pingan.propagate = pingan_state[0], pingan_state[1], pingan_state[2]
    pingan.setLevel(level_)


def test_json_lines_carry_rule_topic_partition_offset(restore_root):
    out = io.StringIO()
    setup_logging(SimpleNamespace(log_format="json", log_level="INFO"), stream=out)
    log = logging.getLogger("pingan.worker")
    log.info("invalid message", extra={"topic": "camera.alerts", "partition": 3, "offset": 1207,
                                       "reason": "confidence: 需要数字"})
    log.warning("rule %s fired late", "CAM-WANTED", extra={"rule_id": "CAM-WANTED"})
    log.debug("not shown at INFO")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "invalid message" and first["level"] == "INFO" and first["logger"] == "pingan.worker"
    assert (first["topic"], first["partition"], first["offset"]) == ("camera.alerts", 3, 1207)
    assert first["reason"] == "confidence: 需要数字"
    assert first["ts"].endswith("+08:00")
    assert second["rule_id"] == "CAM-WANTED" and second["message"] == "rule CAM-WANTED fired late"


def test_json_exception_is_one_field_and_odd_values_survive(restore_root):
    out = io.StringIO()
    setup_logging(SimpleNamespace(log_format="json", log_level="INFO"), stream=out)
    from decimal import Decimal

    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("pingan.sink").exception("write failed", extra={"loss": Decimal("1.50"), "ids": {1: "a"}})
    (line,) = out.getvalue().splitlines()
    doc = json.loads(line)
    assert "ValueError: boom" in doc["exc"]
    assert doc["loss"] == "1.50" and doc["ids"] == {"1": "a"}


def test_text_lines_keep_context_and_level_filters(restore_root):
    out = io.StringIO()
    setup_logging(SimpleNamespace(log_format="text", log_level="WARNING"), stream=out)
    logging.getLogger("pingan.worker").info("hidden")
    logging.getLogger("pingan.worker").error("flush failed", extra={"offset": 9, "topic": "grid.reports",
                                                                     "partition": 1})
    logging.getLogger("faust.x").info("library chatter is WARNING+ only")
    (line,) = out.getvalue().splitlines()
    assert "ERROR pingan.worker: flush failed topic=grid.reports partition=1 offset=9" in line


def test_setup_twice_keeps_one_handler(restore_root):
    settings = SimpleNamespace(log_format="json", log_level="INFO")
    setup_logging(settings, stream=io.StringIO())
    setup_logging(settings, stream=io.StringIO())
    assert [h.get_name() for h in logging.getLogger().handlers].count(HANDLER_NAME) == 1


def test_worker_logging_config_uses_our_formatter(restore_root):
    import logging.config

    config = worker_logging_config(SimpleNamespace(log_format="json", log_level="DEBUG"), "warning")
    logging.config.dictConfig(config)
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == HANDLER_NAME)
    assert isinstance(handler.formatter, JsonFormatter)
    assert logging.getLogger("pingan").level == logging.DEBUG
    assert logging.getLogger().level == logging.WARNING
    # Faust lowers the root's first handler to its --loglevel; Pingan's records have their own handler
    handler.setLevel(logging.WARNING)
    app_handler = logging.getLogger("pingan").handlers[0]
    assert isinstance(app_handler.formatter, JsonFormatter) and app_handler.level == logging.NOTSET
