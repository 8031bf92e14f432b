"""Dashboards as code: generated JSON is current, every panel has a query, panels read no raw table
with personal columns, Grafana's macros expand as the ClickHouse plugin does, and `push` is
idempotent against a recording test double of Grafana's HTTP API (no Grafana can run here)."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pingan.cli.main import main as cli
from pingan.dashboards import macros, registry, sql
from pingan.dashboards.query import CLICKHOUSE_TYPE, CLICKHOUSE_UID, PROMETHEUS_TYPE, PROMETHEUS_UID

RAW_TABLES = ("events_camera", "events_grid", "events_fraud", "events_service", "alerts", "deadletters")
ALLOWED = re.compile(r"^(v_\w+|agg_\w+_hourly|divisions)$")
CJK = re.compile(r"[\u4e00-\u9fff]")
CST = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def dashboards():
    return registry.build_all()


def test_committed_json_is_current():
    stale = registry.stale_files()
    assert not stale, f"dashboards/generated is stale ({', '.join(stale)}): run `pingan dashboards build`"


def test_build_writes_the_committed_files(tmp_path):
    assert cli(["dashboards", "build", "--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    assert written == sorted(p.name for p in registry.GENERATED_DIR.glob("*.json"))
    for name in written:
        assert (tmp_path / name).read_text(encoding="utf-8") == (registry.GENERATED_DIR / name).read_text(encoding="utf-8")


def test_four_dashboards_with_chinese_titles(dashboards):
    titles = {uid: d["title"] for uid, d in dashboards.items()}
    assert titles == {"pingan-overview": "全州总览", "pingan-county": "县市详情", "pingan-alerts": "预警流",
                      "pingan-pipeline": "管道健康"}
    for panel in registry.iter_panels(dashboards):
        assert CJK.search(panel.title), panel.title


def test_every_panel_has_a_query(dashboards):
    panels = list(registry.iter_panels(dashboards))
    assert len(panels) >= 30
    ids = set()
    for panel in panels:
        assert panel.targets, panel.title
        ids.add((panel.dashboard_uid, panel.panel_id))
        for target in panel.targets:
            if panel.datasource == CLICKHOUSE_TYPE:
                assert target["datasource"] == {"type": CLICKHOUSE_TYPE, "uid": CLICKHOUSE_UID}
                assert target["editorType"] == "sql" and target["rawSql"].lstrip().upper().startswith(("SELECT", "WITH"))
                assert target["format"] == (0 if panel.type == "timeseries" else 1)
            else:
                assert panel.datasource == PROMETHEUS_TYPE
                assert panel.json["datasource"] == {"type": PROMETHEUS_TYPE, "uid": PROMETHEUS_UID}
                assert "pingan_" in target["expr"]
    assert len(ids) == len(panels)  # panel ids unique within each dashboard


def test_pipeline_dashboard_uses_the_worker_metrics(dashboards):
    exprs = " ".join(t["expr"] for p in registry.iter_panels(dashboards) if p.dashboard_uid == "pingan-pipeline"
                     for t in p.targets)
    for metric in ("pingan_messages_in_total", "pingan_messages_invalid_total", "pingan_rule_evaluations_total",
                   "pingan_alerts_total", "pingan_event_to_alert_latency_seconds_bucket",
                   "pingan_sink_batch_latency_seconds_bucket", "pingan_sink_batch_rows", "pingan_sink_backlog_rows",
                   "pingan_consumer_lag_messages", "pingan_ruleset_info"):
        assert metric in exprs, metric


def _tables(text: str) -> set[str]:
    return set(re.findall(r"\b(?:FROM|JOIN)\s+([A-Za-z_][\w.]*)", text, flags=re.I))


def test_no_panel_reads_a_raw_table_with_personal_columns(dashboards):
    for panel in registry.iter_panels(dashboards):
        if panel.datasource != CLICKHOUSE_TYPE:
            continue
        text = panel.sql
        for table in _tables(text):
            assert table not in RAW_TABLES, f"{panel.title} reads {table}"
            assert ALLOWED.match(table) or table in _cte_names(text), f"{panel.title} reads {table}"
        for column in ("person_id", "plate", "victim_id_number", "victim_phone", "household_id", "description"):
            assert not re.search(rf"\b{column}\b", text), f"{panel.title} uses {column}"
    for _uid, _name, query in registry.variable_queries(dashboards):
        assert _tables(query) == {"divisions"}


def _cte_names(text: str) -> set[str]:
    return set(re.findall(r"\b(\w+)\s+AS\s*\(", text))


def test_county_variables(dashboards):
    variables = {v["name"]: v for v in dashboards["pingan-county"]["templating"]["list"]}
    assert set(variables) == {"county", "township"}
    assert variables["township"]["includeAll"] and variables["township"]["allValue"] == sql.ALL
    assert "${county}" in variables["township"]["query"]
    county_sql = " ".join(p.sql for p in registry.iter_panels(dashboards) if p.dashboard_uid == "pingan-county")
    assert county_sql.count("${county}") >= 10 and "${township}" in county_sql


# --- macros -------------------------------------------------------------------------------------
RANGE = macros.TimeRange(datetime(2026, 11, 29, 0, 0, tzinfo=CST), datetime(2026, 11, 30, 0, 0, tzinfo=CST))


def test_time_macros_expand_like_the_plugin():
    f, t = int(RANGE.start.timestamp()), int(RANGE.end.timestamp())
    out = macros.expand("WHERE $__timeFilter(ts) AND x < $__toTime AND y >= $__fromTime_ms", RANGE)
    assert out == (f"WHERE ts >= toDateTime({f}) AND ts <= toDateTime({t}) AND x < toDateTime({t}) "
                   f"AND y >= fromUnixTimestamp64Milli({f * 1000})")
    assert macros.expand("$__dateFilter(d)", RANGE) == "d >= toDate('2026-11-28') AND d <= toDate('2026-11-29')"
    assert macros.expand("$__timeFilter_ms(ts)", RANGE).startswith(f"ts >= fromUnixTimestamp64Milli({f * 1000})")


def test_interval_macros_follow_grafana_rounding():
    # one day over 1000 points = 86.4 s -> rounded to 1 minute; a panel minimum of 1h wins
    assert macros.expand("$__timeInterval(ts)", RANGE) == "toStartOfInterval(toDateTime(ts), INTERVAL 60 second)"
    assert macros.expand("$__interval_s", RANGE, min_interval="1h") == "3600"
    assert macros.expand("$__interval", RANGE) == "1m"
    nested = macros.expand("$__timeInterval($__fromTime)", RANGE, min_interval="1h")
    assert nested == f"toStartOfInterval(toDateTime(toDateTime({int(RANGE.start.timestamp())})), INTERVAL 3600 second)"
    assert macros.round_interval_ms(1_000_000) == 900_000


def test_variables_expand_in_all_grafana_syntaxes():
    out = macros.expand("a = '$county' AND b = '${township}' AND c = '${county:raw}' AND d = '[[county]]'", RANGE,
                        {"county": "532301", "township": "ALL"})
    assert out == "a = '532301' AND b = 'ALL' AND c = '532301' AND d = '532301'"


@pytest.mark.parametrize("text, message", [
    ("SELECT $__timeFiltre(ts)", "unknown macro"),
    ("SELECT '$county'", "unknown dashboard variable"),
    ("SELECT $__timeFilter(a, b)", "expects 1 argument"),
    ("SELECT $__timeFilter(ts", "unbalanced"),
])
def test_bad_macros_are_errors(text, message):
    with pytest.raises(macros.MacroError, match=message):
        macros.expand(text, RANGE)


def test_every_panel_expands_with_default_variables(dashboards):
    from pingan.dashboards.check import default_variables

    for panel in registry.iter_panels(dashboards):
        if panel.datasource == CLICKHOUSE_TYPE:
            text = macros.expand(panel.sql, RANGE, default_variables(dashboards[panel.dashboard_uid]),
                                 min_interval=panel.interval)
            assert "$" not in text, panel.title


# --- push against a recording test double of Grafana's HTTP API ---------------------------------
class FakeGrafana(BaseHTTPRequestHandler):
    """Just enough of /api/folders, /api/datasources and /api/dashboards, recording every request."""

    state: dict
    log: list

    def _send(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> object:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.log.append((self.command, self.path, body, self.headers.get("Authorization")))
        return body

    def do_GET(self):  # noqa: N802
        self._record()
        s, parts = self.state, self.path.split("?")[0].strip("/").split("/")
        if parts[:2] == ["api", "folders"] and parts[2] in s["folders"]:
            return self._send(200, s["folders"][parts[2]])
        if parts[:3] == ["api", "datasources", "uid"] and parts[3] in s["datasources"]:
            return self._send(200, s["datasources"][parts[3]])
        if parts[:3] == ["api", "dashboards", "uid"] and parts[3] in s["dashboards"]:
            return self._send(200, s["dashboards"][parts[3]])
        return self._send(404, {"message": "not found"})

    def do_POST(self):  # noqa: N802
        body = self._record()
        s = self.state
        if self.path == "/api/folders":
            s["folders"][body["uid"]] = {"uid": body["uid"], "title": body["title"], "version": 1}
            return self._send(200, s["folders"][body["uid"]])
        if self.path == "/api/datasources":
            stored = {k: v for k, v in body.items() if k != "secureJsonData"}
            s["datasources"][body["uid"]] = {**stored, "id": len(s["datasources"]) + 1}
            return self._send(200, {"datasource": stored, "message": "Datasource added"})
        if self.path == "/api/dashboards/db":
            dash = body["dashboard"]
            old = s["dashboards"].get(dash["uid"])
            version = (old["dashboard"]["version"] + 1) if old else 1
            s["dashboards"][dash["uid"]] = {"dashboard": {**dash, "id": 7, "version": version},
                                            "meta": {"folderUid": body["folderUid"]}}
            return self._send(200, {"status": "success", "uid": dash["uid"], "version": version})
        return self._send(404, {"message": "not found"})

    def do_PUT(self):  # noqa: N802
        body = self._record()
        parts = self.path.strip("/").split("/")
        if parts[:3] == ["api", "datasources", "uid"]:
            self.state["datasources"][parts[3]] = {k: v for k, v in body.items() if k != "secureJsonData"}
            return self._send(200, {"message": "Datasource updated"})
        return self._send(404, {"message": "not found"})

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def grafana():
    handler = type("Handler", (FakeGrafana,), {"state": {"folders": {}, "datasources": {}, "dashboards": {}},
                                               "log": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def _writes(log):
    return [(method, path) for method, path, _body, _auth in log if method != "GET"]


def test_push_creates_then_is_idempotent(grafana, capsys):
    url, handler = grafana
    args = ["dashboards", "push", "--url", url, "--token", "glsa_test", "--folder", "平安楚雄",
            "--clickhouse-host", "ch.internal"]
    assert cli(args) == 0
    first = _writes(handler.log)
    assert first.count(("POST", "/api/folders")) == 1
    assert first.count(("POST", "/api/datasources")) == 2
    assert first.count(("POST", "/api/dashboards/db")) == 4
    assert all(auth == "Bearer glsa_test" for *_rest, auth in handler.log)
    posted = [body for method, path, body, _ in handler.log if path == "/api/dashboards/db"]
    assert {b["dashboard"]["uid"] for b in posted} == {"pingan-overview", "pingan-county", "pingan-alerts",
                                                        "pingan-pipeline"}
    assert all(b["folderUid"] == "pingan" and b["overwrite"] is True and b["dashboard"]["id"] is None for b in posted)
    ch = handler.state["datasources"][CLICKHOUSE_UID]
    assert ch["type"] == "grafana-clickhouse-datasource" and ch["jsonData"]["host"] == "ch.internal"
    assert ch["jsonData"]["username"] == "grafana_ro"

    handler.log.clear()
    assert cli(args) == 0
    assert _writes(handler.log) == []  # same build, same settings: nothing written
    assert "unchanged" in capsys.readouterr().out

    # a dashboard changed in Grafana is put back (same UID, overwritten), the others untouched
    handler.state["dashboards"]["pingan-alerts"]["dashboard"]["title"] = "edited by hand"
    handler.log.clear()
    assert cli(args) == 0
    assert _writes(handler.log) == [("POST", "/api/dashboards/db")]
    assert handler.state["dashboards"]["pingan-alerts"]["dashboard"]["title"] == "预警流"
    assert handler.state["dashboards"]["pingan-alerts"]["dashboard"]["version"] == 2


def test_push_updates_a_changed_datasource(grafana):
    url, handler = grafana
    base = ["dashboards", "push", "--url", url, "--token", "t"]
    assert cli(base) == 0
    handler.log.clear()
    assert cli([*base, "--prometheus-url", "http://prom.internal:9090"]) == 0
    assert _writes(handler.log) == [("PUT", f"/api/datasources/uid/{PROMETHEUS_UID}")]
    assert handler.state["datasources"][PROMETHEUS_UID]["url"] == "http://prom.internal:9090"


def test_push_reports_refusal_in_one_line(grafana, capsys):
    url, handler = grafana

    def refuse(self):
        self._record()
        self._send(403, {"message": "permissions needed: dashboards:create"})

    handler.do_POST = refuse
    assert cli(["dashboards", "push", "--url", url, "--token", "t", "--no-datasources"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refused creating folder" in err[0] and "Traceback" not in err[0]


def test_push_to_nothing_is_unavailable(capsys):
    assert cli(["dashboards", "push", "--url", "http://127.0.0.1:9", "--token", "t"]) != 0
    assert "cannot be reached" in capsys.readouterr().err


# --- provisioning and preview pieces -------------------------------------------------------------
REPO = Path(__file__).resolve().parents[2]


def test_provisioning_matches_the_dashboards():
    import yaml

    from pingan.dashboards.push import FOLDER_UID, DatasourceOptions, datasource_models

    provisioned = yaml.safe_load((REPO / "infra/grafana/provisioning/datasources/pingan.yaml").read_text("utf-8"))
    by_uid = {d["uid"]: d for d in provisioned["datasources"]}
    assert by_uid[CLICKHOUSE_UID]["type"] == CLICKHOUSE_TYPE == "grafana-clickhouse-datasource"
    assert by_uid[CLICKHOUSE_UID]["jsonData"]["username"] == "grafana_ro"
    assert by_uid[PROMETHEUS_UID]["type"] == PROMETHEUS_TYPE
    pushed = {d["uid"]: d for d in datasource_models(DatasourceOptions())}
    assert set(pushed) == set(by_uid)
    for uid, model in pushed.items():
        assert model["type"] == by_uid[uid]["type"] and model["name"] == by_uid[uid]["name"]
    provider = yaml.safe_load((REPO / "infra/grafana/provisioning/dashboards/pingan.yaml").read_text("utf-8"))
    assert provider["providers"][0]["folderUid"] == FOLDER_UID
    grants = (REPO / "infra/grafana/clickhouse-readonly.sql").read_text("utf-8")
    read = {t for p in registry.iter_panels() if p.datasource == CLICKHOUSE_TYPE for t in _tables(p.sql)}
    for table in read - _cte_names(" ".join(p.sql for p in registry.iter_panels() if p.datasource == CLICKHOUSE_TYPE)):
        assert f"ON pingan.{table} TO grafana_ro" in grants, f"grafana_ro cannot read {table}"


def test_metrics_snapshot_for_the_pipeline_panels():
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    from pingan.dashboards.preview import _metric_values, parse_metrics

    reg = CollectorRegistry()
    messages = Counter("pingan_messages_in", "in", ["topic"], registry=reg)
    messages.labels("grid.reports").inc(5)
    messages.labels("camera.alerts").inc(7)
    latency = Histogram("pingan_sink_batch_latency_seconds", "flush", registry=reg)
    latency.observe(0.25)
    latency.observe(0.75)
    Gauge("pingan_ruleset_info", "version", ["version"], registry=reg).labels("r42").set(1)
    metrics = parse_metrics(generate_latest(reg).decode())
    panels = {p.title: p for p in registry.iter_panels() if p.dashboard_uid == "pingan-pipeline"}
    assert _metric_values(panels["每秒流入事件（按主题）"], metrics)["rows"] == [["camera.alerts", 7.0], ["grid.reports", 5.0]]
    assert _metric_values(panels["ClickHouse 写入批次延迟"], metrics)["rows"] == [["平均", 0.5]]
    assert _metric_values(panels["规则集版本"], metrics)["rows"] == [["r42", 1.0]]
    assert _metric_values(panels["消费延迟（按主题）"], metrics)["rows"] == []


def test_preview_page_inlines_everything():
    from pingan.dashboards.preview import render_html

    page = {"from": "2026-11-29T00:00+08:00", "to": "2026-11-30T00:00+08:00", "generated": "x",
            "dashboards": [{"uid": "u", "title": "</script><b>x</b>", "variants": [], "panels": []}]}
    text = render_html(page)
    assert "/*DATA*/" not in text and "/*ECHARTS*/" not in text and "/*PREVIEW*/" not in text
    assert "<\\/script><b>x<\\/b>" in text  # embedded JSON cannot close its script element
    assert "src=" not in text.split("<body>", 1)[1].split("<script>", 1)[0]  # nothing loaded from elsewhere
    assert len(text) > 1_000_000 and "echarts" in text and "2026-11-29T00:00+08:00" in text


def test_panels_tile_the_grid_without_overlap(dashboards):
    for uid, data in dashboards.items():
        cells: dict[tuple[int, int], str] = {}
        for panel in data["panels"]:
            g = panel["gridPos"]
            assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] >= 1, (uid, panel["title"], g)
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{uid}: {panel['title']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]
