"""Building blocks for the per-event code rule types inline into the engine's per-topic function.

A rule type's ``emit(side, slot)`` returns the lines run for an event that met the side's
condition, and the objects those lines refer to (named ``<slot>...``). The lines may use:

- ``e`` the event, ``ts`` its event time, ``now`` the engine's event time (already advanced to
  ``ts`` when ts is larger), ``out`` the list alerts are appended to;
- the locals listed in :data:`LOCALS` (each fragment sets them before reading them);
- their own slots.

The code is written here and in the rule types, never derived from rule text: field names enter
only through ``repr``, like the condition compiler's.
"""

from __future__ import annotations

from typing import Any

from pingan.streams.engine.base import Side
from pingan.streams.engine.fields import CLEAR_PERSONAL

LOCALS = frozenset({"k", "st", "last", "ev", "item", "hi", "lo", "n", "cs", "cl", "d", "i", "v", "ids",
                    "firsts", "f_ts", "f_id", "keep", "dup"})
ATTRS = frozenset({"get", "append", "add", "insert", "clock", "cancels", "last", "ev", "firsts", "new", "moved", "index",
                   "ts", "ids", "vals",
                   "__class__"})


def block(header: str, body: list[str]) -> list[str]:
    """``header`` (an ``if``/``else`` line) with ``body`` indented under it."""
    return [header, *("    " + line for line in body)]


def with_key(side: Side, slot: str, slots: dict[str, Any], body: list[str]) -> list[str]:
    """Sets ``k`` to the side's group key and runs ``body`` when there is one (see ``keys``)."""
    fields = side.key_fields
    if len(fields) == 1 and fields[0] not in CLEAR_PERSONAL:
        return [f"k = e.get({fields[0]!r})",
                *block('if k is not None and k != "":', ["if k.__class__ is not str:", "    k = str(k)", *body])]
    slots[f"{slot}key"] = side.key
    return [f"k = {slot}key(e)", *block("if k is not None:", body)]


def within_grace(grace: float | None, body: list[str]) -> list[str]:
    """``body`` unless the event is older than the rule's grace period allows."""
    if grace is None:
        return body
    return block(f"if ts >= now - {float(grace)!r}:", body)


def suppressed_test(suppress: float | None, last: str) -> str:
    """A Python test that is true when a firing at ``ts`` is NOT suppressed."""
    if suppress is None:
        return "True"
    return f"{last} is None or ts >= {last} + {float(suppress)!r}"
