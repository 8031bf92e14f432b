"""`pingan report` figures are exact after a live run with duplicates, late events and a SIGKILL.

Simulated prefecture traffic (duplicate deliveries, events hours late, invalid messages) goes
through a real worker that is killed with SIGKILL mid-stream and restarted. The figures the
report computes in ClickHouse must equal an independent Python computation over the unique
produced events (tests/unit/sink_events.reference).
"""

from __future__ import annotations

import sys
import time

import pytest
from harness import REPO, Pipeline

sys.path.insert(0, str(REPO / "tests" / "unit"))
from sink_events import Dataset, reference  # noqa: E402

from pingan.errors import InvalidEvent  # noqa: E402
from pingan.schemas.decode import Decoder  # noqa: E402
from pingan.schemas.privacy import Pseudonymizer  # noqa: E402
from pingan.sinks.figures import Period, assemble, run_figures  # noqa: E402
from pingan.traffic.simulate import SimulationConfig, Simulator  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "pingan-demo-key-change-me"  # the worker's default pseudonym key


def test_report_is_exact_after_duplicates_late_events_and_a_killed_worker(kafka_broker, tmp_path):
    start = int(time.time()) - 3 * 86400  # recent: personal-column TTLs keep household ids
    config = SimulationConfig(events=8000, start=start, duration_s=2 * 86400, seed=23,
                              invalid_share=0.01, duplicate_share=0.02, late_share=0.03)
    messages = list(Simulator(config).messages())
    decoder = Decoder(Pseudonymizer(KEY))
    events, invalid = [], 0
    for m in messages:
        try:
            events.append(decoder.decode(m.topic, m.value_bytes()))
        except InvalidEvent:
            invalid += 1
    unique = {(e["topic"], e["event_id"]) for e in events}
    assert len(unique) < len(events), "the traffic should carry duplicate deliveries"
    assert invalid > 0

    pipeline = Pipeline(kafka_broker, tmp_path)
    try:
        pipeline.start()
        half = len(messages) // 2
        pipeline.produce_messages(messages[:half])
        deadline = time.monotonic() + 60
        while pipeline.counts()[0] < half // 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        pipeline.kill()
        pipeline.produce_messages(messages[half:])
        pipeline.start()
        assert pipeline.wait_for(len(unique), invalid, timeout=240)[::2] == (len(unique), invalid)
        time.sleep(4)  # every partition idle: the reorder buffer is released, late alerts land

        alerts = pipeline.query("SELECT alert_id, toUnixTimestamp64Milli(ts) / 1000 AS ts, severity,"
                                " county_code, status FROM alerts FINAL")
        for a in alerts:
            a["ts"] = float(a["ts"])
        data = Dataset(events=events, alerts=alerts,
                       deadletters=[{"topic": "t", "partition": 0, "offset": i, "received_at": 0.0}
                                    for i in range(invalid)])
        expected = reference(data, None, None)
        report = assemble(run_figures(pipeline.query, Period(None, None)))
    finally:
        pipeline.stop()
    assert report["prefecture"]["camera_events"] > 1000
    for got, want in zip(report["counties"], expected["counties"], strict=True):
        assert got == want, got["county_name"]
    assert report["prefecture"] == expected["prefecture"]
