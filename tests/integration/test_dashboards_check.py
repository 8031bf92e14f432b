"""`pingan dashboards check` against chDB holding simulated prefecture traffic.

The data: the traffic simulator's messages (pingan.traffic.simulate) decoded by the real decoder
and written through the real sink; invalid messages become dead letters. Alerts come from the rule
engine over the same events when rule files exist in rules/, and otherwise from a few reference
rules evaluated here in plain Python (GRID-OVERDUE-YELLOW/RED, GRID-RISK-HIGH, FRAUD-ELDERLY,
FRAUD-MAJOR, CAM-WANTED, SVC-ONE-VISIT, SVC-SLA), so every alert panel has something to show.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from pingan.errors import InvalidEvent
from pingan.schemas.alert import alert_id_for
from pingan.schemas.decode import Decoder
from pingan.schemas.privacy import Pseudonymizer
from pingan.traffic.simulate import SimulationConfig, Simulator

pytestmark = pytest.mark.slow

KEY = "dashboards-test-key"
DAYS = 5
# The last DAYS days up to a whole hour: recent, because personal columns (household ids, victims'
# ages) have a retention TTL and would be cleared on insert if the events were older.
START = int(time.time()) // 3600 * 3600 - DAYS * 86400
EVENTS = 12_000
TABLES = {"camera": "events_camera", "grid": "events_grid", "fraud": "events_fraud", "service": "events_service"}
REPO = Path(__file__).resolve().parents[2]

_STORE: dict[str, Any] = {}


def generate(events: int, start: int, seconds: float, seed: int = 7) -> tuple[dict[str, list[dict]], list[dict]]:
    """Decoded events by table, and dead-letter rows, from the simulator."""
    config = SimulationConfig(events=events, start=start, duration_s=seconds, seed=seed)
    decoder = Decoder(Pseudonymizer(KEY))
    by_table: dict[str, list[dict]] = {t: [] for t in TABLES.values()}
    dead: list[dict] = []
    for offset, message in enumerate(Simulator(config).messages()):
        raw = message.value if isinstance(message.value, bytes) else json.dumps(message.value).encode("utf-8")
        try:
            event = decoder.decode(message.topic, raw)
        except InvalidEvent as exc:
            dead.append({"reason": str(exc), "details": [], "topic": message.topic, "partition": offset % 6,
                         "offset": offset, "key_b64": None, "value_b64": "", "received_at": float(start + offset)})
            continue
        by_table[TABLES[event["stream"]]].append(event)
    return by_table, dead


def _alert(rule_id: str, severity: str, key: str, ts: float, event: dict, title: str, evidence: list[str]) -> dict:
    return {
        "alert_id": alert_id_for(rule_id, key, ts), "rule_id": rule_id, "rule_version": "test", "severity": severity,
        "key": key, "ts": ts, "county_code": event["county_code"], "county_name": event.get("county_name"),
        "township_code": event.get("township_code"), "township_name": event.get("township_name"),
        "village_code": event.get("village_code"), "title": title, "evidence": evidence, "figures": {},
        "labels": {}, "domain": None, "status": "enabled", "topics": ["alerts"],
    }


def reference_alerts(by_table: dict[str, list[dict]], end: float) -> list[dict]:
    """A few reference rules in plain Python (only used when rules/ has no rule files)."""
    alerts: list[dict] = []
    grid = sorted(by_table["events_grid"], key=lambda e: e["ts"])
    closed: dict[str, float] = {}
    for e in grid:
        if e.get("status") in ("resolved", "closed") and e.get("report_id"):
            closed.setdefault(e["report_id"], e["ts"])
    for e in grid:
        if e.get("status") == "reported" and e.get("report_id"):
            for rule, hours, severity, name in (("GRID-OVERDUE-YELLOW", 48, "medium", "黄色督办"),
                                                ("GRID-OVERDUE-RED", 96, "high", "红色督办")):
                deadline = e["ts"] + hours * 3600
                done = closed.get(e["report_id"])
                if deadline < end and (done is None or done > deadline):
                    alerts.append(_alert(rule, severity, e["report_id"], deadline, e,
                                         f"{e['county_name']}网格事件超时未办结（{name}）", [e["event_id"]]))
        if e.get("category") == "risk_assessment" and e.get("risk_level") == "high" and e.get("household_id"):
            alerts.append(_alert("GRID-RISK-HIGH", "medium", e["household_id"], e["ts"], e, "高风险家庭", [e["event_id"]]))
    for e in by_table["events_fraud"]:
        if e.get("status") != "reported":
            continue
        if (e.get("victim_age") or 0) >= 60:
            alerts.append(_alert("FRAUD-ELDERLY", "medium", e["case_id"], e["ts"], e, "涉老诈骗案件", [e["event_id"]]))
        if float(e.get("loss_yuan") or 0) >= 100_000:
            alerts.append(_alert("FRAUD-MAJOR", "high", e["case_id"], e["ts"], e, "重大诈骗案件", [e["event_id"]]))
    for e in by_table["events_camera"]:
        if e.get("kind") == "face_match" and e.get("watchlist") == "wanted" and (e.get("confidence") or 0) >= 0.9:
            alerts.append(_alert("CAM-WANTED", "critical", e["person_id"], e["ts"], e, "在逃人员比中", [e["event_id"]]))
    for e in by_table["events_service"]:
        if e.get("status") != "completed":
            continue
        if e.get("one_visit_item") and (e.get("visits") or 0) > 1:
            alerts.append(_alert("SVC-ONE-VISIT", "low", e["record_id"], e["ts"], e, "最多跑一次未达标", [e["event_id"]]))
        if e.get("elapsed_hours") is not None and e.get("sla_hours") is not None and e["elapsed_hours"] > e["sla_hours"]:
            alerts.append(_alert("SVC-SLA", "low", e["record_id"], e["ts"], e, "办件超时", [e["event_id"]]))
    return alerts


def engine_alerts(by_table: dict[str, list[dict]], end: float) -> list[dict]:
    """Alerts of the real rule engine over the events, when rules/ holds rule files."""
    rules = REPO / "rules"
    if not any(rules.glob("*.yaml")) and not any(rules.glob("*.yml")):
        return []
    try:
        from pingan.streams.engine import Engine, load_ruleset

        engine = Engine(load_ruleset(rules, pseudonym_key=KEY))
    except Exception:  # noqa: BLE001 - rules being written elsewhere; fall back to the reference rules
        return []
    events = sorted((e for rows in by_table.values() for e in rows), key=lambda e: e["ts"])
    alerts: list[dict] = []
    for event in events:
        alerts += engine.process(event)
    alerts += engine.advance_to(end)
    return alerts


async def load(sink: Any, events: int = EVENTS, start: int = START, seconds: float = DAYS * 86400) -> dict[str, int]:
    """Write generated events, alerts and dead letters through the sink; returns row counts."""
    by_table, dead = generate(events, start, seconds)
    alerts = engine_alerts(by_table, start + seconds) or reference_alerts(by_table, start + seconds)
    await sink.start()
    counts = {}
    for table, rows in [*by_table.items(), ("alerts", alerts), ("deadletters", dead)]:
        for i in range(0, len(rows), 5000):
            sink.add(table, rows[i:i + 5000])
            await sink.flush()
        counts[table] = len(rows)
    return counts


def open_store() -> tuple[Any, dict[str, int]]:
    """A loaded chDB store; a process opens one chDB path at a time, so each test module that
    needs it opens it once and closes it at its end (:func:`close_store`) for the next one."""
    if "sink" not in _STORE:
        from pingan.sinks.chdb import ChdbSink

        root = Path(tempfile.mkdtemp(prefix="pingan-dash-"))
        sink = ChdbSink(root, database=f"dash_{os.getpid()}", batch_rows=5000, max_backlog_rows=200_000)
        loop = asyncio.new_event_loop()
        counts = loop.run_until_complete(load(sink))
        _STORE.update(sink=sink, counts=counts, root=root, loop=loop)
    return _STORE["sink"], _STORE["counts"]


def close_store() -> None:
    if "sink" in _STORE:
        _STORE["loop"].run_until_complete(_STORE["sink"].stop())
        _STORE["loop"].close()
        shutil.rmtree(_STORE["root"], ignore_errors=True)
        _STORE.clear()


@pytest.fixture(scope="module")
def store():
    sink, counts = open_store()
    yield sink, counts, _STORE["loop"]
    close_store()


def test_data_was_loaded(store):
    _sink, counts, _loop = store
    assert counts["events_grid"] > 1000 and counts["events_camera"] > 1000
    assert counts["alerts"] > 50


def test_every_clickhouse_panel_returns_rows(store):
    from pingan.dashboards import check, macros, registry

    sink, _counts, loop = store
    time_range = loop.run_until_complete(check.data_time_range(sink.query))
    results, problems = loop.run_until_complete(check.check(sink.query, time_range, all_counties=True))
    assert not problems, problems
    failures = [r.describe() for r in results if not r.ok]
    assert not failures, "\n".join(failures)
    panels = [p for p in registry.iter_panels() if p.is_clickhouse]
    assert len(panels) >= 20
    # every panel was run with the default variables and returned data (not just zero-filled rows)
    default_runs = {}
    for r in results:
        default_runs.setdefault((r.panel.dashboard_uid, r.panel.panel_id), r)
    assert len(default_runs) == len(panels)
    empty = [r.describe() for r in default_runs.values() if not r.has_data]
    assert not empty, "\n".join(empty)
    # the county drill-down ran for all ten counties and for one township
    county_runs = {r.variables.get("county") for r in results if r.panel.dashboard_uid == "pingan-county"}
    assert len(county_runs) == 10
    assert any(r.variables.get("township") not in (None, "ALL") for r in results)
    assert isinstance(time_range, macros.TimeRange)


def test_figures_panel_equals_the_report(store):
    """The overview's figures table (one query over masked views) equals sinks/figures.py (the report)."""
    from pingan.dashboards import check, registry
    from pingan.sinks.figures import Period, assemble, run_figures

    sink, _counts, loop = store
    time_range = loop.run_until_complete(check.data_time_range(sink.query))
    # a period cutting through the data, so late resolutions and first events matter
    from datetime import timedelta

    from pingan.dashboards.macros import TimeRange

    window = TimeRange(time_range.start + timedelta(hours=30), time_range.end - timedelta(hours=20))
    panel = next(p for p in registry.iter_panels() if p.dashboard_uid == "pingan-overview" and p.type == "table")
    result = loop.run_until_complete(check.run_panel(sink.query, panel, window, {}))
    assert result.ok, result.describe()
    report = assemble(run_figures(sink.query_sync, Period(window.start.timestamp(), window.end.timestamp())))
    by_name = {c["county_name"]: c for c in report["counties"]}
    assert len(result.rows) == 10
    for row in result.rows:
        expected = by_name[row["county_name"]]
        for name, value in row.items():
            if name == "county_name":
                continue
            if name == "fraud_loss_yuan":
                assert f"{value:.2f}" == expected[name], (row["county_name"], name)
            elif value is None or expected[name] is None:
                assert value == expected[name], (row["county_name"], name, value, expected[name])
            else:
                assert value == pytest.approx(expected[name], abs=1e-9), (row["county_name"], name)


def test_check_fails_on_a_broken_panel(store):
    from pingan.dashboards import check, registry

    sink, _counts, loop = store
    time_range = loop.run_until_complete(check.data_time_range(sink.query))
    dashboards = registry.build_all()
    target = next(p for p in dashboards["pingan-alerts"]["panels"] if p.get("type") == "table")
    target["targets"][0]["rawSql"] = target["targets"][0]["rawSql"].replace("v_alerts", "v_alerts_missing")
    results, _ = loop.run_until_complete(check.check(sink.query, time_range, dashboards={"pingan-alerts": dashboards["pingan-alerts"]}))
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1 and "v_alerts_missing" in (failed[0].error or "")
