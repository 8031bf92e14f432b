"""Queries through a running worker: the worker owns the embedded chDB, others ask it over HTTP.

Worker side: ``POST /query`` with ``{"sql": "...", "params": {...}}`` calls
``await handle_query(sink, body)`` and answers ``{"rows": [...]}``. Only one read-only statement
(``SELECT`` or ``WITH``) is accepted, and it runs wrapped with ``readonly = 1`` so the engine itself
refuses writes, DDL and file/url table functions.

Client side: :class:`RemoteSink` (URL ``worker://127.0.0.1:6066``) answers ``query()`` by posting to
that endpoint; it cannot write.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

from pingan.errors import PinganError, UnavailableError

MAX_SQL_CHARS = 100_000
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")


class QueryRejected(PinganError):
    """A remote query is not a single read-only SELECT/WITH statement."""


def check_read_only(sql: str) -> str:
    """Return the statement (trailing ``;`` removed) or raise :class:`QueryRejected`."""
    if not isinstance(sql, str) or not sql.strip():
        raise QueryRejected("body.sql must be a non-empty string")
    if len(sql) > MAX_SQL_CHARS:
        raise QueryRejected(f"body.sql is longer than {MAX_SQL_CHARS} characters")
    text = sql.strip().rstrip(";").strip()
    bare = _STRING.sub("''", _COMMENT.sub(" ", text))
    if ";" in bare:
        raise QueryRejected("only one statement is allowed")
    first = bare.lstrip("( \n\t").split(None, 1)[0].upper() if bare.strip() else ""
    if first not in ("SELECT", "WITH"):
        raise QueryRejected(f"only SELECT or WITH queries are allowed, not {first or 'nothing'}")
    if re.search(r"\bINTO\s+OUTFILE\b", bare, re.I):
        raise QueryRejected("INTO OUTFILE is not allowed")
    return text


def _check_params(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise QueryRejected("body.params must be an object")
    for name, value in params.items():
        if not _PARAM_NAME.match(str(name)):
            raise QueryRejected(f"invalid parameter name {name!r}")
        if not isinstance(value, (str, int, float, bool, type(None), list)):
            raise QueryRejected(f"parameter {name!r} must be a string, number, boolean, null or list")
    return params


async def handle_query(sink: Any, body: Any) -> dict[str, Any]:
    """Validate ``{"sql", "params"}`` and run it read-only on ``sink``; returns ``{"rows": [...]}``."""
    if not isinstance(body, dict):
        raise QueryRejected("the body must be a JSON object with 'sql' and optional 'params'")
    sql = check_read_only(body.get("sql"))
    params = _check_params(body.get("params"))
    rows = await sink.query(f"SELECT * FROM (\n{sql}\n) SETTINGS readonly = 1", params or None)
    return {"rows": rows}


class RemoteSink:
    """Read-only access to a worker's ClickHouse through its web port (``worker://host:port``)."""

    scheme = "worker"

    def __init__(self, host: str = "127.0.0.1", port: int = 6066, *, timeout_s: float = 300.0, **_: Any):
        self.url = f"http://{host}:{port}/query"
        self.timeout_s = timeout_s
        self.database = _.get("database", "pingan")

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RemoteSink:
        parsed = urlparse(url)
        return cls(parsed.hostname or "127.0.0.1", parsed.port or 6066, **options)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def add(self, *args: Any, **kwargs: Any) -> None:
        raise UnavailableError("a remote (worker) sink is read-only")

    def should_flush(self) -> bool:
        return False

    async def flush(self) -> int:
        return 0

    async def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.query_sync, sql, params)

    def query_sync(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        data = json.dumps({"sql": sql, "params": params or {}}).encode("utf-8")
        request = urllib.request.Request(self.url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                reason = json.loads(exc.read()).get("error", exc.reason)
            except (ValueError, AttributeError):
                reason = exc.reason
            raise UnavailableError(f"the worker at {self.url} refused the query: {reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise UnavailableError(f"no worker answers at {self.url}: {getattr(exc, 'reason', exc)}") from None
        if "rows" not in answer:
            raise UnavailableError(f"the worker at {self.url} answered without rows: {answer.get('error')}")
        return answer["rows"]

    def describe(self) -> str:
        return f"worker at {self.url}"
