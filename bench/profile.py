"""Profile the live worker on a preloaded topic with pyinstrument (``pingan bench --profile``).

The worker runs under ``python -m pyinstrument`` in its own process; once every message is
flushed it gets SIGINT, stops cleanly and pyinstrument writes its text report.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

from pingan.bench.broker import REPO, BenchBroker, WorkerProcess, preload
from pingan.bench.data import traffic
from pingan.bench.pipeline import B1_ENV


def profile_worker(broker: BenchBroker, n: int, out: Path) -> dict:
    topics = broker.topics()
    asyncio.run(preload(broker.bootstrap, topics, traffic(n)))
    worker = WorkerProcess(broker.bootstrap, topics, env=B1_ENV)
    log = open(worker.log, "ab")  # noqa: SIM115
    worker.proc = subprocess.Popen(
        [sys.executable, "-m", "pyinstrument", "--interval", "0.0005", "-r", "text", "--show-all", "-o", str(out),
         "-m", "pingan.cli.main", "worker"], env=worker.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                worker.stats()
                break
            except OSError:
                if time.monotonic() > deadline or worker.proc.poll() is not None:
                    raise RuntimeError(worker.log.read_text(errors="replace")[-2000:]) from None
                time.sleep(0.3)
        stats = worker.wait_flushed(n, timeout_s=max(120, n / 50))
        worker.proc.send_signal(signal.SIGINT)
        worker.proc.wait(timeout=120)
    finally:
        worker.stop()
    rate = n / (stats["last_flush"] - stats["first_batch"])
    return {"messages": n, "rate_per_s": round(rate), "report": str(out)}
