"""A real Kafka broker for the integration tests (no mocks).

``kafka_broker`` (session scope) fetches the jars if needed, starts a dedicated broker on free
ports with a temporary data directory (never 9092, so a demo broker can keep running), creates
the default topics and stops the broker when the session ends. The broker is tied to the test
process: if pytest dies, Linux sends it SIGTERM.

``fresh_topics`` (function scope) creates a uniquely named topic set for one test and returns it
as a :class:`pingan.config.Topics`, so tests never read each other's messages.

Every test that uses ``kafka_broker`` (directly or through ``fresh_topics``) is marked
``integration`` automatically; ``-m "not integration"`` skips them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pingan.config import Topics, load_settings
from pingan.localkafka import BrokerConfig, LocalKafka, free_port


@dataclass(frozen=True)
class KafkaBroker:
    bootstrap: str  # "127.0.0.1:<port>"
    port: int
    controller_port: int
    version: str
    data_dir: Path
    controller: LocalKafka

    def create_topics(self, topics: Topics) -> Topics:
        """Create (idempotently) the six topics of ``topics`` with their partition counts."""
        self.controller.ensure_topics(topics, bootstrap=self.bootstrap)
        return topics


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "kafka_broker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


def _distinct_free_ports() -> tuple[int, int]:
    port = free_port()
    controller = free_port()
    while controller == port:
        controller = free_port()
    return port, controller


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    version = load_settings().kafka.version
    data_dir = tmp_path_factory.mktemp("kafka")
    last_error: Exception | None = None
    for _ in range(3):  # a free port can be taken between the probe and the JVM's bind
        port, controller_port = _distinct_free_ports()
        controller = LocalKafka(BrokerConfig(version=version, port=port, controller_port=controller_port,
                                             data_dir=data_dir, heap="512m"))
        try:
            status = controller.up(Topics(), timeout_s=180, attach=True)
            break
        except Exception as exc:  # noqa: BLE001 - retried on other ports, re-raised below
            last_error = exc
            controller.down(timeout_s=10)
    else:
        raise RuntimeError(f"could not start the test Kafka broker: {last_error}")
    try:
        yield KafkaBroker(status.bootstrap, status.port, status.controller_port, status.version, data_dir, controller)
    finally:
        controller.down(timeout_s=60)  # the first stop also writes the class-sharing archive


@pytest.fixture
def fresh_topics(kafka_broker: KafkaBroker) -> Topics:
    """A topic set unique to this test (same partition counts as the defaults), already created."""
    suffix = uuid.uuid4().hex[:10]
    base = Topics()
    topics = base.model_copy(update={
        name: f"{getattr(base, name)}.{suffix}"
        for name in ("camera", "grid", "fraud", "service", "alerts", "deadletter")
    })
    return kafka_broker.create_topics(topics)
