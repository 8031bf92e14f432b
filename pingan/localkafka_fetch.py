"""Download an Apache Kafka broker from Maven Central into the git-ignored cache.

``infra/kafka/pom.xml`` lists the broker (``org.apache.kafka:kafka_2.13``) and its logging
binding; Maven resolves the rest. The jars land in ``.cache/kafka/<version>/libs``; a marker file
``<version>/.complete`` makes a second :func:`fetch` return at once, and ``.cache/kafka/.fetched``
is touched for ``make``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from pingan.config import REPO_ROOT
from pingan.errors import PinganError

DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "kafka"
POM = REPO_ROOT / "infra" / "kafka" / "pom.xml"
#: The jar every usable cache must hold (``kafka.Kafka`` lives in it).
BROKER_JAR = "kafka_2.13-{version}.jar"


class KafkaFetchError(PinganError):
    """The Kafka jars could not be downloaded (no Maven, no network, unknown version)."""


def libs_dir(version: str, cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    return cache_dir / version / "libs"


def pom_digest(pom: Path = POM) -> str:
    """SHA-256 of the pom: a changed pom (another logging binding, say) means a new download."""
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def completion_marker(version: str, digest: str) -> str:
    return f"kafka {version}\npom {digest}\n"


def is_fetched(version: str, cache_dir: Path = DEFAULT_CACHE_DIR, pom: Path = POM) -> bool:
    """True when the jars of ``version`` were fetched completely with the current pom."""
    libs = libs_dir(version, cache_dir)
    try:
        marker = (cache_dir / version / ".complete").read_text(encoding="utf-8")
    except OSError:
        return False
    return marker == completion_marker(version, pom_digest(pom)) and (libs / BROKER_JAR.format(version=version)).is_file()


def fetch(version: str, cache_dir: Path = DEFAULT_CACHE_DIR, *, quiet: bool = True) -> Path:
    """Make sure the jars of Kafka ``version`` are in the cache; return their folder.

    Quick and silent when they already are. Maven uses its default local repository (``~/.m2``).
    The jars are copied into a temporary folder first and renamed into place, so an interrupted
    download never looks complete.
    """
    cache_dir = Path(cache_dir)
    target = libs_dir(version, cache_dir)
    if not is_fetched(version, cache_dir):
        (cache_dir / version).mkdir(parents=True, exist_ok=True)
        with open(cache_dir / version / ".lock", "w") as lock:  # concurrent fetches (two test runs) queue here
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not is_fetched(version, cache_dir):
                _download(version, cache_dir, target, quiet=quiet)
    marker = cache_dir / ".fetched"
    marker.touch()
    return target


def _download(version: str, cache_dir: Path, target: Path, *, quiet: bool) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaFetchError("Maven (`mvn`) is not on PATH; install it (e.g. `apt-get install maven`) to fetch Kafka")
    if not POM.is_file():
        raise KafkaFetchError(f"{POM} is missing")
    staging = cache_dir / version / f"libs.partial-{os.getpid()}-{time.monotonic_ns()}"
    staging.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        mvn,
        *(["-q"] if quiet else []),
        "-B",
        "-f",
        str(POM),
        f"-Dkafka.version={version}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln] or (
                proc.stdout + proc.stderr
            ).strip().splitlines()
            detail = lines[0].replace("[ERROR]", "").strip() if lines else f"exit code {proc.returncode}"
            raise KafkaFetchError(f"Maven could not fetch Kafka {version} ({detail})")
        if not (staging / BROKER_JAR.format(version=version)).is_file():
            raise KafkaFetchError(f"Maven finished but {BROKER_JAR.format(version=version)} is missing in {staging}")
        if target.exists():
            # A broker may be running from these jars (it opens them lazily): move them aside, and
            # delete such folders only once they are a day old.
            target.rename(cache_dir / version / f"libs.replaced-{time.time_ns()}")
        staging.rename(target)
        for old in (cache_dir / version).glob("libs.replaced-*"):
            if time.time() - old.stat().st_mtime > 24 * 3600:
                shutil.rmtree(old, ignore_errors=True)
        (cache_dir / version / "kafka.jsa").unlink(missing_ok=True)  # class archive of the old jars
        (cache_dir / version / ".complete").write_text(completion_marker(version, pom_digest()), encoding="utf-8")
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
