"""The local Kafka broker: lifecycle of `pingan kafka`, and real clients against the test broker."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pingan.config import Topics, load_settings
from pingan.localkafka import (
    BrokerConfig,
    BrokerError,
    LocalKafka,
    PortInUseError,
    free_port,
    port_in_use,
    process_cmdline,
)
from pingan.localkafka_topics import admin_client, partition_counts, topic_plan

pytestmark = pytest.mark.integration


def _ports() -> tuple[int, int]:
    a = free_port()
    b = free_port()
    while b == a:
        b = free_port()
    return a, b


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory, kafka_broker):
    """A second broker that this module starts and stops itself (the lifecycle under test).

    It depends on ``kafka_broker`` only so that the jars are fetched once, before it.
    """
    port, controller_port = _ports()
    cfg = BrokerConfig(version=kafka_broker.version, port=port, controller_port=controller_port,
                       data_dir=tmp_path_factory.mktemp("own-kafka"), heap="384m")
    controller = LocalKafka(cfg)
    try:
        yield controller
    finally:
        controller.down(timeout_s=60)  # the first stop also writes the class-sharing archive


# ---------------------------------------------------------------------------- lifecycle


@pytest.mark.slow  # starts its own JVM
def test_up_twice_is_a_noop_and_status_reports_it(own_broker: LocalKafka) -> None:
    first = own_broker.up(Topics(), attach=True)
    assert first.started and first.running and first.pid is not None
    second = own_broker.up(Topics(), attach=True)
    assert not second.started
    assert second.pid == first.pid
    status = own_broker.status(with_topics=True)
    assert status.running and status.pid == first.pid
    assert status.port == own_broker.cfg.port
    assert status.version == own_broker.cfg.version
    assert status.topics is not None and set(topic_plan(Topics())) <= set(status.topics)
    assert own_broker.cfg.pid_file.read_text().strip() == str(first.pid)
    assert any(own_broker.cfg.logs_dir.glob("server.log"))


@pytest.mark.slow  # starts its own JVM
def test_busy_port_is_a_clear_error(own_broker: LocalKafka, tmp_path: Path) -> None:
    own_broker.up(attach=True)
    intruder = LocalKafka(BrokerConfig(version=own_broker.cfg.version, port=own_broker.cfg.port,
                                       controller_port=free_port(), data_dir=tmp_path / "other"))
    with pytest.raises(PortInUseError, match=rf"port {own_broker.cfg.port} on 127.0.0.1 is already in use"):
        intruder.up()
    assert not intruder.cfg.pid_file.exists()


def test_busy_port_through_the_cli_is_one_line_and_nonzero(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "pingan.cli.main", "kafka", "up", "--port", str(port),
             "--controller-port", str(free_port()), "--data-dir", str(tmp_path / "k")],
            capture_output=True, text=True, timeout=120,
        )
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_broker_that_dies_at_start_is_a_clear_error(kafka_broker, tmp_path: Path) -> None:
    port, controller_port = _ports()
    doomed = LocalKafka(BrokerConfig(version=kafka_broker.version, port=port, controller_port=controller_port,
                                     data_dir=tmp_path / "doomed", heap="1k"))  # the JVM refuses this heap
    with pytest.raises(BrokerError, match=r"exited before .* answered: .*initialization of VM") as err:
        doomed.up(timeout_s=60, attach=True)
    assert "\n" not in str(err.value)
    assert doomed.running_pid() is None and not doomed.cfg.pid_file.exists()
    assert not port_in_use(port)


@pytest.mark.slow  # starts its own JVM
def test_stale_pid_file_is_ignored_then_replaced(own_broker: LocalKafka) -> None:
    own_broker.down()
    assert own_broker.status().running is False
    # A pid that is alive but not a broker (this test process), then one that does not exist.
    for stale in (str(os.getpid()), "4194303"):
        own_broker.cfg.pid_file.write_text(stale + "\n")
        assert own_broker.running_pid() is None
        assert own_broker.status().running is False
    assert own_broker.down() is False  # nothing to stop, and nothing was killed
    assert not own_broker.cfg.pid_file.exists()
    own_broker.cfg.pid_file.write_text("4194303\n")
    restarted = own_broker.up(attach=True)
    assert restarted.started
    assert own_broker.cfg.pid_file.read_text().strip() == str(restarted.pid)
    assert process_cmdline(restarted.pid) is not None


@pytest.mark.slow  # starts its own JVM
def test_down_stops_the_process(own_broker: LocalKafka) -> None:
    st = own_broker.up(attach=True)
    assert own_broker.down() is True
    assert process_cmdline(st.pid) is None or "kafka.Kafka" not in process_cmdline(st.pid)
    assert not own_broker.cfg.pid_file.exists()
    assert own_broker.status().running is False


# ---------------------------------------------------------------------------- the fixture broker


def test_default_topics_have_the_planned_partitions(kafka_broker) -> None:
    settings = load_settings()
    admin = admin_client(kafka_broker.bootstrap)
    try:
        counts = partition_counts(admin)
    finally:
        admin.close()
    for name in settings.topics.inputs().values():
        assert counts[name] == settings.topics.input_partitions == 6
    assert counts[settings.topics.alerts] == settings.topics.output_partitions
    assert counts[settings.topics.deadletter] == settings.topics.output_partitions
    assert kafka_broker.port != 9092


def test_ensure_topics_grows_a_topic_with_too_few_partitions(kafka_broker) -> None:
    from kafka.admin import NewTopic

    name = f"grow.{uuid.uuid4().hex[:8]}"
    admin = admin_client(kafka_broker.bootstrap)
    try:
        admin.create_topics([NewTopic(name, 2, 1)])
        topics = Topics(camera=name, grid=f"{name}.g", fraud=f"{name}.f", service=f"{name}.s",
                        alerts=f"{name}.a", deadletter=f"{name}.d")
        states = {s.name: s for s in kafka_broker.controller.ensure_topics(topics, bootstrap=kafka_broker.bootstrap)}
        assert states[name].action == "grown" and states[name].partitions == 6
        assert states[f"{name}.a"].action == "created" and states[f"{name}.a"].partitions == 3
        again = kafka_broker.controller.ensure_topics(topics, bootstrap=kafka_broker.bootstrap)
        assert {s.action for s in again} == {"exists"}
        assert partition_counts(admin, [name])[name] == 6
    finally:
        admin.close()


def test_fresh_topics_are_unique_and_created(kafka_broker, fresh_topics: Topics) -> None:
    assert fresh_topics.camera != Topics().camera
    admin = admin_client(kafka_broker.bootstrap)
    try:
        counts = partition_counts(admin, list(topic_plan(fresh_topics)))
    finally:
        admin.close()
    assert counts == topic_plan(fresh_topics)


def test_produce_and_consume_with_kafka_python(kafka_broker, fresh_topics: Topics) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    sent = {f"k{i}".encode(): f"v{i}-{uuid.uuid4().hex}".encode() for i in range(20)}
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    for key, value in sent.items():
        producer.send(fresh_topics.grid, key=key, value=value)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(fresh_topics.grid, bootstrap_servers=kafka_broker.bootstrap,
                             group_id=f"t-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest",
                             consumer_timeout_ms=20_000)
    got = {}
    partitions = set()
    for message in consumer:
        got[message.key] = message.value
        partitions.add(message.partition)
        if len(got) == len(sent):
            break
    consumer.close()
    assert got == sent
    assert len(partitions) > 1  # keys spread over the six partitions


def test_produce_and_consume_with_aiokafka(kafka_broker, fresh_topics: Topics) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def roundtrip() -> dict[bytes, bytes]:
        sent = {f"a{i}".encode(): uuid.uuid4().bytes for i in range(20)}
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            for key, value in sent.items():
                await producer.send_and_wait(fresh_topics.alerts, value, key=key)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(fresh_topics.alerts, bootstrap_servers=kafka_broker.bootstrap,
                                    group_id=f"t-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest")
        await consumer.start()
        got: dict[bytes, bytes] = {}
        try:
            async def drain() -> None:
                async for message in consumer:
                    got[message.key] = message.value
                    if len(got) == len(sent):
                        return

            await asyncio.wait_for(drain(), timeout=30)
        finally:
            await consumer.stop()
        assert got == sent
        return got

    assert len(asyncio.run(roundtrip())) == 20
