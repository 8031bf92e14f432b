"""WorkerMetrics: the figures move as batches flow; its own registry; lag and backlog read at scrape."""

from __future__ import annotations

import time
from types import SimpleNamespace

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from pingan.config import Settings
from pingan.streams.metrics import WorkerMetrics, consumer_lag
from pingan.streams.processor import Message, Output


def messages(topic: str, n: int, partition: int = 0, start: int = 0, time_in: float | None = None) -> list[Message]:
    token = None
    if time_in is not None:
        token = (None, SimpleNamespace(message=SimpleNamespace(time_in=time_in)))
    return [Message(topic, partition, start + i, None, b"{}", token=token) for i in range(n)]


def alert(rule_id: str, severity: str, status: str = "enabled") -> dict:
    return {"rule_id": rule_id, "severity": severity, "status": status, "key": "k"}


def scrape(metrics: WorkerMetrics, app=None, runtime=None) -> dict[tuple[str, tuple], float]:
    body, content_type = metrics.render(app, runtime)
    assert content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_counts_move_per_batch():
    m = WorkerMetrics(Settings())
    m.on_batch(messages("camera.alerts", 5), Output(events=4, dead_letters=[{}]))
    m.on_batch(messages("camera.alerts", 3), Output(events=3))
    m.on_batch(messages("fraud.cases", 2), Output(events=0, dead_letters=[{}, {}]))
    assert m.value("pingan_messages_in_total", {"topic": "camera.alerts"}) == 8
    assert m.value("pingan_messages_in_total", {"topic": "fraud.cases"}) == 2
    assert m.value("pingan_messages_invalid_total", {"topic": "camera.alerts"}) == 1
    assert m.value("pingan_messages_invalid_total", {"topic": "fraud.cases"}) == 2
    assert m.value("pingan_deadletters_total") == 3
    assert m.value("pingan_events_valid_total", {"topic": "camera.alerts"}) == 7
    assert m.events_by_stream == {"camera": 7}


def test_alerts_by_rule_and_severity_and_latency():
    m = WorkerMetrics(Settings())
    consumed = time.monotonic() - 0.2
    out = Output(events=2, alerts=[alert("CAM-WANTED", "critical"), alert("CAM-WANTED", "critical"),
                                   alert("FRAUD-MAJOR", "high"), alert("NEW-RULE", "low", status="shadow")])
    m.on_batch(messages("camera.alerts", 2, time_in=consumed), out)
    m.on_alerts([alert("CAM-OFFLINE", "low")])
    assert m.value("pingan_alerts_total", {"rule_id": "CAM-WANTED", "severity": "critical"}) == 2
    assert m.value("pingan_alerts_total", {"rule_id": "FRAUD-MAJOR", "severity": "high"}) == 1
    assert m.value("pingan_alerts_total", {"rule_id": "CAM-OFFLINE", "severity": "low"}) == 1
    assert m.value("pingan_alerts_total", {"rule_id": "NEW-RULE", "severity": "low"}) is None
    assert m.value("pingan_shadow_alerts_total", {"rule_id": "NEW-RULE"}) == 1
    # three published alerts of the batch have a latency; the timer's alert has none
    assert m.value("pingan_event_to_alert_latency_seconds_count") == 3
    assert m.value("pingan_event_to_alert_latency_seconds_sum") >= 3 * 0.2
    assert m.value("pingan_event_to_alert_latency_seconds_bucket", {"le": "0.1"}) == 0


def test_sink_flush_rows_latency_and_backlog():
    m = WorkerMetrics(Settings())
    m.on_batch(messages("grid.reports", 10), Output(events=9, dead_letters=[{}], alerts=[alert("GRID-RISK-HIGH", "medium")]))
    assert scrape(m)[("pingan_sink_backlog_rows", ())] == 11
    m.on_flush(0.03)
    assert m.value("pingan_sink_batch_rows_count") == 1
    assert m.value("pingan_sink_batch_rows_sum") == 11
    assert m.value("pingan_sink_batch_latency_seconds_sum") == 0.03
    assert scrape(m)[("pingan_sink_backlog_rows", ())] == 0
    m.on_flush(0.01)  # an empty flush is not a batch
    assert m.value("pingan_sink_batch_rows_count") == 1
    # a sink that reports its own backlog wins
    runtime = SimpleNamespace(sink=SimpleNamespace(backlog_rows=lambda: 42), processor=None)
    assert scrape(m, runtime=runtime)[("pingan_sink_backlog_rows", ())] == 42


def test_rule_evaluations_from_engine_counts_or_derived():
    m = WorkerMetrics(Settings())
    rules = [SimpleNamespace(id="CAM-WANTED", streams=["camera"]), SimpleNamespace(id="CAM-OFFLINE", streams=["camera"]),
             SimpleNamespace(id="FRAUD-MAJOR", streams=["fraud"])]
    engine = SimpleNamespace(ruleset=SimpleNamespace(rules=rules, version="v1"))
    runtime = SimpleNamespace(processor=SimpleNamespace(engine=engine), sink=None)
    m.on_batch(messages("camera.alerts", 4), Output(events=4))
    samples = scrape(m, runtime=runtime)
    assert samples[("pingan_rule_evaluations_total", (("rule_id", "CAM-WANTED"),))] == 4
    assert samples[("pingan_rule_evaluations_total", (("rule_id", "CAM-OFFLINE"),))] == 4
    assert ("pingan_rule_evaluations_total", (("rule_id", "FRAUD-MAJOR"),)) not in samples
    assert samples[("pingan_ruleset_info", (("version", "v1"),))] == 1
    m.on_batch(messages("fraud.cases", 2), Output(events=2))
    m.on_batch(messages("camera.alerts", 1), Output(events=1))
    samples = scrape(m, runtime=runtime)
    assert samples[("pingan_rule_evaluations_total", (("rule_id", "CAM-WANTED"),))] == 5
    assert samples[("pingan_rule_evaluations_total", (("rule_id", "FRAUD-MAJOR"),))] == 2
    # an engine with its own exact counts is used as is
    engine.evaluation_counts = lambda: {"CAM-WANTED": 17}
    samples = scrape(m, runtime=runtime)
    assert samples[("pingan_rule_evaluations_total", (("rule_id", "CAM-WANTED"),))] == 17


def test_ruleset_reload_replaces_version():
    m = WorkerMetrics(Settings())
    m.on_reload(ok=True, version="a1")
    m.on_reload(ok=False)
    m.on_reload(ok=True, version="b2")
    assert m.value("pingan_ruleset_info", {"version": "a1"}) is None
    assert m.value("pingan_ruleset_info", {"version": "b2"}) == 1
    assert m.value("pingan_ruleset_reloads_total", {"result": "ok"}) == 2
    assert m.value("pingan_ruleset_reloads_total", {"result": "refused"}) == 1


class FakeTP(tuple):
    topic = property(lambda self: self[0])
    partition = property(lambda self: self[1])


def test_consumer_lag_from_highwater_and_committed():
    tp0, tp1, tp2 = FakeTP(("camera.alerts", 0)), FakeTP(("camera.alerts", 1)), FakeTP(("grid.reports", 0))
    highwaters = {tp0: 100, tp1: 50, tp2: None}
    consumer = SimpleNamespace(assignment=lambda: {tp0, tp1, tp2}, highwater=highwaters.get,
                               _committed_offset={tp0: 60}, _read_offset={tp1: 44})
    app = SimpleNamespace(consumer=consumer)
    assert consumer_lag(app) == {("camera.alerts", 0): 40, ("camera.alerts", 1): 5}
    m = WorkerMetrics(Settings())
    samples = scrape(m, app=app)
    assert samples[("pingan_consumer_lag_messages", (("partition", "0"), ("topic", "camera.alerts")))] == 40


def test_own_registry_not_global():
    a, b = WorkerMetrics(Settings()), WorkerMetrics(Settings())  # no duplicate-name error
    a.on_batch(messages("camera.alerts", 1), Output(events=1))
    assert b.value("pingan_messages_in_total", {"topic": "camera.alerts"}) is None
    assert REGISTRY.get_sample_value("pingan_messages_in_total", {"topic": "camera.alerts"}) is None


def test_rule_evaluations_with_the_reference_rules():
    """The real engine and rule set: per-rule counts of the events offered to each rule."""
    import orjson

    from pingan.config import REPO_ROOT
    from pingan.schemas.decode import Decoder
    from pingan.schemas.privacy import Pseudonymizer
    from pingan.streams.engine import Engine, load_ruleset

    engine = Engine(load_ruleset(REPO_ROOT / "rules", pseudonym_key="unit-test-key"))
    decoder = Decoder(Pseudonymizer("unit-test-key"))
    for i in range(3):
        raw = orjson.dumps({"event_id": f"g{i}", "ts": f"2026-11-29T10:0{i}:00+08:00", "report_id": f"GR-{i}",
                            "status": "reported", "category": "hazard", "county_code": "532301",
                            "township_code": "532301101", "village_code": "532301101001", "reporter": "resident"})
        engine.process(decoder.decode("grid.reports", raw))
    runtime = SimpleNamespace(processor=SimpleNamespace(engine=engine), sink=None)
    m = WorkerMetrics(Settings())
    samples = scrape(m, runtime=runtime)
    evaluations = {dict(ls)["rule_id"]: v for (n, ls), v in samples.items() if n == "pingan_rule_evaluations_total"}
    assert evaluations["GRID-RISK-HIGH"] == 3
    assert evaluations["FUSION-RISK-INTRUSION"] == 3  # a join listens to grid and camera
    assert evaluations["FRAUD-MAJOR"] == 0
    assert samples[("pingan_ruleset_info", (("version", engine.ruleset.version),))] == 1
