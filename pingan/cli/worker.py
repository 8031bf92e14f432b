"""`pingan worker`: run the Faust stream processor."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run the stream processor (Faust worker)")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default from settings)")
    p.add_argument("--clickhouse", help="ClickHouse URL: chdb:///path or http(s)://host:8123")
    p.add_argument("--rules", help="rules directory (default rules/)")
    p.add_argument("--web-port", type=int, help="web port for /metrics, /health, /query (default 6066)")
    p.add_argument("--app-id", help="Faust app id / consumer group")
    p.add_argument("--loglevel", default="warning")
    p.set_defaults(handler=run)


def settings_from_args(args: argparse.Namespace):
    from pingan.config import load_settings

    settings = load_settings()
    if args.bootstrap:
        settings.kafka.bootstrap = args.bootstrap
    if args.clickhouse:
        settings.clickhouse.url = args.clickhouse
    if args.rules:
        settings.worker.rules_dir = args.rules
    if args.web_port:
        settings.worker.web_port = args.web_port
    if args.app_id:
        settings.worker.app_id = args.app_id
    return settings


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    from pingan.streams.worker import run_worker

    return run_worker(settings, loglevel=args.loglevel)
