"""A real Apache Kafka broker on this machine, for the demo and the integration tests.

One KRaft node (broker and controller in one JVM), listening on 127.0.0.1 only, started from
the jars that :mod:`pingan.localkafka_fetch` downloads. Everything lives under one data
directory (default ``var/kafka`` in the repository)::

    <data-dir>/server.properties   rendered from infra/kafka/server.properties.tmpl at every start
    <data-dir>/kraft/              log and metadata directory, formatted once
    <data-dir>/logs/               server.log (log4j2) and stdout.log (the JVM's own output)
    <data-dir>/kafka.pid           pid of the running broker
    <data-dir>/broker.json         port, controller port, version and bootstrap of that broker

A pid is only trusted when ``/proc/<pid>/cmdline`` is a ``kafka.Kafka`` process started with this
data directory's ``server.properties``, so a stale pid file (or a recycled pid) is never mistaken
for a running broker and never killed.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from pingan.config import REPO_ROOT
from pingan.errors import PinganError, UnavailableError
from pingan.localkafka_fetch import DEFAULT_CACHE_DIR, fetch, libs_dir

if TYPE_CHECKING:  # pragma: no cover
    from pingan.config import Settings, Topics
    from pingan.localkafka_topics import TopicState

INFRA_DIR = REPO_ROOT / "infra" / "kafka"
SERVER_TEMPLATE = INFRA_DIR / "server.properties.tmpl"
LOG4J_CONFIG = INFRA_DIR / "log4j2.properties"
DEFAULT_DATA_DIR = REPO_ROOT / "var" / "kafka"
HOST = "127.0.0.1"
MAIN_CLASS = "kafka.Kafka"


class BrokerError(PinganError):
    """The local broker could not be started or stopped."""


class PortInUseError(BrokerError):
    """A port the broker needs is taken by a process that is not this data directory's broker."""


@dataclass(frozen=True)
class BrokerConfig:
    """Everything that decides how the local broker runs; pure data."""

    version: str
    port: int = 9092
    controller_port: int | None = None  # default: port + 1
    data_dir: Path = DEFAULT_DATA_DIR
    cache_dir: Path = DEFAULT_CACHE_DIR
    heap: str = "512m"
    retention_hours: int = 24
    offsets_partitions: int = 10
    java: str = "java"
    class_sharing: bool = True  # a CDS archive of the broker's classes (see pingan.localkafka_cds)
    extra_jvm_options: tuple[str, ...] = field(default_factory=tuple)
    #: ``key=value`` lines appended to the rendered server.properties (a later key wins), e.g. an
    #: extra SASL_SSL listener for the security test; the PLAINTEXT listener on ``port`` stays.
    extra_properties: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    #: extra arguments of ``kafka-storage format`` (e.g. ``--add-scram SCRAM-SHA-512=[name=u,password=p]``).
    format_args: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().resolve())
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser().resolve())
        if self.controller_port is None:
            object.__setattr__(self, "controller_port", self.port + 1)
        for name in ("port", "controller_port"):
            value = getattr(self, name)
            if not 0 < value < 65536:
                raise BrokerError(f"{name} {value} is not a TCP port")
        if self.port == self.controller_port:
            raise BrokerError(f"port and controller port must differ (both {self.port})")

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def libs_dir(self) -> Path:
        return libs_dir(self.version, self.cache_dir)

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "kraft"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "broker.json"


def config_from_settings(settings: Settings, **overrides: object) -> BrokerConfig:
    """The broker configuration from the settings; ``overrides`` that are not None win."""
    values: dict[str, object] = {"version": settings.kafka.version, "port": settings.kafka.port}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return BrokerConfig(**values)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- pure rendering


def render_server_properties(cfg: BrokerConfig, template: str | None = None) -> str:
    text = SERVER_TEMPLATE.read_text(encoding="utf-8") if template is None else template
    rendered = Template(text).substitute(
        port=cfg.port,
        controller_port=cfg.controller_port,
        log_dirs=cfg.log_dirs,
        offsets_partitions=cfg.offsets_partitions,
        retention_hours=cfg.retention_hours,
    )
    if cfg.extra_properties:
        rendered = rendered.rstrip("\n") + "\n\n# extra_properties\n"
        rendered += "".join(f"{key}={value}\n" for key, value in cfg.extra_properties)
    return rendered


def jvm_command(cfg: BrokerConfig, main_class: str = MAIN_CLASS, *args: str) -> list[str]:
    """The ``java`` command line that runs ``main_class`` from the cached jars."""
    return [
        cfg.java,
        f"-Xmx{cfg.heap}",
        "-Xms64m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={cfg.logs_dir}",
        *cfg.extra_jvm_options,
        "-cp",
        f"{cfg.libs_dir}/*",
        main_class,
        *args,
    ]


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding, not starting with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


# ----------------------------------------------------------------------------- pid handling


def read_pid(path: Path) -> int | None:
    """The pid in ``path``; None when the file is missing, empty or not a positive number."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def process_cmdline(pid: int) -> list[str] | None:
    """The argv of a live process, None if there is none (or it is a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    if not raw:
        return None  # zombie or kernel thread
    return raw.rstrip(b"\0").decode(errors="replace").split("\0")


def is_broker_cmdline(cmdline: list[str] | None, properties_file: Path) -> bool:
    """Is this argv a ``kafka.Kafka`` process started with ``properties_file``?"""
    if not cmdline:
        return False
    return MAIN_CLASS in cmdline and str(properties_file) in cmdline


def port_in_use(port: int, host: str = HOST) -> bool:
    """Whether binding ``host:port`` fails, i.e. something listens there (TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = HOST) -> int:
    """A port nothing listens on right now (for tests and dedicated brokers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------- the controller


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    port: int
    controller_port: int
    version: str
    data_dir: Path
    started: bool = False  # True when this call started it (``up``)
    topics: dict[str, int] | None = None  # name -> partitions, when asked for

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"


class LocalKafka:
    """Start, stop and inspect the broker of one data directory."""

    def __init__(self, cfg: BrokerConfig):
        self.cfg = cfg
        self._proc: subprocess.Popen[bytes] | None = None

    # -- inspection

    def running_pid(self) -> int | None:
        """The pid of this data directory's live broker, or None (a stale pid file is ignored)."""
        pid = read_pid(self.cfg.pid_file)
        if pid is None:
            return None
        if self._proc is not None and self._proc.pid == pid:
            # our own child: alive or not says poll(); its /proc cmdline may still be Python's for
            # a moment after the fork, before it becomes java (a busy machine widens that moment)
            return None if self._proc.poll() is not None else pid
        return pid if is_broker_cmdline(process_cmdline(pid), self.cfg.properties_file) else None

    def recorded(self) -> BrokerConfig:
        """The configuration the running (or last) broker was started with, else ours."""
        try:
            state = json.loads(self.cfg.state_file.read_text(encoding="utf-8"))
            return replace(
                self.cfg,
                port=int(state["port"]),
                controller_port=int(state["controller_port"]),
                version=str(state["version"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return self.cfg

    def status(self, *, with_topics: bool = False) -> BrokerStatus:
        pid = self.running_pid()
        cfg = self.recorded() if pid is not None else self.cfg
        topics = None
        if pid is not None and with_topics:
            from pingan.localkafka_topics import admin_client, partition_counts

            admin = admin_client(cfg.bootstrap)
            try:
                topics = {k: v for k, v in sorted(partition_counts(admin).items()) if not k.startswith("__")}
            finally:
                admin.close()
        assert cfg.controller_port is not None
        return BrokerStatus(pid is not None, pid, cfg.port, cfg.controller_port, cfg.version, cfg.data_dir, topics=topics)

    # -- start

    def up(self, topics: Topics | None = None, *, timeout_s: float = 120.0, attach: bool = False) -> BrokerStatus:
        """Start the broker unless it already runs, wait until it answers, then create ``topics``.

        Idempotent: a running broker of this data directory is left as it is (its topics are
        still ensured). ``attach=True`` ties the broker's life to this process (it gets SIGTERM
        when we die): for test sessions; the CLI starts a detached broker.
        """
        started = False
        pid = self.running_pid()
        if pid is not None:
            running = self.recorded()
            if running.port != self.cfg.port:
                raise BrokerError(
                    f"the broker of {self.cfg.data_dir} already runs on port {running.port} (pid {pid}); "
                    "run `pingan kafka down` first to move it"
                )
            cfg = running
        else:
            cfg = self.cfg
            self._clear_stale()
            self._check_ports()
            fetch(cfg.version, cfg.cache_dir)
            self._prepare()
            pid = self._spawn(attach=attach)
            started = True
            try:
                from pingan.localkafka_topics import wait_until_answers

                wait_until_answers(cfg.bootstrap, timeout_s=timeout_s, alive=lambda: self.running_pid() == pid)
            except UnavailableError as exc:
                tail = self.log_tail()
                self.down(timeout_s=10)
                detail = f": {tail}" if tail else ""
                raise BrokerError(f"{exc}{detail} (logs in {cfg.logs_dir})") from None
        if topics is not None:
            self.ensure_topics(topics, bootstrap=cfg.bootstrap)
        assert cfg.controller_port is not None
        return BrokerStatus(True, pid, cfg.port, cfg.controller_port, cfg.version, cfg.data_dir, started=started)

    def ensure_topics(
        self, topics: Topics, *, bootstrap: str | None = None, options: dict[str, Any] | None = None
    ) -> list[TopicState]:
        """Create or grow ``topics`` (see :func:`pingan.localkafka_topics.ensure_topics`).

        ``bootstrap`` defaults to this broker; ``options`` are extra kafka-python options (security
        settings, for a broker that is not the local one).
        """
        from pingan.localkafka_topics import admin_client, ensure_topics, topic_plan

        admin = admin_client(bootstrap or self.recorded().bootstrap, **(options or {}))
        try:
            return ensure_topics(admin, topic_plan(topics))
        finally:
            admin.close()

    def _clear_stale(self) -> None:
        for path in (self.cfg.pid_file, self.cfg.state_file):
            path.unlink(missing_ok=True)

    def _check_ports(self) -> None:
        for label, port in (("port", self.cfg.port), ("controller port", self.cfg.controller_port)):
            assert port is not None
            if port_in_use(port):
                raise PortInUseError(
                    f"{label} {port} on {HOST} is already in use by another process "
                    f"(not the Pingan broker of {self.cfg.data_dir}); stop it or choose another with --port"
                )

    def _prepare(self) -> None:
        cfg = self.cfg
        if not (cfg.libs_dir / f"kafka_2.13-{cfg.version}.jar").is_file():
            raise BrokerError(f"Kafka {cfg.version} is not in {cfg.libs_dir}; run `pingan kafka fetch`")
        cfg.logs_dir.mkdir(parents=True, exist_ok=True)
        cfg.log_dirs.mkdir(parents=True, exist_ok=True)
        cfg.properties_file.write_text(render_server_properties(cfg), encoding="utf-8")
        if not (cfg.log_dirs / "meta.properties").is_file():
            self._format()

    def _format(self) -> None:
        """Format the KRaft storage once (a new cluster id); later starts reuse it."""
        cmd = jvm_command(
            replace(self.cfg, heap="256m"),
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-t",
            new_cluster_id(),
            "-c",
            str(self.cfg.properties_file),
            *self.cfg.format_args,
        )
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        except FileNotFoundError:
            raise BrokerError(f"`{self.cfg.java}` not found; Kafka needs Java 17 or newer") from None
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            raise BrokerError(f"formatting {self.cfg.log_dirs} failed: {lines[0] if lines else proc.returncode}")

    def _spawn(self, *, attach: bool) -> int:
        cfg = self.cfg
        if cfg.class_sharing:
            from pingan.localkafka_cds import jvm_options

            cfg = replace(cfg, extra_jvm_options=(*cfg.extra_jvm_options, *jvm_options(cfg)))
        out = open(cfg.logs_dir / "stdout.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - our own fixed command line
                jvm_command(cfg, MAIN_CLASS, str(cfg.properties_file)),
                cwd=cfg.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=not attach,
                preexec_fn=_die_with_parent() if attach else None,  # noqa: PLW1509
            )
        except FileNotFoundError:
            raise BrokerError(f"`{cfg.java}` not found; Kafka needs Java 17 or newer") from None
        finally:
            out.close()
        pid = self._proc.pid
        cfg.pid_file.write_text(f"{pid}\n", encoding="ascii")
        state = {
            "pid": pid,
            "port": cfg.port,
            "controller_port": cfg.controller_port,
            "version": cfg.version,
            "bootstrap": cfg.bootstrap,
            "started_at": time.time(),
        }
        cfg.state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        return pid

    # -- stop

    def down(self, *, timeout_s: float = 30.0) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout_s``); True if one was running."""
        pid = self.running_pid()
        if pid is None:
            self._clear_stale()
            return False
        running = self.recorded()
        _signal(pid, signal.SIGTERM)
        clean = self._wait_gone(pid, timeout_s)
        if not clean:
            _signal(pid, signal.SIGKILL)
            self._wait_gone(pid, 10.0)
        self._clear_stale()
        if self.cfg.class_sharing:
            from pingan.localkafka_cds import adopt, dump_path

            if clean:
                adopt(running)
            else:  # killed: a class dump may be cut short
                dump_path(running).unlink(missing_ok=True)
        return True

    def _wait_gone(self, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.pid == pid:
                try:
                    self._proc.wait(timeout=0.1)
                    return True
                except subprocess.TimeoutExpired:
                    continue
            if not is_broker_cmdline(process_cmdline(pid), self.cfg.properties_file):
                return True
            time.sleep(0.1)
        return False

    def log_tail(self) -> str:
        """The last meaningful line of the broker's logs (for error messages)."""
        last = ""
        for name in ("stdout.log", "server.log"):
            try:
                lines = (self.cfg.logs_dir / name).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in reversed(lines):
                if "ERROR" in line or "Exception" in line or "Error" in line:
                    return line.strip()[:300]
            last = last or next((ln.strip()[:300] for ln in reversed(lines) if ln.strip()), "")
        return last


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the broker when the process that started it exits.

    libc is loaded here, in the parent: the function that runs between fork and exec only makes
    one foreign call (no imports, no locks), which is safe even when the parent has threads.
    """
    import ctypes

    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:  # pragma: no cover - runs in the child
        prctl(pr_set_pdeathsig, sigterm)

    return preexec
