"""ClickHouse sinks: chDB embedded (default), a ClickHouse server over HTTP, or a running worker.

``open_sink(settings.clickhouse)`` picks the backend by the URL's scheme from the explicit registry
below; nothing is opened before ``await sink.start()``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pingan.errors import ConfigError

if TYPE_CHECKING:
    from pingan.config import ClickHouseSettings
    from pingan.sinks.base import Sink

#: URL scheme -> "module:class" (each class has ``from_url(url, settings=..., **options)``).
BACKENDS: dict[str, str] = {
    "chdb": "pingan.sinks.chdb:ChdbSink",
    "http": "pingan.sinks.http:HttpSink",
    "https": "pingan.sinks.http:HttpSink",
    "worker": "pingan.sinks.remote:RemoteSink",
}


def sink_options(settings: ClickHouseSettings) -> dict[str, Any]:
    return {
        "database": settings.database,
        "batch_rows": settings.batch_rows,
        "flush_interval_s": settings.flush_interval_s,
        "max_backlog_rows": settings.max_backlog_rows,
        "personal_ttl_days": settings.personal_ttl_days,
    }


def open_sink(settings: ClickHouseSettings, *, url: str | None = None, **overrides: Any) -> Sink:
    """The sink for ``settings.url`` (or ``url``); ``overrides`` replace constructor options."""
    url = url or settings.url
    scheme = urlparse(url).scheme
    target = BACKENDS.get(scheme)
    if target is None:
        raise ConfigError(f"unsupported ClickHouse URL {url!r}: use one of {', '.join(s + '://' for s in BACKENDS)}")
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    options = sink_options(settings) | overrides
    if scheme in ("http", "https"):
        return cls.from_url(url, settings=settings, **options)
    return cls.from_url(url, **options)


__all__ = ["BACKENDS", "open_sink", "sink_options"]
