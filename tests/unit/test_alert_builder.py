"""The generated alert builders (streams.engine.alerts) equal a plain reading of the alert template.

The reference below is the straightforward implementation (copy the event's fields, add the
figures and the key, render every template part by part); the generated function must give the
same dict for every reference rule and a rule set with personal placeholders, formats, labels and
Decimal figures, over real simulated events, including missing fields.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pingan.schemas.alert import alert_id_for
from pingan.streams.engine import Engine, load_ruleset
from pingan.streams.engine.base import plain

REPO = Path(__file__).resolve().parents[2]

EXTRA = """
rules:
  - id: T-PLATE
    title: 黑名单车辆
    stream: camera
    type: match
    when: kind == "plate_match"
    key: camera_id
    alert:
      severity: high
      title: "车辆{plate}在{village_name}（{confidence:.1%}，键{key}）"
      labels:
        place: "{county_name}/{township_name}"
        who: "{plate}"
      figures: [confidence, plate]
      evidence_max: 2
  - id: T-LOSS
    title: 损失
    stream: fraud
    type: match
    when: loss_yuan > 0
    key: case_id
    alert:
      severity: low
      title: "损失{loss_yuan:,.2f}元，{victim_age}岁，{village_name}"
      figures: [loss_yuan]
"""


def reference_alert(rt, ts, key, source, evidence, figures):
    spec = rt.spec
    a = spec.alert
    for name in a.figure_fields:
        value = source.get(name)
        if value is not None:
            figures[name] = plain(value)
    values = dict(source)
    values.update(figures)
    values["key"] = key
    labels = {"county": source.get("county_code") or "", "domain": a.domain}
    for name, template in a.labels.items():
        labels[name] = template.render(values)
    return {
        "alert_id": alert_id_for(spec.id, key, ts), "rule_id": spec.id, "rule_version": spec.version,
        "severity": a.severity, "key": key, "ts": ts,
        **{f: source.get(f) for f in ("county_code", "county_name", "township_code", "township_name",
                                       "village_code", "village_name")},
        "title": a.title.render(values), "evidence": evidence[-a.evidence_max:], "figures": figures,
        "labels": labels, "domain": a.domain, "status": rt._status, "topics": list(a.topics),
    }


@pytest.fixture(scope="module")
def events():
    from pingan.bench.data import decoded

    return decoded(3000)


@pytest.mark.parametrize("extra", [False, True])
def test_generated_builders_equal_the_plain_reading(tmp_path, events, extra):
    if extra:
        (tmp_path / "extra.yaml").write_text(EXTRA, encoding="utf-8")
        ruleset = load_ruleset(tmp_path, pseudonym_key="k")
    else:
        ruleset = load_ruleset(REPO / "rules", pseudonym_key="k")
    engine = Engine(ruleset)
    checked = 0
    for rt in engine.rules:
        topics = {side.topic for side in rt.spec.sides.values()}
        mine = [e for e in events if e["topic"] in topics][:40]
        mine.append({"topic": "x", "event_id": "bare", "ts": 1.5})  # every field missing
        if "fraud.cases" in topics:
            mine.append({**mine[0], "loss_yuan": Decimal("1234567.891")})
        for i, e in enumerate(mine):
            figures = {"count": i, "threshold": 3, "window_s": 1800.0} if i % 2 else {}
            evidence = [f"id{j}" for j in range(i % 5)]
            got = rt.alert(e["ts"] + 0.25, f"k{i}", e, list(evidence), dict(figures))
            want = reference_alert(rt, e["ts"] + 0.25, f"k{i}", e, list(evidence), dict(figures))
            assert got == want, (rt.spec.id, e)
            checked += 1
    assert checked > 80
    if extra:
        plate = next(e for e in events if e.get("plate"))
        title = engine.rules[0].alert(plate["ts"], "k", plate, [], {})["title"]
        assert plate["plate"] not in title  # personal identifiers are masked in titles
