"""Storage benchmarks: the sink's rows/s against one bulk INSERT, and the county figure queries
over 30 days of simulated prefecture traffic (>= 10 million events, generated inside ClickHouse).

``python -m pingan.sinks.bench [--events N] [--days D] [--path DIR]``; prints ratios and times
(benchmarks report numbers, tests never assert them). ``pingan bench`` may call these functions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from typing import Any

from pingan.sinks.chdb import ChdbSink
from pingan.sinks.figures import Period, assemble, figure_queries
from pingan.sinks.tables import encode_rows


def sample_camera_rows(n: int, prefix: str) -> list[dict[str, Any]]:
    """Decoded-event-shaped camera rows (what the worker hands the sink)."""
    from pingan.schemas.divisions import load_divisions

    towns = sorted(load_divisions().townships.values(), key=lambda d: d.code)
    kinds = ("stranger", "intrusion", "offline", "face_match", "plate_match", "unknown_vehicle", "online")
    base = 1_795_000_000.0
    rows = []
    for i in range(n):
        t = towns[i % len(towns)]
        rows.append({
            "event_id": f"{prefix}{i}", "ts": base + i * 0.25, "county_code": t.parent_code, "county_name": "",
            "township_code": t.code, "township_name": t.name, "village_code": None, "village_name": None,
            "camera_id": f"CAM-{t.parent_code}-{i % 999:06d}", "kind": kinds[i % len(kinds)],
            "person_id": "KP1234" if i % 7 == 3 else None, "watchlist": None,
            "plate": "云E12345" if i % 7 == 4 else None, "confidence": 0.9 if i % 7 in (3, 4) else None,
            "image_ref": None, "extra": {}, "topic": "camera.alerts", "stream": "camera",
        })
    return rows


async def feed_like_a_worker(sink: ChdbSink, data: list[dict[str, Any]], step: int = 500) -> None:
    """Hand rows over the way the worker does: an ingest task adds Kafka-sized slices (pausing while
    the backlog is full) and a flusher task flushes whenever ``should_flush()``; returns when all
    rows are written."""
    finished = False

    async def ingest() -> None:
        nonlocal finished
        for k in range(0, len(data), step):
            await sink.wait_for_capacity(step, poll_s=0.001)
            sink.add("events_camera", data[k : k + step], source=("camera.alerts", 0, k, k + step - 1))
            await asyncio.sleep(0)
        finished = True

    async def flusher() -> None:
        while not finished or sink.backlog_rows:
            if sink.should_flush() or (finished and sink.pending_rows):
                await sink.flush()
            else:
                await asyncio.sleep(0.001)

    await asyncio.gather(ingest(), flusher())


async def bench_sink_vs_bulk(sink: ChdbSink, rows: int = 100_000, repeats: int = 3) -> dict[str, float]:
    """Median rows/s of the sink (rows handed over as by the worker, written in ``batch_rows``
    batches) and of one INSERT of the same rows (pre-encoded bytes: the engine's own speed), both
    into ``events_camera`` of the same engine in the same run."""
    bulk_rates, sink_rates = [], []
    for r in range(repeats):
        data = sample_camera_rows(rows, f"bulk{r}-")
        payload = encode_rows("events_camera", data)
        await sink.query("TRUNCATE TABLE events_camera")
        started = time.perf_counter()
        await sink._call(sink._insert, "events_camera", payload, f"bench-bulk-{r}-{time.time()}")
        bulk_rates.append(rows / (time.perf_counter() - started))
        await sink.query("TRUNCATE TABLE events_camera")
        data = sample_camera_rows(rows, f"sink{r}-")
        started = time.perf_counter()
        await feed_like_a_worker(sink, data)
        sink_rates.append(rows / (time.perf_counter() - started))
    bulk, piped = statistics.median(bulk_rates), statistics.median(sink_rates)
    return {"rows": rows, "batch_rows": sink.batch_rows, "sink_rows_per_s": round(piped),
            "bulk_insert_rows_per_s": round(bulk), "ratio": round(piped / bulk, 3)}


START = "2026-10-01 00:00:00"
GEN = {
    "events_camera": """
INSERT INTO events_camera (event_id, ts, county_code, county_name, township_code, township_name, kind, plate,
                           person_id, watchlist, confidence, camera_id)
WITH (SELECT groupArray((t.code, t.name, t.parent_code, c.name)) FROM divisions AS t
      INNER JOIN divisions AS c ON c.code = t.parent_code WHERE t.level = 'township') AS towns,
     ['stranger', 'intrusion', 'offline', 'online', 'unknown_vehicle', 'face_match', 'plate_match'] AS kinds
SELECT concat('c', toString(number)) AS event_id,
       toDateTime64('{start}', 3, 'UTC') + toIntervalMillisecond(cityHash64(number, 1) % ({days} * 86400000)),
       (towns[1 + cityHash64(number, 2) % length(towns)] AS t).3, t.4, t.1, t.2,
       kinds[1 + cityHash64(number, 3) % 7] AS k,
       if(k = 'plate_match', concat('云E', toString(10000 + number % 90000)), NULL),
       if(k = 'face_match', concat('KP', toString(number % 5000)), NULL),
       if(k IN ('face_match', 'plate_match'), 'key_person', NULL),
       if(k IN ('face_match', 'plate_match'), 0.9, NULL),
       concat('CAM-', t.3, '-', toString(number % 999))
FROM numbers({n})""",
    "events_grid": """
INSERT INTO events_grid (event_id, ts, county_code, county_name, township_code, township_name, village_code,
                         report_id, status, category, household_id, risk_level, reporter)
WITH (SELECT groupArray((t.code, t.name, t.parent_code, c.name)) FROM divisions AS t
      INNER JOIN divisions AS c ON c.code = t.parent_code WHERE t.level = 'township') AS towns,
     ['dispute_family', 'dispute_neighbour', 'dispute_land', 'dispute_labour', 'hazard', 'special_group_visit',
      'risk_assessment', 'other'] AS cats,
     ['reported', 'dispatched', 'resolved', 'closed'] AS steps
SELECT concat('g', toString(number)),
       toDateTime64('{start}', 3, 'UTC') + toIntervalMillisecond(cityHash64(intDiv(number, 4), 1) % ({days} * 86400000))
         + toIntervalHour(number % 4 * 7),
       (towns[1 + cityHash64(intDiv(number, 4), 2) % length(towns)] AS t).3, t.4, t.1, t.2,
       concat(t.1, '001'),
       concat('R', toString(intDiv(number, 4))), steps[1 + number % 4],
       cats[1 + cityHash64(intDiv(number, 4), 3) % 8] AS cat,
       if(cat = 'risk_assessment', concat('H', toString(cityHash64(number) % 800000)), NULL),
       if(cat = 'risk_assessment', ['low', 'medium', 'high'][1 + number % 3], NULL), 'grid_worker'
FROM numbers({n})""",
    "events_fraud": """
INSERT INTO events_fraud (event_id, ts, county_code, county_name, township_code, township_name, case_id, status,
                          fraud_type, loss_yuan, victim_age, channel)
WITH (SELECT groupArray((t.code, t.name, t.parent_code, c.name)) FROM divisions AS t
      INNER JOIN divisions AS c ON c.code = t.parent_code WHERE t.level = 'township') AS towns
SELECT concat('f', toString(number)),
       toDateTime64('{start}', 3, 'UTC') + toIntervalMillisecond(cityHash64(intDiv(number, 2), 1) % ({days} * 86400000))
         + toIntervalHour(number % 2 * 30),
       (towns[1 + cityHash64(intDiv(number, 2), 2) % length(towns)] AS t).3, t.4, t.1, t.2,
       concat('F', toString(intDiv(number, 2))), ['reported', 'investigating'][1 + number % 2], 'telecom',
       toDecimal64(cityHash64(number) % 5000000 / 100, 2), 18 + number % 80, 'phone'
FROM numbers({n})""",
    "events_service": """
INSERT INTO events_service (event_id, ts, county_code, county_name, township_code, township_name, record_id, status,
                            channel, one_visit_item, visits, sla_hours, elapsed_hours, satisfaction)
WITH (SELECT groupArray((t.code, t.name, t.parent_code, c.name)) FROM divisions AS t
      INNER JOIN divisions AS c ON c.code = t.parent_code WHERE t.level = 'township') AS towns
SELECT concat('s', toString(number)),
       toDateTime64('{start}', 3, 'UTC') + toIntervalMillisecond(cityHash64(intDiv(number, 2), 1) % ({days} * 86400000))
         + toIntervalHour(number % 2 * 20),
       (towns[1 + cityHash64(intDiv(number, 2), 2) % length(towns)] AS t).3, t.4, t.1, t.2,
       concat('S', toString(intDiv(number, 2))), ['accepted', 'completed'][1 + number % 2],
       ['online', 'hall'][1 + number % 2 * (cityHash64(number) % 2)], cityHash64(number, 5) % 3 = 0,
       toUInt32(cityHash64(number, 6) % 3), 48., toFloat64(cityHash64(number, 7) % 80),
       if(number % 3 = 0, NULL, toUInt8(1 + cityHash64(number, 8) % 5))
FROM numbers({n})""",
}
SHARES = {"events_camera": 0.5, "events_grid": 0.25, "events_fraud": 0.05, "events_service": 0.2}


async def generate_traffic(sink: ChdbSink, events: int, days: int) -> dict[str, float]:
    """Fill the raw tables (and, through the materialized views, the aggregates) inside the engine."""
    timings = {}
    for table, sql in GEN.items():
        n = int(events * SHARES[table])
        started = time.perf_counter()
        await sink.query(sql.format(start=START, days=days, n=n))
        timings[table] = round(time.perf_counter() - started, 2)
    return timings


async def bench_county_queries(sink: ChdbSink, days: int, repeats: int = 3) -> dict[str, Any]:
    """Median seconds of each figure query (all counties, 30-day period) and of the whole report."""
    from datetime import datetime, timezone

    start = datetime.fromisoformat(START).replace(tzinfo=timezone.utc).timestamp()
    period = Period(start, start + days * 86400)
    params = period.params()
    times: dict[str, float] = {}
    results = {}
    for name, sql in figure_queries(period).items():
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            results[name] = await sink.query(sql, params)
            samples.append(time.perf_counter() - started)
        times[name] = round(statistics.median(samples), 3)
    report = assemble(results)
    return {"query_seconds": times, "report_seconds": round(sum(times.values()), 3),
            "prefecture": {k: report["prefecture"][k] for k in ("camera_events", "grid_reports", "fraud_cases",
                                                                 "service_completed", "resolution_rate")}}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    path = args.path or tempfile.mkdtemp(prefix="pingan-bench-")
    sink = ChdbSink(path, database="pingan_bench", batch_rows=args.batch_rows, max_backlog_rows=10 * args.batch_rows)
    await sink.start()
    try:
        out: dict[str, Any] = {"path": path}
        out["sink_vs_bulk"] = await bench_sink_vs_bulk(sink, rows=args.sink_rows)
        if args.events:
            for table in GEN:
                await sink.query(f"TRUNCATE TABLE {table}")
            out["generate_seconds"] = await generate_traffic(sink, args.events, args.days)
            rows = await sink.query("SELECT sum(rows) AS n FROM system.parts WHERE database = currentDatabase() "
                                    "AND active AND table LIKE 'events_%'")
            out["events"] = int(rows[0]["n"])
            out["county_queries"] = await bench_county_queries(sink, args.days)
        return out
    finally:
        await sink.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="simulated events (0: sink benchmark only)")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sink-rows", type=int, default=100_000)
    parser.add_argument("--batch-rows", type=int, default=10_000)
    parser.add_argument("--path", help="chDB directory (default: a new temporary one)")
    print(json.dumps(asyncio.run(main_async(parser.parse_args())), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
