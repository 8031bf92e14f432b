"""The published alert and the dead-letter record (downstream systems consume both)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
CST = timezone(timedelta(hours=8), "Asia/Shanghai")


def alert_id_for(rule_id: str, key: str, ts: float) -> str:
    """Deterministic alert id: the same firing re-computed after a crash has the same id."""
    text = f"{rule_id}\x1f{key}\x1f{round(ts * 1000)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def iso_cst(ts: float) -> str:
    """Epoch seconds -> RFC 3339 in +08:00, the command centre's time zone."""
    return datetime.fromtimestamp(ts, CST).isoformat()


class Alert(BaseModel):
    """An alert as published to the alert topics (fields of reference-rules.md, and more)."""

    model_config = ConfigDict(extra="forbid")

    alert_id: str = Field(description="unique; derived from rule_id, key and ts so a retry is harmless")
    rule_id: str
    rule_version: str = Field(description="changes when the rule text changes")
    severity: Severity
    key: str = Field(description="the group key; personal identifiers appear only as pseudonyms")
    ts: AwareDatetime = Field(description="event time at which the rule fired (deadline rules: the deadline)")
    county_code: str
    county_name: str | None = None
    township_code: str | None = None
    township_name: str | None = None
    village_code: str | None = None
    village_name: str | None = None
    title: str = Field(description="Chinese title for the command centre")
    evidence: list[str] = Field(description="event_ids that made the rule fire")
    figures: dict[str, int | float | str] = Field(default_factory=dict, description="the window's figures")
    labels: dict[str, str] = Field(default_factory=dict)
    domain: str | None = None
    status: Literal["enabled", "shadow"] = "enabled"
    topics: list[str] = Field(default_factory=lambda: ["alerts"])


class DeadLetter(BaseModel):
    """A message that broke the contract, with its origin and the original bytes."""

    model_config = ConfigDict(extra="forbid")

    reason: str
    details: list[str] = Field(default_factory=list)
    topic: str
    partition: int
    offset: int
    key_b64: str | None = None
    value_b64: str = Field(description="the original message value, base64")
    received_at: AwareDatetime = Field(description="arrival (processing) time")
