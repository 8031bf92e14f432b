"""B6: the worker's alert producer (Runtime.publish on Faust's producer, then its flush) ÷ a raw
batched aiokafka producer sending the same payloads (already serialised) and flushing."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

from pingan.bench.broker import BenchBroker
from pingan.bench.core import Result


def sample_alerts(n: int) -> list[dict[str, Any]]:
    """``n`` distinct alerts shaped like the engine's (one real firing, re-keyed)."""
    from pingan.schemas.alert import alert_id_for

    base = {"alert_id": "", "rule_id": "CAM-WANTED", "rule_version": "0123456789ab", "severity": "critical",
            "key": "", "ts": 1_795_910_400.0, "county_code": "532301", "county_name": "楚雄市",
            "township_code": "532301100", "township_name": "鹿城镇", "village_code": None, "village_name": None,
            "title": "在逃人员比中：楚雄市鹿城镇，摄像头CAM-532301-000001，置信度0.95", "evidence": ["cam-1"],
            "figures": {"confidence": 0.95}, "labels": {"kind": "watchlist"}, "domain": "camera",
            "status": "enabled", "topics": ["alerts"]}
    out = []
    for i in range(n):
        a = copy.deepcopy(base)
        a["key"] = f"KP{i:07d}"
        a["ts"] = base["ts"] + i
        a["evidence"] = [f"cam-{i}"]
        a["alert_id"] = alert_id_for(a["rule_id"], a["key"], a["ts"])
        out.append(a)
    return out


async def _faust_rate(bootstrap: str, topics: Any, alerts: list[dict[str, Any]]) -> float:
    import faust

    from pingan.config import Settings
    from pingan.streams.runtime import Runtime

    settings = Settings(topics=topics)
    app = faust.App(f"bench-producer-{time.time_ns()}", broker=f"kafka://{bootstrap}", producer_acks=-1,
                    web_enabled=False, store="memory://")
    runtime = Runtime(app, processor=None, sink=None, state_table=None, settings=settings)
    await app.producer.start()
    try:
        await runtime.publish(alerts[:10], [])  # connection and metadata outside the window
        await app.producer.flush()
        started = time.perf_counter()
        await runtime.publish(alerts, [])
        await app.producer.flush()
        return len(alerts) / (time.perf_counter() - started)
    finally:
        await app.producer.stop()


async def _raw_rate(bootstrap: str, topic: str, alerts: list[dict[str, Any]]) -> float:
    from aiokafka import AIOKafkaProducer

    from pingan.streams.runtime import alert_message

    payloads = [(str(a["key"]).encode(), alert_message(a)) for a in alerts]  # serialised outside the window
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        for key, value in payloads[:10]:
            await producer.send(topic, value=value, key=key)
        await producer.flush()
        started = time.perf_counter()
        send = producer.send
        for key, value in payloads:
            await send(topic, value=value, key=key)
        await producer.flush()
        return len(payloads) / (time.perf_counter() - started)
    finally:
        await producer.stop()


def b6_producer(broker: BenchBroker, rounds: int, quick: bool) -> Result:
    alerts = sample_alerts(5_000 if quick else 50_000)
    topics = broker.topics()
    asyncio.run(_raw_rate(broker.bootstrap, topics.alerts, alerts[:500]))  # leaders elected, outside the rounds
    subs, bases, ratios = [], [], []
    for r in range(rounds):
        if r % 2 == 0:
            b = asyncio.run(_raw_rate(broker.bootstrap, topics.alerts, alerts))
            s = asyncio.run(_faust_rate(broker.bootstrap, topics, alerts))
        else:
            s = asyncio.run(_faust_rate(broker.bootstrap, topics, alerts))
            b = asyncio.run(_raw_rate(broker.bootstrap, topics.alerts, alerts))
        subs.append(s)
        bases.append(b)
        ratios.append(s / b)
    return Result("B6", "alert producer ÷ raw batched aiokafka producer", ">= 0.5", ratios, target_value=0.5,
                  figures={"alerts": len(alerts), "alert_producer_per_s": round(sorted(subs)[len(subs) // 2]),
                           "raw_producer_per_s": round(sorted(bases)[len(bases) // 2])})
