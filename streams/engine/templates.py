"""Alert title and label templates: ``"{village_name}夜间陌生人{count}次"``.

Templates are split once at load into literal parts and placeholder names; rendering only
concatenates, so there is no attribute or index lookup (``{x.__class__}`` is refused at load) and no
padding bombs (format specs are limited to precision, thousands separator and percent).
"""

from __future__ import annotations

import re
import string
from decimal import Decimal
from typing import Any

from pingan.schemas.privacy import mask
from pingan.streams.engine.fields import CLEAR_PERSONAL

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_SPEC = re.compile(r"^,?(\.\d)?[f%d]?$")
MISSING = "-"


class Template:
    """A compiled template; ``names`` are the placeholders it uses."""

    __slots__ = ("parts", "names", "text", "_steps")

    def __init__(self, parts: tuple[tuple[str, str | None, str], ...], text: str):
        self.parts = parts
        self.names = tuple(dict.fromkeys(name for _, name, _ in parts if name))
        self.text = text
        # (literal, name, spec, plain): a plain placeholder takes a str value as it is
        self._steps = tuple((literal, name, spec, not spec and name not in CLEAR_PERSONAL)
                            for literal, name, spec in parts)

    def render(self, values: dict[str, Any]) -> str:
        out = []
        append = out.append
        for literal, name, spec, as_is in self._steps:
            if literal:
                append(literal)
            if name is not None:
                value = values.get(name)
                append(value if as_is and value.__class__ is str else render_value(name, value, spec))
        return "".join(out)


def render_value(name: str, value: Any, spec: str = "") -> str:
    if value is None:
        return MISSING
    if name in CLEAR_PERSONAL and isinstance(value, str):
        return mask(value) or MISSING
    if isinstance(value, Decimal):
        value = float(value)
    if spec:
        try:
            return format(value, spec)
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_template(text: str, allowed: set[str]) -> tuple[Template | None, list[str]]:
    """Split ``text``; the problems name unknown placeholders and refused syntax in plain words."""
    problems: list[str] = []
    parts: list[tuple[str, str | None, str]] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        return None, [f"template {text!r}: {exc} (write {{{{ and }}}} for literal braces)"]
    for literal, name, spec, conversion in parsed:
        if name is None:
            parts.append((literal, None, ""))
            continue
        if not _NAME.match(name):
            problems.append(f"placeholder {{{name}}} is not a plain field name (no attributes, indexes or '_')")
            continue
        if conversion:
            problems.append(f"placeholder {{{name}!{conversion}}}: conversions (!r, !s) are not allowed")
            continue
        if spec and not _SPEC.match(spec):
            problems.append(f"placeholder {{{name}:{spec}}}: only formats like :.1f, :, or :.0% are allowed")
            continue
        if name not in allowed:
            problems.append(f"unknown placeholder {{{name}}}; use one of: {', '.join(sorted(allowed))}")
            continue
        parts.append((literal, name, spec or ""))
    if problems:
        return None, problems
    return Template(tuple(parts), text), []
