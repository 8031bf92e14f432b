"""Start the Faust worker from settings, with clear one-line errors for what users get wrong."""

from __future__ import annotations

import logging
import socket

from pingan.config import Settings
from pingan.errors import UnavailableError


def check_broker(bootstrap: str, timeout: float = 3.0) -> None:
    """Fail early with one line when no broker answers at ``bootstrap``."""
    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
                return
        except (OSError, ValueError) as exc:
            errors.append(f"{server}: {exc}")
    raise UnavailableError(f"no Kafka broker reachable at {bootstrap} ({'; '.join(errors)}); "
                           "start one with `pingan kafka up`")


def tune_gc(gen0: int) -> None:
    """Fewer young-generation collections, and the start-up objects (modules, compiled rules)
    frozen out of every collection: the per-event path allocates little that forms cycles."""
    import gc

    if gen0 <= 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0, gen1, gen2)


def run_worker(settings: Settings, loglevel: str = "warning") -> int:
    import faust

    from pingan.streams.app import create_app

    check_broker(settings.kafka.bootstrap)
    if settings.kafka.security_protocol != "PLAINTEXT":
        from pingan.kafka_security import probe_broker

        probe_broker(settings.kafka)  # refused credentials or an untrusted certificate: one line, now
    app = create_app(settings)  # a bad rule set or URL raises here, before anything starts
    tune_gc(settings.worker.gc_gen0)
    from pingan.logs import worker_logging_config

    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False,
                          logging_config=worker_logging_config(settings, loglevel))
    logging.getLogger("pingan").setLevel(settings.log_level)
    worker.execute_from_commandline()
    return 0
