"""The Faust app: the input topics, the engine-state table, timers and web pages.

Built by :func:`create_app` from settings (nothing is created at import time). Faust owns the
app's lifecycle, the consumer group and rebalances, the state table and its changelog, the timers
and the web server. Its consumer hands raw partition batches of the input topics to the shared
:class:`Runtime` (:mod:`pingan.streams.ingest`; no per-message agent plumbing).

The rule engine is global over all input partitions (its watermark spans them), so one worker
process holds the consumer group's partitions; a second worker started with the same app id is a
hot standby that takes over on a rebalance, restoring the state from the changelog.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import faust
from faust.web import Request, Response, View
from mode import Service

from pingan.config import Settings, resolve_path
from pingan.schemas.privacy import Pseudonymizer
from pingan.streams.fastdecode import FastDecoder
from pingan.streams.ingest import install as install_batch_ingest
from pingan.streams.processor import Processor
from pingan.streams.runtime import Runtime

log = logging.getLogger("pingan.worker")

def broker_credentials(settings: Settings) -> Any:
    """Faust credentials for SSL / SASL_SSL from settings.kafka (None for PLAINTEXT)."""
    from pingan.kafka_security import faust_credentials

    return faust_credentials(settings.kafka)


def create_app(settings: Settings, *, sink: Any = None, engine: Any = None, timeline: Any = None) -> faust.App:
    from pingan.sinks import open_sink
    from pingan.streams.engine import Engine, Timeline, load_ruleset

    kafka = settings.kafka
    worker = settings.worker
    app = faust.App(
        worker.app_id,
        broker=[f"kafka://{host}" for host in kafka.bootstrap.split(",")],
        broker_credentials=broker_credentials(settings),
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topics.input_partitions,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_port=worker.web_port,
        web_bind=worker.web_bind,
        web_host="127.0.0.1",
        datadir=str(resolve_path(worker.data_dir)),
        broker_commit_interval=1.0,
        producer_acks=-1,
        stream_wait_empty=False,
        table_standby_replicas=0,
        web_in_thread=False,
    )
    rules_dir = resolve_path(worker.rules_dir)
    pseudonymize = Pseudonymizer(settings.pseudonym_key.get_secret_value())

    def load(path: Path) -> Any:
        return load_ruleset(path, pseudonym_key=settings.pseudonym_key.get_secret_value())

    engine = engine if engine is not None else Engine(load(rules_dir), dedup_max_ids=worker.dedup_max_ids)
    timeline = timeline if timeline is not None else Timeline(engine, grace_s=worker.grace_s, idle_s=worker.idle_partition_s)
    sink = sink if sink is not None else open_sink(settings.clickhouse)
    inputs = settings.topics.inputs()
    contract = {"camera": "camera.alerts", "grid": "grid.reports", "fraud": "fraud.cases", "service": "service.records"}
    processor = Processor(
        FastDecoder(pseudonymize), engine, timeline, sink,
        contract_topic={inputs[name]: contract[name] for name in inputs},
    )
    state_table = app.Table(
        "engine-state",
        default=None,
        schema=faust.Schema(key_serializer="json", value_serializer="json"),
        partitions=settings.topics.input_partitions,
        use_partitioner=True,
    )
    metrics = _make_metrics(settings)
    runtime = Runtime(app, processor, sink, state_table, settings, metrics=metrics)
    app.pingan_runtime = runtime  # for tests and the web pages

    @app.service
    class SinkService(Service):
        """Opens the sink when the worker starts; writes what is left when it stops."""

        async def on_start(self) -> None:
            await sink.start()
            runtime.mark_started()
            log.info("sink started", extra={"url": settings.clickhouse.url})

        async def on_stop(self) -> None:
            try:
                if runtime.started:
                    await runtime.flush()
            finally:
                await sink.stop()

    # raw partition batches straight from Faust's consumer (streams/ingest.py): no per-message
    # Stream/Event plumbing; acks and commits still go through Faust's consumer
    input_topics = [app.topic(topic_name, key_serializer="raw", value_serializer="raw",
                              partitions=settings.topics.input_partitions) for topic_name in inputs.values()]
    install_batch_ingest(app, input_topics, runtime.handle_fetch)

    @app.on_partitions_assigned.connect
    async def on_assigned(app: Any, assigned: Any, **kwargs: Any) -> None:
        input_topics = set(inputs.values())
        processor.assign([(tp.topic, tp.partition) for tp in assigned if tp.topic in input_topics], time.time())

    @app.timer(interval=0.25)
    async def tick() -> None:
        await runtime.tick()

    @app.timer(interval=2.0)
    async def reload_rules() -> None:
        await runtime.maybe_reload(rules_dir, load)

    _add_pages(app, runtime, settings)
    return app


def _make_metrics(settings: Settings) -> Any:
    try:
        from pingan.streams.metrics import WorkerMetrics
    except ModuleNotFoundError:
        return None
    return WorkerMetrics(settings)


def _add_pages(app: faust.App, runtime: Runtime, settings: Settings) -> None:
    @app.page("/query")
    class QueryView(View):
        """Read-only SQL against the worker's own (embedded) ClickHouse, for `pingan report`."""

        async def post(self, request: Request) -> Response:
            from pingan.sinks.remote import handle_query

            body = await request.json()
            try:
                result = await handle_query(runtime.sink, body)
            except Exception as exc:  # noqa: BLE001 - the client gets the reason, the worker keeps running
                return self.json({"error": str(exc)}, status=400)
            return self.json(result)

    @app.page("/health")
    class HealthView(View):
        async def get(self, request: Request) -> Response:
            from pingan.streams.health import check_health

            report = await check_health(app, runtime, settings)
            return self.json(report, status=200 if report.get("ok") else 503)

    @app.page("/stats")
    class StatsView(View):
        """Progress figures: messages handled and flushed, wall-clock times of the first batch and last flush."""

        async def get(self, request: Request) -> Response:
            return self.json({**runtime.stats, "pending": runtime.processor.pending_count(),
                              "buffered": runtime.processor.timeline.pending, "now": time.time()})

    @app.page("/metrics")
    class MetricsView(View):
        async def get(self, request: Request) -> Response:
            if runtime.metrics is None:
                return self.text("metrics not available\n", status=404)
            body, content_type = runtime.metrics.render(app, runtime)
            return self.bytes(body, content_type=content_type)
