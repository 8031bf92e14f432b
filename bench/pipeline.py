"""B1 (pipeline throughput on a preloaded topic) and B5 (added event→alert latency)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from pingan.bench.broker import BenchBroker, WorkerProcess, preload
from pingan.bench.core import Result, rss_bytes
from pingan.bench.data import traffic

#: the bench worker flushes often so the measured window does not end on a long flush timer
B1_ENV = {"PINGAN_CLICKHOUSE__FLUSH_INTERVAL_S": "0.25", "PINGAN_WORKER__IDLE_PARTITION_S": "1"}


async def raw_consume(bootstrap: str, topic_names: list[str], n: int, partitions: int = 6,
                      timeout_s: float = 300) -> float:
    """The physical baseline: aiokafka ``getmany`` + orjson decode + field access of ``n`` messages.

    Timed from the first non-empty fetch to the last message decoded (connection set-up excluded,
    as the worker's start-up is)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topic_names for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        started = None
        loads = orjson.loads
        deadline = time.monotonic() + timeout_s
        while seen < n and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            if started is None and batches:
                started = time.perf_counter()
            for records in batches.values():
                for rec in records:
                    seen += 1
                    try:
                        d = loads(rec.value)
                        d["event_id"], d["ts"], d["county_code"]
                    except (orjson.JSONDecodeError, KeyError, TypeError):
                        pass
        if started is None or seen < n:
            raise RuntimeError(f"raw consumer read {seen} of {n} messages")
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def pipeline_rate(broker: BenchBroker, topics: Any, n: int) -> tuple[float, dict[str, Any]]:
    """A fresh worker (new consumer group, new chDB) consumes the preloaded topics; the rate is
    ``n`` over first batch handled → flush that wrote the last row."""
    worker = WorkerProcess(broker.bootstrap, topics, env=B1_ENV)
    try:
        worker.start()
        stats = worker.wait_flushed(n, timeout_s=max(120, n / 100))
        rss = rss_bytes(worker.pid)
        elapsed = stats["last_flush"] - stats["first_batch"]
        return n / elapsed, {"rss_mb": round(rss / 2**20, 1), "alerts": stats["alerts_published"]}
    finally:
        worker.stop()


def rawloop_rate(broker: BenchBroker, names: list[str], n: int) -> float:
    """The same processing without Faust (:mod:`pingan.bench.rawloop`), in its own process."""
    import json
    import subprocess
    import sys

    from pingan.bench.broker import REPO

    out = subprocess.run([sys.executable, "-m", "pingan.bench.rawloop", broker.bootstrap, str(n), *names],
                         capture_output=True, text=True, cwd=str(REPO), timeout=max(300, n / 100))
    if out.returncode != 0:
        raise RuntimeError(f"rawloop failed: {out.stderr[-1500:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["rate"])


def b1_pipeline(broker: BenchBroker, rounds: int, quick: bool) -> tuple[Result, Result]:
    """B1 and B1x (the same processing without Faust) from the same rounds: (B1x, B1)."""
    n = 5_000 if quick else 50_000
    messages = traffic(n)
    topics = broker.topics()
    asyncio.run(preload(broker.bootstrap, topics, messages))  # the load generator runs before any window
    names = list(topics.inputs().values())
    subs, bases, ratios, extra, same, same_ratios = [], [], [], [], [], []
    for r in range(rounds):
        if r % 2 == 0:
            b = asyncio.run(raw_consume(broker.bootstrap, names, n))
            s, info = pipeline_rate(broker, topics, n)
            w = rawloop_rate(broker, names, n)
        else:
            w = rawloop_rate(broker, names, n)
            s, info = pipeline_rate(broker, topics, n)
            b = asyncio.run(raw_consume(broker.bootstrap, names, n))
        subs.append(s)
        bases.append(b)
        ratios.append(s / b)
        same.append(w)
        same_ratios.append(s / w)
        extra.append(info)
        print(f"  B1 round {r + 1}: pipeline {s:,.0f}/s, raw {b:,.0f}/s, ratio {s / b:.3f}; "
              f"same work without Faust {w:,.0f}/s, ratio {s / w:.3f}", flush=True)
    med = sorted(subs)[len(subs) // 2]
    b1x = Result("B1x", "pipeline ÷ the same processing in a plain aiokafka loop (no Faust, no changelog/commits)",
                 "report", same_ratios, figures={"messages": n, "plain_loop_per_s": [round(x) for x in same]})
    return b1x, Result("B1", "pipeline (consume→decode→rules→alerts+rows) ÷ raw getmany+orjson", ">= 0.5", ratios,
                  target_value=0.5, figures={"messages": n, "pipeline_per_s": [round(x) for x in subs],
                                             "raw_per_s": [round(x) for x in bases], "pipeline_median_per_s": round(med),
                                             "worker": extra})
