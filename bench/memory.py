"""Memory: the worker's resident memory under steady load, and the engine with a million open
deadlines in its state (and what is left once they have fired and been swept)."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import orjson

from pingan.bench.broker import BenchBroker, WorkerProcess
from pingan.bench.core import rss_bytes
from pingan.bench.latency import _iso

MB = 2**20


def _soak_traffic(rate: float) -> tuple[list[tuple[str, dict | bytes, float]], float]:
    """One cycle of simulated prefecture traffic lasting 12 s of event time at ``rate``:
    (contract topic, event dict or raw bytes of a broken message, ts epoch); replayed with fresh
    ids and shifted timestamps, so event time advances with the wall clock."""
    from datetime import datetime

    from pingan.bench.data import START
    from pingan.traffic.simulate import SimulationConfig, simulate

    span = 12.0
    config = SimulationConfig(events=int(rate * span), start=START, duration_s=span, seed=77)
    out = []
    for m in simulate(config):
        if isinstance(m.value, dict):
            out.append((m.topic, m.value, datetime.fromisoformat(m.value["ts"]).timestamp()))
        else:
            out.append((m.topic, m.value, 0.0))
    return out, span


async def _send_steady(bootstrap: str, names: dict[str, str], rate: float, seconds: float,
                       sample: Any) -> int:
    from aiokafka import AIOKafkaProducer

    from pingan.bench.broker import TO_STREAM
    from pingan.bench.data import START

    cycle, span = _soak_traffic(rate)  # built before the window
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks=1, max_batch_size=256 * 1024)
    await producer.start()
    try:
        start = time.monotonic()
        shift0 = time.time() - START
        next_sample = start
        i = 0
        while time.monotonic() - start < seconds:
            for _ in range(max(1, int(rate * 0.02))):
                n, k = divmod(i, len(cycle))
                topic, value, ts = cycle[k]
                if isinstance(value, dict):
                    payload = orjson.dumps({**value, "event_id": f"{value['event_id']}-{n}",
                                            "ts": _iso(ts + shift0 + n * span)})
                else:
                    payload = value
                await producer.send(names[TO_STREAM[topic]], value=payload)
                i += 1
            if time.monotonic() >= next_sample:
                sample(time.monotonic() - start)
                next_sample += 5.0
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await producer.flush()
        return i
    finally:
        await producer.stop()


def worker_soak(broker: BenchBroker, quick: bool, rate: float = 5000.0, dedup_max_ids: int = 200_000) -> dict[str, Any]:
    """The worker at a steady ``rate``. The de-duplication bound is lowered to ``dedup_max_ids`` per
    topic (default setting: 1 000 000, about 140 MB per topic when full) so that the soak reaches it:
    at the default the set would still be filling at the end of ten minutes."""
    seconds = 30.0 if quick else 600.0
    topics = broker.topics()
    worker = WorkerProcess(broker.bootstrap, topics, env={"PINGAN_WORKER__IDLE_PARTITION_S": "2",
                                                          "PINGAN_WORKER__DEDUP_MAX_IDS": str(dedup_max_ids)})
    samples: list[tuple[float, float, int]] = []
    stalls: list[float] = []  # seconds the worker took to answer /stats (its event loop was busy)
    try:
        worker.start()

        def sample(t: float) -> None:
            started = time.monotonic()
            try:
                handled = worker.stats(timeout_s=60)["messages"]
                stalls.append(round(time.monotonic() - started, 2))
            except OSError as exc:
                raise RuntimeError(f"worker stopped answering ({exc}): "
                                   + worker.log.read_text(errors="replace")[-3000:]) from None
            samples.append((round(t, 1), round(rss_bytes(worker.pid) / MB, 1), handled))

        sent = asyncio.run(_send_steady(broker.bootstrap, topics.inputs(), rate, seconds, sample))
        time.sleep(2)
        sample(seconds + 2)
    finally:
        worker.stop()
    rss = [s[1] for s in samples]
    tail = samples[len(samples) // 2:]  # growth over the second half (after warm-up)
    slope = (tail[-1][1] - tail[0][1]) / max(1e-9, (tail[-1][0] - tail[0][0]) / 60) if len(tail) > 1 else 0.0
    consumed = samples[-1][2]
    def slope_between(t0: float, t1: float) -> float:
        part = [x for x in samples if t0 <= x[0] <= t1]
        return round((part[-1][1] - part[0][1]) / max(1e-9, (part[-1][0] - part[0][0]) / 60), 2) if len(part) > 1 else 0.0

    minute = min(60.0, seconds / 3)
    return {"rate_per_s": rate, "seconds": seconds, "dedup_max_ids": dedup_max_ids, "sent": sent, "consumed": consumed,
            "consumed_per_s": round(consumed / (seconds + 2)), "rss_mb_first": rss[0], "rss_mb_max": max(rss),
            "rss_mb_last": rss[-1], "rss_growth_mb_per_min_second_half": round(slope, 2),
            "rss_growth_mb_per_min_first_minute": slope_between(0.0, minute),
            "rss_growth_mb_per_min_last_minute": slope_between(seconds - minute, seconds + 2),
            "stats_answer_s_max": max(stalls, default=0.0),
            "samples": samples}


def open_deadlines(quick: bool) -> dict[str, Any]:
    """Grid reports that open the two overdue deadlines each, until ``target`` deadlines are open."""
    from pingan.bench.data import START
    from pingan.streams.engine import Engine, load_ruleset
    from pingan.bench.broker import REPO

    target = 200_000 if quick else 1_000_000
    engine = Engine(load_ruleset(REPO / "rules", pseudonym_key="bench-key"))
    gc.collect()
    before = rss_bytes()
    reports = target // 2  # GRID-OVERDUE-YELLOW and -RED: two deadlines per report
    base = {"topic": "grid.reports", "stream": "grid", "status": "reported", "category": "other",
            "county_code": "532301", "county_name": "楚雄市", "township_code": "532301101", "township_name": "",
            "village_code": "532301101001", "village_name": "", "household_id": None, "risk_level": None,
            "reporter": "grid_worker", "grid_id": None, "description": None, "extra": {}}
    started = time.perf_counter()
    for i in range(reports):
        engine.process({**base, "event_id": f"g{i}", "report_id": f"R{i}", "ts": START + i * 0.01})
    feed_s = time.perf_counter() - started
    changes = engine.dirty_state()
    open_now = sum(len(rt.states) for rt in engine.rules)
    heap = len(engine._heap)
    gc.collect()
    with_state = rss_bytes()
    n_changes = len(changes)
    del changes
    started = time.perf_counter()
    fired = len(engine.advance_to(START + reports * 0.01 + 5 * 86400.0))
    engine.advance_to(START + reports * 0.01 + 400 * 86400.0)  # past every horizon: the sweep frees state
    engine.dirty_state()
    fire_s = time.perf_counter() - started
    gc.collect()
    after = rss_bytes()
    left = sum(len(rt.states) for rt in engine.rules)
    return {"open_deadlines": heap, "rule_states": open_now, "reports": reports,
            "rss_mb_before": round(before / MB, 1), "rss_mb_with_state": round(with_state / MB, 1),
            "bytes_per_deadline": round((with_state - before) / max(1, heap)),
            "changelog_records_for_them": n_changes, "feed_s": round(feed_s, 2),
            "alerts_fired": fired, "fire_and_sweep_s": round(fire_s, 2),
            "rss_mb_after_sweep": round(after / MB, 1), "rule_states_after_sweep": left,
            "dedup_ids_after_sweep": engine._seen.count()}
