"""Entry point of the ``pingan`` console command.

Each subcommand group lives in its own module under ``pingan.cli`` and exposes
``register(subparsers)``; the list below is the explicit registry. Modules import their heavy
dependencies inside the command handlers, so ``pingan --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from pingan.errors import PinganError

# Subcommand modules, in the order `pingan --help` lists them.
COMMAND_MODULES = (
    "demo",
    "kafka",
    "worker",
    "simulate",
    "produce",
    "rules",
    "backtest",
    "db",
    "report",
    "alerts",
    "dashboards",
    "config",
    "bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pingan", description="平安 Pingan: streaming alerts and statistics")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"pingan.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"pingan.cli.{name}":
                continue  # a subcommand not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _setup_logging()
        result = args.handler(args)
    except PinganError as exc:
        print(f"pingan: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pingan: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a user never sees a traceback
        if os.environ.get("PINGAN_DEBUG"):
            raise
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):  # a setting assigned from a command-line option
            from pingan.config import validation_message

            print(f"pingan: error: {validation_message(exc)}", file=sys.stderr)
            return 2
        print(f"pingan: error: unexpected {type(exc).__name__}: {_one_line(exc)} "
              "(set PINGAN_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    return int(result or 0)


def _setup_logging() -> None:
    """Logging from the settings (text or JSON lines on stderr); a bad setting is a ConfigError."""
    from pingan.config import load_settings
    from pingan.logs import setup_logging

    setup_logging(load_settings())


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
