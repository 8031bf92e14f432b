"""Raw message bytes -> a validated, pseudonymised, enriched event (a plain dict).

The plain dict is what every stage after the edge works with (rules, sinks). Its keys:

- every field of the contract, typed (``loss_yuan`` a ``Decimal``), absent optional fields ``None``;
- ``topic`` (the contract's topic name) and ``stream`` (``camera``/``grid``/``fraud``/``service``);
- ``ts``: event time as float seconds since the epoch (UTC);
- ``county_name``, ``township_name``, ``village_name``: Chinese names from the division list;
- ``extra``: unknown extra fields (kept, ignored by rules);
- ``victim_id_number`` and ``victim_phone`` hold keyed pseudonyms (``p_…``), never clear values.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from pingan.errors import InvalidEvent
from pingan.schemas.divisions import load_divisions
from pingan.schemas.events import EVENT_MODELS, STREAMS
from pingan.schemas.privacy import Pseudonymizer

PERSONAL_FIELDS = ("victim_id_number", "victim_phone")


def describe_validation_error(exc: ValidationError) -> list[str]:
    """Plain one-line descriptions of a pydantic error: ``confidence: Input should be a number``."""
    lines = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {msg}" if where else msg)
    return lines


class Decoder:
    """Decodes the raw value of a message from one of the four input topics."""

    def __init__(self, pseudonymize: Pseudonymizer):
        self._pseudonymize = pseudonymize
        divisions = load_divisions()
        self._county_names = {c: d.name for c, d in divisions.counties.items()}
        self._township_names = {c: d.name for c, d in divisions.townships.items()}
        self._village_names = {c: d.name for c, d in divisions.villages.items()}

    def decode(self, topic: str, raw: bytes) -> dict[str, Any]:
        """Validate ``raw``; raise :class:`InvalidEvent` with the reason when it breaks the contract."""
        model = EVENT_MODELS.get(topic)
        if model is None:
            raise InvalidEvent(f"unknown topic {topic!r}")
        try:
            event = model.model_validate_json(raw)
        except ValidationError as exc:
            details = describe_validation_error(exc)
            reason = details[0] if details else "invalid event"
            if any(e["type"] in ("json_invalid", "json_type") for e in exc.errors()):
                reason = "not a UTF-8 JSON object: " + reason
            raise InvalidEvent(reason, details=details) from None
        except UnicodeDecodeError as exc:
            raise InvalidEvent(f"not UTF-8: {exc}") from None
        return self.to_record(topic, event)

    def to_record(self, topic: str, event: Any) -> dict[str, Any]:
        record = dict(event.__dict__)
        record["extra"] = dict(event.model_extra) if event.model_extra else {}
        record["ts"] = event.ts.timestamp()
        record["topic"] = topic
        record["stream"] = STREAMS[topic]
        record["county_name"] = self._county_names[event.county_code]
        township = record.get("township_code")
        record["township_name"] = self._township_names.get(township) if township else None
        village = record.get("village_code")
        record["village_name"] = self._village_names.get(village) if village else None
        for name in PERSONAL_FIELDS:
            value = record.get(name)
            if value is not None:
                record[name] = self._pseudonymize(value)
        return record
