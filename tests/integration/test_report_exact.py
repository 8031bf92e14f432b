"""`pingan report` against a live worker equals an independent computation of every figure.

Realistic simulated traffic (duplicates, late events, invalid messages) goes through Kafka into a
real worker, which is killed with SIGKILL mid-stream and restarted; upstream also re-sends a slice
of events at new offsets. The report (asked from the worker's /query, since the worker holds the
embedded chDB) must then equal, figure by figure, the plain-Python computation of
``tests/unit/sink_events.reference`` over the decoded events; alert figures are checked against the
alerts the worker published to its alert topic (every rule publishes there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from harness import REPO, Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))

from sink_events import CST, Dataset, reference  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _decode_all(messages):
    from pingan.errors import InvalidEvent
    from pingan.schemas.decode import Decoder
    from pingan.schemas.privacy import Pseudonymizer

    decoder = Decoder(Pseudonymizer("any key: pseudonyms do not change a figure"))
    events, invalid = [], 0
    for m in messages:
        try:
            events.append(decoder.decode(m.topic, m.value_bytes()))
        except InvalidEvent:
            invalid += 1
    return events, invalid


def _published_alerts(pipeline) -> list[dict]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(pipeline.topics["alerts"], bootstrap_servers=pipeline.bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=4000)
    try:
        alerts = []
        for record in consumer:
            alert = orjson.loads(record.value)
            alert["ts"] = datetime.fromisoformat(alert["ts"]).timestamp()
            alerts.append(alert)
        return alerts
    finally:
        consumer.close()


def _report(pipeline, *args: str) -> dict:
    env = dict(pipeline.env, PINGAN_CLICKHOUSE__URL=pipeline.env["PINGAN_CLICKHOUSE__URL"],
               PINGAN_WORKER__WEB_PORT=str(pipeline.port))
    done = subprocess.run([sys.executable, "-m", "pingan.cli.main", "report", "--format", "json", *args],
                          env=env, capture_output=True, text=True, timeout=300, cwd=str(REPO))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_report_equals_independent_figures_after_sigkill(kafka_broker, tmp_path: Path):
    from pingan.traffic.simulate import SimulationConfig, Simulator

    start = datetime(2026, 11, 20, tzinfo=CST)
    config = SimulationConfig(events=5000, start=int(start.timestamp()), duration_s=3 * 86400, seed=23,
                              invalid_share=0.02, duplicate_share=0.02, late_share=0.05)
    messages = list(Simulator(config).messages())
    resent = messages[1000:1400]  # upstream re-sends a slice: same event_ids, new offsets
    events, invalid = _decode_all(messages + resent)
    distinct = len({(e["topic"], e["event_id"]) for e in events})
    assert distinct < len(events) and invalid > 0  # the input really has duplicates and invalid messages

    pipeline = Pipeline(kafka_broker, tmp_path)
    try:
        pipeline.start()
        pipeline.produce_messages(messages[:2500])
        deadline = time.monotonic() + 90
        while pipeline.counts()[0] < 800 and time.monotonic() < deadline:
            time.sleep(0.2)
        pipeline.kill()  # mid-stream: some rows written, some offsets not committed
        pipeline.produce_messages(messages[2500:] + resent)
        pipeline.start()
        got = pipeline.wait_for(distinct, invalid, timeout=300)
        assert got == (distinct, distinct, invalid)

        window = (start + timedelta(hours=30), start + timedelta(hours=61, minutes=17))
        periods = [(None, None), window]
        deadline = time.monotonic() + 90
        while True:
            time.sleep(3)  # idle partitions release the reorder buffer; alerts follow
            alerts = _published_alerts(pipeline)
            reports = [_report(pipeline, *([] if a is None else ["--from", a.isoformat(), "--to", b.isoformat()]))
                       for a, b in periods]
            expected = []
            for a, b in periods:
                data = Dataset(events=events, alerts=alerts, deadletters=[
                    {"topic": "x", "partition": 0, "offset": i, "received_at": time.time()} for i in range(invalid)])
                expected.append(reference(data, a.timestamp() if a else None, b.timestamp() if b else None))
            same = all(r["counties"] == e["counties"] and r["prefecture"] == e["prefecture"]
                       for r, e in zip(reports, expected))
            if same or time.monotonic() > deadline:
                break
    finally:
        pipeline.stop()
    for got_report, want in zip(reports, expected):
        for got_county, want_county in zip(got_report["counties"], want["counties"]):
            assert got_county == want_county, got_county["county_name"]
        assert got_report["prefecture"] == want["prefecture"]
    assert reports[0]["prefecture"]["camera_events"] > 0 and reports[0]["prefecture"]["fraud_cases"] > 0
    assert sum(reports[0]["prefecture"][f"alerts_{s}"] for s in ("low", "medium", "high", "critical")) > 0
