"""Rule sets for B3: a generated set of N rules, and the straight-line if-chain baseline.

The baseline (:func:`build_chain`) is generated from the *compiled* rules themselves: one function per
topic, each side's condition expression (the source the rule compiler produced) inlined, followed by
the least hand-written state logic of its rule type (inline when short, else in a small function
called when the condition holds, see ``_INLINE_MAX``). It computes exactly the engine's alerts, as
``(rule_id, key, ts)`` tuples (B3 asserts it before timing; tests/unit/test_bench_chain.py too):

- de-duplication by event id per topic; event time is the largest ts seen (every valid event moves
  it); deadlines fire, from a heap, once event time is strictly past them (before the event that
  moves time past them is evaluated, and after an event whose late start is already overdue), with
  ts = the deadline; at the end of the input nothing more fires (time stops where the input stops,
  as at the end of a backtest);
- the grace period (``ts < time - grace`` is ignored); keys (missing or empty -> no key; composite
  and clear personal keys through the rule's own key function, for the "|" join and the pseudonym);
- match with suppression; count and distinct_count over the inclusive window [t - window, t], ``>=``
  or ``>``, suppression only blocking firing, late events placed in order and kept for the engine's
  retention (window + grace, or two windows); deadline (start, cancel, a running clock ignoring
  re-starts, cancels remembered for ``within`` for late starts, suppression); sequence (the latest
  first-step event at or before the then event, within ``within``); spike (calendar-day or hour
  buckets against the mean of the baseline buckets, after ``baseline`` whole buckets).

Left out on purpose (the engine's extra work): alert dicts (titles, labels, evidence, figures),
shadow/enabled status (shadow rules are evaluated on both sides), the changelog (dirty keys,
snapshots, seen-id chunks), sweeping expired state (the chain keeps every key and every seen event
id for the whole input: on input in event-time order, which is what the engine is fed, or late
within the engine's allowance, forgetting expired state changes no result), hot reload and
evaluation counts.
"""

from __future__ import annotations

import heapq
import random
import re
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable

from pingan.streams.engine.compiler import _BUILTINS, fixed_offset, local_day
from pingan.streams.engine.fields import CLEAR_PERSONAL

_SLOT = re.compile(r"\b_([kt])(\d+)\b")
_ERRORS = "(TypeError, ArithmeticError, ValueError, AttributeError, KeyError)"
#: the order in which the engine runs a rule's handlers on an event that matches several sides
_SIDE_ORDER = {"deadline": ("cancel", "main"), "sequence": ("then", "first")}
#: state logic longer than this (lines) is a function called when the condition holds: the conditions,
#: evaluated on every event, stay close together (500 generated rules: about 10 % faster than inlining all)
_INLINE_MAX = 10

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




# -- the baseline -----------------------------------------------------------------------------------
def _expr(cond: Any, prefix: str, slots: dict[str, Any]) -> str:
    """The condition's expression with its slots and temporaries renamed under ``prefix`` (a
    condition whose source has another shape is called instead)."""
    source = getattr(cond, "source", None)
    if source is None and getattr(cond, "__name__", "") == "_always":
        return "True"
    lines = [line.strip() for line in (source or "").splitlines()]
    # the compiler's shape: def cond(e): / try: / return <expr> / except (...): / return False
    if len(lines) != 5 or lines[1] != "try:" or not lines[2].startswith("return ") or lines[4] != "return False":
        slots[f"{prefix}_call"] = cond
        return f"{prefix}_call(e)"
    for name, value in cond.__globals__.items():
        if re.fullmatch(r"_k\d+", name):
            slots[f"{prefix}{name}"] = value
    return _SLOT.sub(lambda m: f"{prefix}_{m.group(1)}{m.group(2)}", lines[2][len("return "):])


def _indent(lines: list[str], by: str = "    ") -> list[str]:
    return [by + line for line in lines]


def _fire(rule_id: str, last: str, suppress: float | None) -> list[str]:
    """Append the alert unless suppression blocks it (the engine's ``last`` bookkeeping)."""
    alert = f"out.append(({rule_id!r}, k, ts))"
    if suppress is None:
        return [alert]
    return [f"last = {last}.get(k)", f"if last is None or not ts < last + {suppress!r}:",
            "    if last is None or ts > last:", f"        {last}[k] = ts", f"    {alert}"]


def _count(spec: Any, r: str) -> list[str]:
    """count / distinct_count: sorted timestamps per key (in order: an append), [t - window, t]."""
    p = spec.params
    window, threshold, op = p["window"], p["threshold"], p["op"]
    retain = window + (spec.grace if spec.grace is not None else window)
    fire = _fire(spec.id, f"{r}L", spec.suppress)
    field = p.get("distinct")
    if field is None:
        return [f"ev = {r}S.get(k)", "if ev is None:", f"    {r}S[k] = ev = [ts]", "    hi = 1",
                "elif ev[-1] <= ts:", "    ev.append(ts)", "    hi = len(ev)", "else:", "    _ins(ev, ts)",
                "    hi = _br(ev, ts)", f"if ev[0] < ev[-1] - {retain!r}:",
                f"    del ev[:_bl(ev, ev[-1] - {retain!r})]", "    hi = _br(ev, ts)",
                f"if hi {op} {threshold!r} and hi - _bl(ev, ts - {window!r}, 0, hi) {op} {threshold!r}:",
                *_indent(fire)]
    return [f"v = e[{field!r}]", "if v is not None and v != '':",
            *_indent(["if v.__class__ is not str:", "    v = str(v)",
                      f"st = {r}S.get(k)", "if st is None:", f"    {r}S[k] = st = ([ts], [v])", "    tl, vl = st",
                      "    hi = 1", "else:", "    tl, vl = st",
                      "    if tl[-1] <= ts:", "        tl.append(ts)", "        vl.append(v)", "        hi = len(tl)",
                      "    else:", "        hi = _br(tl, ts)", "        tl.insert(hi, ts)", "        vl.insert(hi, v)",
                      "        hi += 1",
                      f"    if tl[0] < tl[-1] - {retain!r}:", f"        j = _bl(tl, tl[-1] - {retain!r})",
                      "        del tl[:j]", "        del vl[:j]", "        hi = _br(tl, ts)",
                      f"if hi {op} {threshold!r} and len(set(vl[_bl(tl, ts - {window!r}, 0, hi):hi])) "
                      f"{op} {threshold!r}:",
                      *_indent(fire)])]


def _deadline(spec: Any, side: str, r: str, index: int) -> list[str]:
    within = spec.params["within"]
    if side == "main":  # a start: ignored while a clock runs or when a remembered cancel stops it at once
        return [f"if k not in {r}C:", f"    d = ts + {within!r}", f"    xs = {r}X.get(k)",
                "    if xs is None or (j := _bl(xs, ts)) >= len(xs) or xs[j] > d:",
                f"        {r}C[k] = (ts, d)", f"        _push(_heap, (d, {index}, k))"]
    return [f"c = {r}C.get(k)", "if c is not None:", "    if c[0] <= ts <= c[1]:", f"        del {r}C[k]",
            "else:  # no clock: remembered for a start that may still arrive late (or at the same ts)",
            f"    xs = {r}X.get(k)", "    if xs is None:", f"        {r}X[k] = [ts]", "    else:",
            "        if xs[-1] <= ts:", "            xs.append(ts)", "        else:", "            _ins(xs, ts)",
            f"        if xs[0] < xs[-1] - {within!r}:", f"            del xs[:_bl(xs, xs[-1] - {within!r})]"]


def _sequence(spec: Any, side: str, r: str) -> list[str]:
    within = spec.params["within"]
    if side == "first":
        retain = within + (spec.grace if spec.grace is not None else within)
        return [f"fs = {r}F.get(k)", "if fs is None:", f"    {r}F[k] = [ts]", "else:",
                "    if fs[-1] <= ts:", "        fs.append(ts)", "    else:", "        _ins(fs, ts)",
                f"    if fs[0] < fs[-1] - {retain!r}:", f"        del fs[:_bl(fs, fs[-1] - {retain!r})]"]
    # then: the latest first-step event at or before ts, at most `within` before it
    return ["f = fs[-1] if fs[-1] <= ts else (fs[j - 1] if (j := _br(fs, ts)) else None)",
            f"if f is not None and not f < ts - {within!r}:", *_indent(_fire(spec.id, f"{r}L", spec.suppress))]


def _spike(spec: Any, r: str, slots: dict[str, Any]) -> list[str]:
    p = spec.params
    baseline = p["baseline"]
    if p["bucket"] == "hour":
        bucket = "int(ts // 3600.0)"
    else:
        slots[f"{r}day"] = local_day(p["timezone"])
        offset = fixed_offset(p["timezone"])
        bucket = f"{r}day(ts)" if offset is None else \
            f"int((ts + {offset!r}) // 86400.0) if ts >= 694224000 else {r}day(ts)"
    slots[f"{r}B"] = [None]  # the first bucket the rule saw (rule-wide)
    previous = " + ".join(f"cs.get(b - {i}, 0)" for i in range(1, baseline + 1))
    return [f"b = {bucket}", f"sn = {r}B[0]", "if sn is None or b < sn:", f"    {r}B[0] = sn = b",
            f"cs = {r}S.get(k)", "if cs is None:", f"    {r}S[k] = cs = {{b: 1}}", "    c = 1", "else:",
            "    c = cs[b] = cs.get(b, 0) + 1",
            "    if c == 1:  # a new bucket: forget those more than `baseline` before the newest",
            "        newest = max(cs)", f"        for old in [x for x in cs if x < newest - {baseline!r}]:",
            "            del cs[old]",
            f"if c >= {p['min_count']!r} and b - sn >= {baseline!r} "
            f"and not c < {p['factor']!r} * (({previous}) / {baseline!r}):",
            *_indent(_fire(spec.id, f"{r}L", spec.suppress))]


def _side(spec: Any, index: int, side_name: str, slots: dict[str, Any]) -> tuple[list[str], str | None]:
    """The straight-line code of one rule side: condition, key, grace, the rule type's state logic;
    and the source of the function that holds the latter when it is longer than ``_INLINE_MAX``."""
    side = spec.sides[side_name]
    r = f"_r{index}"
    p = f"{r}{side_name[0]}"
    if spec.type == "deadline":
        action = _deadline(spec, side_name, r, index)
    elif spec.type == "sequence":
        action = _sequence(spec, side_name, r)
    elif spec.type in ("count", "distinct_count"):
        action = _count(spec, r)
    elif spec.type == "spike":
        action = _spike(spec, r, slots)
    elif spec.type == "match":
        action = _fire(spec.id, f"{r}L", spec.suppress)
    else:
        raise ValueError(f"rule {spec.id}: no if-chain for rule type {spec.type!r}")
    grace_checked = not (spec.type == "deadline" and side_name == "cancel")
    if spec.grace is not None and grace_checked:
        action = [f"if not ts < _now[0] - {spec.grace!r}:", *_indent(action)]
    if spec.type == "sequence" and side_name == "then":
        action = [f"fs = {r}F.get(k)", "if fs is not None:", *_indent(action)]
    fields = side.key_fields
    if len(fields) == 1 and fields[0] not in CLEAR_PERSONAL:
        keyed = [f"k = e.get({fields[0]!r})", "if k is not None and k != '':",
                 "    if k.__class__ is not str:", "        k = str(k)", *_indent(action)]
    else:  # composite ("|"-joined) or personal (pseudonymised): the rule's own key function
        slots[f"{p}_key"] = side.key
        keyed = [f"k = {p}_key(e)", "if k is not None:", *_indent(action)]
    for name in ("S", "L", "C", "X", "F"):
        slots.setdefault(f"{r}{name}", {})
    test = ["try:", f"    c = {_expr(side.cond, p, slots)}", f"except {_ERRORS}:", "    c = False", "if c:"]
    if len(keyed) <= _INLINE_MAX:
        return test + _indent(keyed), None
    return test + [f"    {p}_do(e, ts, out)"], f"def {p}_do(e, ts, out):\n" + "".join(f"    {line}\n" for line in keyed)


class Chain:
    """The generated baseline over one rule set (single use: it holds the rules' state).

    ``run(events, out)`` appends ``(rule_id, key, ts)`` for every alert the engine would raise on
    the same events (see the module docstring); ``fns`` are the per-topic functions and ``source``
    their generated code.
    """

    def __init__(self, fns: dict[str, Callable], source: dict[str, str], slots: dict[str, Any],
                 deadlines: dict[int, tuple], starts: set[str]):
        self.fns = fns
        self.source = source
        self.slots = slots
        self._deadlines = deadlines  # rule index -> (rule id, running clocks, last firing per key, suppress)
        self._heap: list = slots["_heap"]
        self._now: list = slots["_now"]
        # topic -> (event ids seen, its function, whether it can start a deadline clock)
        self._route: dict[str, tuple[set, Callable | None, bool]] = {
            topic: (set(), fn, topic in starts) for topic, fn in fns.items()}

    def run(self, events: Iterable[dict[str, Any]], out: list) -> list:
        route = self._route
        heap = self._heap
        now = self._now
        fire = self._fire
        t = now[0]
        for e in events:
            r = route.get(e["topic"])
            if r is None:
                r = route[e["topic"]] = (set(), None, False)
            ids, fn, starts = r
            eid = e["event_id"]
            if eid in ids:
                continue
            ids.add(eid)
            ts = e["ts"]
            if ts > t:
                if heap and heap[0][0] < ts:
                    fire(ts, out)
                t = now[0] = ts
            if fn is not None:
                fn(e, out)
                if starts and heap and heap[0][0] < t:  # a late start whose deadline has already passed
                    fire(t, out)
        return out

    def _fire(self, until: float, out: list) -> None:
        heap = self._heap
        rules = self._deadlines
        pop = heapq.heappop
        while heap and heap[0][0] < until:
            d, i, k = pop(heap)
            rule_id, clocks, lasts, suppress = rules[i]
            c = clocks.get(k)
            if c is None or c[1] != d:
                continue  # cancelled, or superseded
            del clocks[k]
            if suppress is not None:
                last = lasts.get(k)
                if last is not None and d < last + suppress:
                    continue
                lasts[k] = d
            out.append((rule_id, k, d))


def build_chain(ruleset: Any) -> Chain:
    """Generate the baseline for the rules the engine evaluates (``ruleset.active``, shadow included)."""
    slots: dict[str, Any] = {"_heap": [], "_now": [float("-inf")], "_push": heapq.heappush,
                             "_bl": bisect_left, "_br": bisect_right, "_ins": insort}
    bodies: dict[str, list[str]] = {}
    helpers: dict[str, list[str]] = {}
    deadlines: dict[int, tuple] = {}
    starts: set[str] = set()
    for i, spec in enumerate(ruleset.active):
        order = _SIDE_ORDER.get(spec.type, ("main",))
        for side_name in order:
            topic = spec.sides[side_name].topic
            lines, helper = _side(spec, i, side_name, slots)
            bodies.setdefault(topic, []).extend(lines)
            if helper is not None:
                helpers.setdefault(topic, []).append(helper)
        if spec.type == "deadline":
            deadlines[i] = (spec.id, slots[f"_r{i}C"], slots[f"_r{i}L"], spec.suppress)
            starts.add(spec.sides["main"].topic)
    fns, sources = {}, {}
    for topic, lines in bodies.items():
        source = "".join(helpers.get(topic, ())) + "def chain(e, out):\n    ts = e['ts']\n" + \
            "".join(f"    {line}\n" for line in lines)
        code = compile(source, f"<if-chain {topic}>", "exec")
        used = {name for c in code.co_consts if hasattr(c, "co_names") for name in c.co_names}
        namespace: dict[str, Any] = {**_BUILTINS, **{name: slots[name] for name in used if name in slots}}
        exec(code, namespace)  # noqa: S102 - generated from compiled rules
        fns[topic], sources[topic] = namespace["chain"], source
    return Chain(fns, sources, slots, deadlines, starts)


def if_chain(ruleset: Any) -> tuple[dict[str, Callable[[dict[str, Any], list], None]], dict[str, Any]]:
    """The per-topic functions alone, ``fn(event, out)`` (no de-duplication, and deadlines never fire
    without :meth:`Chain.run`); use :func:`build_chain` for the whole baseline."""
    chain = build_chain(ruleset)
    return chain.fns, chain.slots


# -- the equivalence check --------------------------------------------------------------------------
def engine_alerts(ruleset: Any, events: Iterable[dict[str, Any]]) -> list[tuple[str, str, float]]:
    """(rule_id, key, ts) of every alert the engine raises on ``events`` (shadow rules included;
    nothing fires after the last event: time stops where the input stops)."""
    from pingan.streams.engine import Engine

    process = Engine(ruleset).process
    return [(a["rule_id"], a["key"], a["ts"]) for e in events for a in process(e)]


def chain_alerts(ruleset: Any, events: Iterable[dict[str, Any]]) -> list[tuple[str, str, float]]:
    return build_chain(ruleset).run(events, [])


def check_chain(ruleset: Any, events: list[dict[str, Any]], label: str = "rules") -> int:
    """Assert that the baseline finds exactly the engine's alerts (as a multiset of (rule_id, key,
    ts)); raise AssertionError naming the first differences. Returns the number of alerts."""
    want = Counter(engine_alerts(ruleset, events))
    got = Counter(chain_alerts(ruleset, events))
    if want == got:
        return sum(want.values())
    only_engine, only_chain = want - got, got - want

    def first(c: Counter) -> str:
        items = sorted(c.elements(), key=lambda a: (a[2], a[0], a[1]))
        rules = Counter(a[0] for a in c.elements())
        return f"{len(items)} (by rule {dict(rules.most_common(5))}; first {items[:5]})"

    raise AssertionError(f"B3 baseline disagrees with the engine on {label} ({len(events)} events, "
                         f"{sum(want.values())} engine alerts): only the engine raised {first(only_engine)}; "
                         f"only the if-chain raised {first(only_chain)}")
