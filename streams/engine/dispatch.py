"""Per-topic dispatch: one generated function per input topic runs every rule's handlers on an event.

Every rule handler starts with ``if not cond(event): return None``, and on most events most
conditions are false. The dispatcher inlines each rule's compiled condition expressions (the
source :mod:`pingan.streams.engine.compiler` generated from the validated tree, with its slots and
temporaries renamed per rule) and calls the rule's handlers only when one of its conditions on
this topic holds; the handler then checks its own condition again, so the dispatcher can only
skip work, never change a result. A condition that raises inside the dispatcher counts as true
(the handler decides). Handlers are called in rule order, as a plain loop over them would.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Callable

from pingan.streams.engine.compiler import _BUILTINS

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


def build(groups: list[tuple[list[Any], list[Callable]]], topic: str) -> Dispatch:
    """``groups``: per rule, in order, (its conditions on this topic, its handlers on this topic)."""
    slots: dict[str, Any] = {}
    body: list[str] = []
    for i, (conds, handlers) in enumerate(groups):
        exprs = [_expr(c, f"{i}x{j}", slots) for j, c in enumerate(conds)]
        names = []
        for j, handler in enumerate(handlers):
            name = f"_h{i}_{j}"
            slots[name] = handler
            names.append(name)
        calls = []
        for name in names:
            calls += [f"a = {name}(e)", "if a is not None:", "    out.append(a)"]
        if not exprs or any(x is None for x in exprs):
            body += calls  # nothing to inline: the handlers decide
            continue
        test = " or ".join(f"({x})" for x in exprs)
        body += ["try:", f"    c = {test}", f"except {_ERRORS}:", "    c = True", "if c:"]
        body += ["    " + line for line in calls]
    source = "def dispatch(e, out):\n" + "".join(f"    {line}\n" for line in body or ["pass"])
    _audit(source, slots)
    namespace: dict[str, Any] = {"__builtins__": {}, **_BUILTINS, **slots}
    exec(compile(source, f"<dispatch {topic}>", "exec"), namespace)  # noqa: S102 - from compiled conditions
    fn = namespace["dispatch"]
    fn.source = source
    return fn


def _audit(source: str, slots: dict[str, Any]) -> None:
    """The composed source uses only the conditions' own names, the handler slots and its locals."""
    allowed = {"e", "out", "a", "c", "None", "True", "False", *slots, *_BUILTINS}
    for n in ast.walk(ast.parse(source)):
        if isinstance(n, ast.Name) and n.id not in allowed and not n.id.startswith("_t"):
            raise AssertionError(f"dispatch code uses unexpected name {n.id!r}")
        if isinstance(n, ast.Attribute) and n.attr not in {"lower", "upper", "startswith", "endswith", "search", "append"}:
            raise AssertionError(f"dispatch code uses unexpected attribute {n.attr!r}")
        if isinstance(n, (ast.Import, ast.ImportFrom, ast.Lambda, ast.Global, ast.Nonlocal)):
            raise AssertionError("dispatch code has a forbidden construct")
