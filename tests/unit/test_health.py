"""/health report: Kafka and ClickHouse failures become data with their reason, and ok is false."""

from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace

from pingan.config import Settings, load_settings
from pingan.streams.health import check_health


class Sink:
    def __init__(self, error: Exception | None = None):
        self.error = error
        self.backlog_rows = 12
        self.stats = SimpleNamespace(last_error=None)

    async def query(self, sql: str):
        if self.error is not None:
            raise self.error
        return [{"one": 1}]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(settings: Settings, sink: Sink) -> dict:
    engine = SimpleNamespace(ruleset=SimpleNamespace(version="abc123"))
    runtime = SimpleNamespace(sink=sink, processor=SimpleNamespace(engine=engine), started=True)
    return asyncio.run(check_health(SimpleNamespace(), runtime, settings))


def test_unreachable_kafka_and_failing_clickhouse(monkeypatch):
    monkeypatch.delenv("PINGAN_CONFIG", raising=False)
    settings = load_settings()
    settings.kafka.bootstrap = f"127.0.0.1:{closed_port()}"
    settings.clickhouse.url = "https://pingan:pw-in-url@ch.example.cn:8443"
    r = report(settings, Sink(ConnectionError("Connection refused\nmore lines")))
    assert r["ok"] is False
    assert r["kafka"]["ok"] is False and "connection refused" in r["kafka"]["error"]
    assert r["clickhouse"] == {"url": "https://pingan:********@ch.example.cn:8443", "ok": False,
                               "error": "Connection refused"}
    assert r["rules"] == {"version": "abc123"} and r["consumer"] == {"assigned": []}


def test_clickhouse_answering_is_reported_with_backlog(monkeypatch):
    monkeypatch.delenv("PINGAN_CONFIG", raising=False)
    settings = load_settings()
    settings.kafka.bootstrap = f"127.0.0.1:{closed_port()}"
    r = report(settings, Sink())
    assert r["clickhouse"]["ok"] is True and r["clickhouse"]["backlog_rows"] == 12
    assert r["ok"] is False  # Kafka is still missing
