"""Rule sets for B3: a generated set of N rules, and the straight-line if-chain baseline.

The baseline is generated from the *compiled* rules themselves: each side's condition expression
(the source the rule compiler produced) is inlined into one function per topic, followed by the
least bookkeeping the rule type needs (a suppression time per key, a window of timestamps, a
pending deadline, the first half of a sequence). No alert dicts, no evidence, no state snapshots:
it is the floor a rule engine written by hand in Python could reach for the same conditions.
"""

from __future__ import annotations

import random
import re
from collections import deque
from pathlib import Path
from typing import Any, Callable

from pingan.streams.engine.compiler import _BUILTINS

_SLOT = re.compile(r"\b_([kt])(\d+)\b")

CAMERA_KINDS = ("face_match", "plate_match", "stranger", "unknown_vehicle", "intrusion", "offline", "online")
GRID_CATEGORIES = ("dispute_family", "dispute_neighbour", "dispute_land", "dispute_labour", "hazard",
                   "special_group_visit", "risk_assessment", "other")


def generate_rules(directory: Path, n: int, seed: int = 500) -> Path:
    """Write ``n`` rules (match 60 %, count 30 %, distinct count 10 %) over the four streams."""
    from pingan.schemas.divisions import load_divisions

    rng = random.Random(seed)
    counties = sorted(load_divisions().counties)
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["rules:"]
    for i in range(n):
        stream = rng.choice(("camera", "camera", "grid", "fraud", "service"))
        county = rng.choice(counties)
        if stream == "camera":
            when = f'kind == "{rng.choice(CAMERA_KINDS)}" and county_code == "{county}"'
            if rng.random() < 0.3:
                when += f" and confidence >= {rng.choice((0.5, 0.7, 0.85, 0.9))}"
            key, distinct = rng.choice(("village_code", "township_code", "camera_id")), "camera_id"
        elif stream == "grid":
            when = f'category == "{rng.choice(GRID_CATEGORIES)}" and status == "reported" and county_code == "{county}"'
            key, distinct = rng.choice(("village_code", "township_code")), "report_id"
        elif stream == "fraud":
            when = f'fraud_type in ["telecom", "investment"] and loss_yuan >= {rng.choice((1000, 10000, 50000))}'
            if rng.random() < 0.5:
                when += f' and county_code == "{county}"'
            key, distinct = "township_code", "case_id"
        else:
            when = f'status == "completed" and elapsed_hours > {rng.choice((8, 24, 48))} and county_code == "{county}"'
            key, distinct = "county_code", "record_id"
        kind = rng.random()
        rule = [f"  - id: GEN-{i:04d}", f"    title: 生成规则{i}", f"    stream: {stream}", f"    when: '{when}'",
                f"    key: {key}"]
        if kind < 0.6:
            rule.append("    type: match")
            rule.append("    suppress: 10m")
        elif kind < 0.9:
            rule += ["    type: count", f"    window: {rng.choice((10, 30, 60))}m", f"    threshold: {rng.choice((3, 5, 10))}"]
        else:
            rule += ["    type: distinct_count", f"    distinct: {distinct}", "    window: 60m", "    threshold: 3"]
        rule += ["    alert:", "      severity: low", f'      title: "生成规则{i}（{{county_name}}）"']
        lines += rule
    path = directory / "generated.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def _expr(cond: Any, prefix: str, slots: dict[str, Any]) -> str:
    """The condition's expression with its slots and temporaries renamed under ``prefix``."""
    source = getattr(cond, "source", None)
    if source is None:  # the always-true condition
        return "True"
    body = next(line for line in source.splitlines() if line.strip().startswith("return "))
    expr = body.strip()[len("return "):]
    for name, value in cond.__globals__.items():
        if re.fullmatch(r"_k\d+", name):
            slots[f"{prefix}{name}"] = value
    return _SLOT.sub(lambda m: f"{prefix}_{m.group(1)}{m.group(2)}", expr)


def _key(side: Any) -> str:
    fields = side.key_fields
    if len(fields) == 1:
        return f"e[{fields[0]!r}]"
    return "(" + ", ".join(f"e[{f!r}]" for f in fields) + ")"


def if_chain(ruleset: Any) -> tuple[dict[str, Callable[[dict[str, Any], list], None]], dict[str, Any]]:
    """One generated function per topic: ``fn(event, out)`` appends (rule_id, key, ts) tuples."""
    slots: dict[str, Any] = {"deque": deque}
    bodies: dict[str, list[str]] = {}
    for i, spec in enumerate(ruleset.active):
        for side_name, side in spec.sides.items():
            p = f"_r{i}{side_name[0]}"
            cond = _expr(side.cond, p, slots)
            st = f"_st{i}"
            slots.setdefault(st, {})
            if spec.type == "deadline" and side_name == "cancel":
                action = [f"{st}.pop(k, None)"]
            elif spec.type == "deadline":
                action = [f"{st}[k] = ts + {spec.params['within']!r}"]
            elif spec.type == "sequence" and side_name == "first":
                action = [f"{st}[k] = ts"]
            elif spec.type == "sequence":
                action = [f"f = {st}.get(k)", f"if f is not None and ts - f <= {spec.params['within']!r}:",
                          f"    out.append(({spec.id!r}, k, ts))"]
            elif spec.type in ("count", "distinct_count", "spike"):
                window = spec.params.get("window", 86400.0)
                thr = spec.params.get("threshold", 1)
                action = [f"w = {st}.get(k)", "if w is None:", f"    w = {st}[k] = deque()", "w.append(ts)",
                          f"while w[0] < ts - {window!r}:", "    w.popleft()",
                          f"if len(w) >= {thr!r}:", f"    out.append(({spec.id!r}, k, ts))"]
            else:  # match
                sup = spec.suppress
                if sup:
                    action = [f"last = {st}.get(k)", f"if last is None or ts >= last + {sup!r}:",
                              f"    {st}[k] = ts", f"    out.append(({spec.id!r}, k, ts))"]
                else:
                    action = [f"out.append(({spec.id!r}, k, ts))"]
            lines = ["try:", f"    c = {cond}", "except (TypeError, ArithmeticError, ValueError, AttributeError, KeyError):",
                     "    c = False", "if c:", f"    k = {_key(side)}", "    if k is not None:"]
            lines += ["        " + a for a in action]
            bodies.setdefault(side.topic, []).extend(lines)
    fns = {}
    for topic, lines in bodies.items():
        source = "def chain(e, out):\n    ts = e['ts']\n" + "\n".join("    " + line for line in lines) + "\n"
        namespace: dict[str, Any] = {**_BUILTINS, **slots}
        exec(compile(source, f"<if-chain {topic}>", "exec"), namespace)  # noqa: S102 - generated from compiled rules
        fns[topic] = namespace["chain"]
    return fns, slots
