"""`pingan demo`: the whole pipeline on the embedded defaults, end to end."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on the embedded defaults")
    p.add_argument("--events", type=int, default=30000, help="events to simulate (default 30000)")
    p.add_argument("--duration", default="5d", help="event time the traffic spans, ending now (default 5d)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workdir", default="var/demo")
    p.add_argument("--keep-state", action="store_true",
                   help="keep the previous run's Kafka data, chDB and Faust state (default: start clean)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pingan.demo import run_demo

    return run_demo(args.events, args.duration, args.seed, Path(args.workdir), keep_state=args.keep_state)
