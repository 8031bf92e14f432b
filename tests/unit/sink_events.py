"""Generated traffic for the storage tests: decoded events, alerts and dead letters, plus an
ingestion plan with re-delivered batches, duplicate event_ids at new offsets and late events.

Also the independent reference: every figure of contract/county-report.md computed in plain
Python from the unique events (no SQL, no code shared with sinks/figures.py).
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

from pingan.schemas.decode import Decoder
from pingan.schemas.divisions import load_divisions
from pingan.schemas.privacy import Pseudonymizer

CST = timezone(timedelta(hours=8))
KEY = "test-pseudonym-key"
START = datetime(2026, 11, 20, tzinfo=CST)
TOPIC_TABLE = {"camera.alerts": "events_camera", "grid.reports": "events_grid",
               "fraud.cases": "events_fraud", "service.records": "events_service"}


@dataclass
class Dataset:
    events: list[dict[str, Any]] = field(default_factory=list)       # unique decoded events
    alerts: list[dict[str, Any]] = field(default_factory=list)       # unique alerts
    deadletters: list[dict[str, Any]] = field(default_factory=list)  # every dead-letter row (with re-deliveries)
    clear_ids: list[str] = field(default_factory=list)               # clear national ID numbers produced
    clear_phones: list[str] = field(default_factory=list)
    plan: list[tuple[str, list[dict[str, Any]], tuple[str, int, int, int] | None]] = field(default_factory=list)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _id_number(rng: random.Random) -> str:
    body = f"5323{rng.randint(10, 99)}19{rng.randint(40, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(100, 999)}"
    return body + rng.choice("0123456789X")


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3578')}{rng.randint(100000000, 999999999)}"


def generate(seed: int = 7, days: int = 8, scale: int = 1) -> Dataset:
    rng = random.Random(seed)
    decoder = Decoder(Pseudonymizer(KEY))
    divisions = load_divisions()
    counties = sorted(divisions.counties)
    townships = {c: [t for t in divisions.townships_of(c)] for c in counties}
    villages: dict[str, list[str]] = {}
    for v in divisions.villages.values():
        villages.setdefault(v.parent_code, []).append(v.code)
    townships = {c: [t for t in ts if t.code in villages] or ts for c, ts in townships.items()}
    data = Dataset()
    raw: list[tuple[str, dict[str, Any]]] = []
    seq = iter(range(10**9))

    def when() -> datetime:
        return START + timedelta(milliseconds=rng.randrange(days * 86_400_000))

    def place() -> tuple[str, str, str | None]:
        county = rng.choice(counties)
        town = rng.choice(townships[county])
        village = rng.choice(villages[town.code]) if town.code in villages else None
        return county, town.code, village

    def eid(prefix: str) -> str:
        return f"{prefix}-{seed}-{next(seq)}"

    # camera: every kind, night and day
    for _ in range(300 * scale):
        county, town, village = place()
        kind = rng.choice(["face_match", "plate_match", "stranger", "unknown_vehicle", "intrusion", "offline", "online"])
        e: dict[str, Any] = {"event_id": eid("c"), "ts": _iso(when()), "camera_id": f"CAM-{county}-{rng.randint(1, 999):06d}",
                             "county_code": county, "township_code": town, "kind": kind}
        if village and rng.random() < 0.7:
            e["village_code"] = village
        if kind == "face_match":
            e.update(person_id=f"KP{rng.randint(1000, 9999)}", watchlist="key_person", confidence=round(rng.random(), 3))
        if kind == "plate_match" or (kind == "unknown_vehicle" and rng.random() < 0.5):
            e["plate"] = f"云E{rng.randint(10000, 99999)}"
        if kind == "plate_match":
            e.update(watchlist="blacklist_vehicle", confidence=round(rng.random(), 3))
        raw.append(("camera.alerts", e))

    # grid: report lifecycles (some with two `reported` events), household risk assessments
    categories = ["dispute_family", "dispute_neighbour", "dispute_land", "dispute_labour", "hazard",
                  "special_group_visit", "other"]
    for i in range(120 * scale):
        county, town, village = place()
        if village is None:
            continue
        rid = f"R-{seed}-{i}"
        t0 = when()
        base = {"report_id": rid, "county_code": county, "township_code": town, "village_code": village,
                "grid_id": f"G-{town}-{rng.randint(1, 40):03d}", "reporter": rng.choice(["grid_worker", "resident"])}
        category = rng.choice(categories)
        steps = [("reported", t0, category)]
        if rng.random() < 0.15:  # a second `reported` event, later, maybe another category
            steps.append(("reported", t0 + timedelta(hours=rng.randint(1, 72)), rng.choice(categories)))
        t = t0
        for status in ("dispatched", "resolved", "closed", "reopened"):
            if rng.random() < 0.65:
                t = t + timedelta(hours=rng.randint(1, 60))
                steps.append((status, t, category))
            else:
                break
        for status, moment, cat in steps:
            e = dict(base, event_id=eid("g"), ts=_iso(moment), status=status, category=cat)
            if rng.random() < 0.2:
                e["description"] = f"居民反映纠纷，联系电话{_phone(rng)}"  # clear phone in free text
            raw.append(("grid.reports", e))
    households = [(f"H{seed}-{i}", *place()) for i in range(60 * scale)]
    for hid, county, town, village in households:
        if village is None:
            continue
        for _ in range(rng.randint(1, 4)):
            e = {"event_id": eid("r"), "ts": _iso(when()), "report_id": f"RA-{hid}-{rng.randint(0, 9)}",
                 "status": rng.choice(["reported", "closed"]), "category": "risk_assessment",
                 "county_code": county, "township_code": town, "village_code": village,
                 "household_id": hid, "risk_level": rng.choice(["low", "medium", "high"])}
            raw.append(("grid.reports", e))

    # fraud: cases with personal data, a few with two `reported` events
    for i in range(80 * scale):
        county, town, _ = place()
        cid = f"F-{seed}-{i}"
        t0 = when()
        idn, phone = _id_number(rng), _phone(rng)
        data.clear_ids.append(idn)
        data.clear_phones.append(phone)
        steps = [("reported", t0)]
        if rng.random() < 0.15:
            steps.append(("reported", t0 + timedelta(hours=rng.randint(1, 30))))
        steps += [(s, t0 + timedelta(hours=k * 20 + 5)) for k, s in enumerate(["investigating", "solved"]) if rng.random() < 0.5]
        for status, moment in steps:
            e: dict[str, Any] = {"event_id": eid("f"), "ts": _iso(moment), "case_id": cid, "status": status,
                                 "fraud_type": rng.choice(["telecom", "elderly_care", "investment", "other"]),
                                 "county_code": county, "township_code": town, "channel": rng.choice(["phone", "sms"]),
                                 "victim_id_number": idn, "victim_phone": phone}
            if rng.random() < 0.9:
                e["loss_yuan"] = round(rng.randint(0, 5_000_000) / 100, 2)
            if rng.random() < 0.85:
                e["victim_age"] = rng.randint(18, 95)
            if rng.random() < 0.2:
                e["note"] = f"身份证 {idn}"  # an unknown extra field carrying a clear ID number
            raw.append(("fraud.cases", e))

    # service: accepted -> completed (sometimes completed twice), missing fields
    for i in range(150 * scale):
        county, town, _ = place()
        rec = f"S-{seed}-{i}"
        t0 = when()
        base = {"record_id": rec, "county_code": county, "department": "市场监管局", "item_code": f"I{rng.randint(1, 30)}"}
        if rng.random() < 0.6:
            base["township_code"] = town
        raw.append(("service.records", dict(base, event_id=eid("s"), ts=_iso(t0), status="accepted")))
        for k in range(rng.choice([0, 1, 1, 1, 2])):
            e = dict(base, event_id=eid("s"), ts=_iso(t0 + timedelta(hours=6 + 30 * k)), status="completed",
                     elapsed_hours=round(rng.uniform(0.5, 80), 1))
            if rng.random() < 0.9:
                e["channel"] = rng.choice(["online", "hall"])
            if rng.random() < 0.8:
                e["one_visit_item"] = rng.random() < 0.6
            if rng.random() < 0.85:
                e["visits"] = rng.randint(0, 3)
            if rng.random() < 0.85:
                e["sla_hours"] = float(rng.choice([24, 48, 72]))
            if rng.random() < 0.6:
                e["satisfaction"] = rng.randint(1, 5)
            raw.append(("service.records", e))

    for topic, e in raw:
        data.events.append(decoder.decode(topic, json.dumps(e, ensure_ascii=False).encode("utf-8")))

    for i in range(90 * scale):
        county = rng.choice(counties)
        data.alerts.append({
            "alert_id": f"A-{seed}-{i}", "rule_id": rng.choice(["night_stranger", "fraud_burst"]), "rule_version": "1",
            "severity": rng.choice(["info", "low", "medium", "high", "critical"]),
            "key": f"云E{rng.randint(10000, 99999)}", "ts": when().timestamp(), "county_code": county,
            "county_name": divisions.county_name(county), "title": "测试告警", "evidence": [f"c-{i}"],
            "figures": {"count": 3}, "labels": {"k": "v"}, "topics": ["alerts"],
            "status": "shadow" if rng.random() < 0.1 else "enabled",
        })
    for i in range(40 * scale):
        idn = _id_number(rng)
        data.clear_ids.append(idn)
        value = json.dumps({"event_id": f"bad-{i}", "victim_id_number": idn, "loss_yuan": "12"}).encode()
        arrived = when().timestamp()
        row = {"reason": "loss_yuan: loss_yuan must be a JSON number", "details": [], "topic": "fraud.cases",
               "partition": i % 6, "offset": 10_000 + i, "key_b64": None,
               "value_b64": base64.b64encode(value).decode(), "received_at": arrived}
        data.deadletters.append(row)
        if rng.random() < 0.2:  # re-delivered after a crash, dead-lettered again later
            data.deadletters.append(dict(row, received_at=arrived + rng.randint(60, 3 * 86400)))

    _plan(data, rng)
    return data


def _plan(data: Dataset, rng: random.Random) -> None:
    """Batches in arrival order: late events last, replayed batches, duplicate ids at new offsets."""
    ordered = sorted(data.events, key=lambda e: e["ts"])
    late = [e for e in ordered if rng.random() < 0.05]  # arrive days after their ts
    late_ids = {id(e) for e in late}
    on_time = [e for e in ordered if id(e) not in late_ids]
    offsets: dict[tuple[str, int], int] = {}
    plan = data.plan

    def batch(events: list[dict[str, Any]]) -> None:
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for e in events:
            by_topic.setdefault(e["topic"], []).append(e)
        for topic, rows in by_topic.items():
            partition = rng.randrange(6)
            first = offsets.get((topic, partition), 0)
            offsets[(topic, partition)] = first + len(rows)
            plan.append((TOPIC_TABLE[topic], rows, (topic, partition, first, first + len(rows) - 1)))

    stream = on_time + late
    for start in range(0, len(stream), 37):
        batch(stream[start : start + 37])
        if rng.random() < 0.2:  # the same offsets written again (crash before commit)
            plan.append(plan[-1])
    for start in range(0, len(data.alerts), 25):
        plan.append(("alerts", data.alerts[start : start + 25], None))
    plan.append(("alerts", rng.sample(data.alerts, 10), None))  # alerts re-published
    for start in range(0, len(data.deadletters), 9):
        plan.append(("deadletters", data.deadletters[start : start + 9], ("fraud.cases", start % 6, start, start + 8)))
    # upstream re-sends some events: same event_id, new offsets
    batch(rng.sample(data.events, max(5, len(data.events) // 20)))


# ---------------------------------------------------------------------------------------------
# Independent reference computation
# ---------------------------------------------------------------------------------------------

def _half_up(value: Fraction) -> float:
    scaled = value * 10_000
    whole = scaled.numerator // scaled.denominator
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    return float(Fraction(whole, 10_000))


def _share(num: int, den: int) -> float | None:
    return None if den == 0 else _half_up(Fraction(num, den))


def _night(ts: float) -> bool:
    hour = datetime.fromtimestamp(ts, CST).hour
    return hour >= 22 or hour < 5


def reference(data: Dataset, start: float | None, end: float | None) -> dict[str, Any]:
    """Every figure per county and for the prefecture, computed from the unique events."""
    def inside(ts: float) -> bool:
        return (start is None or ts >= start) and (end is None or ts < end)

    def before_end(ts: float) -> bool:
        return end is None or ts < end

    divisions = load_divisions()
    figures: dict[str, dict[str, Any]] = {}
    for code in divisions.counties:
        figures[code] = {k: 0 for k in (
            "camera_events", "watchlist_hits", "night_strangers", "grid_reports", "grid_resolved", "disputes",
            "risk_high", "risk_medium", "risk_low", "fraud_cases", "fraud_elderly_cases", "service_completed",
            "online", "ovi", "ovi_ok", "sla", "sat_n", "sat_sum", "alerts_low", "alerts_medium", "alerts_high",
            "alerts_critical")}
        figures[code]["loss"] = Decimal("0")
        figures[code]["case_towns"] = set()
    unique: dict[tuple[str, str], dict[str, Any]] = {}
    for e in data.events:
        unique.setdefault((e["topic"], e["event_id"]), e)
    events = list(unique.values())
    order = lambda e: (e["ts"], e["event_id"])  # noqa: E731

    for e in events:
        if e["topic"] == "camera.alerts" and inside(e["ts"]):
            f = figures[e["county_code"]]
            f["camera_events"] += 1
            f["watchlist_hits"] += e["kind"] in ("face_match", "plate_match")
            f["night_strangers"] += e["kind"] in ("stranger", "unknown_vehicle") and _night(e["ts"])

    grid = [e for e in events if e["topic"] == "grid.reports"]
    first_report: dict[str, dict[str, Any]] = {}
    for e in sorted(grid, key=order):
        if e["status"] == "reported" and e["report_id"] and inside(e["ts"]):
            first_report.setdefault(e["report_id"], e)
    resolved = {e["report_id"] for e in grid if e["status"] in ("resolved", "closed") and before_end(e["ts"])}
    for rid, e in first_report.items():
        f = figures[e["county_code"]]
        f["grid_reports"] += 1
        f["grid_resolved"] += rid in resolved
        f["disputes"] += (e["category"] or "").startswith("dispute_")
    latest_risk: dict[str, dict[str, Any]] = {}
    for e in sorted(grid, key=order):
        if e["category"] == "risk_assessment" and e["household_id"] and before_end(e["ts"]):
            latest_risk[e["household_id"]] = e
    for e in latest_risk.values():
        figures[e["county_code"]][f"risk_{e['risk_level']}"] += 1

    first_case: dict[str, dict[str, Any]] = {}
    for e in sorted((e for e in events if e["topic"] == "fraud.cases"), key=order):
        if e["status"] == "reported" and e["case_id"] and inside(e["ts"]):
            first_case.setdefault(e["case_id"], e)
    for e in first_case.values():
        f = figures[e["county_code"]]
        f["fraud_cases"] += 1
        f["loss"] += e["loss_yuan"] or Decimal("0")
        f["fraud_elderly_cases"] += (e["victim_age"] or 0) >= 60
        f["case_towns"].add(e["township_code"])

    latest_done: dict[str, dict[str, Any]] = {}
    for e in sorted((e for e in events if e["topic"] == "service.records"), key=order):
        if e["status"] == "completed" and e["record_id"] and inside(e["ts"]):
            latest_done[e["record_id"]] = e
    for e in latest_done.values():
        f = figures[e["county_code"]]
        f["service_completed"] += 1
        f["online"] += e["channel"] == "online"
        if e["one_visit_item"]:
            f["ovi"] += 1
            f["ovi_ok"] += e["visits"] is not None and e["visits"] <= 1
        f["sla"] += e["sla_hours"] is not None and e["elapsed_hours"] <= e["sla_hours"]
        if e["satisfaction"] is not None:
            f["sat_n"] += 1
            f["sat_sum"] += e["satisfaction"]

    seen_alerts = set()
    for a in data.alerts:
        if a["alert_id"] in seen_alerts or not inside(a["ts"]) or a["status"] == "shadow":
            continue
        seen_alerts.add(a["alert_id"])
        if a["severity"] != "info":
            figures[a["county_code"]][f"alerts_{a['severity']}"] += 1

    first_arrival: dict[tuple[str, int, int], float] = {}
    for d in data.deadletters:
        k = (d["topic"], d["partition"], d["offset"])
        first_arrival[k] = min(first_arrival.get(k, d["received_at"]), d["received_at"])
    invalid = sum(1 for t in first_arrival.values() if inside(t))

    def finish(f: dict[str, Any], towns_total: int) -> dict[str, Any]:
        return {
            "camera_events": f["camera_events"], "watchlist_hits": f["watchlist_hits"],
            "night_strangers": f["night_strangers"], "grid_reports": f["grid_reports"],
            "grid_resolved": f["grid_resolved"], "resolution_rate": _share(f["grid_resolved"], f["grid_reports"]),
            "disputes": f["disputes"], "risk_high": f["risk_high"], "risk_medium": f["risk_medium"],
            "risk_low": f["risk_low"], "fraud_cases": f["fraud_cases"],
            "fraud_loss_yuan": f"{f['loss']:.2f}", "fraud_elderly_cases": f["fraud_elderly_cases"],
            "townships_without_fraud": towns_total - len(f["case_towns"]),
            "service_completed": f["service_completed"],
            "service_online_share": _share(f["online"], f["service_completed"]),
            "one_visit_compliance": _share(f["ovi_ok"], f["ovi"]),
            "sla_met_share": _share(f["sla"], f["service_completed"]),
            "satisfaction_avg": _share(f["sat_sum"], f["sat_n"]),
            "alerts_low": f["alerts_low"], "alerts_medium": f["alerts_medium"], "alerts_high": f["alerts_high"],
            "alerts_critical": f["alerts_critical"],
        }

    counties = []
    total: dict[str, Any] = {k: (set() if k == "case_towns" else 0) for k in figures[next(iter(figures))]}
    total["loss"] = Decimal("0")
    for code in sorted(figures):
        f = figures[code]
        towns = len(divisions.townships_of(code))
        counties.append({"county_code": code, "county_name": divisions.county_name(code), **finish(f, towns)})
        for k, v in f.items():
            total[k] = total[k] | v if k == "case_towns" else total[k] + v
    prefecture = finish(total, len(divisions.townships))
    prefecture["invalid_messages"] = invalid
    return {"counties": counties, "prefecture": prefecture}
