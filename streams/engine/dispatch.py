"""Per-topic dispatch: one generated function per input topic runs every rule on an event.

On most events most conditions are false, and a call per rule costs more than most checks. The
dispatcher inlines each rule's compiled condition expressions (the source
:mod:`pingan.streams.engine.compiler` generated from the validated tree, with its slots and
temporaries renamed per rule) and, under each, the rule type's own per-event code
(``RuleRuntime.emit``: key, grace, state update; alerts are built by a call, they are rare).
A rule type that emits no code keeps its handler, called when one of its conditions on this
topic holds (the handler checks its own condition again, so that test can only skip work; a
condition that raises there counts as true and the handler decides). Rules run in rule order, as
a plain loop over their handlers would.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Callable

from pingan.streams.engine.compiler import _BUILTINS, audit_source
from pingan.streams.engine.inline import ATTRS, LOCALS

Dispatch = Callable[[dict[str, Any], list], None]
_NAME = re.compile(r"\b_([kt])(\d+)\b")
_ERRORS = "(TypeError, ArithmeticError, ValueError, AttributeError, KeyError)"


def _expr(cond: Any, prefix: str, slots: dict[str, Any]) -> str | None:
    """The inlined expression of a compiled condition, or None when it cannot be inlined."""
    source = getattr(cond, "source", None)
    if source is None:
        return "True" if getattr(cond, "__name__", "") == "_always" else None
    lines = [line.strip() for line in source.splitlines()]
    # the compiler's shape: def cond(e): / try: / return <expr> / except (...): / return False
    if len(lines) != 5 or lines[1] != "try:" or not lines[2].startswith("return ") or lines[4] != "return False":
        return None
    expr = lines[2][len("return "):]
    for name, value in cond.__globals__.items():
        if re.fullmatch(r"_k\d+", name):
            slots[f"_k{prefix}_{name[2:]}"] = value
    return _NAME.sub(lambda m: f"_{m.group(1)}{prefix}_{m.group(2)}", expr)


def build(groups: list[tuple[Any, list[tuple[str, Any, Callable]]]], topic: str, clock: list[float]) -> Dispatch:
    """``groups``: per rule, in rule order, (its runtime, its sides on this topic in the order the
    rule sees them: (side name, compiled condition, handler)).

    A side whose rule type can ``emit`` its code gets it inlined under its condition (evaluated
    once: an exception makes it false, as in the compiled condition). Other rules keep the handler
    call under the test "one of the rule's conditions on this topic holds".

    Index: when several conditions start with ``field == constant`` (or ``field in [list]``) on the
    same field, the event's value of that field picks a function holding, in rule order, only the
    units that value can satisfy (and every unit without such a test): the other conditions are
    certainly false and are not evaluated.
    """
    slots: dict[str, Any] = {"_clock": clock, "str": str}
    units: list[tuple[list[str], tuple[str, frozenset, list[str]] | None]] = []
    for i, (rt, sides) in enumerate(groups):
        fragments = []
        for j, (side, cond, _handler) in enumerate(sides):
            expr = _expr(cond, f"{i}x{j}", slots)
            emitted = rt.emit(side, f"_r{i}s{j}") if expr is not None else None
            fragments.append(None if emitted is None else (expr, emitted))
        if sides and all(f is not None for f in fragments):
            for expr, (lines, own) in fragments:
                slots.update(own)
                body = ["    " + line for line in lines]
                code = ["try:", f"    c = {expr}", f"except {_ERRORS}:", "    c = False", "if c:", *body]
                # per field the index could use: its values, and the code where the index already
                # chose one of them (the rest of the test)
                index = {field: (values, ["try:", f"    c = {rest}", f"except {_ERRORS}:", "    c = False", "if c:",
                                          *body] if rest else ["if True:", *body])
                         for field, values, rest in _index_of(expr, slots)}
                units.append((code, index))
            continue
        exprs = [_expr(cond, f"{i}y{j}", slots) for j, (_, cond, _) in enumerate(sides)]
        calls = []
        for j, (_, _, handler) in enumerate(sides):
            name = f"_h{i}_{j}"
            slots[name] = handler
            calls += [f"a = {name}(e)", "if a is not None:", "    out.append(a)"]
        if not exprs or any(x is None for x in exprs):
            units.append((calls, {}))  # nothing to inline: the handlers decide
            continue
        test = " or ".join(f"({x})" for x in exprs)
        code = ["try:", f"    c = {test}", f"except {_ERRORS}:", "    c = True", "if c:"]
        units.append((code + ["    " + line for line in calls], {}))
    source = _compose(units, slots)
    _audit(source, slots)
    namespace: dict[str, Any] = {"__builtins__": {}, **_BUILTINS, **slots}
    exec(compile(source, f"<dispatch {topic}>", "exec"), namespace)  # noqa: S102 - from compiled conditions
    fn = namespace["dispatch"]
    table = slots["_IDX"]  # value -> function name; the functions, once compiled
    table.update({v: namespace[name] for v, name in table.items()})
    fn.source = source
    # for a caller that already has ts and the clock: the index field (or None), its table (value ->
    # function), and the function for any other value; each function takes (e, out, ts, now)
    fn.field, fn.table, fn.other = namespace["_FIELD"], table, namespace["_by_other"]
    return fn


MAX_INDEX_VALUES = 256


def _index_of(expr: str, slots: dict[str, Any]) -> list[tuple[str, frozenset, str]]:
    """Every (field, values, rest) such that ``expr`` is false unless the event's ``field`` holds
    one of ``values``: ``expr`` is ``e[field] == const`` or ``e[field] in <set>``, alone or as one
    operand of a top-level ``and``; ``rest`` is the expression without that test ("" when nothing
    is left). The first such test of a field counts."""
    whole = ast.parse(expr, mode="eval").body
    operands = whole.values if isinstance(whole, ast.BoolOp) and isinstance(whole.op, ast.And) else [whole]
    found: dict[str, tuple[str, frozenset, str]] = {}
    for i, node in enumerate(operands):
        test = _field_test(node, slots)
        if test is None or test[0] in found:
            continue
        if any(isinstance(n, ast.NamedExpr) for n in ast.walk(node)) and len(operands) > 1:
            continue  # the test assigns a temporary another operand may read
        rest = " and ".join(f"({ast.unparse(v)})" for j, v in enumerate(operands) if j != i)
        found[test[0]] = (test[0], test[1], rest)
    return list(found.values())


def _field_test(node: ast.expr, slots: dict[str, Any]) -> tuple[str, frozenset] | None:
    """(field, values) when ``node`` is ``e[field] == const`` or ``e[field] in <set>``."""
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
        return None
    left, op, right = node.left, node.ops[0], node.comparators[0]
    if not (isinstance(left, ast.Subscript) and isinstance(left.value, ast.Name) and left.value.id == "e"
            and isinstance(left.slice, ast.Constant) and isinstance(left.slice.value, str)):
        return None
    if isinstance(op, ast.Eq) and isinstance(right, ast.Constant):
        values: Any = (right.value,)
    elif isinstance(op, ast.In) and isinstance(right, ast.Name) and isinstance(slots.get(right.id), (set, frozenset)):
        values = slots[right.id]
    else:
        return None
    if not 0 < len(values) <= MAX_INDEX_VALUES:
        return None
    for v in values:  # plain hashable values whose dict lookup agrees with ==
        if v.__class__ not in (str, int, float) or v != v:
            return None
    return left.slice.value, frozenset(values)


def _compose(units: list[tuple[list[str], dict[str, tuple[frozenset, list[str]]]]], slots: dict[str, Any]) -> str:
    """The dispatcher's source: one function, or an index on the field most conditions test (each
    unit: its code, and per field it could be indexed on: (values, its code once the index chose a
    value))."""
    head = ["ts = e['ts']", "now = _clock[0]"]
    by_field: dict[str, int] = {}
    for _, index in units:
        for f in index:
            by_field[f] = by_field.get(f, 0) + 1
    field = max(by_field, key=lambda f: by_field[f], default=None)
    if field is None or by_field[field] < 2:
        body = [line for lines in _shared_keys(_shared_tests([lines for lines, _ in units])) for line in lines] or ["pass"]
        slots["_IDX"] = {}
        return ("def _by_other(e, out, ts, now):\n" + "".join(f"    {line}\n" for line in body)
                + "def dispatch(e, out):\n" + "".join(f"    {line}\n" for line in [*head, "_by_other(e, out, ts, now)"])
                + "_FIELD = None\n")
    values = sorted({v for _, index in units if field in index for v in index[field][0]},
                    key=lambda v: (v.__class__.__name__, v))
    functions = []

    def function(name: str, chosen: list[list[str]]) -> None:
        body = [line for lines in _shared_keys(_shared_tests(chosen)) for line in lines] or ["pass"]
        functions.append(f"def {name}(e, out, ts, now):\n" + "".join(f"    {line}\n" for line in body))

    table: dict[Any, str] = {}
    for n, value in enumerate(values):
        name = f"_by{n}"
        function(name, [index[field][1] if field in index else lines
                        for lines, index in units if field not in index or value in index[field][0]])
        table[value] = name
    function("_by_other", [lines for lines, index in units if field not in index])
    slots["_IDX"] = table
    dispatch = [*head, "try:", f"    f = _IDX.get(e.get({field!r}), _by_other)", "except TypeError:",
                "    f = _by_other", "f(e, out, ts, now)"]
    return ("".join(functions) + "def dispatch(e, out):\n" + "".join(f"    {line}\n" for line in dispatch)
            + f"_FIELD = {field!r}\n")


def _shared_tests(units: list[list[str]]) -> list[list[str]]:
    """Units of one function whose test is the same expression (two rules with the same condition,
    e.g. GRID-RISK-HIGH and the first step of FUSION-RISK-INTRUSION) evaluate it once: the first
    keeps its result in ``_c<n>``, the later ones read it. Units run one after the other at the top
    of the function and a condition only reads the event, so the first has always run."""
    seen: dict[str, str] = {}
    counts: dict[str, int] = {}
    for lines in units:
        if _is_test(lines):
            counts[lines[1]] = counts.get(lines[1], 0) + 1
    out = []
    for lines in units:
        if not _is_test(lines) or counts[lines[1]] < 2:
            out.append(lines)
        elif lines[1] in seen:
            out.append([f"c = {seen[lines[1]]}", *lines[4:]])
        else:
            name = seen[lines[1]] = f"_c{len(seen)}"
            out.append([*lines[:4], f"{name} = c", *lines[4:]])
    return out


_KEY_LINES = 5  # "if True:" and the four lines with_key writes for a single non-personal field


def _shared_keys(units: list[list[str]]) -> list[list[str]]:
    """Consecutive units that run unconditionally (``if True:``, their test made by the index) and
    take the same single-field key (GRID-OVERDUE-YELLOW and -RED on ``report_id``) share one key
    extraction: the second's body goes under the first's. Rule bodies never assign ``k``."""
    out: list[list[str]] = []
    for lines in units:
        if (out and lines[:1] == ["if True:"] and len(lines) > _KEY_LINES and _single_key(lines)
                and out[-1][:_KEY_LINES] == lines[:_KEY_LINES]):
            out[-1] = out[-1] + lines[_KEY_LINES:]
        else:
            out.append(lines)
    return out


def _single_key(lines: list[str]) -> bool:
    return (lines[1].startswith("    k = e.get(") and lines[2] == '    if k is not None and k != "":'
            and lines[3] == "        if k.__class__ is not str:" and lines[4] == "            k = str(k)")


def _is_test(lines: list[str]) -> bool:
    """A unit that starts ``try: / c = <expr> / except ...: / c = False``."""
    return len(lines) > 4 and lines[0] == "try:" and lines[1].startswith("    c = ") and lines[3] == "    c = False"


def _audit(source: str, slots: dict[str, Any]) -> None:
    """The composed source uses only the conditions' own names, the handler slots and its locals."""
    shared = set(re.findall(r"\b_c\d+\b", source))  # the results _shared_tests keeps
    audit_source(source, {"e", "out", "a", "c", "f", "ts", "now", "_FIELD", *LOCALS, *shared, *slots, *_BUILTINS},
                 {"lower", "upper", "startswith", "endswith", "search", *ATTRS}, "dispatch code")
