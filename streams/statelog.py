"""Engine state <-> changelog records, with values too large for one Kafka record split in parts.

A rule key's state is normally one small JSON value, one record. A window that holds very many
events (a distinct count over a day on a busy key) can outgrow Kafka's record limit (1 MB by
default); such a value is written as a manifest under its own key (``{"__parts__": n}``) and ``n``
part records ``<key>\\x1f<i>`` holding consecutive slices of its JSON text. Restoring joins them
back. When a value shrinks (or is deleted) the parts it no longer needs are deleted (tombstones).
Pure functions: the runtime produces the records and feeds the restored items to the engine.
"""

from __future__ import annotations

from typing import Any, Iterable

import orjson

PART_CHARS = 100_000  # characters of JSON text per part: < 1 MB even for 4-byte characters, escaped
SEP = "\x1f"
MANIFEST = "__parts__"


def encode_changes(changes: dict[str, Any], parts: dict[str, int]) -> list[tuple[str, bytes | None]]:
    """(record key, JSON value bytes or None for a tombstone) for each state change.

    ``parts`` (key -> number of parts currently written) is updated in place."""
    out: list[tuple[str, bytes | None]] = []
    dumps = orjson.dumps
    for key, value in changes.items():
        before = parts.pop(key, 0)
        if value is None:
            out.append((key, None))
            now = 0
        else:
            data = dumps(value)
            if len(data) <= PART_CHARS:
                out.append((key, data))
                now = 0
            else:
                text = data.decode("utf-8")
                pieces = [text[i:i + PART_CHARS] for i in range(0, len(text), PART_CHARS)]
                now = len(pieces)
                for i, piece in enumerate(pieces):
                    out.append((f"{key}{SEP}{i}", dumps(piece)))
                out.append((key, dumps({MANIFEST: now})))  # after its parts: a restore never sees a manifest without them
                parts[key] = now
        for i in range(now, before):
            out.append((f"{key}{SEP}{i}", None))
    return out


def decode_items(items: Iterable[tuple[str, Any]]) -> tuple[list[tuple[str, Any]], dict[str, int]]:
    """Table items (key -> decoded JSON value) -> (engine state items, parts per key)."""
    table = dict(items)
    out: list[tuple[str, Any]] = []
    parts: dict[str, int] = {}
    for key, value in table.items():
        if SEP in key or value is None:
            continue
        if isinstance(value, dict) and len(value) == 1 and MANIFEST in value:
            n = int(value[MANIFEST])
            pieces = [table.get(f"{key}{SEP}{i}") for i in range(n)]
            if any(not isinstance(p, str) for p in pieces):
                continue  # incomplete (never written whole): the engine starts this key afresh
            out.append((key, orjson.loads("".join(pieces))))
            parts[key] = n
        else:
            out.append((key, value))
    return out, parts
