"""The YAML rule-set file (``rules/*.yaml``): the typed edge of the rule language.

This model checks the *shape* of a rule file (which keys exist, their types, the rule types). The
condition texts, key fields, placeholders and durations are then checked and compiled by
``pingan.streams.engine`` (which reports every problem with file, line and rule id).
Its JSON Schema is published as ``schemas/json/rulefile.schema.json`` for editors.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pingan.schemas.alert import Severity

#: "30m", "2h", "48h", "90d", "30m1s", "1h30m", "45s" (days, hours, minutes, seconds).
Duration = Annotated[
    str,
    StringConstraints(pattern=r"^\s*(\d+(\.\d+)?\s*[dhms]\s*)+$"),
    Field(description='a duration such as "30m", "48h", "90d" or "30m1s" (d, h, m, s)'),
]
RuleId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"),
    Field(description="letters, digits, - and _; starts with a letter; e.g. CAM-WANTED"),
]
Stream = Literal["camera", "grid", "fraud", "service"]
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
#: one event field, or a list of fields (a composite key, joined with "|").
KeySpec = Union[FieldName, Annotated[list[FieldName], Field(min_length=1, max_length=4)]]
Condition = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4000),
    Field(description="a condition in the rule language, e.g. kind == \"face_match\" and confidence >= 0.85"),
]
TopicName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,200}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertTemplate(_Strict):
    """What an alert of the rule looks like and where it goes."""

    severity: Severity
    title: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="Chinese title; placeholders such as {key}, {count}, {village_name} or any event field"
    )
    topics: Annotated[list[TopicName], Field(min_length=1)] = Field(
        default_factory=lambda: ["alerts"], description="alert topics the alert is routed to"
    )
    labels: dict[FieldName, Annotated[str, StringConstraints(max_length=200)]] = Field(
        default_factory=dict, description="extra labels for downstream routing; values may hold placeholders"
    )
    domain: FieldName | None = Field(default=None, description="domain label (default: the rule's stream)")
    figures: list[FieldName] = Field(
        default_factory=list, description="event fields copied into the alert's figures (e.g. confidence)"
    )
    evidence_max: Annotated[int, Field(ge=1, le=1000)] = 50


class _Meta(_Strict):
    id: RuleId
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: str = ""
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    status: Literal["enabled", "disabled", "shadow"] = "enabled"
    key: KeySpec = Field(description="group-by key field(s); events lacking them never count")
    suppress: Duration | None = Field(
        default=None, description="after firing at t for a key, no new firing for that key before t + suppress"
    )
    grace: Duration | None = Field(
        default=None, description="ignore events older than (engine time - grace); default: accept late events"
    )
    alert: AlertTemplate


class _Single(_Meta):
    stream: Stream
    when: Condition = "true"


class MatchRule(_Single):
    """Fires on every event that matches ``when``."""

    type: Literal["match"]


class CountRule(_Single):
    """Fires when, at a matching event's ts t, the events of its key in [t - window, t] reach the threshold."""

    type: Literal["count"]
    window: Duration
    threshold: Annotated[int, Field(ge=1, le=1_000_000)]
    op: Literal[">=", ">"] = ">="


class DistinctCountRule(_Single):
    """Like count, on the number of distinct values of ``distinct`` in the window."""

    type: Literal["distinct_count"]
    distinct: FieldName
    window: Duration
    threshold: Annotated[int, Field(ge=1, le=1_000_000)]
    op: Literal[">=", ">"] = ">="


class Cancel(_Strict):
    """The event that stops a deadline clock (default: on the rule's own stream and key field)."""

    stream: Stream | None = None
    when: Condition
    key: KeySpec | None = None


class DeadlineRule(_Single):
    """A matching event starts a clock; fires at start + within unless a cancel event comes first."""

    type: Literal["deadline"]
    within: Duration
    cancel: Cancel


class Step(_Strict):
    """One side of a sequence: events of ``stream`` that match ``when``, keyed by ``key`` (default: the rule's)."""

    stream: Stream
    when: Condition = "true"
    key: KeySpec | None = None


class SequenceRule(_Meta):
    """Fires on a ``then`` event when a ``first`` event of the same key lies at most ``within`` before it."""

    type: Literal["sequence"]
    first: Step
    then: Step
    within: Duration


class SpikeRule(_Single):
    """Fires when the matching events of the current bucket reach ``factor`` x the baseline average."""

    type: Literal["spike"]
    bucket: Literal["hour", "day"] = "day"
    baseline: Annotated[int, Field(ge=1, le=90)] = Field(default=7, description="previous buckets averaged")
    factor: Annotated[float, Field(gt=0, le=1000)] = 3.0
    min_count: Annotated[int, Field(ge=1)] = 5
    timezone: str = "Asia/Shanghai"


Rule = Annotated[
    Union[MatchRule, CountRule, DistinctCountRule, DeadlineRule, SequenceRule, SpikeRule],
    Field(discriminator="type"),
]
RULE_TYPES = ("match", "count", "distinct_count", "deadline", "sequence", "spike")


class RuleFile(_Strict):
    """One ``rules/*.yaml`` file: optional macros (shared by every file of the directory) and rules."""

    macros: dict[FieldName, Condition] = Field(
        default_factory=dict, description="named conditions usable by name in any rule's condition"
    )
    rules: list[Rule] = Field(default_factory=list)
