"""chDB: ClickHouse embedded in this process (the default, ``chdb://var/chdb``).

One process owns a chDB data directory (the engine locks it), and one process can open only one
path: every ChdbSink of a process must use the same path (tests use one path per session with a
database per test). All chDB calls run on the sink's single thread (see base.Sink).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson

from pingan.errors import ConfigError, UnavailableError
from pingan.sinks.base import Sink
from pingan.sinks.tables import INSERT_FORMAT, insert_statement

DEFAULT_PATH = "var/chdb"
_process_path: dict[str, Any] = {"path": None, "users": 0}
_process_lock = threading.Lock()
log = logging.getLogger(__name__)


class StoreLockedError(UnavailableError):
    """Another process holds the chDB data directory (typically a running worker)."""


def chdb_path(url: str) -> Path:
    """``chdb:///abs/path`` -> /abs/path; ``chdb://relative/path`` -> ./relative/path (resolved)."""
    parsed = urlparse(url)
    if parsed.scheme != "chdb":
        raise ConfigError(f"not a chdb URL: {url!r}")
    text = (parsed.netloc + parsed.path) if parsed.netloc else parsed.path
    if not text or text == "/":
        text = DEFAULT_PATH
    return Path(text).expanduser().resolve()


def _locked_by_another_process(path: Path) -> bool:
    """True when another process holds the engine's lock on ``path/status`` (ClickHouse uses flock)."""
    import fcntl
    import os

    status = path / "status"
    if not status.exists():
        return False
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def param_text(value: Any) -> str:
    """chDB binds ``{name:Type}`` parameters from their text form."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join("'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'" if isinstance(v, str)
                              else param_text(v) for v in value) + "]"
    return str(value)


def parse_json_each_row(data: bytes) -> list[dict[str, Any]]:
    loads = orjson.loads
    return [loads(line) for line in data.splitlines() if line]


class ChdbSink(Sink):
    scheme = "chdb"

    def __init__(self, path: str | Path = DEFAULT_PATH, **options: Any):
        super().__init__(**options)
        self.path = Path(path).expanduser().resolve()
        self._session: Any = None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ChdbSink:
        return cls(chdb_path(url), **options)

    def _open(self) -> None:
        from chdb import session

        with _process_lock:
            held = _process_path["path"]
            if held is not None and held != self.path:
                raise ConfigError(
                    f"this process already uses chDB at {held}; chDB opens one path per process, not {self.path}"
                )
            self.path.mkdir(parents=True, exist_ok=True)
            if held is None and _locked_by_another_process(self.path):
                raise StoreLockedError(
                    f"chDB data directory {self.path} is in use by another process (a running worker?)"
                )
            try:
                self._session = session.Session(str(self.path))
            except RuntimeError as exc:
                text = str(exc)
                if "Cannot lock file" in text or "already running" in text:
                    raise StoreLockedError(
                        f"chDB data directory {self.path} is in use by another process (a running worker?)"
                    ) from None
                raise UnavailableError(f"cannot open chDB at {self.path}: {text.splitlines()[0]}") from None
            _process_path["path"] = self.path
            _process_path["users"] += 1
        self._session.query(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        self._session.query(f"USE {self.database}")
        self._session.query("SET output_format_json_validate_utf8 = 1")  # rows are parsed as JSON

    def _close(self) -> None:
        if self._session is None:
            return
        try:
            self._session.close()
        finally:
            self._session = None
            with _process_lock:
                _process_path["users"] -= 1
                if _process_path["users"] <= 0:
                    _process_path["path"] = None
                    _process_path["users"] = 0

    def _execute(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if self._session is None:
            raise UnavailableError("the chDB sink is not open")
        bound = {k: param_text(v) for k, v in params.items()} if params else None
        result = self._session.query(sql, "JSONEachRow", params=bound)
        return parse_json_each_row(result.bytes())

    def _insert(self, table: str, payload: bytes | Iterable[bytes], token: str) -> None:
        """One INSERT of the JSONCompactColumns bytes, streamed: the engine parses each part as it
        arrives (a batch's first columns while the encoder makes the next ones), from bytes (no
        text conversion of the payload); nothing is committed unless every part was sent."""
        if self._session is None:
            raise UnavailableError("the chDB sink is not open")
        escaped = token.replace("\\", "\\\\").replace("'", "\\'")
        statement = f"{insert_statement(table)} SETTINGS insert_deduplication_token = '{escaped}'"
        parts = (payload,) if isinstance(payload, bytes) else payload
        if not hasattr(self._session, "send_insert"):  # chDB before the streaming insert API
            data = b"".join(parts).decode("utf-8")
            self._session.query(f"{statement} FORMAT {INSERT_FORMAT}\n" + data)
            return
        inserter = self._session.send_insert(statement, INSERT_FORMAT)
        try:
            for part in parts:
                inserter.append(part)
            inserter.finish()
        except BaseException:
            try:
                inserter.cancel()
            except Exception as exc:  # noqa: BLE001 - the original error matters more
                log.warning("cancelling a failed chDB insert failed: %s", exc)
            raise

    def describe(self) -> str:
        return f"chDB at {self.path}, database {self.database}"
