"""Class-data sharing for the local broker: about half the CPU time of a JVM start.

The first broker started from a version's jars runs with ``-XX:ArchiveClassesAtExit``: when it
stops, the JVM writes the classes it loaded into a dump named after its data directory. The next
start (:func:`jvm_options`) adopts a finished dump as ``.cache/kafka/<version>/kafka.jsa`` and
runs with ``-XX:SharedArchiveFile``. A stale or mismatched archive is harmless: the JVM warns in
``stdout.log`` and starts without it. Re-fetching the jars deletes the archive.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pingan.localkafka import BrokerConfig

ARCHIVE_NAME = "kafka.jsa"
#: Dumps left by brokers that were never stopped through us are removed after this long.
STALE_DUMP_S = 24 * 3600


def archive_path(cfg: BrokerConfig) -> Path:
    return cfg.cache_dir / cfg.version / ARCHIVE_NAME


def dump_path(cfg: BrokerConfig) -> Path:
    """Where the broker of ``cfg.data_dir`` writes its class list at exit (one per data dir)."""
    tag = hashlib.sha1(str(cfg.data_dir).encode()).hexdigest()[:12]  # noqa: S324 - a name, not security
    return cfg.cache_dir / cfg.version / f"{ARCHIVE_NAME}.{tag}.tmp"


def adopt(cfg: BrokerConfig) -> None:
    """Turn a finished dump of this (stopped) data directory's broker into the shared archive."""
    dump = dump_path(cfg)
    try:
        if dump.stat().st_size > 0 and not archive_path(cfg).exists():
            os.replace(dump, archive_path(cfg))
            return
    except OSError:
        return
    dump.unlink(missing_ok=True)


def jvm_options(cfg: BrokerConfig) -> list[str]:
    """The CDS option for a broker about to start (not running now) from ``cfg``."""
    adopt(cfg)
    _prune(cfg)
    archive = archive_path(cfg)
    if archive.is_file():
        return [f"-XX:SharedArchiveFile={archive}"]
    return [f"-XX:ArchiveClassesAtExit={dump_path(cfg)}"]


def _prune(cfg: BrokerConfig) -> None:
    cutoff = time.time() - STALE_DUMP_S
    for dump in (cfg.cache_dir / cfg.version).glob(f"{ARCHIVE_NAME}.*.tmp"):
        try:
            if dump.stat().st_mtime < cutoff:
                dump.unlink()
        except OSError:
            pass
