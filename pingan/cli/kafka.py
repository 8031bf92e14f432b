"""`pingan kafka fetch|up|down|status|topics`: the real local Kafka broker (see docs/kafka.md)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kafka", help="fetch, start, stop and inspect the local Kafka broker")
    commands = p.add_subparsers(dest="kafka_command", metavar="ACTION")
    commands.required = True

    fetch = commands.add_parser("fetch", help="download the Kafka jars from Maven Central into .cache/kafka")
    fetch.add_argument("--version", dest="kafka_version", help="Kafka version (default: settings kafka.version)")
    fetch.add_argument("--verbose", action="store_true", help="show Maven's output")
    fetch.set_defaults(handler=cmd_fetch)

    up = commands.add_parser("up", help="start the broker (KRaft, 127.0.0.1 only) and create the topics")
    _common(up)
    up.add_argument("--version", dest="kafka_version", help="Kafka version (default: settings kafka.version)")
    up.add_argument("--heap", default="512m", help="JVM maximum heap (default 512m)")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the broker (default 120)")
    up.set_defaults(handler=cmd_up)

    down = commands.add_parser("down", help="stop the broker (SIGTERM, SIGKILL after --timeout)")
    _common(down, ports=False)
    down.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL (default 30)")
    down.set_defaults(handler=cmd_down)

    status = commands.add_parser("status", help="running or not, port, version, pid, topics (exit 1 if not running)")
    _common(status, ports=False)
    status.set_defaults(handler=cmd_status)

    topics = commands.add_parser("topics", help="(re)create the topics with their partition counts (idempotent)")
    _common(topics, ports=False)
    topics.add_argument("--bootstrap", help="host:port of the broker (default: the running local broker, "
                        "else settings kafka.bootstrap)")
    topics.set_defaults(handler=cmd_topics)


def _common(p: argparse.ArgumentParser, *, ports: bool = True) -> None:
    p.add_argument("--data-dir", help="broker data directory (default: var/kafka in the repository)")
    if ports:
        p.add_argument("--port", type=int, help="client port on 127.0.0.1 (default: settings kafka.port, 9092)")
        p.add_argument("--controller-port", type=int, help="KRaft controller port (default: port + 1)")


def _controller(args: argparse.Namespace, **extra: Any) -> Any:
    from pingan.config import load_settings
    from pingan.localkafka import LocalKafka, config_from_settings

    settings = load_settings()
    cfg = config_from_settings(
        settings,
        data_dir=getattr(args, "data_dir", None),
        port=getattr(args, "port", None),
        controller_port=getattr(args, "controller_port", None),
        version=getattr(args, "kafka_version", None),
        **extra,
    )
    return settings, LocalKafka(cfg)


def cmd_fetch(args: argparse.Namespace) -> int:
    from pingan.config import load_settings
    from pingan.localkafka_fetch import fetch, is_fetched

    version = args.kafka_version or load_settings().kafka.version
    already = is_fetched(version)
    t0 = time.monotonic()
    libs = fetch(version, quiet=not args.verbose)
    if already:
        print(f"Kafka {version} already fetched: {libs}")
    else:
        print(f"fetched Kafka {version} into {libs} in {time.monotonic() - t0:.1f}s")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    settings, kafka = _controller(args, heap=args.heap)
    t0 = time.monotonic()
    st = kafka.up(settings.topics, timeout_s=args.timeout)
    if st.started:
        print(f"Kafka {st.version} started on {st.bootstrap} (pid {st.pid}) in {time.monotonic() - t0:.1f}s; "
              f"logs in {kafka.cfg.logs_dir}")
    else:
        print(f"Kafka {st.version} already running on {st.bootstrap} (pid {st.pid})")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    _, kafka = _controller(args)
    st = kafka.status()
    if kafka.down(timeout_s=args.timeout):
        print(f"Kafka on {st.bootstrap} (pid {st.pid}) stopped")
    else:
        print(f"Kafka of {kafka.cfg.data_dir} was not running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _, kafka = _controller(args)
    st = kafka.status(with_topics=True)
    if not st.running:
        from pingan.localkafka import port_in_use

        busy = f"; port {st.port} is used by another process" if port_in_use(st.port) else ""
        print(f"Kafka: not running (data dir {st.data_dir}, port {st.port}{busy})")
        return 1
    print(f"Kafka {st.version}: running, pid {st.pid}, {st.bootstrap} (controller port {st.controller_port}), "
          f"data dir {st.data_dir}")
    topics = st.topics or {}
    if topics:
        width = max(len(name) for name in topics)
        for name, partitions in topics.items():
            print(f"  {name:<{width}}  {partitions} partitions")
    else:
        print("  no topics")
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    settings, kafka = _controller(args)
    options: dict[str, Any] = {}
    bootstrap = args.bootstrap
    st = kafka.status()
    if bootstrap is None:
        bootstrap = st.bootstrap if st.running else settings.kafka.bootstrap
    if not (st.running and bootstrap == st.bootstrap):
        # Not our local broker: connect the way every other client does (TLS/SCRAM settings).
        from pingan.kafka_client import client_options

        options = client_options(settings.kafka, bootstrap)
        options.pop("bootstrap_servers", None)
    states = kafka.ensure_topics(settings.topics, bootstrap=bootstrap, options=options)
    width = max(len(s.name) for s in states)
    for s in states:
        print(f"{s.name:<{width}}  {s.partitions} partitions  {s.action}")
    sys.stdout.flush()
    return 0
