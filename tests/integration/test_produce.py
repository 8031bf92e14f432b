"""`pingan produce` and `pingan simulate` against the real broker: what goes in comes back byte-exact.

A simulated file (with broken messages, some not UTF-8, and re-deliveries) is produced with the
CLI and consumed back with kafka-python: every topic holds exactly the file's (key, value bytes),
invalid ones included. Simulating straight to Kafka gives the same messages as simulating to a
file with the same seed and start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
START = "2026-11-29T06:00:00+08:00"


@pytest.fixture
def topics(kafka_broker):
    """Fresh input topics (3 partitions each) for one test: stream -> topic."""
    from kafka.admin import NewTopic

    from pingan.config import load_settings
    from pingan.kafka_client import make_admin

    suffix = uuid.uuid4().hex[:8]
    names = {s: f"it-{suffix}-{s}" for s in ("camera", "grid", "fraud", "service")}
    admin = make_admin(load_settings(), bootstrap=kafka_broker.bootstrap)
    try:
        admin.create_topics([NewTopic(t, 3, 1) for t in names.values()])
    finally:
        admin.close()
    return names


def env_for(kafka_broker, topics: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PINGAN_KAFKA__BOOTSTRAP"] = kafka_broker.bootstrap
    for stream, topic in topics.items():
        env[f"PINGAN_TOPICS__{stream.upper()}"] = topic
    return env


def pingan(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "pingan.cli.main", *args], env=env, cwd=str(REPO),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def consume(kafka_broker, topics: list[str], expected: int, timeout_s: float = 60.0) -> Counter:
    """(topic, key bytes, value bytes) -> count, read from the beginning of every partition."""
    from kafka import TopicPartition

    from pingan.config import load_settings
    from pingan.kafka_client import make_consumer

    consumer = make_consumer(load_settings(), bootstrap=kafka_broker.bootstrap, group_id=None)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        got: Counter = Counter()
        deadline = time.monotonic() + timeout_s
        while sum(got.values()) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    got[(r.topic, r.key, r.value)] += 1
        # nothing beyond what was expected arrives
        for records in consumer.poll(timeout_ms=1000).values():
            for r in records:
                got[(r.topic, r.key, r.value)] += 1
        return got
    finally:
        consumer.close()


def expected_from(path: Path) -> Counter:
    from pingan.traffic.message import read_jsonl

    return Counter((m.topic, m.key_bytes(), m.value_bytes()) for m in read_jsonl(path))


def test_produce_replays_a_file_byte_exactly(kafka_broker, topics, tmp_path):
    env = env_for(kafka_broker, topics)
    traffic = tmp_path / "traffic.jsonl"
    pingan(env, "simulate", "--events", "3000", "--duration", "6h", "--start", START, "--seed", "11",
           "--invalid-share", "0.03", "--out", str(traffic))
    want = expected_from(traffic)
    raw = [v for (_, _, v) in want if not v.startswith(b"{") or b'"ts":"' not in v]
    assert raw, "the file should hold broken messages"
    assert any(_not_utf8(v) for (_, _, v) in want)

    result = pingan(env, "produce", str(traffic))
    assert "produced 3,000 messages" in result.stdout
    got = consume(kafka_broker, list(topics.values()), 3000)
    assert got == want


def test_simulate_to_kafka_equals_simulate_to_file(kafka_broker, topics, tmp_path):
    env = env_for(kafka_broker, topics)
    args = ["--events", "1500", "--duration", "2h", "--start", START, "--seed", "5"]
    traffic = tmp_path / "traffic.jsonl"
    pingan(env, "simulate", *args, "--out", str(traffic))
    result = pingan(env, "simulate", *args, "--rate", "3000")
    assert "sent to Kafka" in result.stdout and "simulated 1,500 messages" in result.stdout
    assert consume(kafka_broker, list(topics.values()), 1500) == expected_from(traffic)


def _not_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def test_simulate_piped_into_produce(kafka_broker, topics, tmp_path):
    env = env_for(kafka_broker, topics)
    args = ["--events", "400", "--duration", "1h", "--start", START, "--seed", "9"]
    traffic = tmp_path / "traffic.jsonl"
    pingan(env, "simulate", *args, "--out", str(traffic))
    cli = [sys.executable, "-m", "pingan.cli.main"]
    simulate = subprocess.Popen([*cli, "simulate", *args, "--out", "-"], env=env, cwd=str(REPO),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    produce = subprocess.run([*cli, "produce", "-"], env=env, cwd=str(REPO), stdin=simulate.stdout,
                             capture_output=True, text=True, timeout=120)
    simulate.stdout.close()
    assert simulate.wait(timeout=60) == 0 and produce.returncode == 0, produce.stderr
    assert "produced 400 messages from stdin" in produce.stdout
    assert consume(kafka_broker, list(topics.values()), 400) == expected_from(traffic)
