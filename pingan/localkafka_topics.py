"""Topic set-up and metadata through kafka-python's admin client.

The partition counts come from the settings (:func:`topic_plan`): each input topic gets
``topics.input_partitions`` (6), ``alerts`` and ``deadletter`` get ``topics.output_partitions``
(3 unless configured). Faust's own internal topics (changelogs, repartitions) are created by Faust.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pingan.errors import PinganError, UnavailableError

if TYPE_CHECKING:  # pragma: no cover
    from kafka import KafkaAdminClient

    from pingan.config import Topics

#: Partitions of ``alerts`` and ``deadletter`` when the settings do not say.
DEFAULT_OUTPUT_PARTITIONS = 3


class TopicSetupError(PinganError):
    """A topic could not be created or has an unusable shape."""


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    wanted: int
    action: str  # "created" | "grown" | "exists" | "has more partitions than wanted"


def topic_plan(topics: Topics) -> dict[str, int]:
    """Topic name -> partition count for the topics Pingan itself creates."""
    plan = {name: topics.input_partitions for name in topics.inputs().values()}
    outputs = topics.output_partitions
    plan[topics.alerts] = outputs
    plan[topics.deadletter] = outputs
    return plan


def admin_client(bootstrap: str, *, timeout_s: float = 10.0, **options: Any) -> KafkaAdminClient:
    """A kafka-python admin client; an unreachable broker becomes :class:`UnavailableError`."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # failures surface as our errors
    timeout_ms = int(timeout_s * 1000)
    config: dict[str, Any] = {"client_id": "pingan-localkafka", "request_timeout_ms": timeout_ms}
    if "bootstrap_timeout_ms" in KafkaAdminClient.DEFAULT_CONFIG:  # kafka-python >= 3
        config["bootstrap_timeout_ms"] = timeout_ms
    config.update(options)
    try:
        return KafkaAdminClient(bootstrap_servers=bootstrap, **config)
    except (KafkaError, OSError) as exc:
        raise UnavailableError(f"Kafka broker at {bootstrap} is not reachable ({exc or type(exc).__name__})") from None


def partition_counts(admin: KafkaAdminClient, names: list[str] | None = None) -> dict[str, int]:
    """Topic name -> number of partitions, for ``names`` (existing ones only) or every topic."""
    existing = set(admin.list_topics())
    wanted = sorted(existing if names is None else existing.intersection(names))
    if not wanted:
        return {}
    return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(wanted) if t.get("error_code", 0) == 0}


def ensure_topics(admin: KafkaAdminClient, plan: dict[str, int], *, timeout_s: float = 30.0) -> list[TopicState]:
    """Create the missing topics of ``plan`` and grow ones with fewer partitions; idempotent.

    Waits until every partition of every planned topic has a leader, so a producer that starts
    right after this call does not meet ``NotLeaderForPartition``. A topic with *more* partitions
    than planned is left alone (Kafka cannot shrink a topic) and reported as such.
    """
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    current = partition_counts(admin, list(plan))
    missing = {name: n for name, n in plan.items() if name not in current}
    grow = {name: n for name, n in plan.items() if name in current and current[name] < n}
    timeout_ms = int(timeout_s * 1000)
    try:
        if missing:
            request = {name: {"num_partitions": n, "replication_factor": 1} for name, n in missing.items()}
            try:
                admin.create_topics(request, timeout_ms=timeout_ms)
            except TopicAlreadyExistsError:
                pass  # a concurrent creator won; the shape is checked below
        if grow:
            admin.create_partitions(grow, timeout_ms=timeout_ms)
        final = _wait_for_partitions(admin, plan, timeout_s)
        admin.wait_for_topics(list(plan), timeout_ms=timeout_ms)  # every partition has a leader
    except KafkaError as exc:
        raise TopicSetupError(f"could not set up topics {sorted(plan)}: {exc}") from None
    states: list[TopicState] = []
    for name, wanted in plan.items():
        have = final.get(name, 0)
        if have < wanted:
            raise TopicSetupError(f"topic {name} has {have} partitions after set-up, {wanted} wanted")
        if name in missing:
            action = "created"
        elif name in grow:
            action = "grown"
        elif have > wanted:
            action = "has more partitions than wanted"
        else:
            action = "exists"
        states.append(TopicState(name, have, wanted, action))
    return states


def _wait_for_partitions(admin: KafkaAdminClient, plan: dict[str, int], timeout_s: float) -> dict[str, int]:
    """Poll the metadata until every planned topic shows its partitions (new ones lag a little)."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = partition_counts(admin, list(plan))
        if all(counts.get(name, 0) >= n for name, n in plan.items()) or time.monotonic() >= deadline:
            return counts
        time.sleep(0.1)


def wait_until_answers(bootstrap: str, *, timeout_s: float, alive: Any = None) -> dict[str, Any]:
    """Poll until the broker answers a metadata request with itself registered and unfenced.

    ``alive`` is an optional zero-argument callable; when it returns False (the process died) the
    wait stops early. Returns the ``describe_cluster`` answer.
    """
    import socket

    host, _, port = bootstrap.rpartition(":")
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise UnavailableError(f"the Kafka process exited before {bootstrap} answered")
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                pass
        except OSError as exc:
            last = str(exc)
            time.sleep(0.2)
            continue
        admin = None
        try:
            admin = admin_client(bootstrap, timeout_s=min(5.0, max(1.0, deadline - time.monotonic())))
            cluster = admin.describe_cluster()
            brokers = cluster.get("brokers") or []
            if brokers and not any(b.get("is_fenced") for b in brokers):
                return cluster
            last = "broker registered but fenced"
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"; retried until the deadline
            last = str(exc) or type(exc).__name__
        finally:
            if admin is not None:
                admin.close()
        time.sleep(0.3)
    raise UnavailableError(f"Kafka at {bootstrap} did not answer within {timeout_s:.0f}s ({last})")
