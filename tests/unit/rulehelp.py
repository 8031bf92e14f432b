"""Helpers for the rule-engine unit tests: write a rule directory, build events, run an engine."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from pingan.streams.engine import Engine, Timeline, load_ruleset
from pingan.streams.engine.testing import TEST_PSEUDONYM_KEY, EventFactory, parse_time

T0 = parse_time("2026-11-29T10:00:00+08:00")
REPO = Path(__file__).resolve().parents[2]


def write_rules(tmp_path: Path, text: str, name: str = "rules.yaml", lists: dict[str, str] | None = None) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")
    for list_name, content in (lists or {}).items():
        (directory / "lists").mkdir(exist_ok=True)
        (directory / "lists" / f"{list_name}.txt").write_text(textwrap.dedent(content), encoding="utf-8")
    return directory


def engine_for(tmp_path: Path, text: str, **kwargs: Any) -> Engine:
    return Engine(load_ruleset(write_rules(tmp_path, text, **kwargs), pseudonym_key=TEST_PSEUDONYM_KEY))


class Events:
    """``ev(at_seconds, stream=..., **fields)`` -> a decoded event; ids e1, e2, ... unless given."""

    def __init__(self) -> None:
        self.factory = EventFactory(TEST_PSEUDONYM_KEY)

    def __call__(self, at: float, **fields: Any) -> dict[str, Any]:
        return self.factory.event({"at": at, **fields}, start=T0)


def run(engine: Engine, events: list[dict[str, Any]], until: float | None = None) -> list[dict[str, Any]]:
    """Feed events in the given order; optionally advance time to T0 + until."""
    alerts = []
    for e in events:
        alerts += engine.process(e)
    if until is not None:
        alerts += engine.advance_to(T0 + until)
    return alerts


def fired(alerts: list[dict[str, Any]]) -> list[tuple[str, str, float]]:
    """(rule_id, key, seconds after T0) of each alert."""
    return [(a["rule_id"], a["key"], round(a["ts"] - T0, 3)) for a in alerts]


def timeline_run(engine: Engine, events, partitions, grace: float) -> list:
    tl = Timeline(engine, grace_s=grace)
    out = []
    for partition, event in zip(partitions, events):
        out += tl.push(partition, event)
    out += tl.flush()
    return out


VILLAGES = ("532301101001", "532301101002", "532301102001")


def scenario(seed: int, n: int = 600, days: float = 4.0) -> list[dict[str, Any]]:
    """Random but rule-rich traffic for the reference rules, sorted by (ts, topic, event_id)."""
    import random

    rnd = random.Random(seed)
    ev = Events()
    span = days * 86400
    out = []
    open_reports: list[str] = []
    for i in range(n):
        at = float(int(rnd.uniform(0, span)))
        village = rnd.choice(VILLAGES)
        roll = rnd.random()
        if roll < 0.25:
            out.append(ev(at, stream="camera", kind="face_match", person_id=f"P{rnd.randint(1, 4)}",
                          camera_id=f"CAM-532301-00000{rnd.randint(1, 5)}", village_code=village,
                          watchlist=rnd.choice(["wanted", "key_person"]), confidence=round(rnd.uniform(0.8, 1.0), 2)))
        elif roll < 0.45:
            out.append(ev(at, stream="camera", kind=rnd.choice(["stranger", "unknown_vehicle", "intrusion"]),
                          camera_id=f"CAM-532301-00000{rnd.randint(1, 5)}", village_code=village))
        elif roll < 0.52:
            out.append(ev(at, stream="camera", kind=rnd.choice(["offline", "online"]),
                          camera_id=f"CAM-532301-00000{rnd.randint(1, 5)}", village_code=village))
        elif roll < 0.65:
            if open_reports and rnd.random() < 0.5:
                report = rnd.choice(open_reports)
                status = rnd.choice(["dispatched", "resolved", "closed", "reopened"])
            else:
                report = f"R{i}"
                open_reports.append(report)
                status = "reported"
            out.append(ev(at, stream="grid", report_id=report, status=status, village_code=village,
                          category=rnd.choice(["dispute_family", "hazard"]), household_id=f"H{rnd.randint(1, 3)}"))
        elif roll < 0.72:
            out.append(ev(at, stream="grid", report_id=f"R{i}", status="reported", village_code=village,
                          category="risk_assessment", risk_level=rnd.choice(["high", "medium"]),
                          household_id=f"H{rnd.randint(1, 5)}"))
        elif roll < 0.88:
            out.append(ev(at, stream="fraud", case_id=f"C{rnd.randint(1, 60)}", status="reported",
                          township_code=village[:9], victim_age=rnd.randint(20, 90),
                          loss_yuan=rnd.choice([500, 20000, 150000]),
                          victim_id_number=rnd.choice(["532301195001011234", "53230119500101123X", None])))
        else:
            out.append(ev(at, stream="service", record_id=f"S{i}", status="completed", one_visit_item=True,
                          visits=rnd.randint(0, 3), sla_hours=24, elapsed_hours=rnd.choice([10, 30])))
    out.sort(key=lambda e: (e["ts"], e["topic"], e["event_id"]))
    return out


def reference_ruleset():
    return load_ruleset(REPO / "rules", pseudonym_key=TEST_PSEUDONYM_KEY)
