"""Sends messages to Kafka with kafka-python, at a given rate or as fast as the broker takes them.

Valid events go as their compact JSON, broken ones as their raw bytes; keys as UTF-8. Delivery
errors are collected from the futures; any failure ends as one :class:`UnavailableError`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pingan.errors import UnavailableError
from pingan.kafka_client import kafka_errors
from pingan.traffic.message import Message
from pingan.traffic.progress import Progress


@dataclass
class SendStats:
    sent: int = 0
    raw: int = 0  # messages sent as raw bytes (broken ones)
    per_topic: Counter = field(default_factory=Counter)
    failed: int = 0
    first_error: str | None = None
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def send(messages: Iterable[Message], producer: Any, *, bootstrap: str, rate: float | None = None,
         progress: Progress | None = None, flush_timeout_s: float = 60.0) -> SendStats:
    """Send every message; ``rate`` in messages per second (None: no pacing)."""
    stats = SendStats()

    def failed(exc: BaseException) -> None:
        stats.failed += 1
        if stats.first_error is None:
            stats.first_error = f"{type(exc).__name__}: {exc}"

    started = time.monotonic()
    interval = 1.0 / rate if rate else 0.0
    with kafka_errors(bootstrap):
        for message in messages:
            if interval:
                due = started + stats.sent * interval
                ahead = due - time.monotonic()
                if ahead > 0.002:
                    time.sleep(ahead)
            future = producer.send(message.topic, key=message.key_bytes(), value=message.value_bytes())
            future.add_errback(failed)
            stats.sent += 1
            stats.per_topic[message.topic] += 1
            if message.is_raw:
                stats.raw += 1
            if progress is not None:
                progress.update()
            if stats.failed:
                break
        producer.flush(timeout=flush_timeout_s)
    stats.seconds = time.monotonic() - started
    if stats.failed:
        raise UnavailableError(f"{stats.failed} of {stats.sent} messages were not delivered to Kafka at {bootstrap}: {stats.first_error}")
    return stats
