"""The server path: the same migrations, writes and figures through clickhouse-connect.

Needs a real ClickHouse server (>= 23.x): ``PINGAN_TEST_CLICKHOUSE_URL`` (default
``http://127.0.0.1:8123``), credentials in the URL or CLICKHOUSE_USER / CLICKHOUSE_PASSWORD.
Skips with the reason when none is reachable; a database of its own is created and dropped.
"""

from __future__ import annotations

import asyncio
import os
import sys
import urllib.request
from pathlib import Path

import pytest

URL = os.environ.get("PINGAN_TEST_CLICKHOUSE_URL", "http://127.0.0.1:8123")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))


def _reachable(url: str) -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    try:
        with urllib.request.urlopen(f"{parsed.scheme}://{parsed.hostname}:{parsed.port or 8123}/ping", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _reachable(URL), reason=f"no ClickHouse server reachable at {URL}")


@pytest.fixture
def server_sink():
    from pingan.config import ClickHouseSettings
    from pingan.sinks import open_sink

    database = f"pingan_it_{os.getpid()}"
    sink = open_sink(ClickHouseSettings(url=URL), database=database, batch_rows=300, retry_max_s=0.2)
    asyncio.run(sink.start())
    yield sink
    sink.query_sync(f"DROP DATABASE IF EXISTS {database}")
    asyncio.run(sink.stop())


def test_same_figures_and_dedup_on_a_server(server_sink):
    from sink_events import generate, reference

    from pingan.sinks.figures import Period, assemble, run_figures

    data = generate(seed=21, days=4)

    async def load():
        for table, rows, source in data.plan:
            server_sink.add(table, rows, source=source)
            if server_sink.should_flush():
                await server_sink.flush()
        await server_sink.flush()

    # the executor thread belongs to the sink; run the writes in a fresh loop
    asyncio.run(load())
    report = assemble(run_figures(server_sink.query_sync, Period()))
    expected = reference(data, None, None)
    assert report["prefecture"] == expected["prefecture"]
    assert [c for c in report["counties"]] == expected["counties"]
    clear = "\n".join(str(r) for r in server_sink.query_sync("SELECT * FROM events_fraud"))
    for value in data.clear_ids + data.clear_phones:
        assert value not in clear


def test_replayed_batch_is_deduplicated_on_a_server(server_sink):
    rows = [{"event_id": f"x{i}", "ts": 1795603987.0 + i, "county_code": "532301", "township_code": "532301101",
             "kind": "intrusion"} for i in range(10)]

    async def write_twice():
        for _ in range(2):
            server_sink.add("events_camera", rows, source=("camera.alerts", 0, 0, 9))
            await server_sink.flush()

    asyncio.run(write_twice())
    assert server_sink.query_sync("SELECT count() AS n FROM events_camera")[0]["n"] == 10
