"""A restarted worker continues its windows and deadlines from the Faust table's changelog.

Two night strangers and an `offline` camera are processed, the worker is killed with SIGKILL, a
new worker process starts: the third stranger completes the window (CAM-NIGHT-STRANGER) and time
passing the 2 h deadline fires CAM-OFFLINE, both from state written before the kill.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from harness import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VILLAGE = {"county_code": "532301", "township_code": "532301101", "village_code": "532301101001"}


def camera(eid: str, ts: str, kind: str, camera_id: str) -> tuple[str, dict]:
    return "camera", {"event_id": eid, "ts": ts, "camera_id": camera_id, "kind": kind, **VILLAGE}


def wait_for_events(pipeline: Pipeline, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while pipeline.counts()[0] < n:
        assert time.monotonic() < deadline, f"only {pipeline.counts()[0]} of {n} events stored"
        time.sleep(0.3)


def test_windows_and_deadlines_survive_a_killed_worker(kafka_broker, tmp_path):
    pipeline = Pipeline(kafka_broker, tmp_path)
    try:
        pipeline.start()
        pipeline.produce([
            camera("s1", "2026-11-28T23:00:00+08:00", "stranger", "CAM-532301-000001"),
            camera("s2", "2026-11-28T23:10:00+08:00", "stranger", "CAM-532301-000002"),
            camera("o1", "2026-11-28T23:05:00+08:00", "offline", "CAM-532301-000009"),
        ])
        wait_for_events(pipeline, 3)
        time.sleep(4)  # partitions go idle, the buffer is released, the state is flushed and offsets committed
        assert pipeline.alerts() == set()
        pipeline.kill()

        pipeline.start()
        pipeline.produce([camera("s3", "2026-11-28T23:20:00+08:00", "stranger", "CAM-532301-000003")])
        wait_for_events(pipeline, 4)
        pipeline.produce([camera("x1", "2026-11-29T01:10:00+08:00", "stranger", "CAM-532301-000004")])
        wait_for_events(pipeline, 5)
        deadline = time.monotonic() + 30
        alerts: set = set()
        while time.monotonic() < deadline:
            alerts = {(rule, key) for rule, key, _ in pipeline.alerts()}
            if len(alerts) >= 2:
                break
            time.sleep(0.5)
        assert ("CAM-NIGHT-STRANGER", "532301101001") in alerts
        assert ("CAM-OFFLINE", "CAM-532301-000009") in alerts
        fired = {rule: ts for rule, _, ts in pipeline.alerts()}
        # the deadline alert's ts is the deadline: 23:05 + 2 h at +08:00
        assert fired["CAM-OFFLINE"] == datetime.fromisoformat("2026-11-29T01:05:00+08:00").timestamp()
    finally:
        pipeline.stop()
