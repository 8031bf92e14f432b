"""Dead letters: a message that broke the contract keeps its reason, its origin and its bytes."""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson

from pingan.errors import InvalidEvent


def dead_letter(
    exc: InvalidEvent,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    received_at: float | None = None,
) -> dict[str, Any]:
    """A dead-letter row (the fields of :class:`pingan.schemas.alert.DeadLetter`; times as epoch)."""
    return {
        "reason": exc.reason,
        "details": exc.details,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key_b64": base64.b64encode(key).decode("ascii") if key is not None else None,
        "value_b64": base64.b64encode(value or b"").decode("ascii"),
        "received_at": time.time() if received_at is None else received_at,
    }


def dead_letter_bytes(row: dict[str, Any]) -> bytes:
    """The dead-letter message value as published (received_at in RFC 3339)."""
    from pingan.schemas.alert import iso_cst

    return orjson.dumps({**row, "received_at": iso_cst(row["received_at"])})
