"""Backtest: replay JSONL traffic files through the same engine and Timeline as the live worker.

Input lines are what ``pingan simulate --out`` writes (``{"topic", "key", "value"}``; see
:mod:`pingan.traffic.message`). Every value goes through the real :class:`Decoder`; lines that
cannot be read and messages that break the contract are counted, reported and skipped (and do not
move time). One partition: time is the largest ts seen, and stops where the input stops.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Callable, Iterable

from pingan.errors import InvalidEvent
from pingan.schemas.alert import CST, Alert
from pingan.schemas.decode import Decoder
from pingan.schemas.privacy import Pseudonymizer
from pingan.streams.engine import Engine, RuleSet, Timeline
from pingan.traffic.message import TrafficFileError, parse_line

MAX_NOTES = 20


@dataclass
class BacktestReport:
    lines: int = 0
    unreadable: int = 0
    invalid: int = 0
    events: int = 0
    duplicates: int = 0
    late: int = 0
    alerts: int = 0
    shadow_alerts: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    invalid_reasons: Counter = field(default_factory=Counter)
    alerts_by_rule: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)  # the first unreadable/invalid lines, with file:line

    def note(self, text: str) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)

    def summary(self) -> str:
        lines = [
            f"backtest: {self.lines} lines, {self.events} events, {self.duplicates} duplicates, "
            f"{self.invalid} invalid, {self.unreadable} unreadable, {self.late} late; "
            f"{self.alerts} alerts ({self.shadow_alerts} shadow)"
        ]
        if self.first_ts is not None and self.last_ts is not None:
            lines.append(f"  event time {_iso(self.first_ts)} .. {_iso(self.last_ts)}")
        for rule_id, n in sorted(self.alerts_by_rule.items()):
            lines.append(f"  {rule_id:<24} {n}")
        if self.invalid_reasons:
            lines.append("  invalid messages (top reasons):")
            for reason, n in self.invalid_reasons.most_common(5):
                lines.append(f"    {n:>6}  {reason}")
        for text in self.notes:
            lines.append(f"  skipped {text}")
        return "\n".join(lines)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, CST).isoformat()


def alert_json(alert: dict[str, Any]) -> bytes:
    """The published Alert JSON of an engine alert (ts as RFC 3339 in +08:00)."""
    model = Alert.model_validate({**alert, "ts": datetime.fromtimestamp(alert["ts"], CST)})
    return model.model_dump_json().encode("utf-8")


def run_backtest(
    ruleset: RuleSet,
    paths: Iterable[Path | str],
    out: IO[bytes],
    pseudonym_key: str | bytes,
    *,
    grace_s: float = 0.0,
    topics: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> BacktestReport:
    """Replay ``paths`` in order; write one alert JSON per line to ``out``; return the report.

    ``topics`` maps the topic names in the files to the contract topic names (default: identity).
    """
    decoder = Decoder(Pseudonymizer(pseudonym_key))
    engine = Engine(ruleset)
    timeline = Timeline(engine, grace_s=grace_s)
    report = BacktestReport()
    topics = topics or {}

    def emit(alerts: list[dict[str, Any]]) -> None:
        for alert in alerts:
            out.write(alert_json(alert) + b"\n")
            report.alerts += 1
            report.alerts_by_rule[alert["rule_id"]] += 1
            if alert["status"] == "shadow":
                report.shadow_alerts += 1

    for path in paths:
        with Path(path).open("rb") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                report.lines += 1
                if progress is not None:
                    progress(1)
                where = f"{path}:{lineno}"
                try:
                    message = parse_line(line, where)
                except TrafficFileError as exc:
                    report.unreadable += 1
                    report.note(str(exc))
                    continue
                try:
                    event = decoder.decode(topics.get(message.topic, message.topic), message.value_bytes())
                except InvalidEvent as exc:
                    report.invalid += 1
                    report.invalid_reasons[exc.reason[:120]] += 1
                    report.note(f"{where}: {exc.reason}")
                    continue
                ts = event["ts"]
                report.first_ts = ts if report.first_ts is None else min(report.first_ts, ts)
                report.last_ts = ts if report.last_ts is None else max(report.last_ts, ts)
                emit(timeline.push(0, event))
    emit(timeline.flush())
    report.events = engine.stats["events"]
    report.duplicates = engine.stats["duplicates"]
    report.late = timeline.late
    return report
