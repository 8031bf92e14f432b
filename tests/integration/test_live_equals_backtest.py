"""The live pipeline and `pingan backtest` emit the same alerts (rule_id, key, ts) for one input.

The live worker consumes six partitions per topic at their own pace, and the events of one key
are spread over partitions (the message key is the event_id); the timeline's watermark and reorder
buffer put them back in event-time order, so the alerts equal those of the one-partition backtest.
"""

from __future__ import annotations

import io
import time
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from harness import REPO, Pipeline

from pingan.streams.backtest import run_backtest
from pingan.streams.engine import load_ruleset
from pingan.traffic.simulate import SimulationConfig, Simulator

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "pingan-demo-key-change-me"  # the default pseudonym key the worker uses too


def test_live_alerts_equal_backtest_alerts(kafka_broker, tmp_path: Path):
    start = int(datetime(2026, 11, 20, 0, 0, tzinfo=datetime.now().astimezone().tzinfo).timestamp())
    # late_share 0: events arrive out of order by at most the simulator's jitter, within the grace
    config = SimulationConfig(events=6000, start=start, duration_s=36 * 3600, seed=11, late_share=0.0)
    messages = list(Simulator(config).messages())
    traffic = tmp_path / "traffic.jsonl"
    traffic.write_bytes(b"".join(m.to_line() for m in messages))

    buf = io.BytesIO()
    report = run_backtest(load_ruleset(REPO / "rules", pseudonym_key=KEY), [traffic], buf, KEY, grace_s=5.0)
    expected = set()
    for line in buf.getvalue().splitlines():
        alert = orjson.loads(line)
        expected.add((alert["rule_id"], alert["key"], datetime.fromisoformat(alert["ts"]).timestamp()))
    assert report.alerts == len(expected) > 50, "the input should make many rules fire"
    assert len({rule for rule, _, _ in expected}) >= 8

    pipeline = Pipeline(kafka_broker, tmp_path)
    try:
        pipeline.start()
        pipeline.produce_messages(messages)
        deadline = time.monotonic() + 240
        live: set = set()
        while time.monotonic() < deadline:
            live = pipeline.alerts()
            if len(live) >= len(expected):
                time.sleep(3)  # partitions go idle; anything extra would show now
                live = pipeline.alerts()
                break
            time.sleep(1)
    finally:
        pipeline.stop()
    only_live, only_backtest = sorted(live - expected), sorted(expected - live)
    assert (len(only_live), len(only_backtest)) == (0, 0), (only_live[:10], only_backtest[:10])
