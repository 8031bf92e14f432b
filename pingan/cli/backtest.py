"""``pingan backtest --rules DIR FILE.jsonl... --out alerts.jsonl``: replay traffic through the rules."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "backtest",
        help="replay JSONL traffic (as `pingan simulate --out` writes it) through the rules",
        description=(
            "Decode every message of the files (in order) with the live decoder, feed the valid events "
            "through the same engine as the worker (event-time order, one partition: time is the largest "
            "ts seen and stops where the input stops) and write one alert JSON per line. Invalid lines "
            "are counted, reported and skipped."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE.jsonl", help="traffic files, replayed in the given order")
    p.add_argument("--rules", help="rule directory (default: settings worker.rules_dir)")
    p.add_argument("--out", "-o", required=True, help="alerts file to write (JSONL; '-' for stdout)")
    p.add_argument("--grace", type=float, help="reorder grace period in seconds (default: settings worker.grace_s)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pingan.config import load_settings
    from pingan.errors import ConfigError, RuleError
    from pingan.streams.backtest import run_backtest
    from pingan.streams.engine import load_ruleset
    from pingan.traffic.message import count_lines
    from pingan.traffic.progress import Progress

    settings = load_settings()
    key = settings.pseudonym_key.get_secret_value()
    rules_dir = Path(args.rules or settings.worker.rules_dir)
    for name in args.files:
        if not Path(name).is_file():
            raise ConfigError(f"input file {name} does not exist")
    try:
        ruleset = load_ruleset(rules_dir, pseudonym_key=key)
    except RuleError as exc:
        print(f"pingan: error: {exc}", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    configured = settings.topics.inputs()
    contract = {"camera": "camera.alerts", "grid": "grid.reports", "fraud": "fraud.cases", "service": "service.records"}
    topics = {configured[s]: contract[s] for s in contract}
    grace = settings.worker.grace_s if args.grace is None else args.grace

    bar = None
    if sys.stderr.isatty():
        bar = Progress(sum(count_lines(f) for f in args.files), "backtest")
    to_stdout = args.out == "-"
    out = sys.stdout.buffer if to_stdout else open(args.out, "wb")  # noqa: SIM115
    try:
        report = run_backtest(
            ruleset, args.files, out, key, grace_s=grace, topics=topics, progress=bar.update if bar else None
        )
    finally:
        if bar is not None:
            bar.close()
        if not to_stdout:
            out.close()
    print(report.summary(), file=sys.stderr if to_stdout else sys.stdout)
    if not to_stdout:
        print(f"  rules {rules_dir} version {ruleset.version}; alerts written to {args.out}")
    return 0
