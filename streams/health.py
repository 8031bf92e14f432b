"""`/health`: is Kafka reachable, is ClickHouse answering, is the worker consuming."""

from __future__ import annotations

import asyncio
from typing import Any

from pingan.errors import PinganError


async def check_health(app: Any, runtime: Any, settings: Any) -> dict[str, Any]:
    from pingan.streams.worker import check_broker

    report: dict[str, Any] = {}
    try:
        await asyncio.get_running_loop().run_in_executor(None, check_broker, settings.kafka.bootstrap, 2.0)
        report["kafka"] = {"ok": True, "bootstrap": settings.kafka.bootstrap}
    except PinganError as exc:
        report["kafka"] = {"ok": False, "error": str(exc)}
    try:
        await asyncio.wait_for(runtime.sink.query("SELECT 1 AS one"), timeout=5.0)
        report["clickhouse"] = {"ok": True}
    except Exception as exc:  # noqa: BLE001 - health reports any failure as data
        report["clickhouse"] = {"ok": False, "error": str(exc)}
    report["rules"] = {"version": getattr(runtime.processor.engine, "ruleset_version", None)}
    report["ok"] = report["kafka"]["ok"] and report["clickhouse"]["ok"]
    return report
