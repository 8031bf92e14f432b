"""A ClickHouse server through clickhouse-connect (``http(s)://user:pass@host:8123/db``).

Credentials come from the URL, else ``clickhouse.username``/``clickhouse.password`` in the settings,
else ``CLICKHOUSE_USER``/``CLICKHOUSE_PASSWORD`` in the environment. Rows are written as the same
JSONCompactColumns bytes as on chDB, with the same deduplication token.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlparse

from pingan.errors import ConfigError, UnavailableError
from pingan.sinks.base import Sink
from pingan.sinks.chdb import parse_json_each_row
from pingan.sinks.tables import COLUMNS, INSERT_FORMAT


_RETURNS_ROWS = re.compile(r"^\s*(?:--[^\n]*\n\s*)*\(?\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS)\b", re.I)


class HttpSink(Sink):
    scheme = "http"

    def __init__(self, host: str, port: int, *, secure: bool = False, username: str = "default",
                 password: str = "", connect_timeout_s: float = 5.0, verify: bool = True,
                 ca_cert: str | None = None, **options: Any):
        super().__init__(**options)
        self.host, self.port, self.secure = host, port, secure
        self.username, self._password = username, password
        self.connect_timeout_s = connect_timeout_s
        # HTTPS: verify the server's certificate and host name (against ca_cert, else the system CAs)
        self.verify, self.ca_cert = verify, ca_cert
        self._client: Any = None

    @classmethod
    def from_url(cls, url: str, *, settings: Any = None, **options: Any) -> HttpSink:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"invalid ClickHouse server URL {url!r}")
        username = unquote(parsed.username) if parsed.username else None
        password = unquote(parsed.password) if parsed.password else None
        if settings is not None:
            username = username or settings.username
            if password is None and settings.password is not None:
                password = settings.password.get_secret_value()
            options.setdefault("verify", getattr(settings, "verify", True))
            options.setdefault("ca_cert", getattr(settings, "ca_file", None))
            if getattr(settings, "connect_timeout_s", None):
                options.setdefault("connect_timeout_s", settings.connect_timeout_s)
        username = username or os.environ.get("CLICKHOUSE_USER") or "default"
        password = password if password is not None else os.environ.get("CLICKHOUSE_PASSWORD", "")
        database = parsed.path.strip("/")
        if database:
            options["database"] = database
        secure = parsed.scheme == "https"
        return cls(parsed.hostname, parsed.port or (8443 if secure else 8123), secure=secure,
                   username=username, password=password, **options)

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.host}:{self.port}/{self.database}"

    def _open(self) -> None:
        import clickhouse_connect

        try:
            bootstrap = clickhouse_connect.get_client(
                host=self.host, port=self.port, username=self.username, password=self._password,
                secure=self.secure, connect_timeout=self.connect_timeout_s, **self._tls_options(),
            )
            bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            bootstrap.close()
            self._client = clickhouse_connect.get_client(
                host=self.host, port=self.port, username=self.username, password=self._password,
                secure=self.secure, database=self.database, connect_timeout=self.connect_timeout_s,
                autogenerate_session_id=False, **self._tls_options(),
            )
        except Exception as exc:  # noqa: BLE001 - any client error means: not reachable/usable
            raise UnavailableError(f"no ClickHouse server reachable at {self.url}: {str(exc).splitlines()[0]}") from None

    def _tls_options(self) -> dict[str, Any]:
        if not self.secure:
            return {}
        options: dict[str, Any] = {"verify": self.verify}
        if self.ca_cert:
            options["ca_cert"] = self.ca_cert
        return options

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _execute(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if self._client is None:
            raise UnavailableError("the ClickHouse client is not open")
        if not _RETURNS_ROWS.match(sql):  # DDL, INSERT ... VALUES, ALTER, TRUNCATE: no FORMAT clause
            self._client.command(sql, parameters=params or None)
            return []
        data = self._client.raw_query(sql, parameters=params or None, fmt="JSONEachRow",
                                      settings={"output_format_json_quote_64bit_integers": 0,
                                                "output_format_json_validate_utf8": 1})
        return parse_json_each_row(data)

    def _insert(self, table: str, payload: bytes | Iterable[bytes], token: str) -> None:
        if self._client is None:
            raise UnavailableError("the ClickHouse client is not open")
        if not isinstance(payload, bytes):
            payload = b"".join(payload)  # the whole batch in one request body
        self._client.raw_insert(table, column_names=COLUMNS[table], insert_block=payload, fmt=INSERT_FORMAT,
                                settings={"insert_deduplication_token": token})

    def describe(self) -> str:
        return f"ClickHouse server {self.url}"
