"""B5: added p99 event→alert latency at half of B1's maximum rate, over the raw produce→consume
p99 on the same broker at the same rate.

Load: camera, grid and service events spread round-robin over every input partition with
``ts`` = the send time (so every partition moves the watermark), one in ``TRIGGER_EVERY`` a
CAM-WANTED face match with a fresh person id (a match rule: one alert each). The payloads are
built before the window; only ``ts`` is stamped at send time. The worker runs with no grace
period (a live-latency configuration: grace holds every event back by its length, by design).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

import orjson

from pingan.bench.broker import BenchBroker, WorkerProcess
from pingan.bench.core import Result

TRIGGER_EVERY = 20
LATENCY_ENV = {"PINGAN_WORKER__GRACE_S": "0", "PINGAN_WORKER__IDLE_PARTITION_S": "1",
               "PINGAN_CLICKHOUSE__FLUSH_INTERVAL_S": "1.0"}
FLUSH_INTERVAL_S = 1.0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")


def _templates(n: int) -> list[tuple[str, dict[str, Any]]]:
    """(stream, event without ts) cycling over streams; every TRIGGER_EVERY-th a CAM-WANTED hit."""
    county, town, village = "532301", "532301101", "532301101001"
    out = []
    for i in range(n):
        eid = f"lat-{i}"
        if i % TRIGGER_EVERY == 0:
            out.append(("camera", {"event_id": eid, "camera_id": "CAM-532301-000001", "county_code": county,
                                   "township_code": town, "kind": "face_match", "person_id": f"P{i}",
                                   "watchlist": "wanted", "confidence": 0.95}))
        elif i % 4 == 3:
            out.append(("fraud", {"event_id": eid, "case_id": f"F{i}", "status": "investigating", "fraud_type": "other",
                                  "county_code": county, "township_code": town, "loss_yuan": 10, "victim_age": 30,
                                  "channel": "phone"}))
        elif i % 3 == 0:
            out.append(("grid", {"event_id": eid, "report_id": f"R{i}", "status": "resolved", "category": "other",
                                 "county_code": county, "township_code": town, "village_code": village}))
        elif i % 3 == 1:
            out.append(("service", {"event_id": eid, "record_id": f"S{i}", "status": "accepted",
                                    "county_code": county, "channel": "hall"}))
        else:
            out.append(("camera", {"event_id": eid, "camera_id": "CAM-532301-000002", "county_code": county,
                                   "township_code": town, "kind": "online"}))
    return out


def _p99(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))] if values else float("nan")


async def _run(bootstrap: str, send_to: dict[str, str], listen: str, rate: float, seconds: float,
               round_id: str, raw: bool, partitions: int, stream_names: dict[str, str]) -> list[float]:
    """Send at ``rate`` for ``seconds``; returns latencies (s) of triggers (pipeline) or of all (raw)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    n = int(rate * seconds)
    templates = _templates(n)
    sent: dict[str, float] = {}
    lat: list[float] = []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="latest",
                                fetch_max_wait_ms=5)
    await consumer.start()
    parts = [TopicPartition(listen, p) for p in range(partitions if raw else 3)]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    for tp in parts:
        await consumer.position(tp)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
    await producer.start()
    done = asyncio.Event()

    async def receive() -> None:
        while not done.is_set() or len(lat) < len(sent) and time.monotonic() < drain_until[0]:
            batches = await consumer.getmany(timeout_ms=50)
            now = time.time()
            for records in batches.values():
                for rec in records:
                    key = rec.key.decode() if rec.key else ""
                    t0 = sent.get(key)
                    if t0 is not None:
                        lat.append(now - t0)

    drain_until = [float("inf")]
    receiver = asyncio.create_task(receive())
    try:
        interval = 0.01
        per_tick = max(1, round(rate * interval))
        start = time.monotonic()
        i = 0
        topics_by_stream = send_to
        while i < n:
            for _ in range(per_tick):
                if i >= n:
                    break
                stream, ev = templates[i]
                now = time.time()
                if raw:
                    key = f"{round_id}-{i}"
                    topic = topics_by_stream["raw"]
                    value = b"{}"
                    sent[key] = now
                else:
                    value = orjson.dumps({**ev, "event_id": f"{round_id}-{ev['event_id']}", "ts": _iso(now)})
                    topic = topics_by_stream[stream]
                    key = ev.get("person_id") if ev.get("kind") == "face_match" else None
                    if key is not None:
                        key = f"{round_id}{key}"
                        value = orjson.dumps({**ev, "event_id": f"{round_id}-{ev['event_id']}", "ts": _iso(now),
                                              "person_id": key})
                        sent[key] = now
                await producer.send(topic, value=value, key=(key or "").encode() or None, partition=i % partitions)
                i += 1
            target = start + (i / rate)
            delay = target - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await producer.flush()
        done.set()
        drain_until[0] = time.monotonic() + 10
        await receiver
    finally:
        receiver.cancel()
        await producer.stop()
        await consumer.stop()
    return lat


def b5_latency(broker: BenchBroker, rounds: int, quick: bool, max_rate: float) -> Result:
    rate = max(50.0, 0.5 * max_rate)
    seconds = 4.0 if quick else 10.0
    topics = broker.topics()
    raw_topic = broker.topics().camera  # a 6-partition topic of its own for the raw baseline
    worker = WorkerProcess(broker.bootstrap, topics, env=LATENCY_ENV)
    subs, bases, added, counts, p50s = [], [], [], [], []
    try:
        worker.start()
        names = topics.inputs()
        names["raw"] = raw_topic
        # warm-up: connections, metadata and the first rebalance outside the measured windows
        asyncio.run(_run(broker.bootstrap, names, topics.alerts, rate, 2.0, "warm", False, 6, names))
        for r in range(rounds):
            order = (True, False) if r % 2 == 0 else (False, True)
            got = {}
            for raw in order:
                got[raw] = asyncio.run(_run(broker.bootstrap, names, raw_topic if raw else topics.alerts, rate,
                                            seconds, f"r{r}{'raw' if raw else 'p'}", raw, 6, names))
            p_pipe, p_raw = _p99(got[False]), _p99(got[True])
            subs.append(p_pipe)
            bases.append(p_raw)
            added.append((p_pipe - p_raw) * 1000)
            counts.append((len(got[False]), len(got[True])))
            p50 = sorted(got[False])[len(got[False]) // 2] if got[False] else float("nan")
            p50s.append(p50 * 1000)
            print(f"  B5 round {r + 1}: pipeline p50 {p50 * 1000:.1f} ms p99 {p_pipe * 1000:.1f} ms "
                  f"({len(got[False])} alerts), raw p99 {p_raw * 1000:.1f} ms", flush=True)
    finally:
        worker.stop()
    limit_ms = FLUSH_INTERVAL_S * 1000 + 5
    return Result("B5", f"added p99 event→alert latency at {rate:,.0f} ev/s (ms)", f"<= {limit_ms:.0f} ms", added,
                  higher_is_better=False, target_value=limit_ms,
                  figures={"rate_per_s": round(rate), "seconds": seconds,
                           "pipeline_p99_ms": [round(x * 1000, 1) for x in subs],
                           "pipeline_p50_ms": [round(x, 1) for x in p50s],
                           "raw_p99_ms": [round(x * 1000, 1) for x in bases], "samples": counts,
                           "flush_interval_s": FLUSH_INTERVAL_S})
