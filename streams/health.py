"""`/health`: is Kafka reachable, is ClickHouse answering, is the worker consuming.

Kafka is checked with the worker's own connection settings (TLS handshake and SASL
authentication included), so a revoked password or an expired certificate shows here with its
reason, not only a closed port. ``ok`` is true when both Kafka and ClickHouse answer; the page
answers 503 otherwise. The rest of the report is information for the operator.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pingan.errors import PinganError

KAFKA_TIMEOUT_S = 3.0
CLICKHOUSE_TIMEOUT_S = 5.0


async def check_kafka(settings: Any) -> dict[str, Any]:
    from pingan.kafka_security import probe_broker_async

    started = time.perf_counter()
    try:
        server = await probe_broker_async(settings.kafka, timeout_s=KAFKA_TIMEOUT_S)
    except PinganError as exc:
        return {"ok": False, "bootstrap": settings.kafka.bootstrap, "error": str(exc)}
    return {"ok": True, "bootstrap": settings.kafka.bootstrap, "broker": server,
            "security_protocol": settings.kafka.security_protocol,
            "seconds": round(time.perf_counter() - started, 4)}


async def check_clickhouse(sink: Any, settings: Any) -> dict[str, Any]:
    from pingan.config import mask_url

    report: dict[str, Any] = {"url": mask_url(settings.clickhouse.url)}
    started = time.perf_counter()
    try:
        await asyncio.wait_for(sink.query("SELECT 1 AS one"), timeout=CLICKHOUSE_TIMEOUT_S)
    except asyncio.TimeoutError:
        report.update(ok=False, error=f"no answer within {CLICKHOUSE_TIMEOUT_S:g} s")
        return report
    except Exception as exc:  # noqa: BLE001 - health reports any failure as data
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        report.update(ok=False, error=text[:300])
        return report
    report.update(ok=True, seconds=round(time.perf_counter() - started, 4))
    backlog = getattr(sink, "backlog_rows", None)
    if isinstance(backlog, int):
        report["backlog_rows"] = backlog
    stats = getattr(sink, "stats", None)
    if stats is not None and getattr(stats, "last_error", None):
        report["last_write_error"] = stats.last_error
    return report


def consumer_report(app: Any) -> dict[str, Any]:
    from pingan.streams.metrics import consumer_lag

    try:
        assigned = sorted(f"{tp.topic}:{tp.partition}" for tp in app.consumer.assignment())
    except Exception:  # noqa: BLE001 - no consumer yet (starting or rebalancing)
        return {"assigned": []}
    lag = consumer_lag(app)
    return {"assigned": assigned, "lag_messages": sum(lag.values()) if lag else None}


async def check_health(app: Any, runtime: Any, settings: Any) -> dict[str, Any]:
    kafka, clickhouse = await asyncio.gather(check_kafka(settings), check_clickhouse(runtime.sink, settings))
    engine = getattr(runtime.processor, "engine", None)
    version = getattr(engine, "ruleset_version", None)
    if version is None:
        version = getattr(getattr(engine, "ruleset", None), "version", None)
    return {
        "ok": bool(kafka["ok"] and clickhouse["ok"]),
        "kafka": kafka,
        "clickhouse": clickhouse,
        "consumer": consumer_report(app),
        "rules": {"version": version},
        "started": bool(getattr(runtime, "started", False)),
    }
