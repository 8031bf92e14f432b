"""YAML with line numbers: every value's path -> its line, so problems can name the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[Any, ...]


@dataclass
class Source:
    """A parsed YAML document with the line (1-based) of each value and of each mapping key."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    #: for block scalars (``|``/``>``) the content starts on the line after the key.
    text_lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int:
        """Line of ``path`` or of its nearest existing parent."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def text_line(self, path: Path_) -> int:
        """Line where the text of the scalar at ``path`` starts."""
        return self.text_lines.get(tuple(path), self.line(path))


class YamlProblem(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


def _walk(node: yaml.Node, path: Path_, src: Source, problems: list[YamlProblem]) -> None:
    src.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        offset = 1 if node.style in ("|", ">") else 0
        src.text_lines[path] = node.start_mark.line + 1 + offset
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), src, problems)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(YamlProblem(line, f"duplicate key {key!r} (first on line {seen[key]})"))
            seen[key] = line
            _walk(value_node, path + (key,), src, problems)
            src.lines[path + (key,)] = line


def load_source(text: str, file: str) -> tuple[Source | None, list[YamlProblem]]:
    """Parse ``text``; returns the source (None when it is not YAML at all) and the problems."""
    problems: list[YamlProblem] = []
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc)
        return None, [YamlProblem(line, f"not valid YAML: {reason}")]
    src = Source(file, data)
    if node is not None:
        _walk(node, (), src, problems)
    return src, problems
