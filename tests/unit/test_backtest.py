"""`pingan backtest` and `pingan rules validate|test` end to end (files in, alerts out)."""

from __future__ import annotations

import base64
import io
from datetime import datetime

import orjson
import pytest
from rulehelp import REPO, T0, reference_ruleset

from pingan.cli.main import main
from pingan.config import load_settings
from pingan.schemas.alert import Alert
from pingan.schemas.privacy import Pseudonymizer
from pingan.streams.backtest import run_backtest
from pingan.streams.engine.testing import EventFactory

ID_NUMBER = "532301195001011234"


def iso(offset: float) -> str:
    return datetime.fromtimestamp(T0 + offset).astimezone().isoformat()


def line(topic: str, value) -> bytes:
    return orjson.dumps({"topic": topic, "key": None, "value": value}) + b"\n"


def traffic(tmp_path):
    factory = EventFactory()
    start = T0

    def obj(spec):
        return factory.payload(spec, start, {})

    lines = []
    for spec in (
        {"stream": "fraud", "at": 0, "event_id": "f1", "case_id": "C1", "status": "reported",
         "victim_id_number": ID_NUMBER, "victim_age": 70, "loss_yuan": 500},
        {"stream": "fraud", "at": 3600, "event_id": "f2", "case_id": "C2", "status": "reported",
         "victim_id_number": ID_NUMBER, "loss_yuan": 200000},
        {"stream": "camera", "at": 7200, "event_id": "c1", "kind": "offline", "camera_id": "CAM-532301-000001"},
        {"stream": "grid", "at": 4 * 3600, "event_id": "g1", "status": "dispatched", "report_id": "R0"},
    ):
        topic, payload = obj(spec)
        lines.append(line(topic, payload))
    lines.append(lines[0])  # a re-delivery
    lines.append(line("camera.alerts", '{"event_id": "bad1", "ts": "2026-11-29T10:00:00"}'))  # raw string, invalid
    lines.append(orjson.dumps({"topic": "fraud.cases", "key": None,
                               "value_b64": base64.b64encode("{\"x\": \"中\"}".encode("gbk")).decode()}) + b"\n")
    lines.append(b"this is not json\n")
    lines.append(b"\n")
    first = tmp_path / "a.jsonl"
    first.write_bytes(b"".join(lines[:2]))
    second = tmp_path / "b.jsonl"
    second.write_bytes(b"".join(lines[2:]))
    return [first, second]


def test_run_backtest_counts_skips_and_writes_alert_json(tmp_path):
    out = io.BytesIO()
    report = run_backtest(reference_ruleset(), traffic(tmp_path), out, "pingan-rule-tests", grace_s=5)
    alerts = [orjson.loads(x) for x in out.getvalue().splitlines()]
    assert (report.lines, report.events, report.duplicates, report.invalid, report.unreadable) == (8, 4, 1, 2, 1)
    assert sorted(a["rule_id"] for a in alerts) == ["FRAUD-ELDERLY", "FRAUD-MAJOR", "FRAUD-REPEAT-VICTIM"]
    for a in alerts:
        Alert.model_validate(a)
        assert a["ts"].endswith("+08:00")
        assert ID_NUMBER not in orjson.dumps(a).decode()
    repeat = next(a for a in alerts if a["rule_id"] == "FRAUD-REPEAT-VICTIM")
    assert repeat["key"] == Pseudonymizer("pingan-rule-tests")(ID_NUMBER)
    assert repeat["evidence"] == ["f1", "f2"]
    # the camera went offline 2 h before the input ends: time stops there, CAM-OFFLINE does not fire
    notes = "\n".join(report.notes)
    assert "b.jsonl:6: not a JSON object" in notes and "b.jsonl:4: ts:" in notes
    assert "4 events, 1 duplicates, 2 invalid, 1 unreadable" in report.summary()


def test_backtest_command(tmp_path, capsys):
    files = traffic(tmp_path)
    out = tmp_path / "alerts.jsonl"
    assert main(["backtest", "--rules", str(REPO / "rules"), *map(str, files), "--out", str(out)]) == 0
    alerts = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert len(alerts) == 3
    key = load_settings().pseudonym_key.get_secret_value()
    assert {a["key"] for a in alerts if a["rule_id"] == "FRAUD-REPEAT-VICTIM"} == {Pseudonymizer(key)(ID_NUMBER)}
    printed = capsys.readouterr().out
    assert "3 alerts" in printed and "FRAUD-MAJOR" in printed


def test_backtest_refuses_invalid_rules_with_every_problem(tmp_path, capsys):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "x.yaml").write_text("rules:\n  - id: X\n    type: nope\n  - id: Y\n    type: match\n", encoding="utf-8")
    data = tmp_path / "in.jsonl"
    data.write_bytes(b"")
    assert main(["backtest", "--rules", str(rules), str(data), "--out", str(tmp_path / "o.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "x.yaml:3: rule X: type 'nope'" in err and "rule Y:" in err


def test_rules_validate_and_test_commands(tmp_path, capsys):
    assert main(["rules", "validate", str(REPO / "rules")]) == 0
    assert "16 rules OK (15 enabled, 1 shadow)" in capsys.readouterr().out
    assert main(["rules", "test", str(REPO / "rules")]) == 0
    assert " 0 failed" in capsys.readouterr().out
    bad = tmp_path / "rules"
    bad.mkdir()
    (bad / "a.yaml").write_text(
        "rules:\n  - id: A\n    title: t\n    type: match\n    stream: camera\n    when: kind.__class__\n"
        "    key: camera_id\n    alert: {severity: low, title: t}\n", encoding="utf-8")
    assert main(["rules", "validate", str(bad)]) == 1
    assert "a.yaml:6: rule A: dunder attribute '__class__'" in capsys.readouterr().err


def test_rules_test_command_reports_failures(tmp_path, capsys):
    rules = tmp_path / "rules"
    (rules / "tests").mkdir(parents=True)
    (rules / "r.yaml").write_text((REPO / "rules" / "service.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (rules / "tests" / "t.yaml").write_text(
        "tests:\n  - name: wrong expectation\n    rules: [SVC-SLA]\n    events:\n"
        "      - {stream: service, record_id: S1, status: completed, elapsed_hours: 24, sla_hours: 24}\n"
        "    expect:\n      - {rule: SVC-SLA, key: S1, at: 0s}\n", encoding="utf-8")
    assert main(["rules", "test", str(rules)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "did not fire" in out and "0 passed, 1 failed" in out


@pytest.mark.parametrize("name", ["camera", "grid", "fraud", "service", "fusion"])
def test_reference_rule_files_exist(name):
    assert (REPO / "rules" / f"{name}.yaml").is_file()
