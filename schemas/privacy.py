"""Personal identifiers: keyed pseudonyms (HMAC) at the edge, masks wherever people look."""

from __future__ import annotations

import hashlib
import hmac


class Pseudonymizer:
    """Replaces a personal identifier by a stable keyed pseudonym (HMAC-SHA256, 128 bits).

    The same key gives the same pseudonym for the same value, so rules can group by it; without
    the key the clear value cannot be recovered or confirmed by guessing.
    """

    __slots__ = ("_key", "_keyed")

    def __init__(self, key: str | bytes):
        if isinstance(key, str):
            key = key.encode("utf-8")
        if not key:
            raise ValueError("the pseudonym key must not be empty")
        self._key = key
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)  # the keyed state, copied per value

    def __call__(self, value: str) -> str:
        h = self._keyed.copy()
        h.update(value.encode("utf-8"))
        return "p_" + h.hexdigest()[:32]


def mask(value: str | None, keep_start: int = 2, keep_end: int = 2) -> str | None:
    """Mask an identifier for display: ``云E12345`` -> ``云E***45``."""
    if value is None:
        return None
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "***" + value[len(value) - keep_end :]
