"""A fast path for decoding valid events, generated from the pydantic models (the one definition).

:class:`FastDecoder` is the :class:`~pingan.schemas.decode.Decoder` with a front door: one function
per topic, generated once from the topic's model (:mod:`pingan.streams.fastdecode_gen`), parses the
bytes with ``orjson``, checks and converts the fields in straight-line code, calls the model's own
``before`` field validators and ``after`` model validators, and builds the record exactly as
``Decoder.to_record`` builds it from a validated model. When any check fails - or the model uses a
type or constraint the generator does not know - the message goes through pydantic as before,
which either accepts it (the fast path was only more conservative) or produces the error message
for the dead letter.

So the fast path may only accept what pydantic accepts, with the same values; the unit tests
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
from pingan.streams.fastdecode_gen import Enrichment, RecordFn, Timestamps, Unsupported, compile_record_fn

__all__ = ["FastDecoder", "Unsupported"]


class FastDecoder(Decoder):
    """:class:`Decoder` with the generated fast path in front (see the module docstring)."""

    def __init__(self, pseudonymize: Any):
        super().__init__(pseudonymize)
        #: topic -> generated ``record(raw) -> record | None``
        self._fast: dict[str, RecordFn] = {}
        #: topic -> why it has no fast path (every message of it goes through pydantic)
        self.unsupported: dict[str, str] = {}
        timestamps = Timestamps()
        for topic, model in EVENT_MODELS.items():
            enrich = Enrichment(topic, STREAMS[topic], self._county_names, self._township_names,
                                self._village_names, pseudonymize, PERSONAL_FIELDS)
            try:
                self._fast[topic] = compile_record_fn(model, enrich, timestamps)
            except Unsupported as exc:
                self.unsupported[topic] = str(exc)
        #: messages pydantic decoded (or rejected) because the fast path did not accept them
        self.slow = 0

    def decode(self, topic: str, raw: bytes) -> dict[str, Any]:
        fast = self._fast.get(topic)
        if fast is not None:
            record = fast(raw)
            if record is not None:
                return record
        self.slow += 1
        return Decoder.decode(self, topic, raw)
