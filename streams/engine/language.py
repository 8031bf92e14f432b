"""The condition language: text -> validated, typed condition tree (``nodes``).

Conditions read like Python expressions over the event's fields::

    kind == "face_match" and confidence >= 0.85
    kind in ["stranger", "unknown_vehicle"] and night
    person_id in list("wanted") and not matches(camera_id, "^CAM-532301-")

The text is parsed with Python's own parser (``ast.parse``, which never runs anything) and then
every node is checked against a small whitelist; anything else (attribute access, dunder names,
imports, lambdas, calls outside the whitelist, big powers, regexes RE2 refuses) is a problem
reported in plain words. Names are event fields of the rule's stream, macros, or ``true``,
``false``, ``null``. Macros are expanded inline here, so the compiled code never looks them up.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import re2

from pingan.streams.engine.fields import FieldInfo
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
)

MAX_DEPTH = 60
MAX_NODES = 600
MAX_POWER = 10
MAX_INT = 10**18
MAX_REGEX = 1000
RE2_MAX_MEM = 8 << 20

CONSTANT_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
#: name -> (number of arguments, description) of the functions a condition may call.
FUNCTIONS = {
    "time_in": ("2 or 3", 'time_in("22:00", "05:00") - local time of day of ts in [start, end)'),
    "matches": ("2", 'matches(field, "regex") - RE2 regular expression search'),
    "list": ("1", 'list("name") - a named list from rules/lists/, only after `in`'),
    "len": ("1", "len(text)"),
    "lower": ("1", "lower(text)"),
    "upper": ("1", "upper(text)"),
    "abs": ("1", "abs(number)"),
    "startswith": ("2", 'startswith(text, "prefix")'),
    "endswith": ("2", 'endswith(text, "suffix")'),
}
_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
        ast.In: "in", ast.NotIn: "not in"}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
          ast.Pow: "**"}
_FORBIDDEN = {
    ast.Attribute: "attribute access (x.y) is not allowed",
    ast.Subscript: "indexing (x[...]) is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.IfExp: "conditional expressions (a if b else c) are not allowed; use and/or",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.Starred: "* unpacking is not allowed",
    ast.Dict: "dictionaries are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Slice: "slices are not allowed",
}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


@dataclass
class Problem:
    line: int  # 1-based line within the condition text
    message: str


@dataclass
class Scope:
    """What names mean for one rule side: the stream's fields, the macros, the named lists."""

    stream: str
    fields: dict[str, FieldInfo]
    macros: dict[str, str] = field(default_factory=dict)
    lists: dict[str, frozenset[str]] = field(default_factory=dict)


class _Err(Exception):
    """Internal: abandons the current subtree after a problem was recorded."""


def parse_condition(text: str, scope: Scope) -> tuple[Node | None, list[Problem]]:
    """Parse and check ``text``; returns the tree (None when there are problems) and the problems."""
    checker = _Checker(scope)
    node = checker.parse(text, macro=None)
    if checker.problems:
        return None, checker.problems
    return node, []


def _parse_python(text: str) -> tuple[ast.expr | None, Problem | None]:
    stripped = text.strip()
    if not stripped:
        return None, Problem(1, "the condition is empty")
    try:
        tree = ast.parse("(\n" + text + "\n)", mode="eval")
    except SyntaxError as exc:
        try:
            stmt = ast.parse(stripped, mode="exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            stmt = None
        if stmt is not None and stmt.body and not isinstance(stmt.body[0], ast.Expr):
            kind = type(stmt.body[0]).__name__.lower()
            return None, Problem(1, f"a condition is one expression; statements ({kind}) are not allowed")
        line = max(1, (exc.lineno or 2) - 1)
        return None, Problem(line, f"syntax error: {exc.msg}")
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, Problem(1, f"cannot parse the condition: {type(exc).__name__}: {exc}")
    return tree.body, None


class _Checker:
    def __init__(self, scope: Scope):
        self.scope = scope
        self.problems: list[Problem] = []
        self.expanding: list[str] = []
        self.nodes = 0
        self.line_base = 0  # lines are reported at the use site of a macro

    def fail(self, node: ast.AST | None, message: str) -> _Err:
        line = getattr(node, "lineno", 2) - 1 if node is not None else 1
        if self.expanding:
            message = f"in macro {self.expanding[-1]!r}: {message}"
            line = self.line_base
        self.problems.append(Problem(max(1, line), message))
        return _Err()

    def parse(self, text: str, macro: str | None) -> Node | None:
        tree, problem = _parse_python(text)
        if problem is not None:
            if self.expanding:
                problem = Problem(self.line_base, f"in macro {self.expanding[-1]!r}: {problem.message}")
            self.problems.append(problem)
            return None
        try:
            node, kind = self.visit(tree, 0)
        except _Err:
            return None
        if kind not in ("bool", "any"):
            self.fail(tree, f"the condition must be true or false, not a {_TYPE_WORDS[kind]}; add a comparison")
            return None
        return node

    # -- visitors ---------------------------------------------------------------------------------
    def visit(self, n: ast.AST, depth: int) -> tuple[Node, str]:
        self.nodes += 1
        if depth > MAX_DEPTH:
            raise self.fail(n, f"the condition is nested too deeply (more than {MAX_DEPTH} levels)")
        if self.nodes > MAX_NODES:
            raise self.fail(n, f"the condition is too long (more than {MAX_NODES} parts); split it into macros")
        for kind, message in _FORBIDDEN.items():
            if isinstance(n, kind):
                if isinstance(n, ast.Attribute) and n.attr.startswith("__"):
                    message = f"dunder attribute {n.attr!r} is not allowed (no attribute access at all)"
                raise self.fail(n, message)
        method = getattr(self, "visit_" + type(n).__name__, None)
        if method is None:
            raise self.fail(n, f"{type(n).__name__} is not allowed in a condition")
        return method(n, depth + 1)

    def visit_BoolOp(self, n: ast.BoolOp, depth: int) -> tuple[Node, str]:
        items = []
        failed = False
        for value in n.values:
            try:
                node, kind = self.visit(value, depth)
            except _Err:
                failed = True
                continue
            self.expect_bool(value, kind)
            items.append(node)
        if failed:
            raise _Err()
        return BoolOp("and" if isinstance(n.op, ast.And) else "or", tuple(items)), "bool"

    def visit_UnaryOp(self, n: ast.UnaryOp, depth: int) -> tuple[Node, str]:
        node, kind = self.visit(n.operand, depth)
        if isinstance(n.op, ast.Not):
            self.expect_bool(n.operand, kind)
            return Not(node), "bool"
        if isinstance(n.op, (ast.USub, ast.UAdd)):
            self.expect(n.operand, kind, "num", "a sign")
            if isinstance(n.op, ast.UAdd):
                return node, "num"
            if isinstance(node, Const):
                return Const(-node.value), "num"
            return Neg(node), "num"
        raise self.fail(n, "the ~ operator is not allowed")

    def visit_BinOp(self, n: ast.BinOp, depth: int) -> tuple[Node, str]:
        op = _ARITH.get(type(n.op))
        if op is None:
            raise self.fail(n, "bitwise operators (& | ^ << >> @) are not allowed; use and/or")
        left, lk = self.visit(n.left, depth)
        right, rk = self.visit(n.right, depth)
        self.expect(n.left, lk, "num", f"'{op}'")
        self.expect(n.right, rk, "num", f"'{op}'")
        if op == "**":
            if not (isinstance(right, Const) and isinstance(right.value, (int, float))):
                raise self.fail(n, "the exponent of ** must be a constant number")
            if abs(right.value) > MAX_POWER:
                raise self.fail(n, f"power too large: exponent {right.value} (at most {MAX_POWER})")
            if any(isinstance(x, ast.BinOp) and isinstance(x.op, ast.Pow) for x in ast.walk(n.left)):
                raise self.fail(n, "nested powers (a ** b ** c) are not allowed")
        return Arith(op, left, right), "num"

    def visit_Compare(self, n: ast.Compare, depth: int) -> tuple[Node, str]:
        parts = []
        left_ast = n.left
        left, lk = self.visit(left_ast, depth)
        for op_ast, right_ast in zip(n.ops, n.comparators):
            if isinstance(op_ast, (ast.Is, ast.IsNot)):
                right, rk = self.visit(right_ast, depth)
                if not (isinstance(right, Const) and right.value is None):
                    raise self.fail(n, "'is' only tests for null (x is null); use == to compare values")
                parts.append(IsNull(left, isinstance(op_ast, ast.IsNot)))
            else:
                op = _CMP[type(op_ast)]
                if op in ("in", "not in"):
                    right, rk = self.visit_members(right_ast, depth)
                else:
                    right, rk = self.visit(right_ast, depth)
                parts.append(self.compare(n, op, left, lk, right, rk))
            left, lk, left_ast = right, rk, right_ast
        return (parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))), "bool"

    def compare(self, n: ast.AST, op: str, left: Node, lk: str, right: Node, rk: str) -> Node:
        if op in ("==", "!=") and (isinstance(right, Const) and right.value is None):
            return IsNull(left, op == "!=")
        if op in ("==", "!=") and (isinstance(left, Const) and left.value is None):
            return IsNull(right, op == "!=")
        if op in ("in", "not in"):
            if rk == "set":
                self.check_enum(n, left, right.values)
                kinds = {_type_of_value(v) for v in right.values if v is not None}
                if lk != "any" and kinds - {lk} and not (lk == "num" and kinds <= {"num"}):
                    raise self.fail(n, f"the list holds {_words(kinds)} but the left side is a {_TYPE_WORDS[lk]}")
            else:
                self.expect(n, lk, "str", "'in' (text containment)")
            return Compare(op, left, right)
        if "null" in (lk, rk):
            raise self.fail(n, "compare with null only with == null / != null (or is null)")
        if lk != "any" and rk != "any" and lk != rk:
            raise self.fail(n, f"cannot compare a {_TYPE_WORDS[lk]} with a {_TYPE_WORDS[rk]}")
        if op not in ("==", "!=") and "bool" in (lk, rk):
            raise self.fail(n, f"'{op}' does not apply to true/false values")
        if isinstance(right, Const):
            self.check_enum(n, left, (right.value,))
        if isinstance(left, Const):
            self.check_enum(n, right, (left.value,))
        return Compare(op, left, right)

    def check_enum(self, n: ast.AST, side: Node, values: tuple) -> None:
        if not isinstance(side, Field):
            return
        info = self.scope.fields[side.name]
        if info.enum is None:
            return
        for value in values:
            if value is not None and value not in info.enum:
                hint = difflib.get_close_matches(str(value), sorted(info.enum), n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise self.fail(
                    n, f"{value!r} is never a value of {side.name}{extra}; values: {', '.join(sorted(info.enum))}"
                )

    def visit_members(self, n: ast.AST, depth: int) -> tuple[Node, str]:
        """Right side of ``in``: an inline list, a named list, or a text expression."""
        if isinstance(n, (ast.List, ast.Tuple, ast.Set)):
            values = []
            for item in n.elts:
                node, kind = self.visit(item, depth)
                if not isinstance(node, Const):
                    raise self.fail(item, "a list after 'in' may hold only constants")
                values.append(node.value)
            if len(values) > 10_000:
                raise self.fail(n, "inline lists hold at most 10,000 items; use a named list file")
            return ConstSet(_sorted(values)), "set"
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "list":
            if len(n.args) != 1 or n.keywords or not _is_str_const(n.args[0]):
                raise self.fail(n, 'list() takes one list name in quotes, e.g. list("wanted")')
            name = n.args[0].value
            values = self.scope.lists.get(name)
            if values is None:
                known = ", ".join(sorted(self.scope.lists)) or "none"
                raise self.fail(n, f"unknown list {name!r} (lists in rules/lists/: {known})")
            return ConstSet(_sorted(values), name), "set"
        return self.visit(n, depth)

    def visit_Name(self, n: ast.Name, depth: int) -> tuple[Node, str]:
        name = n.id
        if name in CONSTANT_NAMES:
            value = CONSTANT_NAMES[name]
            return Const(value), ("null" if value is None else "bool")
        if name.startswith("_"):
            what = "dunder names" if name.startswith("__") else "names starting with '_'"
            raise self.fail(n, f"{what} are not allowed: {name!r}")
        info = self.scope.fields.get(name)
        if info is not None:
            return Field(name, info.nullable), info.type
        if name in self.scope.macros:
            return self.expand(n, name, depth)
        if name in FUNCTIONS:
            raise self.fail(n, f"{name} is a function; call it like {FUNCTIONS[name][1].split(' - ')[0]}")
        options = sorted(self.scope.fields) + sorted(self.scope.macros)
        hint = difflib.get_close_matches(name, options, n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise self.fail(n, f"unknown name {name!r}: not a field of {self.scope.stream} events nor a macro{extra}")

    def expand(self, n: ast.Name, name: str, depth: int) -> tuple[Node, str]:
        if name in self.expanding:
            chain = " -> ".join(self.expanding + [name])
            raise self.fail(n, f"macro cycle: {chain}")
        if not self.expanding:
            self.line_base = max(1, n.lineno - 1)
        self.expanding.append(name)
        try:
            tree, problem = _parse_python(self.scope.macros[name])
            if problem is not None:
                raise self.fail(None, problem.message)
            node, kind = self.visit(tree, depth)
        finally:
            self.expanding.pop()
        return node, kind

    def visit_Constant(self, n: ast.Constant, depth: int) -> tuple[Node, str]:
        value = n.value
        if isinstance(value, bool):
            return Const(value), "bool"
        if isinstance(value, int):
            if abs(value) > MAX_INT:
                raise self.fail(n, f"number too large (more than {len(str(MAX_INT))} digits)")
            return Const(value), "num"
        if isinstance(value, float):
            return Const(value), "num"
        if isinstance(value, str):
            if len(value) > 1000:
                raise self.fail(n, "text constants hold at most 1,000 characters")
            return Const(value), "str"
        if value is None:
            return Const(None), "null"
        raise self.fail(n, f"{type(value).__name__} constants are not allowed")

    def visit_Call(self, n: ast.Call, depth: int) -> tuple[Node, str]:
        if not isinstance(n.func, ast.Name):
            if isinstance(n.func, ast.Attribute):
                raise self.fail(n, f"method calls (.{n.func.attr}()) are not allowed; attribute access is not allowed")
            self.visit(n.func, depth)  # names what is wrong (a lambda, ...) when it can
            raise self.fail(n, "only named functions can be called")
        name = n.func.id
        if name not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise self.fail(n, f"function {name!r} is not allowed; allowed functions: {allowed}")
        if n.keywords:
            raise self.fail(n, f"{name}() takes no keyword arguments")
        if any(isinstance(a, ast.Starred) for a in n.args):
            raise self.fail(n, "* unpacking is not allowed")
        args = n.args
        if name == "list":
            raise self.fail(n, 'list("name") may only follow `in`, e.g. person_id in list("wanted")')
        if name == "time_in":
            return self.time_in(n, args)
        if name == "matches":
            return self.matches(n, args, depth)
        expected = 2 if name in ("startswith", "endswith") else 1
        if len(args) != expected:
            raise self.fail(n, f"{name}() takes {expected} argument(s): {FUNCTIONS[name][1]}")
        node, kind = self.visit(args[0], depth)
        if name == "abs":
            self.expect(args[0], kind, "num", "abs()")
            return Func(name, (node,)), "num"
        self.expect(args[0], kind, "str", f"{name}()")
        if name == "len":
            return Func(name, (node,)), "num"
        if name in ("lower", "upper"):
            return Func(name, (node,)), "str"
        if not _is_str_const(args[1]):
            raise self.fail(n, f"the second argument of {name}() must be text in quotes")
        return Func(name, (node, Const(args[1].value))), "bool"

    def time_in(self, n: ast.Call, args: list[ast.expr]) -> tuple[Node, str]:
        if len(args) not in (2, 3) or not all(_is_str_const(a) for a in args):
            raise self.fail(n, 'time_in() takes quoted times and an optional time zone: time_in("22:00", "05:00")')
        bounds = []
        for a in args[:2]:
            m = _TIME.match(a.value)
            if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59 or int(m.group(3) or 0) > 59:
                raise self.fail(a, f"{a.value!r} is not a time of day like \"22:00\" or \"05:00:00\"")
            seconds = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3) or 0)
            if seconds > 86400:
                raise self.fail(a, f"{a.value!r} is after 24:00")
            bounds.append(seconds % 86400 if seconds == 86400 and a is args[0] else seconds)
        tz = args[2].value if len(args) == 3 else "Asia/Shanghai"
        try:
            ZoneInfo(tz)
        except Exception:
            raise self.fail(args[2], f"unknown time zone {tz!r} (use a name like Asia/Shanghai)") from None
        if bounds[0] == bounds[1]:
            raise self.fail(n, "time_in() start and end are equal: the range would be empty")
        return TimeIn(bounds[0], bounds[1], tz), "bool"

    def matches(self, n: ast.Call, args: list[ast.expr], depth: int) -> tuple[Node, str]:
        if len(args) != 2 or not _is_str_const(args[1]):
            raise self.fail(n, 'matches() takes a field and a pattern in quotes: matches(camera_id, "^CAM-5323")')
        node, kind = self.visit(args[0], depth)
        self.expect(args[0], kind, "str", "matches()")
        pattern = args[1].value
        problem = check_regex(pattern)
        if problem:
            raise self.fail(args[1], problem)
        return Regex(node, pattern), "bool"

    # -- helpers ----------------------------------------------------------------------------------
    def expect(self, n: ast.AST, kind: str, want: str, where: str) -> None:
        if kind not in (want, "any"):
            raise self.fail(n, f"{where} needs a {_TYPE_WORDS[want]}, got a {_TYPE_WORDS[kind]}")

    def expect_bool(self, n: ast.AST, kind: str) -> None:
        if kind not in ("bool", "any"):
            raise self.fail(n, f"and/or/not need true/false values, got a {_TYPE_WORDS[kind]}; add a comparison")


def check_regex(pattern: str) -> str | None:
    """A plain-words problem when RE2 refuses ``pattern`` (backreferences, lookaround, too big)."""
    if len(pattern) > MAX_REGEX:
        return f"regular expression too long (more than {MAX_REGEX} characters)"
    options = re2.Options()
    options.max_mem = RE2_MAX_MEM
    options.log_errors = False
    try:
        re2.compile(pattern, options)
    except Exception as exc:  # re2.error and friends
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        return (
            f"regular expression {pattern!r} is refused by RE2 (linear-time regexes only; no backreferences "
            f"or lookaround): {reason}"
        )
    return None


def compile_regex(pattern: str):
    options = re2.Options()
    options.max_mem = RE2_MAX_MEM
    options.log_errors = False
    return re2.compile(pattern, options)


_TYPE_WORDS = {"num": "number", "str": "text", "bool": "true/false value", "null": "null", "set": "list", "any": "value"}


def _words(kinds: set[str]) -> str:
    return " and ".join(_TYPE_WORDS[k] for k in sorted(kinds)) or "nothing"


def _type_of_value(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "num"
    if value is None:
        return "null"
    return "str"


def _sorted(values) -> tuple:
    return tuple(sorted(set(values), key=lambda v: (type(v).__name__, v if v is not None else 0)))


def _is_str_const(n: ast.AST) -> bool:
    return isinstance(n, ast.Constant) and isinstance(n.value, str)
