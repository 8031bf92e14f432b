"""The fields a rule may name, per stream, with their types (derived from the event models)."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from pydantic import AwareDatetime

from pingan.schemas.events import EVENT_MODELS, STREAMS

#: stream name -> topic name
TOPICS: dict[str, str] = {stream: topic for topic, stream in STREAMS.items()}

#: fields whose clear value is personal: keyed by pseudonym, masked in titles.
CLEAR_PERSONAL = frozenset({"plate"})
#: fields the decoder already replaced by a pseudonym (never clear inside the engine).
PSEUDONYMISED = frozenset({"victim_id_number", "victim_phone"})
#: rule type -> the figures its alerts carry (placeholders a title may use besides event fields).
FIGURES = {
    "match": (),
    "count": ("count", "threshold", "window_s"),
    "distinct_count": ("count", "distinct", "threshold", "window_s"),
    "deadline": ("within_s", "started_ts"),
    "sequence": ("gap_s", "within_s"),
    "spike": ("count", "baseline_avg", "factor", "baseline_buckets"),
}


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str
    type: str  # "str", "num", "bool"
    nullable: bool
    enum: frozenset[str] | None = None


def _describe(annotation: object) -> tuple[str, frozenset[str] | None, bool]:
    """annotation -> (type, enum values, allows None)."""
    nullable = False
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        nullable = len(inner) != len(args)
        annotation = inner[0] if len(inner) == 1 else annotation
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
    if origin is typing.Annotated:
        annotation = args[0]
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
    if origin is typing.Literal:
        return "str", frozenset(str(a) for a in args), nullable
    if annotation is bool:
        return "bool", None, nullable
    if annotation in (int, float, Decimal) or annotation is AwareDatetime:
        return "num", None, nullable
    return "str", None, nullable


@lru_cache(maxsize=None)
def stream_fields(stream: str) -> dict[str, FieldInfo]:
    """Every field a rule on ``stream`` may name (contract fields plus the decoder's additions)."""
    model = EVENT_MODELS[TOPICS[stream]]
    fields: dict[str, FieldInfo] = {}
    for name, info in model.model_fields.items():
        kind, enum, nullable = _describe(info.annotation)
        fields[name] = FieldInfo(name, kind, nullable or not info.is_required(), enum)
    fields["ts"] = FieldInfo("ts", "num", False)
    fields["topic"] = FieldInfo("topic", "str", False, frozenset({TOPICS[stream]}))
    fields["stream"] = FieldInfo("stream", "str", False, frozenset({stream}))
    fields["county_name"] = FieldInfo("county_name", "str", False)
    fields["township_name"] = FieldInfo("township_name", "str", True)
    fields["village_name"] = FieldInfo("village_name", "str", True)
    return fields
