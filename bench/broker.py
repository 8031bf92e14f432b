"""A dedicated Kafka broker for the benchmarks (free ports, temporary data), and the helpers that
feed it: topic sets, a preloading producer and a worker process on its own topics."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from pingan.config import Topics

REPO = Path(__file__).resolve().parents[1]
CONTRACT = {"camera": "camera.alerts", "grid": "grid.reports", "fraud": "fraud.cases", "service": "service.records"}
TO_STREAM = {v: k for k, v in CONTRACT.items()}


class BenchBroker:
    """``with BenchBroker() as broker:`` a single-node KRaft broker via :mod:`pingan.localkafka`."""

    def __init__(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="pingan-bench-kafka-"))
        self.controller: Any = None
        self.bootstrap = ""

    def __enter__(self) -> BenchBroker:
        from pingan.config import load_settings
        from pingan.localkafka import BrokerConfig, LocalKafka, free_port

        version = load_settings().kafka.version
        last: Exception | None = None
        for _ in range(3):
            port, controller = free_port(), free_port()
            if port == controller:
                continue
            self.controller = LocalKafka(BrokerConfig(version=version, port=port, controller_port=controller,
                                                      data_dir=self.data_dir, heap="512m"))
            try:
                status = self.controller.up(Topics(), timeout_s=180, attach=True)
                self.bootstrap = status.bootstrap
                return self
            except Exception as exc:  # noqa: BLE001 - retried on other ports
                last = exc
                self.controller.down(timeout_s=10)
        raise RuntimeError(f"could not start the benchmark broker: {last}")

    def __exit__(self, *exc: Any) -> None:
        if self.controller is not None:
            self.controller.down(timeout_s=60)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def topics(self, input_partitions: int = 6) -> Topics:
        """A fresh, uniquely named topic set, created on the broker."""
        suffix = uuid.uuid4().hex[:8]
        base = Topics(input_partitions=input_partitions)
        topics = base.model_copy(update={n: f"bench-{suffix}-{getattr(base, n)}"
                                         for n in ("camera", "grid", "fraud", "service", "alerts", "deadletter")})
        self.controller.ensure_topics(topics, bootstrap=self.bootstrap)
        return topics


async def preload(bootstrap: str, topics: Topics, messages: Any) -> int:
    """Produce simulator messages (contract topic, key, value) to ``topics``; returns the count."""
    from aiokafka import AIOKafkaProducer

    names = topics.inputs()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024, acks=1)
    await producer.start()
    try:
        n = 0
        for topic, key, value in messages:
            await producer.send(names[TO_STREAM[topic]], value=value, key=key)
            n += 1
        await producer.flush()
        return n
    finally:
        await producer.stop()


class WorkerProcess:
    """``pingan worker`` in a subprocess on ``topics`` with a fresh app id and chDB directory."""

    def __init__(self, bootstrap: str, topics: Topics, *, env: dict[str, str] | None = None):
        from pingan.localkafka import free_port

        self.tmp = Path(tempfile.mkdtemp(prefix="pingan-bench-worker-"))
        self.port = free_port()
        self.env = dict(os.environ)
        self.env.update({
            "PINGAN_KAFKA__BOOTSTRAP": bootstrap,
            "PINGAN_CLICKHOUSE__URL": f"chdb://{self.tmp / 'chdb'}",
            "PINGAN_WORKER__APP_ID": f"bench-{uuid.uuid4().hex[:8]}",
            "PINGAN_WORKER__WEB_PORT": str(self.port),
            "PINGAN_WORKER__DATA_DIR": str(self.tmp / "faust"),
            "PINGAN_WORKER__RULES_DIR": str(REPO / "rules"),
            "PINGAN_LOG_LEVEL": "WARNING",
        })
        for name in ("camera", "grid", "fraud", "service", "alerts", "deadletter"):
            self.env[f"PINGAN_TOPICS__{name.upper()}"] = getattr(topics, name)
        self.env.update(env or {})
        self.log = self.tmp / "worker.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 120) -> None:
        log = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([sys.executable, "-m", "pingan.cli.main", "worker"], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("worker did not start: " + self.log.read_text(errors="replace")[-2000:])

    def stats(self, timeout_s: float = 5) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=timeout_s) as resp:
            return json.loads(resp.read())

    def wait_flushed(self, n: int, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode}): "
                                   + self.log.read_text(errors="replace")[-3000:])
            try:
                s = self.stats()
            except OSError as exc:
                time.sleep(2)
                raise RuntimeError(f"worker stopped answering ({exc}): "
                                   + self.log.read_text(errors="replace")[-3000:]) from None
            if s["flushed_messages"] >= n:
                return s
            time.sleep(0.2)
        raise RuntimeError(f"worker handled {self.stats()} of {n} messages in {timeout_s} s; log: "
                           + self.log.read_text(errors="replace")[-1500:])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)
