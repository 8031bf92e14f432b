"""A fast path for decoding valid events, generated from the pydantic models (the one definition).

:class:`FastDecoder` is the :class:`~pingan.schemas.decode.Decoder` with two front doors, both
generated once per topic from the topic's model (:mod:`pingan.streams.fastdecode_gen` reads the
model: field types, literals, lengths, patterns, bounds, its ``before`` field validators and
``after`` model validators, which are called as they are):

1. :mod:`pingan.streams.fastdecode_struct`: ``msgspec`` decodes into a Struct derived from the
   model (types, literals, lengths and bounds checked in C, unknown fields refused); generated
   code does the rest (patterns, ``ts``, validators, pseudonyms, names) and builds the record.
2. :func:`~pingan.streams.fastdecode_gen.compile_record_fn`: ``orjson`` parses, generated code
   checks every field and completes the parsed dict in place; it also takes unknown extra fields.

Both build the record ``Decoder.to_record`` builds from a validated model. When a tier is in any
doubt the next one decides, and pydantic last, which either accepts the message (the fast paths
were only more conservative) or produces the error message for the dead letter.

So the fast paths may only accept what pydantic accepts, with the same values; the unit tests
``tests/unit/test_fastdecode.py`` and ``test_fastdecode_fuzz.py`` check this on simulated traffic,
its broken variants, random mutations of both and edge cases. Records are equal to pydantic's
(``==``, with the same value types); their key order may differ (it is not part of the format).

A decoder belongs to one thread (each worker builds its own): the generated functions refill one
small object per model validator for every message.
"""

from __future__ import annotations

from typing import Any

from pingan.schemas.decode import PERSONAL_FIELDS, Decoder
from pingan.schemas.events import EVENT_MODELS, STREAMS
from pingan.streams.fastdecode_gen import Enrichment, Plan, RecordFn, Timestamps, Unsupported, compile_record_fn
from pingan.streams.fastdecode_struct import compile_struct_fn

__all__ = ["FastDecoder", "Unsupported"]


class FastDecoder(Decoder):
    """:class:`Decoder` with the generated fast paths in front (see the module docstring)."""

    def __init__(self, pseudonymize: Any):
        super().__init__(pseudonymize)
        #: topic -> the generated functions to try in turn (``record(raw) -> record | None``)
        self._fast: dict[str, tuple[RecordFn, ...]] = {}
        #: topic -> why a tier is missing (its messages go to the next tier, or to pydantic)
        self.unsupported: dict[str, str] = {}
        timestamps = Timestamps()  # all topics carry the same clock
        for topic, model in EVENT_MODELS.items():
            enrich = Enrichment(topic, STREAMS[topic], self._county_names, self._township_names,
                                self._village_names, pseudonymize, PERSONAL_FIELDS)
            try:
                plan = Plan(model, enrich, timestamps)
                general = compile_record_fn(plan)
            except Unsupported as exc:
                self.unsupported[topic] = str(exc)
                continue
            try:
                self._fast[topic] = (compile_struct_fn(plan), general)
            except Unsupported as exc:
                self.unsupported[topic] = f"msgspec tier: {exc}"
                self._fast[topic] = (general,)
        #: messages pydantic decoded (or rejected) because no fast path accepted them
        self.slow = 0
        #: messages the msgspec tier passed on to the orjson tier
        self.second = 0

    def decode(self, topic: str, raw: bytes) -> dict[str, Any]:
        tiers = self._fast.get(topic)
        if tiers is not None:
            record = tiers[0](raw)
            if record is not None:
                return record
            for tier in tiers[1:]:
                self.second += 1
                record = tier(raw)
                if record is not None:
                    return record
        self.slow += 1
        return Decoder.decode(self, topic, raw)
