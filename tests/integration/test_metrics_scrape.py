"""Scrape a running worker: every metric shows real figures after traffic, and they move.

A real worker process (``pingan worker``) consumes fresh topics on the test broker and writes to
chDB in a temporary directory; the test produces valid, invalid and alert-raising events, scrapes
``/metrics`` on the worker's web port while traffic flows and after, and reads ``/health``.
Finally ``pingan alerts tail`` shows the alerts the worker published, in Chinese lines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BASE_TS = 1795910400  # 2026-11-29T00:00:00Z


def free_port() -> int:
    from pingan.localkafka import free_port as _free

    return _free()


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    samples: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def total(samples: dict, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == want for k, want in labels.items()))


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def make_traffic(run: str, n: int, start: int) -> list[tuple[str, dict]]:
    """n events over the four streams, one minute apart; every 25th is a major fraud case."""
    from pingan.schemas.divisions import load_divisions

    divisions = load_divisions()
    villages = sorted(divisions.villages.values(), key=lambda d: d.code)
    out: list[tuple[str, dict]] = []
    for i in range(n):
        village = villages[(start + i) % len(villages)]
        township = divisions.townships[village.parent_code]
        county = township.parent_code
        eid = f"m-{run}-{start + i}"
        ts = iso(BASE_TS + (start + i) * 60)
        if i % 25 == 0:
            out.append(("fraud", {"event_id": eid, "ts": ts, "case_id": f"FC-{county}-{run}-{start + i:06d}",
                                  "status": "reported", "fraud_type": "telecom", "county_code": county,
                                  "township_code": township.code, "loss_yuan": 150000.0, "channel": "phone"}))
        elif i % 4 == 0:
            out.append(("camera", {"event_id": eid, "ts": ts, "camera_id": f"CAM-{county}-{i % 40:06d}",
                                   "county_code": county, "township_code": township.code, "kind": "online"}))
        elif i % 4 == 1:
            out.append(("grid", {"event_id": eid, "ts": ts, "report_id": f"GR-{township.code}-{run}-{start + i:06d}",
                                 "status": "dispatched", "category": "hazard", "county_code": county,
                                 "township_code": township.code, "village_code": village.code,
                                 "reporter": "grid_worker"}))
        elif i % 4 == 2:
            out.append(("service", {"event_id": eid, "ts": ts, "record_id": f"SV-{county}-{run}-{start + i:07d}",
                                    "status": "accepted", "county_code": county, "department": "市场监管局",
                                    "item_code": "SC-001", "item_name": "营业执照", "channel": "online",
                                    "one_visit_item": True, "visits": 0, "sla_hours": 24.0}))
        else:
            out.append(("fraud", {"event_id": eid, "ts": ts, "case_id": f"FC-{county}-{run}-{start + i:06d}",
                                  "status": "investigating", "fraud_type": "other", "county_code": county,
                                  "township_code": township.code, "loss_yuan": 10.0, "channel": "sms"}))
    return out


INVALID = [b"not json at all", b'{"event_id": "x"}', b'{"event_id": "y", "ts": "2026-11-29T10:00:00"}']


class Worker:
    def __init__(self, broker, topics, tmp: Path):
        self.topics = topics
        self.port = free_port()
        self.bootstrap = broker.bootstrap
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
        suffix = uuid.uuid4().hex[:8]
        self.env.update({
            "PINGAN_KAFKA__BOOTSTRAP": broker.bootstrap,
            "PINGAN_CLICKHOUSE__URL": f"chdb://{tmp / 'chdb'}",
            "PINGAN_CLICKHOUSE__FLUSH_INTERVAL_S": "0.5",
            "PINGAN_WORKER__APP_ID": f"metrics-{suffix}",
            "PINGAN_WORKER__WEB_PORT": str(self.port),
            "PINGAN_WORKER__DATA_DIR": str(tmp / "faust"),
            "PINGAN_WORKER__RULES_DIR": str(REPO / "rules"),
            "PINGAN_WORKER__IDLE_PARTITION_S": "1",
            "PINGAN_LOG_FORMAT": "json",
        })
        for name in ("camera", "grid", "fraud", "service", "alerts", "deadletter"):
            self.env[f"PINGAN_TOPICS__{name.upper()}"] = getattr(topics, name)
        self.log = tmp / "worker.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "pingan.cli.main", "worker"], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"worker exited: {self.log.read_text()[-3000:]}"
            try:
                scrape(self.port)
                if self.health()[1].get("started"):
                    return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.5)
        raise AssertionError("worker did not start: " + self.log.read_text()[-3000:])

    def health(self) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=15) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def produce(self, events: list[tuple[str, dict]], invalid: list[bytes] = ()) -> None:
        from pingan.config import Settings
        from pingan.kafka_client import make_producer

        producer = make_producer(Settings(), bootstrap=self.bootstrap)
        for stream, value in events:
            producer.send(getattr(self.topics, stream), key=value["event_id"].encode(),
                          value=json.dumps(value, ensure_ascii=False).encode())
        for i, raw in enumerate(invalid):
            producer.send((self.topics.camera, self.topics.grid)[i % 2], value=raw)
        producer.flush(timeout=60)
        producer.close()


@pytest.fixture
def worker(kafka_broker, fresh_topics, tmp_path):
    w = Worker(kafka_broker, fresh_topics, tmp_path)
    yield w
    w.stop()


def wait_for(port: int, check, timeout: float = 90.0, during=None) -> dict:
    """Scrape until ``check(samples)`` holds; ``during(samples)`` sees every scrape on the way."""
    deadline = time.monotonic() + timeout
    samples: dict = {}
    while time.monotonic() < deadline:
        samples = scrape(port)
        if during is not None:
            during(samples)
        if check(samples):
            return samples
        time.sleep(0.1)
    raise AssertionError(f"metrics did not reach the expected figures: "
                         f"{ {k: v for k, v in samples.items() if k[0].startswith('pingan_')} }")


def test_scrape_shows_every_metric_moving(worker, tmp_path):
    topics = worker.topics
    worker.start()
    before = scrape(worker.port)
    assert total(before, "pingan_messages_in_total") == 0
    version = [dict(ls)["version"] for (n, ls), v in before.items() if n == "pingan_ruleset_info" and v == 1]
    assert len(version) == 1 and len(version[0]) >= 8

    status, health = worker.health()
    assert status == 200 and health["ok"], health
    assert health["kafka"]["ok"] and health["clickhouse"]["ok"]
    assert health["rules"]["version"] == version[0]

    first = make_traffic("a", 3000, 0)
    fraud_major = sum(1 for s, e in first if s == "fraud" and e["loss_yuan"] >= 100000)
    peaks = {"lag": 0.0, "backlog": 0.0}

    def watch(samples: dict) -> None:
        peaks["lag"] = max(peaks["lag"], total(samples, "pingan_consumer_lag_messages"))
        peaks["backlog"] = max(peaks["backlog"], total(samples, "pingan_sink_backlog_rows"))

    worker.produce(first, INVALID)
    s1 = wait_for(worker.port, lambda s: total(s, "pingan_messages_in_total") >= len(first) + len(INVALID)
                  and total(s, "pingan_alerts_total", rule_id="FRAUD-MAJOR") >= fraud_major - 1, during=watch)

    # per topic, valid and invalid
    for stream in ("camera", "grid", "fraud", "service"):
        assert total(s1, "pingan_messages_in_total", topic=getattr(topics, stream)) > 0, stream
    assert total(s1, "pingan_messages_invalid_total") == len(INVALID)
    assert total(s1, "pingan_messages_invalid_total", topic=topics.camera) == 2
    assert total(s1, "pingan_deadletters_total") == len(INVALID)
    # rules: evaluations per rule, alerts per rule and severity, latency
    assert total(s1, "pingan_rule_evaluations_total", rule_id="FRAUD-MAJOR") >= fraud_major
    assert total(s1, "pingan_rule_evaluations_total", rule_id="SVC-SLA") > 0
    assert total(s1, "pingan_alerts_total", rule_id="FRAUD-MAJOR", severity="high") >= fraud_major - 1
    assert total(s1, "pingan_event_to_alert_latency_seconds_count") > 0
    assert total(s1, "pingan_event_to_alert_latency_seconds_sum") > 0
    # the sink wrote batches, and the traffic showed a backlog and a lag while it flowed
    assert total(s1, "pingan_sink_batch_rows_count") > 0
    assert total(s1, "pingan_sink_batch_latency_seconds_sum") > 0
    assert peaks["backlog"] > 0
    assert peaks["lag"] > 0, "no consumer lag seen while 3000 messages flowed"
    assert any(n == "pingan_consumer_lag_messages" and dict(ls).get("topic") == topics.fraud for n, ls in s1)

    # once caught up, every input partition's lag comes back to zero
    s2 = wait_for(worker.port, lambda s: total(s, "pingan_consumer_lag_messages", topic=topics.camera) == 0
                  and total(s, "pingan_sink_backlog_rows") == 0
                  and total(s, "pingan_sink_batch_rows_sum") >= len(first) + len(INVALID))
    # every event, dead letter and alert went through a counted sink batch
    alerts = total(s2, "pingan_alerts_total") + total(s2, "pingan_shadow_alerts_total")
    assert total(s2, "pingan_sink_batch_rows_sum") == len(first) + len(INVALID) + alerts

    # the figures move with more traffic
    second = make_traffic("b", 500, 3000)
    worker.produce(second)
    s3 = wait_for(worker.port, lambda s: total(s, "pingan_messages_in_total") >= len(first) + len(INVALID) + len(second))
    assert total(s3, "pingan_messages_in_total") > total(s2, "pingan_messages_in_total")
    assert total(s3, "pingan_rule_evaluations_total", rule_id="FRAUD-MAJOR") > \
        total(s2, "pingan_rule_evaluations_total", rule_id="FRAUD-MAJOR")
    s4 = wait_for(worker.port, lambda s: total(s, "pingan_sink_batch_rows_sum") > total(s2, "pingan_sink_batch_rows_sum"))
    assert total(s4, "pingan_sink_batch_rows_count") > total(s2, "pingan_sink_batch_rows_count")
    assert total(s4, "pingan_deadletters_total") == len(INVALID)  # no new invalid input, no new dead letters

    # structured logs: the worker wrote JSON lines with context fields for the invalid messages
    lines = [json.loads(line) for line in worker.log.read_text(encoding="utf-8").splitlines()
             if line.startswith("{")]
    invalid_logs = [d for d in lines if d.get("message") == "invalid message"]
    assert len(invalid_logs) == len(INVALID)  # logged at INFO by the processor, one per message
    assert {d["topic"] for d in invalid_logs} == {topics.camera, topics.grid}
    assert all(isinstance(d["partition"], int) and isinstance(d["offset"], int) and d["reason"] for d in invalid_logs)


def test_alerts_tail_shows_published_alerts(worker):
    """`pingan alerts tail` reads the alerts the worker publishes, as readable Chinese lines."""
    worker.start()
    events = make_traffic("t", 300, 10_000)
    worker.produce(events)
    wait_for(worker.port, lambda s: total(s, "pingan_alerts_total", rule_id="FRAUD-MAJOR") >= 5)
    county = events[0][1]["county_code"]
    from pingan.schemas.divisions import load_divisions

    name = load_divisions().counties[county].name
    env = dict(worker.env)
    proc = subprocess.run([sys.executable, "-m", "pingan.cli.main", "alerts", "tail", "--from-beginning",
                           "--rule", "FRAUD-MAJOR", "--county", name, "--severity", "高", "--max", "1",
                           "--timeout", "30"],
                          env=env, capture_output=True, text=True, timeout=90, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    line = lines[0]
    assert "+08:00 [高] " + name in line and "FRAUD-MAJOR" in line and "重大诈骗案件" in line
    assert "对象 FC-" in line  # a case id is not personal: shown in clear
    # without filters: every published alert of this worker's topic, one line each, then idle exit
    proc = subprocess.run([sys.executable, "-m", "pingan.cli.main", "alerts", "tail", "--from-beginning",
                           "--timeout", "5"], env=env, capture_output=True, text=True, timeout=90, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    published = total(scrape(worker.port), "pingan_alerts_total")
    assert len(proc.stdout.splitlines()) == published
