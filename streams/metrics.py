"""Prometheus metrics of one worker process, served at ``/metrics`` on the worker's web port.

:class:`WorkerMetrics` owns its own :class:`~prometheus_client.CollectorRegistry` (never the global
one, so two workers or tests in one process do not collide). The runtime calls it once per batch,
never per message: ``on_batch`` adds the batch's counts, ``on_alerts`` counts alerts released by
a timer, ``on_flush`` observes one sink write, ``on_reload`` records a rule-set swap. Figures that
live elsewhere (consumer lag, the sink's backlog, per-rule evaluation counts kept by the engine)
are read when Prometheus scrapes, by :meth:`WorkerMetrics.render`.

Metric names carry their unit (``_seconds``, ``_rows``, ``_messages``; counters end in ``_total``):

========================================== ======== ===============================================
name                                       type     meaning
========================================== ======== ===============================================
pingan_messages_in_total{topic}            counter  messages consumed from an input topic
pingan_messages_invalid_total{topic}       counter  messages that broke the contract (dead-lettered)
pingan_deadletters_total                   counter  dead letters published
pingan_events_valid_total{topic}           counter  valid events handed to the rule engine
pingan_rule_evaluations_total{rule_id}     counter  events offered to a rule
pingan_alerts_total{rule_id,severity}      counter  alerts published (shadow rules excluded)
pingan_shadow_alerts_total{rule_id}        counter  alerts of shadow rules (computed, not published)
pingan_event_to_alert_latency_seconds      histo    consumption of the batch -> alert handed to Kafka
pingan_batch_processing_seconds            histo    time the processor spent on one batch
pingan_sink_batch_rows                     histo    rows written by one sink flush
pingan_sink_batch_latency_seconds          histo    duration of one sink flush
pingan_sink_backlog_rows                   gauge    rows queued for the sink, not yet written
pingan_sink_write_errors_total             counter  failed sink writes (retried until written)
pingan_consumer_lag_messages{topic,part.}  gauge    highwater - committed offset, per assigned partition
pingan_ruleset_info{version}               gauge    1 for the rule-set version running
pingan_ruleset_reloads_total{result}       counter  hot reloads, ``ok`` or ``refused``
========================================== ======== ===============================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

log = logging.getLogger("pingan.metrics")

#: The text exposition format, without ``charset`` (aiohttp adds it; it refuses one in content_type).
CONTENT_TYPE = "text/plain; version=0.0.4"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
ROWS_BUCKETS = (1, 10, 50, 100, 500, 1_000, 5_000, 10_000, 50_000, 100_000)


class WorkerMetrics:
    """The worker's metrics; all ``on_*`` hooks run on the event loop and cost O(batch), not O(event)."""

    def __init__(self, settings: Any = None):
        self.registry = CollectorRegistry(auto_describe=False)
        reg = self.registry
        self._stream_of_topic: dict[str, str] = dict(
            (topic, stream) for stream, topic in (settings.topics.inputs().items() if settings is not None else ())
        )
        self.messages_in = Counter("pingan_messages_in", "Messages consumed from an input topic",
                                   ["topic"], registry=reg)
        self.messages_invalid = Counter("pingan_messages_invalid", "Messages that broke the contract (dead-lettered)",
                                        ["topic"], registry=reg)
        self.events_valid = Counter("pingan_events_valid", "Valid events handed to the rule engine",
                                    ["topic"], registry=reg)
        self.deadletters = Counter("pingan_deadletters", "Dead letters published", registry=reg)
        self.alerts = Counter("pingan_alerts", "Alerts published, by rule and severity",
                              ["rule_id", "severity"], registry=reg)
        self.shadow_alerts = Counter("pingan_shadow_alerts", "Alerts of shadow rules (computed, not published)",
                                     ["rule_id"], registry=reg)
        self.latency = Histogram("pingan_event_to_alert_latency_seconds",
                                 "From the consumption of the batch that released an alert to its hand-off to Kafka",
                                 buckets=LATENCY_BUCKETS, registry=reg)
        self.batch_seconds = Histogram("pingan_batch_processing_seconds",
                                       "Time from consuming a batch to the end of its processing",
                                       buckets=LATENCY_BUCKETS, registry=reg)
        self.sink_rows = Histogram("pingan_sink_batch_rows", "Rows written by one sink flush",
                                   buckets=ROWS_BUCKETS, registry=reg)
        self.sink_latency = Histogram("pingan_sink_batch_latency_seconds", "Duration of one sink flush",
                                      buckets=LATENCY_BUCKETS, registry=reg)
        self.reloads = Counter("pingan_ruleset_reloads", "Rule-set hot reloads by result", ["result"], registry=reg)
        self.ruleset_info = Gauge("pingan_ruleset_info", "The rule-set version running (value 1)",
                                  ["version"], registry=reg)
        self._ruleset_version: str | None = None
        # label children cached per topic / rule: one dict lookup per batch instead of .labels()
        self._in: dict[str, Any] = {}
        self._invalid: dict[str, Any] = {}
        self._valid: dict[str, Any] = {}
        self._alert_children: dict[tuple[str, str], Any] = {}
        # rows queued for the sink since the last flush (events + dead letters + alerts)
        self.rows_since_flush = 0
        # valid events per input stream, to derive rule evaluations when the engine keeps no counts
        self.events_by_stream: dict[str, int] = {}
        self._evaluations = _Evaluations()
        self._live = _LiveCollector(self)
        reg.register(self._live)
        self._app: Any = None
        self._runtime: Any = None

    # -- hooks the runtime calls ----------------------------------------------------------
    def on_batch(self, messages: list[Any], out: Any, received: float | None = None) -> None:
        """One processed batch (one topic, one partition). ``received``: monotonic consumption time."""
        if not messages:
            return
        topic = messages[0].topic
        n = len(messages)
        child = self._in.get(topic)
        if child is None:
            child = self._in[topic] = self.messages_in.labels(topic)
            self._invalid[topic] = self.messages_invalid.labels(topic)
            self._valid[topic] = self.events_valid.labels(topic)
        child.inc(n)
        bad = len(out.dead_letters)
        if bad:
            self._invalid[topic].inc(bad)
            self.deadletters.inc(bad)
        if out.events:
            self._valid[topic].inc(out.events)
            stream = self._stream_of_topic.get(topic, topic)
            self.events_by_stream[stream] = self.events_by_stream.get(stream, 0) + out.events
        self.rows_since_flush += out.events + bad
        if received is None:
            received = consumed_at(messages[0])
        now = time.monotonic()
        if received is not None:
            self.batch_seconds.observe(max(0.0, now - received))
        if out.alerts:
            self._count_alerts(out.alerts, None if received is None else max(0.0, now - received))

    def on_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Alerts released by a timer (deadlines, idle partitions): counted, no batch latency."""
        if alerts:
            self._count_alerts(alerts, None)

    def on_flush(self, seconds: float) -> None:
        """One sink flush took ``seconds``; it wrote every row queued since the previous one."""
        rows = self.rows_since_flush
        self.rows_since_flush = 0
        if rows:
            self.sink_rows.observe(rows)
            self.sink_latency.observe(seconds)

    def on_reload(self, ok: bool, version: str | None = None) -> None:
        self.reloads.labels("ok" if ok else "refused").inc()
        if ok and version is not None:
            self.set_ruleset_version(version)

    def set_ruleset_version(self, version: str) -> None:
        if version == self._ruleset_version:
            return
        if self._ruleset_version is not None:
            self.ruleset_info.remove(self._ruleset_version)
        self._ruleset_version = str(version)
        self.ruleset_info.labels(self._ruleset_version).set(1)

    def _count_alerts(self, alerts: Iterable[dict[str, Any]], latency: float | None) -> None:
        children = self._alert_children
        count = 0
        for alert in alerts:
            count += 1
            rule_id = alert.get("rule_id", "?")
            if alert.get("status") == "shadow":
                self.shadow_alerts.labels(rule_id).inc()
                continue
            key = (rule_id, alert.get("severity", "?"))
            child = children.get(key)
            if child is None:
                child = children[key] = self.alerts.labels(*key)
            child.inc()
            if latency is not None:
                self.latency.observe(latency)
        self.rows_since_flush += count  # the sink stores every alert, shadow ones included

    # -- scrape -----------------------------------------------------------------------------
    def render(self, app: Any = None, runtime: Any = None) -> tuple[bytes, str]:
        """The Prometheus text exposition of every metric; reads lag and backlog now."""
        self._app = app
        self._runtime = runtime
        engine = _engine_of(runtime)
        if engine is not None and self._ruleset_version is None:
            version = _ruleset_version(engine)
            if version is not None:
                self.set_ruleset_version(version)
        try:
            return generate_latest(self.registry), CONTENT_TYPE
        finally:
            self._app = None
            self._runtime = None

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample's value (tests, `pingan` tools); ``None`` when it does not exist."""
        return self.registry.get_sample_value(name, labels or {})


# -- figures read at scrape time -----------------------------------------------------------------
class _Evaluations:
    """Rule evaluations derived from events per stream × rules of that stream, between scrapes.

    Used only when the engine keeps no per-rule counts of its own. Each scrape attributes the events
    seen since the previous scrape to the rules of the rule set running at that moment, so the
    counter stays monotonic across hot reloads.
    """

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self._seen: dict[str, int] = {}

    def update(self, events_by_stream: dict[str, int], rules_by_stream: dict[str, list[str]]) -> dict[str, int]:
        for stream, count in events_by_stream.items():
            delta = count - self._seen.get(stream, 0)
            if delta <= 0:
                continue
            self._seen[stream] = count
            for rule_id in rules_by_stream.get(stream, ()):
                self.totals[rule_id] = self.totals.get(rule_id, 0) + delta
        return self.totals


class _LiveCollector:
    """Collects, at scrape time, the figures that live in Faust, the sink and the engine."""

    def __init__(self, metrics: WorkerMetrics):
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        runtime = m._runtime
        yield self._evaluations(runtime)
        backlog = GaugeMetricFamily("pingan_sink_backlog_rows", "Rows queued for the sink, not yet written")
        backlog.add_metric([], float(_sink_backlog(runtime, m.rows_since_flush)))
        yield backlog
        errors = CounterMetricFamily("pingan_sink_write_errors", "Failed sink writes (each one retried)")
        stats = getattr(getattr(runtime, "sink", None), "stats", None)
        errors.add_metric([], float(getattr(stats, "write_errors", 0) or 0))
        yield errors
        lag = GaugeMetricFamily("pingan_consumer_lag_messages",
                                "Messages not yet committed per assigned partition (highwater - committed)",
                                labels=["topic", "partition"])
        for (topic, partition), value in consumer_lag(m._app).items():
            lag.add_metric([topic, str(partition)], float(value))
        yield lag

    def _evaluations(self, runtime: Any) -> Metric:
        family = CounterMetricFamily("pingan_rule_evaluations", "Events offered to a rule", labels=["rule_id"])
        engine = _engine_of(runtime)
        counts: dict[str, int] | None = None
        if engine is not None:
            own = getattr(engine, "evaluation_counts", None)
            if callable(own):
                try:
                    counts = dict(own())
                except Exception:  # noqa: BLE001 - a scrape never breaks the worker
                    log.exception("engine.evaluation_counts() failed")
            if counts is None:
                counts = self.metrics._evaluations.update(self.metrics.events_by_stream, rules_by_stream(engine))
        for rule_id, value in sorted((counts or self.metrics._evaluations.totals).items()):
            family.add_metric([str(rule_id)], float(value))
        return family


def consumed_at(message: Any) -> float | None:
    """Monotonic time the Faust consumer received a message (set by Faust's monitor), if known."""
    token = getattr(message, "token", None)
    if not token or not isinstance(token, tuple) or len(token) < 2:
        return None
    faust_message = getattr(token[1], "message", None)
    return getattr(faust_message, "time_in", None)


def consumer_lag(app: Any) -> dict[tuple[str, int], int]:
    """``(topic, partition) -> highwater - committed`` for each partition assigned to ``app``.

    Before the first commit of a partition, the read position stands in for the committed offset.
    A partition whose highwater the consumer has not fetched yet is left out.
    """
    if app is None:
        return {}
    try:
        consumer = app.consumer
        assignment = consumer.assignment()
    except Exception:  # noqa: BLE001 - no consumer yet (starting, rebalancing)
        return {}
    committed = getattr(consumer, "_committed_offset", {})
    read = getattr(consumer, "_read_offset", {})
    lags: dict[tuple[str, int], int] = {}
    for tp in assignment:
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # noqa: BLE001
            continue
        if highwater is None:
            continue
        done = committed.get(tp)
        if done is None:
            last_read = read.get(tp)
            done = last_read + 1 if last_read is not None else None
        if done is None:
            continue
        lags[(tp.topic, tp.partition)] = max(0, int(highwater) - int(done))
    return lags


def _engine_of(runtime: Any) -> Any:
    processor = getattr(runtime, "processor", None)
    return getattr(processor, "engine", None)


def _ruleset_version(engine: Any) -> str | None:
    version = getattr(engine, "ruleset_version", None)
    if version is None:
        ruleset = getattr(engine, "ruleset", None)
        version = getattr(ruleset, "version", None)
    return None if version is None else str(version)


def rules_by_stream(engine: Any) -> dict[str, list[str]]:
    """``stream -> [rule_id]`` of the rules the engine evaluates (each rule once per stream)."""
    getter = getattr(engine, "rules_by_stream", None)
    if callable(getter):
        return {s: list(r) for s, r in getter().items()}
    ruleset = getattr(engine, "ruleset", None)
    specs = getattr(ruleset, "active", None) or getattr(ruleset, "rules", None) or ()
    out: dict[str, list[str]] = {}
    for spec in specs:
        spec = getattr(spec, "spec", spec)  # a rule runtime wraps its spec
        rule_id = getattr(spec, "id", None)
        sides = getattr(spec, "sides", None)
        if sides:
            streams = {getattr(side, "stream", None) for side in sides.values()}
        else:
            streams = set(getattr(spec, "streams", None) or [getattr(spec, "stream", None)])
        for stream in sorted(s for s in streams if s):
            out.setdefault(str(stream), []).append(str(rule_id))
    return out


def _sink_backlog(runtime: Any, fallback: int) -> int:
    sink = getattr(runtime, "sink", None)
    for name in ("backlog_rows", "backlog"):
        value = getattr(sink, name, None)
        if callable(value):
            try:
                value = value()
            except Exception:  # noqa: BLE001
                value = None
        if isinstance(value, int):
            return value
    return fallback
