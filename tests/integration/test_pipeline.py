"""The walking skeleton end to end: real broker in, a real worker process, chDB out.

N valid and M invalid messages -> exactly N distinct events stored and M dead letters; the same
events produced twice -> still N; the worker killed with SIGKILL mid-stream and restarted ->
nothing lost, nothing counted twice.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
VILLAGES = [("532301", "532301101", "532301101001"), ("532322", "532322100", None), ("532329", "532329101", None)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class Pipeline:
    """One isolated pipeline: unique topics, app id, web port and chDB directory."""

    def __init__(self, broker, tmp: Path):
        suffix = uuid.uuid4().hex[:8]
        self.topics = {s: f"it-{suffix}-{s}" for s in ("camera", "grid", "fraud", "service", "alerts", "deadletter")}
        self.port = free_port()
        self.env = dict(os.environ)
        self.env.update({
            "PINGAN_KAFKA__BOOTSTRAP": broker.bootstrap,
            "PINGAN_CLICKHOUSE__URL": f"chdb://{tmp / 'chdb'}",
            "PINGAN_CLICKHOUSE__FLUSH_INTERVAL_S": "0.5",
            "PINGAN_WORKER__APP_ID": f"it-{suffix}",
            "PINGAN_WORKER__WEB_PORT": str(self.port),
            "PINGAN_WORKER__DATA_DIR": str(tmp / "faust"),
            "PINGAN_WORKER__RULES_DIR": str(REPO / "rules"),
            "PINGAN_WORKER__IDLE_PARTITION_S": "1",
        })
        for stream, topic in self.topics.items():
            self.env[f"PINGAN_TOPICS__{stream.upper()}"] = topic
        self.bootstrap = broker.bootstrap
        self.log = tmp / "worker.log"
        self.proc: subprocess.Popen | None = None
        self._create_topics()

    def _create_topics(self) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.create_topics([NewTopic(t, 6 if s not in ("alerts", "deadletter") else 1, 1)
                                 for s, t in self.topics.items()])
        finally:
            admin.close()

    def start(self) -> None:
        log = open(self.log, "a")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "pingan.cli.main", "worker"], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"worker exited: {self.log.read_text()[-3000:]}"
            try:
                self.query("SELECT 1 AS one")
                return
            except OSError:
                time.sleep(0.5)
        raise AssertionError("worker did not start: " + self.log.read_text()[-3000:])

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def query(self, sql: str) -> list[dict]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/query", data=json.dumps({"sql": sql}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = json.loads(resp.read())
        assert "error" not in body, body
        return body["rows"]

    def produce(self, events: list[tuple[str, dict]], invalid: list[bytes] = ()) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
        for stream, value in events:
            producer.send(self.topics[stream], key=value["event_id"].encode(), value=json.dumps(value).encode())
        for i, raw in enumerate(invalid):
            producer.send(self.topics[("camera", "grid")[i % 2]], value=raw)
        producer.flush()
        producer.close()

    def counts(self) -> tuple[int, int, int]:
        row = self.query(
            "SELECT (SELECT uniqExact(event_id) FROM events_camera) + (SELECT uniqExact(event_id) FROM events_grid)"
            " + (SELECT uniqExact(event_id) FROM events_fraud)"
            " + (SELECT uniqExact(event_id) FROM events_service) AS distinct_events,"
            " (SELECT count() FROM events_camera FINAL) + (SELECT count() FROM events_grid FINAL)"
            " + (SELECT count() FROM events_fraud FINAL) + (SELECT count() FROM events_service FINAL) AS final_rows,"
            " (SELECT uniqExact(topic, partition, offset) FROM deadletters) AS dead")[0]
        return int(row["distinct_events"]), int(row["final_rows"]), int(row["dead"])

    def wait_for(self, events: int, dead: int, timeout: float = 120) -> tuple[int, int, int]:
        deadline = time.monotonic() + timeout
        got = (0, 0, 0)
        while time.monotonic() < deadline:
            got = self.counts()
            if got[0] >= events and got[2] >= dead:
                time.sleep(2.0)  # anything beyond the expected count would show up now
                return self.counts()
            time.sleep(0.5)
        return got


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
