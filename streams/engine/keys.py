"""Group-key extractors: event -> key string, or None when a key field is missing or empty.

An event lacking a key field never counts and is never grouped under an empty key. Clear personal
identifiers (plates) used as keys become keyed pseudonyms; fields the decoder already pseudonymised
(victim_id_number, victim_phone) are used as they are.
"""

from __future__ import annotations

from typing import Any, Callable

from pingan.streams.engine.fields import CLEAR_PERSONAL

KeyFn = Callable[[dict[str, Any]], "str | None"]


def make_key(fields: tuple[str, ...], pseudonymize: Callable[[str], str] | None) -> KeyFn:
    if len(fields) == 1 and fields[0] not in CLEAR_PERSONAL:
        name = fields[0]

        def single(e: dict[str, Any]) -> str | None:
            v = e.get(name)
            if v is None or v == "":
                return None
            return v if v.__class__ is str else str(v)

        return single

    def composite(e: dict[str, Any]) -> str | None:
        parts = []
        for name in fields:
            v = e.get(name)
            if v is None or v == "":
                return None
            v = v if v.__class__ is str else str(v)
            if name in CLEAR_PERSONAL:
                if pseudonymize is None:
                    raise RuntimeError("a pseudonym key is required")
                v = pseudonymize(v)
            parts.append(v)
        return "|".join(parts)

    return composite
