"""The validated condition tree (what the parser produces and the compiler consumes).

Every node is immutable; ``repr`` is deterministic, so it feeds the rule version digest.
"""

from __future__ import annotations

from dataclasses import dataclass


class Node:
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Const(Node):
    value: object  # str, int, float, bool or None


@dataclass(frozen=True, slots=True)
class Field(Node):
    name: str
    nullable: bool


@dataclass(frozen=True, slots=True)
class ConstSet(Node):
    """An inline list or a named list (``list("wanted")``); ``values`` sorted for a stable repr."""

    values: tuple
    label: str = ""


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class BoolOp(Node):
    op: str  # "and" | "or"
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Compare(Node):
    op: str  # == != < <= > >= in "not in"
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class IsNull(Node):
    operand: Node
    negate: bool  # True: "is not null"


@dataclass(frozen=True, slots=True)
class Arith(Node):
    op: str  # + - * / // % **
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Neg(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class Func(Node):
    """A whitelisted pure function: len, lower, upper, abs, startswith, endswith."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Regex(Node):
    operand: Node
    pattern: str


@dataclass(frozen=True, slots=True)
class TimeIn(Node):
    """Local time of day of the event's ts in [start, end) (wrapping midnight when start > end)."""

    start_s: int
    end_s: int
    tz: str


def walk(node: Node):
    """Yield ``node`` and all its descendants."""
    yield node
    for name in node.__slots__:
        value = getattr(node, name)
        if isinstance(value, Node):
            yield from walk(value)
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, Node):
                    yield from walk(item)
