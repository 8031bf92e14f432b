"""The walking skeleton end to end: real broker in, a real worker process, chDB out.

N valid and M invalid messages -> exactly N distinct events stored and M dead letters; the same
events produced twice -> still N; the worker killed with SIGKILL mid-stream and restarted ->
nothing lost, nothing counted twice.
"""

from __future__ import annotations

import random
import time

import pytest
from harness import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def make_events(n: int, seed: int) -> list[tuple[str, dict]]:
    """n valid events spread over the four topics (no rule-specific content needed)."""
    from pingan.schemas.divisions import load_divisions

    divisions = load_divisions()
    rng = random.Random(seed)
    villages = list(divisions.villages.values())
    out = []
    base = 1795910400  # 2026-11-29T00:00:00Z
    for i in range(n):
        village = rng.choice(villages)
        township = divisions.townships[village.parent_code]
        county = township.parent_code
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i * 7))
        eid = f"it-{seed}-{i}"
        kind = i % 4
        if kind == 0:
            out.append(("camera", {"event_id": eid, "ts": ts, "camera_id": f"CAM-{county}-{i % 50:06d}",
                                   "county_code": county, "township_code": township.code,
                                   "village_code": village.code, "kind": "stranger"}))
        elif kind == 1:
            out.append(("grid", {"event_id": eid, "ts": ts, "report_id": f"R{seed}-{i}", "status": "reported",
                                 "category": "hazard", "county_code": county, "township_code": township.code,
                                 "village_code": village.code, "reporter": "resident"}))
        elif kind == 2:
            out.append(("fraud", {"event_id": eid, "ts": ts, "case_id": f"F{seed}-{i}", "status": "reported",
                                  "fraud_type": "telecom", "county_code": county, "township_code": township.code,
                                  "loss_yuan": 1000.25, "victim_age": 40, "channel": "phone"}))
        else:
            out.append(("service", {"event_id": eid, "ts": ts, "record_id": f"S{seed}-{i}", "status": "accepted",
                                    "county_code": county, "channel": "hall", "department": "市场监管局"}))
    return out


INVALID = [b"not json", b"\xff\xfe\xfd", b'{"event_id": "x", "ts": "2026-11-29T10:00:00", "county_code": "532301"}',
           b'{"event_id": "y", "ts": "2026-11-29T10:00:00Z", "county_code": "532301", "township_code": "532302101"}']


@pytest.fixture
def pipeline(kafka_broker, tmp_path):
    p = Pipeline(kafka_broker, tmp_path)
    yield p
    p.stop()


def test_valid_invalid_and_duplicates(pipeline):
    events = make_events(400, seed=1)
    pipeline.start()
    pipeline.produce(events, INVALID)
    assert pipeline.wait_for(400, len(INVALID)) == (400, 400, len(INVALID))
    pipeline.produce(events)  # the same events again, at new offsets
    time.sleep(3)
    assert pipeline.wait_for(400, len(INVALID)) == (400, 400, len(INVALID))


def test_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(pipeline):
    events = make_events(6000, seed=2)
    pipeline.start()
    pipeline.produce(events[:3000], INVALID)
    deadline = time.monotonic() + 60
    while pipeline.counts()[0] < 500 and time.monotonic() < deadline:
        time.sleep(0.2)
    pipeline.kill()  # mid-stream: some rows written, some offsets not committed
    pipeline.produce(events[3000:])
    pipeline.start()
    assert pipeline.wait_for(6000, len(INVALID), timeout=180) == (6000, 6000, len(INVALID))
