"""chDB fixtures: one chDB path per test process, one database per test.

chDB locks its data directory and a process can open only one path, so every test in this process
that needs an embedded ClickHouse uses :func:`chdb_root` and a database of its own. Import the
fixtures into a test module with ``from conftest_sink import chdb_database, make_sink, run``.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

_ROOT: Path | None = None
_COUNTER = itertools.count(1)


def chdb_root() -> Path:
    """The chDB data directory of this test process (created on first use, removed at exit)."""
    global _ROOT
    if _ROOT is None:
        _ROOT = Path(tempfile.mkdtemp(prefix="pingan-chdb-test-"))
        atexit.register(shutil.rmtree, _ROOT, True)
    return _ROOT


def new_database() -> str:
    return f"pingan_test_{os.getpid()}_{next(_COUNTER)}"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def chdb_database() -> str:
    return new_database()


@pytest.fixture
def make_sink(chdb_database: str):
    """``make_sink(cls=ChdbSink, **options)``: an unstarted sink on this test's database."""
    from pingan.sinks.chdb import ChdbSink

    def make(cls: type = ChdbSink, **options: Any) -> Any:
        options.setdefault("database", chdb_database)
        options.setdefault("retry_initial_s", 0.01)
        options.setdefault("retry_max_s", 0.05)
        return cls(chdb_root(), **options)

    return make
