"""Condition tree -> one fast Python function, generated once at load.

The source is generated from the *validated* tree (never from rule text): field names are checked
identifiers written as ``repr`` string keys, constants are written with ``repr`` or passed in as
named slots (sets, regexes, time helpers). The generated source is parsed again and checked to
contain only the names and attributes the generator itself uses, then compiled with empty
builtins.

Null semantics: a comparison that involves a missing (null) field is false (``x != "a"`` included);
test for missing values with ``x is null``. Arithmetic on a missing field makes its comparison
false. ``not`` inverts the result of a comparison (so ``not (x > 1)`` is true when x is null).
"""

from __future__ import annotations

import ast
import math
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

from pingan.streams.engine.language import compile_regex
from pingan.streams.engine.nodes import (
    Arith,
    BoolOp,
    Compare,
    Const,
    ConstSet,
    Field,
    Func,
    IsNull,
    Neg,
    Node,
    Not,
    Regex,
    TimeIn,
    walk,
)

Condition = Callable[[dict[str, Any]], Any]
_ALLOWED_ATTRS = {"lower", "upper", "startswith", "endswith", "search"}
_BUILTINS = {
    "len": len, "abs": abs, "TypeError": TypeError, "ArithmeticError": ArithmeticError,
    "ValueError": ValueError, "AttributeError": AttributeError, "KeyError": KeyError,
}


def utc_offset(tz_name: str) -> Callable[[float], float]:
    """ts -> the UTC offset of ``tz_name`` at ts, in seconds (cached per hour of ts)."""
    tz = ZoneInfo(tz_name)
    cache: dict[int, float] = {}

    def offset_at(ts: float) -> float:
        hour = int(ts // 3600)
        offset = cache.get(hour)
        if offset is None:
            if len(cache) > 50_000:
                cache.clear()
            offset = cache[hour] = datetime.fromtimestamp(hour * 3600, tz).utcoffset().total_seconds()
        return offset

    return offset_at


def time_of_day(tz_name: str) -> Callable[[float], float]:
    """ts -> seconds since local midnight in ``tz_name``."""
    offset_at = utc_offset(tz_name)

    def seconds_of_day(ts: float) -> float:
        return (ts + offset_at(ts)) % 86400.0

    return seconds_of_day


def fixed_offset(tz_name: str) -> float | None:
    """The zone's UTC offset in seconds if it has not changed since 1992 (sampled to 2100), else None.

    Asia/Shanghai has been +08:00 without daylight saving since 1991, so its time of day is one
    addition and one modulo, inlined in the generated code.
    """
    tz = ZoneInfo(tz_name)
    offsets = {
        datetime.fromtimestamp(ts, tz).utcoffset().total_seconds()
        for ts in range(694224000, 4102444800, 86400 * 7)  # 1992-01-01 .. 2100-01-01, weekly
    }
    return offsets.pop() if len(offsets) == 1 else None


def local_day(tz_name: str) -> Callable[[float], int]:
    """ts -> number of the local calendar day in ``tz_name`` (days since 1970-01-01 local)."""
    offset_at = utc_offset(tz_name)

    def day(ts: float) -> int:
        return int((ts + offset_at(ts)) // 86400.0)

    return day


_FIXED: dict[str, float | None] = {}


def _fixed_offset(tz_name: str) -> float | None:
    if tz_name not in _FIXED:
        _FIXED[tz_name] = fixed_offset(tz_name)
    return _FIXED[tz_name]


class _Gen:
    def __init__(self) -> None:
        self.slots: dict[str, Any] = {}
        self.temps = 0

    def slot(self, value: Any) -> str:
        name = f"_k{len(self.slots)}"
        self.slots[name] = value
        return name

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def const(self, value: Any) -> str:
        if isinstance(value, float) and not math.isfinite(value):
            return self.slot(value)
        if value is None or isinstance(value, (bool, int, float, str)):
            return repr(value)
        raise TypeError(f"unexpected constant {value!r}")

    def expr(self, node: Node, bound: dict[str, str] | None = None) -> str:
        """Python source of ``node``; ``bound`` maps field names to temps already checked non-null."""
        bound = bound or {}
        if isinstance(node, Const):
            return self.const(node.value)
        if isinstance(node, Field):
            return bound.get(node.name) or f"e[{node.name!r}]"
        if isinstance(node, ConstSet):
            return self.slot(frozenset(node.values))
        if isinstance(node, BoolOp):
            return "(" + f" {node.op} ".join(self.expr(i, bound) for i in node.items) + ")"
        if isinstance(node, Not):
            return f"(not {self.expr(node.operand, bound)})"
        if isinstance(node, IsNull):
            return f"({self.expr(node.operand, bound)} is {'not ' if node.negate else ''}None)"
        if isinstance(node, Compare):
            return self.compare(node, bound)
        if isinstance(node, Arith):
            return f"({self.expr(node.left, bound)} {node.op} {self.expr(node.right, bound)})"
        if isinstance(node, Neg):
            return f"(-{self.expr(node.operand, bound)})"
        if isinstance(node, Func):
            arg = self.expr(node.args[0], bound)
            if node.name in ("len", "abs"):
                return f"{node.name}({arg})"
            if node.name in ("lower", "upper"):
                return f"{arg}.{node.name}()"
            return f"{arg}.{node.name}({self.expr(node.args[1], bound)})"
        if isinstance(node, Regex):
            search = self.slot(compile_regex(node.pattern).search)
            t = self.temp()
            return f"(({t} := {self.expr(node.operand, bound)}) is not None and {search}({t}) is not None)"
        if isinstance(node, TimeIn):
            offset = _fixed_offset(node.tz)
            if offset is not None:  # events before 1992 are outside the fixed-offset range
                seconds = f"(e['ts'] + {offset!r}) % 86400.0 if e['ts'] >= 694224000 else {self.slot(time_of_day(node.tz))}(e['ts'])"
            else:
                seconds = f"{self.slot(time_of_day(node.tz))}(e['ts'])"
            t = self.temp()
            if node.start_s < node.end_s:
                return f"({node.start_s} <= ({seconds}) < {node.end_s})"
            return f"(({t} := ({seconds})) >= {node.start_s} or {t} < {node.end_s})"
        raise TypeError(f"cannot compile {type(node).__name__}")

    def compare(self, node: Compare, bound: dict[str, str]) -> str:
        op = node.op
        # nullable fields inside the operands (not under an explicit null-aware node)
        nullable = [n.name for n in _operand_fields(node) if n.nullable and n.name not in bound]
        simple_eq = (op == "==" and (
            (isinstance(node.left, Field) and isinstance(node.right, Const))
            or (isinstance(node.right, Field) and isinstance(node.left, Const))
        )) or (op == "in" and isinstance(node.left, Field) and isinstance(node.right, ConstSet))
        if not nullable or simple_eq:
            return f"({self.expr(node.left, bound)} {op} {self.expr(node.right, bound)})"
        inner = dict(bound)
        guards = []
        for name in dict.fromkeys(nullable):
            t = self.temp()
            inner[name] = t
            guards.append(f"({t} := e[{name!r}]) is not None")
        body = f"{self.expr(node.left, inner)} {op} {self.expr(node.right, inner)}"
        return "(" + " and ".join(guards + [body]) + ")"


def _operand_fields(node: Compare):
    for side in (node.left, node.right):
        stack = [side]
        while stack:
            n = stack.pop()
            if isinstance(n, Field):
                yield n
            elif isinstance(n, (IsNull, Regex, TimeIn)):
                continue
            else:
                for name in n.__slots__:
                    value = getattr(n, name)
                    if isinstance(value, Node):
                        stack.append(value)
                    elif isinstance(value, tuple):
                        stack.extend(v for v in value if isinstance(v, Node))


def generate(node: Node) -> tuple[str, dict[str, Any]]:
    """The source of ``def cond(e)`` and the slots it needs."""
    gen = _Gen()
    body = gen.expr(node)
    source = (
        "def cond(e):\n"
        "    try:\n"
        f"        return {body}\n"
        "    except (TypeError, ArithmeticError, ValueError, AttributeError, KeyError):\n"
        "        return False\n"
    )
    return source, gen.slots


def audit_source(source: str, names: set[str], attrs: set[str] | frozenset[str], what: str = "generated code") -> None:
    """Defence in depth for every source the engine generates: it uses only ``names`` (plus its own
    ``_t`` temporaries and the functions it defines), only ``attrs``, and no import, lambda,
    global, nonlocal or class."""
    tree = ast.parse(source)
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    allowed = {"None", "True", "False", *names, *defined}
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and n.id not in allowed and not n.id.startswith("_t"):
            raise AssertionError(f"{what} uses unexpected name {n.id!r}")
        if isinstance(n, ast.Attribute) and n.attr not in attrs:
            raise AssertionError(f"{what} uses unexpected attribute {n.attr!r}")
        if isinstance(n, (ast.Import, ast.ImportFrom, ast.Lambda, ast.Global, ast.Nonlocal, ast.ClassDef)):
            raise AssertionError(f"{what} has a forbidden construct")


def _audit(source: str, slots: dict[str, Any]) -> None:
    audit_source(source, {"e", "cond", *slots, *_BUILTINS}, _ALLOWED_ATTRS)


def compile_condition(node: Node, name: str = "condition") -> Condition:
    """Compile a validated tree into ``cond(event) -> truthy``; done once per rule at load."""
    if isinstance(node, Const) and node.value is True:
        return _always
    source, slots = generate(node)
    _audit(source, slots)
    namespace: dict[str, Any] = {"__builtins__": {}, **_BUILTINS, **slots}
    exec(compile(source, f"<{name}>", "exec"), namespace)  # noqa: S102 - generated from a validated tree
    cond = namespace["cond"]
    cond.source = source  # type: ignore[attr-defined]
    return cond


def _always(event: dict[str, Any]) -> bool:
    return True


def uses_fields(node: Node) -> set[str]:
    return {n.name for n in walk(node) if isinstance(n, Field)}
