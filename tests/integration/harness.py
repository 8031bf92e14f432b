"""A live pipeline for integration tests: a real worker process on its own topics and chDB.

Each :class:`Pipeline` has unique topic names, app id, web port and chDB directory, so tests
never see each other's messages or state. Queries go through the worker's /query page, since the
worker process owns the embedded chDB while it runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONTRACT_TOPICS = {"camera": "camera.alerts", "grid": "grid.reports", "fraud": "fraud.cases",
                   "service": "service.records"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
            "PINGAN_WORKER__IDLE_PARTITION_S": "2",
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

    def query(self, sql: str, params: dict | None = None) -> list[dict]:
        body = {"sql": sql, "params": params or {}}
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/query", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
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

    def produce_messages(self, messages) -> None:
        """Send simulator messages (contract topic names) to this pipeline's topics."""
        from kafka import KafkaProducer

        to_stream = {v: k for k, v in CONTRACT_TOPICS.items()}
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5, batch_size=256 * 1024)
        for m in messages:
            producer.send(self.topics[to_stream[m.topic]], key=m.key_bytes(), value=m.value_bytes())
        producer.flush()
        producer.close()

    def alerts(self) -> set[tuple[str, str, float]]:
        rows = self.query("SELECT rule_id, key, toUnixTimestamp64Milli(ts) AS ms FROM alerts FINAL")
        return {(r["rule_id"], r["key"], int(r["ms"]) / 1000) for r in rows}
