"""A message to produce, and the JSONL file format that stores messages for replay.

One line per message: ``{"topic": ..., "key": ..., "value": ...}`` where ``value`` is

- a JSON object for a well-formed event (sent as its compact UTF-8 JSON serialisation);
- a string holding the raw bytes of a broken message when they are valid UTF-8 (sent as those
  bytes, exactly);
- absent, with ``value_b64`` (standard base64) instead, when the raw bytes are not UTF-8.

``key`` is a string (sent as UTF-8) or null. Reading also accepts a ``value`` string holding
lone surrogates (bytes decoded with ``surrogateescape``) and re-encodes them byte-exactly.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from pingan.errors import PinganError


class TrafficFileError(PinganError):
    """A traffic (JSONL) file cannot be read."""


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: str | None
    value: dict[str, Any] | bytes  # an event object, or the raw bytes of a broken message

    @property
    def is_raw(self) -> bool:
        return isinstance(self.value, bytes)

    def value_bytes(self) -> bytes:
        value = self.value
        return value if isinstance(value, bytes) else orjson.dumps(value)

    def key_bytes(self) -> bytes | None:
        return None if self.key is None else self.key.encode("utf-8")

    def to_line(self) -> bytes:
        """The JSONL line (with its newline)."""
        value = self.value
        if isinstance(value, bytes):
            try:
                obj = {"topic": self.topic, "key": self.key, "value": value.decode("utf-8")}
            except UnicodeDecodeError:
                obj = {"topic": self.topic, "key": self.key, "value_b64": base64.b64encode(value).decode("ascii")}
        else:
            obj = {"topic": self.topic, "key": self.key, "value": value}
        return orjson.dumps(obj) + b"\n"


def parse_line(line: bytes | str, where: str = "line") -> Message:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        import json

        try:  # lone surrogates (surrogateescape) are valid JSON text that orjson refuses
            obj = json.loads(line)
        except ValueError as exc:
            raise TrafficFileError(f"{where}: not a JSON object: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("topic"), str):
        raise TrafficFileError(f"{where}: expected an object with a \"topic\" string")
    key = obj.get("key")
    if key is not None and not isinstance(key, str):
        raise TrafficFileError(f"{where}: \"key\" must be a string or null")
    if "value_b64" in obj:
        try:
            value: dict | bytes = base64.b64decode(obj["value_b64"], validate=True)
        except (ValueError, TypeError):
            raise TrafficFileError(f"{where}: \"value_b64\" is not base64") from None
    else:
        raw = obj.get("value")
        if isinstance(raw, str):
            value = raw.encode("utf-8", "surrogateescape")
        elif isinstance(raw, dict):
            value = raw
        else:
            raise TrafficFileError(f"{where}: \"value\" must be an object or a string")
    return Message(obj["topic"], key, value)


def write_jsonl(messages: Iterable[Message], out: IO[bytes]) -> int:
    n = 0
    buffer: list[bytes] = []
    for message in messages:
        buffer.append(message.to_line())
        n += 1
        if len(buffer) >= 4096:
            out.write(b"".join(buffer))
            buffer.clear()
    out.write(b"".join(buffer))
    return n


def read_jsonl(path: str | Path) -> Iterator[Message]:
    """The messages of a file, in order; a bad line raises :class:`TrafficFileError` naming it."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise TrafficFileError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        yield from read_lines(handle, str(path))


def read_lines(handle: IO[bytes], name: str) -> Iterator[Message]:
    """The messages of an open binary stream (e.g. stdin), naming ``name`` in errors."""
    for lineno, line in enumerate(handle, 1):
        if line.strip():
            yield parse_line(line, f"{name}:{lineno}")


def count_lines(path: str | Path) -> int:
    """Number of non-empty lines (for a progress bar)."""
    n = 0
    with Path(path).open("rb") as handle:
        for line in handle:
            if line.strip():
                n += 1
    return n
