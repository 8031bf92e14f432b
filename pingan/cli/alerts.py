"""`pingan alerts tail`: follow the alert topic in readable Chinese lines.

One line per alert::

    2026-11-29 21:14:03+08:00 [严重] 楚雄市 鹿城镇  在逃人员比中：…，置信度0.95  CAM-WANTED  对象 WP***3f

The time is the alert's event time in +08:00; the key is shown in clear only when it is not
personal (division codes, camera, report, case, record and grid ids), masked otherwise
(licence plates, person ids, pseudonyms, households).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime
from typing import Any

SEVERITY_ZH = {"critical": "严重", "high": "高", "medium": "中", "low": "低", "info": "提示"}
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
_SEVERITY_INPUT = {**{k: k for k in SEVERITY_ZH}, **{v: k for k, v in SEVERITY_ZH.items()}}

#: keys that identify a thing, not a person: shown in clear
_CLEAR_KEY = re.compile(r"^(\d{6}|\d{9}|\d{12}|CAM-[\w-]+|GR-[\w-]+|FC-[\w-]+|SV-[\w-]+|G-[\w-]+)$")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("alerts", help="follow the alert topic")
    commands = p.add_subparsers(dest="alerts_command", metavar="ACTION")
    commands.required = True
    tail = commands.add_parser("tail", help="print alerts as they arrive, in readable Chinese lines")
    tail.add_argument("--severity", help="only alerts at this level or above: critical|high|medium|low|info "
                                         "or 严重|高|中|低|提示")
    tail.add_argument("--county", help="only alerts of this county: code (532301) or name (楚雄市, 楚雄)")
    tail.add_argument("--rule", help="only alerts of this rule id")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest alert kept by Kafka")
    tail.add_argument("--max", type=int, metavar="N", help="stop after N alerts")
    tail.add_argument("--timeout", type=float, metavar="S", help="stop after S seconds without a new alert")
    tail.add_argument("--topic", help="alert topic (default: settings topics.alerts)")
    tail.add_argument("--bootstrap", help="Kafka bootstrap servers (default from settings)")
    tail.add_argument("--json", action="store_true", help="print each alert as its JSON line instead")
    tail.set_defaults(handler=tail_alerts)


def parse_severity(text: str | None) -> int:
    from pingan.errors import ConfigError

    if text is None:
        return 0
    severity = _SEVERITY_INPUT.get(text.strip().lower()) or _SEVERITY_INPUT.get(text.strip())
    if severity is None:
        raise ConfigError(f"unknown severity {text!r}: use critical|high|medium|low|info or 严重|高|中|低|提示")
    return SEVERITY_RANK[severity]


def parse_county(text: str | None) -> str | None:
    from pingan.errors import ConfigError
    from pingan.schemas.divisions import load_divisions

    if text is None:
        return None
    divisions = load_divisions()
    county = divisions.find_county(text.strip())
    if county is None:
        names = "、".join(d.name for d in divisions.counties.values())
        raise ConfigError(f"unknown county {text!r}: use a code (532301) or a name ({names})")
    return county.code


def display_key(key: Any) -> str:
    """The alert key for people's eyes: non-personal ids in clear, everything else masked."""
    from pingan.schemas.privacy import mask

    text = "" if key is None else str(key)
    if _CLEAR_KEY.match(text):
        return text
    if text.startswith("p_"):  # a keyed pseudonym: short and still recognisable
        return mask(text, 4, 2) or ""
    return mask(text, 2, 2) or ""


def format_alert(alert: dict[str, Any]) -> str:
    """One readable Chinese line for an alert as published."""
    from pingan.schemas.alert import CST
    from pingan.schemas.divisions import load_divisions

    ts = alert.get("ts")
    try:
        when = datetime.fromisoformat(ts).astimezone(CST).strftime("%Y-%m-%d %H:%M:%S+08:00") if isinstance(ts, str) \
            else datetime.fromtimestamp(float(ts), CST).strftime("%Y-%m-%d %H:%M:%S+08:00")
    except (TypeError, ValueError):
        when = str(ts)
    severity = SEVERITY_ZH.get(alert.get("severity", ""), alert.get("severity", "?"))
    county = alert.get("county_name")
    if not county:
        division = load_divisions().counties.get(alert.get("county_code") or "")
        county = division.name if division else (alert.get("county_code") or "?")
    place = county + (f" {alert['township_name']}" if alert.get("township_name") else "")
    title = alert.get("title") or ""
    return f"{when} [{severity}] {place}  {title}  {alert.get('rule_id', '?')}  对象 {display_key(alert.get('key'))}"


def tail_alerts(args: argparse.Namespace) -> int:
    import orjson

    from pingan.config import load_settings
    from pingan.errors import ConfigError, UnavailableError
    from pingan.kafka_client import kafka_errors, make_consumer

    min_rank = parse_severity(args.severity)
    county = parse_county(args.county)
    if args.max is not None and args.max <= 0:
        raise ConfigError("--max must be a positive number of alerts")
    settings = load_settings()
    topic = args.topic or settings.topics.alerts
    bootstrap = args.bootstrap or settings.kafka.bootstrap
    from pingan.kafka_security import probe_broker

    # a missing broker, refused credentials or an untrusted certificate: one precise line, at once
    probe_broker(settings.kafka, bootstrap)
    consumer = make_consumer(settings, bootstrap=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=1000, group_id=None)
    printed = 0
    try:
        with kafka_errors(bootstrap):
            partitions = _partitions(consumer, topic)
            if not partitions:
                raise UnavailableError(f"alert topic {topic!r} does not exist on {bootstrap}; "
                                       "start the worker (`pingan worker`) or the demo first")
            consumer.assign(partitions)
            if args.from_beginning:
                consumer.seek_to_beginning(*partitions)
            else:
                consumer.seek_to_end(*partitions)
                for tp in partitions:
                    consumer.position(tp)  # resolve the end now, so alerts from here on are shown
            last = time.monotonic()
            out = sys.stdout
            while True:
                batches = consumer.poll(timeout_ms=500, max_records=500)
                for records in batches.values():
                    for record in records:
                        try:
                            alert = orjson.loads(record.value)
                        except orjson.JSONDecodeError:
                            print(f"pingan: skipped a message that is not JSON at {record.topic}:"
                                  f"{record.partition}:{record.offset}", file=sys.stderr)
                            continue
                        if not _wanted(alert, min_rank, county, args.rule):
                            continue
                        out.write((orjson.dumps(alert).decode() if args.json else format_alert(alert)) + "\n")
                        printed += 1
                        last = time.monotonic()
                        if args.max is not None and printed >= args.max:
                            out.flush()
                            return 0
                out.flush()
                if args.timeout is not None and time.monotonic() - last >= args.timeout:
                    return 0
    except BrokenPipeError:  # `pingan alerts tail | head`
        return 0
    finally:
        consumer.close()


def _partitions(consumer: Any, topic: str) -> list[Any]:
    from kafka import TopicPartition

    numbers = consumer.partitions_for_topic(topic)
    return [TopicPartition(topic, p) for p in sorted(numbers or ())]


def _wanted(alert: Any, min_rank: int, county: str | None, rule: str | None) -> bool:
    if not isinstance(alert, dict):
        return False
    if min_rank and SEVERITY_RANK.get(alert.get("severity"), -1) < min_rank:
        return False
    if county is not None and alert.get("county_code") != county:
        return False
    return rule is None or alert.get("rule_id") == rule
