"""``pingan produce FILE.jsonl``: send a traffic file to Kafka as is (broken messages byte-exact)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "produce",
        help="send a JSONL traffic file (from `pingan simulate --out`) to Kafka as is",
        description=(
            "Send every line {\"topic\", \"key\", \"value\"} of FILE to Kafka: an object value as compact "
            "JSON, a string value (or value_b64) as its raw bytes, so broken messages replay exactly."
        ),
    )
    p.add_argument("file", metavar="FILE.jsonl", help="the traffic file ('-' for stdin)")
    p.add_argument("--rate", "-r", type=float, metavar="R", help="messages per second (default: as fast as possible)")
    p.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka bootstrap servers (default: kafka.bootstrap from the settings)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pingan.config import load_settings
    from pingan.errors import ConfigError, PinganError
    from pingan.traffic.message import TrafficFileError, count_lines, read_jsonl, read_lines
    from pingan.traffic.progress import Progress
    from pingan.traffic.sender import send

    if args.rate is not None and args.rate <= 0:
        raise ConfigError("--rate must be positive")
    stdin = args.file == "-"
    path = Path(args.file)
    if not stdin and not path.is_file():
        raise PinganError(f"{path}: no such file")
    settings = load_settings()
    bootstrap = args.bootstrap or settings.kafka.bootstrap
    progress = Progress(None, "produce")
    if progress.enabled and not stdin:
        progress.total = count_lines(path)
    messages = read_lines(sys.stdin.buffer, "stdin") if stdin else read_jsonl(path)
    try:
        stats = send(messages, settings, bootstrap=bootstrap, rate=args.rate, progress=progress)
    except TrafficFileError as exc:
        raise TrafficFileError(f"{exc} (stopped after {progress.done} messages)") from None
    finally:
        progress.close()
    print(f"produced {stats.sent:,} messages from {'stdin' if stdin else path} ({stats.raw:,} raw/invalid) to Kafka at {bootstrap} "
          f"in {stats.seconds:.1f} s ({stats.rate:,.0f} messages/s)")
    for topic, n in sorted(stats.per_topic.items()):
        print(f"  {topic:<18}{n:>10,}")
    sys.stdout.flush()
    return 0
