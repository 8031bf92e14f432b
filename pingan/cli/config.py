"""`pingan config show`: the effective settings (file + environment + defaults), secrets masked."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show the effective configuration (secrets masked)")
    commands = p.add_subparsers(dest="config_command", metavar="ACTION")
    commands.required = True
    show = commands.add_parser("show", help="print the effective settings; secrets are never printed")
    show.add_argument("--format", choices=("toml", "json"), default="toml", help="output format (default toml)")
    show.add_argument("--section", help="only this section (kafka, clickhouse, worker, topics, grafana)")
    show.set_defaults(handler=show_settings)


def show_settings(args: argparse.Namespace) -> int:
    from pingan.config import config_path, display_settings, load_settings
    from pingan.errors import ConfigError

    data = display_settings(load_settings())
    if args.section:
        if not isinstance(data.get(args.section), dict):
            sections = ", ".join(k for k, v in data.items() if isinstance(v, dict))
            raise ConfigError(f"unknown section {args.section!r}: one of {sections}")
        data = {args.section: data[args.section]}
    if args.format == "json":
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return 0
    path = config_path()
    source = f"file {path} + " if path else "no file (defaults) + "
    sys.stdout.write(f"# effective settings: {source}PINGAN_* environment; secrets masked\n")
    sys.stdout.write(to_toml(data))
    return 0


def to_toml(data: dict[str, Any]) -> str:
    """Nested dicts of scalars and lists as TOML; ``None`` (unset) is written as a comment."""
    lines: list[str] = []
    tables = [(k, v) for k, v in data.items() if isinstance(v, dict)]
    for key, value in data.items():
        if not isinstance(value, dict):
            lines.append(_pair(key, value))
    for name, table in tables:
        lines.append("")
        lines.append(f"[{_key(name)}]")
        for key, value in table.items():
            if isinstance(value, dict):
                raise ValueError(f"nested table {name}.{key} is not supported")
            lines.append(_pair(key, value))
    return "\n".join(lines).lstrip("\n") + "\n"


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else json.dumps(key)


def _pair(key: str, value: Any) -> str:
    if value is None:
        return f"# {_key(key)} = (unset)"
    return f"{_key(key)} = {_value(value)}"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string is JSON-compatible
