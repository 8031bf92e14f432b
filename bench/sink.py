"""B4: the chDB sink (add in Kafka-batch-sized pieces, flush) ÷ one bulk INSERT of the same rows.

The baseline inserts the rows pre-encoded (JSONCompactColumns bytes made outside its timed
window), i.e. the storage engine's own speed; the sink's time includes its encoding. Both go
through the sink's own ``_insert`` (one INSERT streamed from bytes), so the client path is the same.
With one free core the ratio is about bulk ÷ (bulk + encoding) (~1 µs of Python per row); with
two, the sink streams a batch into the INSERT while it is encoded and the encoding is hidden.
"""

from __future__ import annotations

import asyncio
import tempfile
import time

from pingan.bench.core import Result


def b4_sink(rounds: int, quick: bool) -> list[Result]:
    return asyncio.run(_b4(rounds, quick))


async def _b4(rounds: int, quick: bool) -> list[Result]:
    from pingan.sinks.bench import sample_camera_rows
    from pingan.sinks.chdb import ChdbSink
    from pingan.sinks.tables import encode_rows

    results = []
    cases = [(10_000, 20_000 if quick else 100_000, 0.7)] + ([] if quick else [(100_000, 200_000, 0.9)])
    with tempfile.TemporaryDirectory(prefix="pingan-bench-sink-") as path:
        for batch, total, target in cases:
            sink = ChdbSink(path, database=f"bench_{batch}", batch_rows=batch, max_backlog_rows=4 * total,
                            flush_interval_s=3600)
            await sink.start()
            try:
                async def sink_rate(r: int) -> float:
                    rows = sample_camera_rows(total, f"s{batch}-{r}-")
                    await sink.query("TRUNCATE TABLE events_camera")
                    started = time.perf_counter()
                    step = 500  # what one Kafka batch hands the sink
                    for k in range(0, total, step):
                        sink.add("events_camera", rows[k:k + step], source=("camera.alerts", 0, k, k + step - 1))
                        if sink.should_flush():
                            await sink.flush()
                    await sink.flush()
                    return total / (time.perf_counter() - started)

                async def bulk_rate(r: int) -> float:
                    payload = encode_rows("events_camera", sample_camera_rows(total, f"b{batch}-{r}-"))
                    await sink.query("TRUNCATE TABLE events_camera")
                    started = time.perf_counter()
                    await sink._call(sink._insert, "events_camera", payload, f"bench-bulk-{batch}-{r}-{time.time()}")
                    return total / (time.perf_counter() - started)

                subs, bases, ratios = [], [], []
                for r in range(rounds):
                    order = (bulk_rate, sink_rate) if r % 2 == 0 else (sink_rate, bulk_rate)
                    got = {}
                    for fn in order:
                        got[fn] = await fn(r)
                    subs.append(got[sink_rate])
                    bases.append(got[bulk_rate])
                    ratios.append(got[sink_rate] / got[bulk_rate])
                results.append(Result("B4" if batch == 10_000 else "B4b",
                                      f"chDB sink ({batch // 1000}k-row batches, {total // 1000}k rows) ÷ bulk INSERT",
                                      f">= {target}", ratios, target_value=target, figures={
                                          "rows": total, "batch_rows": batch,
                                          "sink_rows_per_s": round(sorted(subs)[len(subs) // 2]),
                                          "bulk_rows_per_s": round(sorted(bases)[len(bases) // 2])}))
            finally:
                await sink.stop()
    return results
