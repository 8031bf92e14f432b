"""``pingan simulate``: realistic traffic for the prefecture, to Kafka or to a JSONL file."""

from __future__ import annotations

import argparse
import sys
import time
from typing import IO

DEFAULT_EVENTS = 10_000
DEFAULT_RATE = 100.0  # events per second of event time when neither --rate nor --duration is given


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="generate realistic traffic for the four input topics (to Kafka or a JSONL file)",
        description=(
            "Generate a deterministic stream of camera, grid, fraud and service events for Chuxiong "
            "(real division codes, day/night rhythm, lifecycles, ~1% invalid messages, late and "
            "duplicate deliveries). Without --out the messages go to Kafka, paced at --rate. "
            "Defaults: --events 10000; --duration = events / rate (rate 100/s when not given); "
            "--start = now minus the duration."
        ),
    )
    p.add_argument("--events", "-n", type=int, metavar="N", help="number of messages (default: rate x duration, else 10000)")
    p.add_argument("--rate", "-r", type=float, metavar="R", help="messages per second sent to Kafka (default: as fast as possible)")
    p.add_argument("--duration", "-d", metavar="D", help="span of event time, e.g. 30m, 6h, 7d (default: events / rate)")
    p.add_argument("--start", metavar="TIME", help="first event time, ISO 8601 (default: now minus the duration; +08:00 if no offset)")
    p.add_argument("--seed", "-s", type=int, default=1, metavar="S", help="random seed (same seed and start: same stream)")
    p.add_argument("--out", "-o", metavar="FILE", help="write JSONL to this file ('-' for stdout) instead of sending to Kafka")
    p.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka bootstrap servers (default: kafka.bootstrap from the settings)")
    p.add_argument("--invalid-share", type=float, metavar="F", default=0.01, help="share of broken messages (default 0.01)")
    p.add_argument("--duplicate-share", type=float, metavar="F", default=0.005, help="share of re-delivered messages (default 0.005)")
    p.add_argument("--late-share", type=float, metavar="F", default=0.02, help="share of events that arrive hours late (default 0.02)")
    p.set_defaults(handler=run)


def plan(args: argparse.Namespace) -> tuple[int, float, int]:
    """(events, duration in seconds, start epoch) from the options."""
    from pingan.errors import ConfigError
    from pingan.traffic.clock import parse_duration, parse_start

    if args.rate is not None and args.rate <= 0:
        raise ConfigError("--rate must be positive")
    duration = parse_duration(args.duration) if args.duration else None
    events = args.events
    if events is None:
        events = round(args.rate * duration) if (args.rate and duration) else DEFAULT_EVENTS
    if events < 0:
        raise ConfigError("--events must be >= 0")
    if duration is None:
        duration = max(1.0, events / (args.rate or DEFAULT_RATE))
    start = parse_start(args.start) if args.start else int(time.time() - duration)
    return events, duration, start


def run(args: argparse.Namespace) -> int:
    from pingan.config import load_settings
    from pingan.traffic.simulate import SimulationConfig, Simulator

    settings = load_settings()
    events, duration, start = plan(args)
    config = SimulationConfig(
        events=events, start=start, duration_s=duration, seed=args.seed, invalid_share=args.invalid_share,
        duplicate_share=args.duplicate_share, late_share=args.late_share, topics=settings.topics.inputs(),
    )
    simulator = Simulator(config)
    if args.out:
        return _to_file(args, simulator)
    return _to_kafka(args, settings, simulator)


def _to_file(args: argparse.Namespace, simulator) -> int:
    from pathlib import Path

    from pingan.errors import PinganError
    from pingan.traffic.message import write_jsonl
    from pingan.traffic.progress import Progress

    started = time.monotonic()
    if args.out == "-":
        progress = Progress(simulator.config.events, "simulate", enabled=False)
        write_jsonl(_counted(simulator.messages(), progress), sys.stdout.buffer)
        sys.stdout.buffer.flush()
        report = sys.stderr
        where = "stdout"
    else:
        path = Path(args.out)
        progress = Progress(simulator.config.events, "simulate")
        try:
            handle = path.open("wb")
        except OSError as exc:
            raise PinganError(f"cannot write {path}: {exc.strerror}") from None
        with handle:
            write_jsonl(_counted(simulator.messages(), progress), handle)
        progress.close()
        report = sys.stdout
        where = str(path)
    seconds = time.monotonic() - started
    print_summary(simulator, report)
    total = simulator.stats.total
    print(f"written to {where} in {seconds:.2f} s ({total / max(seconds, 1e-9):,.0f} messages/s)", file=report)
    return 0


def _counted(messages, progress):
    for message in messages:
        progress.update()
        yield message


def _to_kafka(args: argparse.Namespace, settings, simulator) -> int:
    from pingan.traffic.progress import Progress
    from pingan.traffic.sender import send

    bootstrap = args.bootstrap or settings.kafka.bootstrap
    progress = Progress(simulator.config.events, "simulate")
    try:
        stats = send(simulator.messages(), settings, bootstrap=bootstrap, rate=args.rate, progress=progress)
    finally:
        progress.close()
    print_summary(simulator, sys.stdout)
    print(f"sent to Kafka at {bootstrap} in {stats.seconds:.1f} s ({stats.rate:,.0f} messages/s)")
    return 0


def print_summary(simulator, out: IO[str]) -> None:
    from pingan.traffic.clock import iso

    stats, config = simulator.stats, simulator.config
    print(
        f"simulated {stats.total:,} messages: {stats.valid:,} events ({stats.late:,} late), "
        f"{stats.invalid:,} invalid, {stats.duplicates:,} duplicates (seed {config.seed})",
        file=out,
    )
    print(f"  event time {iso(config.start)} .. {iso(config.end)}", file=out)
    for topic in config.topics.values():
        print(f"  {topic:<18}{stats.per_topic.get(topic, 0):>10,}", file=out)
    if stats.invalid_kinds:
        kinds = ", ".join(f"{k} {n}" for k, n in stats.invalid_kinds.most_common())
        print(f"  invalid: {kinds}", file=out)
