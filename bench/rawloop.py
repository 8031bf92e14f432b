"""The worker's processing without Faust: aiokafka ``getmany`` → the same Processor (fast decode,
timeline, engine, chDB rows) → alerts through a plain aiokafka producer. No changelog, no commits.

``python -m pingan.bench.rawloop BOOTSTRAP N TOPIC...`` prints the rate (events/s) as JSON; run in
its own process (chDB allows one data directory per process). B1x compares the worker with it:
what Faust's plumbing and the worker's delivery guarantees (changelog, acks, commits) still cost.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time


async def run(bootstrap: str, n: int, topics: list[str]) -> float:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from pingan.schemas.privacy import Pseudonymizer
    from pingan.sinks.chdb import ChdbSink
    from pingan.bench.broker import REPO
    from pingan.streams.engine import Engine, Timeline, load_ruleset
    from pingan.streams.fastdecode import FastDecoder
    from pingan.streams.processor import Message, Processor
    from pingan.streams.runtime import alert_message

    contract = {t: next(c for c in ("camera.alerts", "grid.reports", "fraud.cases", "service.records") if t.endswith(c))
                for t in topics}
    engine = Engine(load_ruleset(REPO / "rules", pseudonym_key="bench-key"))
    sink = ChdbSink(tempfile.mkdtemp(prefix="pingan-rawloop-"), flush_interval_s=0.25)
    await sink.start()
    processor = Processor(FastDecoder(Pseudonymizer("bench-key")), engine, Timeline(engine, grace_s=5.0, idle_s=1.0),
                          sink, contract_topic=contract)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(6)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        processor.assign([(tp.topic, tp.partition) for tp in tps], time.time())
        seen = 0
        started = None
        while seen < n:
            batches = await consumer.getmany(timeout_ms=500)
            if not batches:
                continue
            if started is None:
                started = time.perf_counter()
            now = time.time()
            fetched = [[Message(r.topic, r.partition, r.offset, r.key, r.value) for r in records]
                       for records in batches.values()]
            seen += sum(len(b) for b in fetched)
            outs, alerts = processor.handle_fetch(fetched, now)
            for a in alerts:
                await producer.send("bench-rawloop-alerts", alert_message(a), key=str(a["key"]).encode())
            if sink.should_flush():
                await sink.flush()
        await sink.flush()
        await producer.flush()
        return n / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()
        await sink.stop()


def main() -> None:
    bootstrap, n, *topics = sys.argv[1:]
    print(json.dumps({"rate": asyncio.run(run(bootstrap, int(n), topics))}))


if __name__ == "__main__":
    main()
