"""Example-based rule tests in YAML (``rules/tests/*.yaml``), and helpers for rule authors.

A test lists events (compact: defaults are filled in) and the alerts expected from them::

    start: "2026-11-29T10:00:00+08:00"      # file default; a test may set its own
    defaults: {stream: camera}
    tests:
      - name: two cameras exactly 30 min apart fire
        rules: [CAM-WATCH-MULTI]            # only these rules' alerts are compared
        events:
          - {at: 0s, kind: face_match, person_id: P1, camera_id: CAM-532301-000001, confidence: 0.9}
          - {at: 30m, kind: face_match, person_id: P1, camera_id: CAM-532301-000002, confidence: 0.9}
          - {tick: 3h}                      # event time moves on (as if an unrelated event came)
        expect:
          - {rule: CAM-WATCH-MULTI, key: P1, at: 30m}

Event fields: ``at`` (offset from ``start`` such as ``30m1s``) or ``ts`` (RFC 3339, passed to the
decoder as written, e.g. with ``Z``); ``stream`` (camera, grid, fraud, service); ``event_id``
(default ``e1``, ``e2``, ...); location: ``village_code`` fills township and county, a
``township_code`` fills the county, default village 532301101001 (楚雄市鹿城镇东兴社区); a field
set to ``null`` is left out. Every event goes through the real decoder (so it must be valid) and
the real engine, through the same Timeline as the backtest.

Expected alerts: ``rule``, ``key`` (or ``key_clear``: the clear value whose pseudonym is the key),
``at``/``ts``, and optionally ``severity``, ``title``, ``title_contains``, ``evidence``, ``figures``
(a subset), ``county_code``, ``township_code``, ``village_code``, ``status``, ``topics``. The
alerts of the rules under test must be exactly the expected ones (``expect: []``: no alert).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pingan.errors import InvalidEvent, RuleError
from pingan.schemas.alert import CST, Alert
from pingan.schemas.decode import Decoder
from pingan.schemas.privacy import Pseudonymizer
from pingan.streams.engine.engine import Engine
from pingan.streams.engine.fields import TOPICS
from pingan.streams.engine.loader import RuleSet, load_ruleset, parse_duration
from pingan.streams.engine.timeline import Timeline
from pingan.streams.engine.yamlsrc import load_source

TEST_PSEUDONYM_KEY = "pingan-rule-tests"
DEFAULT_START = "2026-11-29T10:00:00+08:00"
DEFAULT_VILLAGE = "532301101001"
_OFFSET = re.compile(r"^\s*([+-])?\s*((\d+(\.\d+)?\s*[dhms]\s*)+)$")
_LOCATION_LEVELS = {"camera": 3, "grid": 3, "fraud": 2, "service": 2}
PERSONAL = ("victim_id_number", "victim_phone", "plate")


class ExpectedAlert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str
    key: str | None = None
    key_clear: str | None = None
    at: str | int | float | None = None
    ts: str | None = None
    severity: str | None = None
    title: str | None = None
    title_contains: str | None = None
    evidence: list[str] | None = None
    figures: dict[str, Any] | None = None
    county_code: str | None = None
    township_code: str | None = None
    village_code: str | None = None
    status: str | None = None
    topics: list[str] | None = None


class RuleTest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    rules: list[str] | None = None
    start: str | None = None
    grace: str | None = None
    defaults: dict[str, Any] = Field(default_factory=dict)
    events: list[dict[str, Any]]
    expect: list[ExpectedAlert]


class TestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str = DEFAULT_START
    defaults: dict[str, Any] = Field(default_factory=dict)
    tests: list[RuleTest]


@dataclass
class Case:
    file: str
    line: int
    test: RuleTest
    start: str
    defaults: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{Path(self.file).name}:{self.line}:{self.test.name}"


@dataclass
class Result:
    case: Case
    problems: list[str] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def parse_time(text: str) -> float:
    """RFC 3339 with an offset -> epoch seconds."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no offset (write +08:00 or Z)")
    return value.timestamp()


def resolve_time(value: Any, start: float) -> float:
    """``30m1s`` / ``-5m`` / ``0`` (offsets from start) or an RFC 3339 time -> epoch seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return start + float(value)
    text = str(value)
    m = _OFFSET.match(text)
    if m:
        seconds = parse_duration(m.group(2))
        return start - seconds if m.group(1) == "-" else start + seconds
    return parse_time(text)


class EventFactory:
    """Builds decoded events from compact test descriptions (through the real decoder)."""

    def __init__(self, pseudonym_key: str = TEST_PSEUDONYM_KEY):
        self.pseudonymize = Pseudonymizer(pseudonym_key)
        self.decoder = Decoder(self.pseudonymize)
        self._n = 0

    def payload(self, spec: dict[str, Any], start: float, defaults: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(topic, JSON object as a producer would send it)."""
        merged = {**defaults, **spec}
        stream = merged.pop("stream", None) or "camera"
        topic = TOPICS.get(stream, stream)
        if topic not in TOPICS.values():
            raise ValueError(f"unknown stream {stream!r} (camera, grid, fraud, service)")
        self._n += 1
        merged.setdefault("event_id", f"e{self._n}")
        at = merged.pop("at", None)
        if "ts" not in merged:
            merged["ts"] = datetime.fromtimestamp(resolve_time(at if at is not None else 0, start), CST).isoformat()
        levels = _LOCATION_LEVELS[TOPICS_BY_TOPIC[topic]]
        if "village_code" not in merged and "township_code" not in merged and levels == 3:
            merged["village_code"] = DEFAULT_VILLAGE
        village = merged.get("village_code")
        if levels == 2:
            merged.pop("village_code", None)
        if village:
            merged.setdefault("township_code", village[:9])
        if not merged.get("township_code") and "township_code" not in merged:
            merged["township_code"] = DEFAULT_VILLAGE[:9]
        township = merged.get("township_code")
        merged.setdefault("county_code", township[:6] if township else DEFAULT_VILLAGE[:6])
        return topic, {k: v for k, v in merged.items() if v is not None}

    def event(self, spec: dict[str, Any], start: float | str = DEFAULT_START,
              defaults: dict[str, Any] | None = None) -> dict[str, Any]:
        """A decoded event dict (what the engine receives)."""
        start_ts = parse_time(start) if isinstance(start, str) else start
        topic, payload = self.payload(spec, start_ts, defaults or {})
        return self.decoder.decode(topic, orjson.dumps(payload))


TOPICS_BY_TOPIC = {topic: stream for stream, topic in TOPICS.items()}


class FakeClock:
    """A wall clock for Timeline tests: ``now()`` returns what you set; ``advance(s)`` moves it."""

    def __init__(self, start: float = 0.0):
        self.value = start

    def now(self) -> float:
        return self.value

    def advance(self, seconds: float) -> float:
        self.value += seconds
        return self.value


def collect_tests(tests_dir: Path | str) -> tuple[list[Case], list[str]]:
    """Every test of ``tests_dir/*.yaml``; problems name file and line."""
    cases: list[Case] = []
    problems: list[str] = []
    for path in sorted(Path(tests_dir).glob("*.yaml")):
        src, yaml_problems = load_source(path.read_text(encoding="utf-8"), str(path))
        problems += [f"{path}:{p.line}: {p.message}" for p in yaml_problems]
        if src is None:
            continue
        try:
            model = TestFile.model_validate(src.data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                problems.append(f"{path}:{src.line(err['loc'])}: {'.'.join(map(str, err['loc']))}: {err['msg']}")
            continue
        for i, test in enumerate(model.tests):
            cases.append(Case(str(path), src.line(("tests", i)), test, test.start or model.start,
                              {**model.defaults, **test.defaults}))
    return cases, problems


def run_case(ruleset: RuleSet, case: Case, pseudonym_key: str = TEST_PSEUDONYM_KEY) -> Result:
    """Run one test through a fresh engine (the backtest path: one partition, flush at the end)."""
    result = Result(case)
    test = case.test
    known = {r.id for r in ruleset.rules}
    for rule_id in test.rules or []:
        if rule_id not in known:
            result.problems.append(f"unknown rule {rule_id!r}")
    factory = EventFactory(pseudonym_key)
    start = parse_time(case.start)
    engine = Engine(ruleset)
    timeline = Timeline(engine, grace_s=parse_duration(test.grace) if test.grace else 0.0)
    alerts: list[dict[str, Any]] = []
    clear_values: set[str] = set()
    for i, spec in enumerate(test.events, 1):
        if "tick" in spec:
            ts = resolve_time(spec["tick"], start)
            alerts += timeline.push(0, {"topic": "_tick", "event_id": f"_tick{i}", "ts": ts})
            continue
        try:
            topic, payload = factory.payload(spec, start, case.defaults)
            event = factory.decoder.decode(topic, orjson.dumps(payload))
        except (InvalidEvent, ValueError) as exc:
            result.problems.append(f"event {i} is invalid: {exc}")
            continue
        clear_values.update(str(payload[name]) for name in PERSONAL if payload.get(name))
        alerts += timeline.push(0, event)
    alerts += timeline.flush()
    if test.rules is not None:
        alerts = [a for a in alerts if a["rule_id"] in test.rules]
    result.alerts = alerts
    _check_alerts(result, alerts, test.expect, start, factory.pseudonymize, clear_values)
    return result


def _check_alerts(result: Result, alerts, expected, start, pseudonymize, clear_values) -> None:
    remaining = list(alerts)
    for n, exp in enumerate(expected, 1):
        key = pseudonymize(exp.key_clear) if exp.key_clear is not None else exp.key
        want_ts = resolve_time(exp.at, start) if exp.at is not None else (parse_time(exp.ts) if exp.ts else None)
        match = None
        for a in remaining:
            if a["rule_id"] != exp.rule or (key is not None and a["key"] != key):
                continue
            if want_ts is not None and abs(a["ts"] - want_ts) > 1e-3:
                continue
            match = a
            break
        if match is None:
            when = f" at {datetime.fromtimestamp(want_ts, CST).isoformat()}" if want_ts is not None else ""
            result.problems.append(f"expected alert {n} ({exp.rule} key {key}{when}) did not fire")
            continue
        remaining.remove(match)
        for name in ("severity", "title", "county_code", "township_code", "village_code", "status", "topics",
                     "evidence"):
            want = getattr(exp, name)
            if want is not None and match[name] != want:
                result.problems.append(f"alert {n} ({exp.rule}): {name} is {match[name]!r}, expected {want!r}")
        if exp.title_contains is not None and exp.title_contains not in match["title"]:
            result.problems.append(f"alert {n} ({exp.rule}): title {match['title']!r} lacks {exp.title_contains!r}")
        for name, want in (exp.figures or {}).items():
            if match["figures"].get(name) != want:
                result.problems.append(
                    f"alert {n} ({exp.rule}): figure {name} is {match['figures'].get(name)!r}, expected {want!r}"
                )
    for a in remaining:
        when = datetime.fromtimestamp(a["ts"], CST).isoformat()
        result.problems.append(f"unexpected alert {a['rule_id']} key {a['key']} at {when}: {a['title']}")
    for a in alerts:
        try:
            Alert.model_validate({**a, "ts": datetime.fromtimestamp(a["ts"], CST)})
        except ValidationError as exc:
            result.problems.append(f"alert {a['rule_id']} does not match the Alert schema: {exc}")
        text = orjson.dumps(a).decode()
        for value in clear_values:
            if value in text:
                result.problems.append(f"alert {a['rule_id']} shows a personal identifier in clear")


def run_tests(rules_dir: Path | str, tests_dir: Path | str | None = None,
              pseudonym_key: str = TEST_PSEUDONYM_KEY) -> tuple[list[Result], list[str]]:
    """Load the rules and run every YAML test; returns the results and the collection problems."""
    rules_dir = Path(rules_dir)
    ruleset = load_ruleset(rules_dir, pseudonym_key=pseudonym_key)
    cases, problems = collect_tests(Path(tests_dir) if tests_dir else rules_dir / "tests")
    return [run_case(ruleset, case, pseudonym_key) for case in cases], problems


__all__ = [
    "Case", "EventFactory", "FakeClock", "Result", "RuleError", "collect_tests", "parse_time", "resolve_time",
    "run_case", "run_tests",
]
