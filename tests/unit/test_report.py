"""The report's figures equal an independent Python computation, exactly, under duplicates,
re-delivered batches and late events (contract/county-report.md)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from conftest_sink import chdb_database, make_sink, run  # noqa: F401 - fixtures
from sink_events import CST, START, generate, reference

from pingan.sinks.figures import COUNTY_FIGURES, PREFECTURE_FIGURES, Period, assemble, ratio, run_figures


@pytest.fixture(scope="module")
def dataset():
    return generate(seed=11)


@pytest.fixture
def loaded(make_sink, dataset):
    sink = make_sink(batch_rows=200)

    async def load():
        await sink.start()
        for table, rows, source in dataset.plan:
            sink.add(table, rows, source=source)
            if sink.should_flush():
                await sink.flush()
        await sink.flush()

    run(load())
    yield sink
    run(sink.stop())


PERIODS = [
    (None, None),
    (START + timedelta(days=2, hours=5), START + timedelta(days=5, hours=13, minutes=7)),
    (START + timedelta(days=3), None),
    (None, START + timedelta(days=4, hours=22)),
]


@pytest.mark.parametrize("bounds", PERIODS, ids=["all", "window", "from", "to"])
def test_every_figure_matches_the_reference(loaded, dataset, bounds):
    start, end = (b.timestamp() if b else None for b in bounds)
    report = assemble(run_figures(loaded.query_sync, Period(start, end)))
    expected = reference(dataset, start, end)
    assert [c["county_code"] for c in report["counties"]] == [c["county_code"] for c in expected["counties"]]
    for got, want in zip(report["counties"], expected["counties"]):
        assert list(got) == ["county_code", "county_name", *COUNTY_FIGURES]
        assert got == want, got["county_name"]
    assert list(report["prefecture"]) == list(PREFECTURE_FIGURES)
    assert report["prefecture"] == expected["prefecture"]


def test_the_data_exercises_every_figure(loaded, dataset):
    """Guard against a vacuous comparison: duplicates exist and every figure is non-trivial."""
    raw = loaded.query_sync("SELECT count() AS n FROM events_camera")[0]["n"]
    final = loaded.query_sync("SELECT count() AS n FROM events_camera FINAL")[0]["n"]
    assert raw > final  # duplicates were written and are not counted
    prefecture = reference(dataset, None, None)["prefecture"]
    for name in PREFECTURE_FIGURES:
        assert prefecture[name] not in (0, None, "0.00"), name


def test_county_filter_and_chinese_names(loaded):
    report = assemble(run_figures(loaded.query_sync, Period()), county="532325")
    assert [c["county_name"] for c in report["counties"]] == ["姚安县"]
    whole = assemble(run_figures(loaded.query_sync, Period()))
    assert report["prefecture"] == whole["prefecture"]
    json.dumps(report, ensure_ascii=False)


def test_rates_round_half_up_and_null():
    assert ratio(1, 8) == 0.125
    assert ratio(1, 3) == 0.3333
    assert ratio(2, 3) == 0.6667
    assert ratio(123445, 1_000_000) == 0.1234
    assert ratio(123450, 1_000_000) == 0.1235  # half-up, not half-even
    assert ratio(0, 0) is None


def test_late_event_counts_in_its_own_period(make_sink):
    """An event arriving days late (after newer ones) lands in the day of its ts."""
    from pingan.schemas.decode import Decoder
    from pingan.schemas.privacy import Pseudonymizer

    decoder = Decoder(Pseudonymizer("k"))
    day1 = datetime(2026, 11, 10, 12, tzinfo=CST)
    day4 = day1 + timedelta(days=3)

    def cam(eid, moment):
        body = {"event_id": eid, "ts": moment.isoformat(), "county_code": "532301", "township_code": "532301101",
                "kind": "intrusion"}
        return decoder.decode("camera.alerts", json.dumps(body).encode())

    sink = make_sink()

    async def scenario():
        await sink.start()
        sink.add("events_camera", [cam("new", day4)], source=("camera.alerts", 0, 0, 0))
        await sink.flush()
        sink.add("events_camera", [cam("late", day1)], source=("camera.alerts", 0, 1, 1))
        await sink.flush()
        try:
            def count(a, b):
                r = assemble(run_figures(sink.query_sync, Period(a.timestamp(), b.timestamp())))
                return r["prefecture"]["camera_events"]

            assert count(day1 - timedelta(hours=12), day1 + timedelta(hours=12)) == 1
            assert count(day4 - timedelta(hours=12), day4 + timedelta(hours=12)) == 1
            assert count(day1 + timedelta(hours=12), day4 - timedelta(hours=12)) == 0
            daily = await sink.query("SELECT toString(day) AS day, value FROM v_county_daily "
                                     "WHERE figure = 'camera_events' AND county_code = '532301' ORDER BY day")
            assert daily == [{"day": "2026-11-10", "value": 1}, {"day": "2026-11-13", "value": 1}]
        finally:
            await sink.stop()

    run(scenario())


# ---- the worker's /query endpoint and the report's fallback to it ----------------------------

def test_handle_query_accepts_only_read_only_selects(loaded):
    from pingan.sinks.remote import QueryRejected, handle_query

    async def ask(body):
        return await handle_query(loaded, body)

    assert run(ask({"sql": "SELECT 1 AS one"})) == {"rows": [{"one": 1}]}
    assert run(ask({"sql": "WITH 2 AS x SELECT x * {k:UInt8} AS y;", "params": {"k": 3}})) == {"rows": [{"y": 6}]}
    assert run(ask({"sql": "-- comment\nSELECT count() AS n FROM events_camera FINAL"}))["rows"][0]["n"] > 0
    for body in ({"sql": "INSERT INTO alerts SELECT * FROM alerts"}, {"sql": "DROP TABLE alerts"},
                 {"sql": "SELECT 1; DROP TABLE alerts"}, {"sql": ""}, {"sql": 5}, [],
                 {"sql": "SELECT 1", "params": {"bad name": 1}}, {"sql": "SELECT 1 INTO OUTFILE '/tmp/x'"}):
        with pytest.raises(QueryRejected):
            run(ask(body))
    with pytest.raises(Exception, match="readonly|READONLY"):  # the engine refuses file access too
        run(ask({"sql": "SELECT * FROM file('/etc/hostname', 'LineAsString')"}))
    assert run(ask({"sql": "SELECT ';' AS s"})) == {"rows": [{"s": ";"}]}  # a ; inside a string is fine


HOLDER = r'''
import asyncio, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.path.insert(0, sys.argv[3])
from sink_events import generate
from pingan.sinks.chdb import ChdbSink
from pingan.sinks.remote import handle_query

loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, daemon=True).start()
sink = ChdbSink(sys.argv[1], database="pingan")
call = lambda coro: asyncio.run_coroutine_threadsafe(coro, loop).result()
call(sink.start())
for table, rows, source in generate(seed=3, days=3).plan:
    sink.add(table, rows, source=source)
call(sink.flush())

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            out, code = call(handle_query(sink, body)), 200
        except Exception as exc:
            out, code = {"error": str(exc)}, 400
        data = json.dumps(out, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
print("ready", flush=True)
server.serve_forever()
'''


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_report_falls_back_to_the_worker_holding_chdb(tmp_path):
    """Another process holds the chDB directory: `pingan report` asks its /query endpoint."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from sink_events import generate as gen

    here = Path(__file__).parent
    port = _free_port()
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    store = tmp_path / "chdb"
    holder = subprocess.Popen([sys.executable, str(script), str(store), str(port), str(here)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        env = dict(os.environ, PINGAN_CLICKHOUSE__URL=f"chdb://{store}", PINGAN_WORKER__WEB_PORT=str(port))
        env.pop("PINGAN_CONFIG", None)
        cmd = [sys.executable, "-m", "pingan.cli.main", "report"]
        done = subprocess.run([*cmd, "--format", "json"], env=env, capture_output=True, text=True, timeout=120,
                              cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        expected = reference(gen(seed=3, days=3), None, None)
        assert report["prefecture"] == expected["prefecture"]
        assert report["counties"][0]["county_name"] == "楚雄市"

        done = subprocess.run([*cmd, "--format", "csv", "--county", "楚雄市", "--from", "2026-11-21"], env=env,
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        lines = done.stdout.splitlines()
        assert done.returncode == 0 and lines[0].startswith("county_code,county_name,camera_events")
        assert [line.split(",")[1] for line in lines[1:]] == ["楚雄市", "楚雄彝族自治州"]

        done = subprocess.run([*cmd, "--county", "不存在县"], env=env, capture_output=True, text=True, timeout=60,
                              cwd=tmp_path)
        assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1
        assert "unknown county" in done.stderr
    finally:
        holder.terminate()
        holder.wait(timeout=30)
