"""The batching sink: buffer rows per table, write them in batches on one dedicated thread.

Delivery is at-least-once, so every write is keyed to be harmless when repeated:

- each batch carries an insert deduplication token derived from the Kafka ranges it holds
  (``topic:partition:first-last``), its row count and a hash of its bytes, so a batch re-sent after
  a lost acknowledgement is dropped by ClickHouse (``non_replicated_deduplication_window``);
- the raw tables are keyed by id (ReplacingMergeTree) and every figure de-duplicates by id at query
  time, so the same event written again from a new offset never counts twice.

Write-behind: as soon as a table's buffer holds ``batch_rows`` rows, a batch is cut, encoded on an
encoder thread and written on the sink thread, in order, while the caller keeps adding (chDB and the
HTTP client release the GIL while they work, so writing overlaps the caller's Python work).
``flush()`` cuts what is left and returns only when every row added before the call is written:
the worker commits its offsets after that. A failing write is retried with capped exponential
backoff until it succeeds or ``stop()`` is called; meanwhile ``add()`` keeps buffering up to
``max_backlog_rows`` and then raises :class:`BackpressureError` (``wait_for_capacity()`` lets the
worker pause instead), so the worker stops consuming with bounded memory and loses nothing.

Backends implement four methods that run on the sink's own thread: ``_open``, ``_close``,
``_execute(sql, params) -> rows`` and ``_insert(table, payload, token)``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pingan.errors import BackpressureError, ConfigError, UnavailableError
from pingan.sinks.migrate import migrate
from pingan.sinks.tables import COLUMN_SPECS, encode_rows

log = logging.getLogger(__name__)
T = TypeVar("T")
Source = tuple[str, int, int, int]  # topic, partition, first_offset, last_offset
_DATABASE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass
class _Pending:
    rows: list[dict[str, Any]] = field(default_factory=list)
    ranges: dict[tuple[str, int], list[int]] = field(default_factory=dict)

    def add(self, rows: Sequence[dict[str, Any]], source: Source | None) -> None:
        self.rows.extend(rows)
        if source is not None:
            topic, partition, first, last = source
            span = self.ranges.get((topic, partition))
            if span is None:
                self.ranges[(topic, partition)] = [first, last]
            else:
                span[0] = min(span[0], first)
                span[1] = max(span[1], last)

    def range_text(self) -> str:
        return ",".join(f"{t}:{p}:{a}-{b}" for (t, p), (a, b) in sorted(self.ranges.items())) or "-"


@dataclass
class _Chunk:
    """One batch of one table, cut from the buffer; its encoding may already run in the background."""

    table: str
    rows: list[dict[str, Any]]
    ranges: str
    seq: int
    encoded: concurrent.futures.Future | None = None  # -> (payload, token)


def dedup_token(table: str, ranges: str, payload: bytes, rows: int) -> str:
    """The insert deduplication token of one batch: same ranges and same bytes -> same token."""
    digest = hashlib.blake2b(payload, digest_size=12).hexdigest()
    return f"{table}|{ranges}|{rows}|{digest}"


@dataclass
class SinkStats:
    rows_added: int = 0
    rows_written: int = 0
    batches_written: int = 0
    write_errors: int = 0
    last_error: str | None = None


class Sink(ABC):
    """Batching sink base. No I/O in the constructor; ``start()`` opens and migrates."""

    scheme = "?"

    def __init__(
        self,
        *,
        database: str = "pingan",
        batch_rows: int = 10_000,
        flush_interval_s: float = 1.0,
        max_backlog_rows: int = 200_000,
        personal_ttl_days: int = 180,
        retry_initial_s: float = 0.1,
        retry_max_s: float = 5.0,
        migrate_on_start: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not _DATABASE.match(database):
            raise ConfigError(f"invalid ClickHouse database name {database!r}")
        if batch_rows <= 0 or max_backlog_rows < batch_rows:
            raise ConfigError("clickhouse.batch_rows must be > 0 and <= clickhouse.max_backlog_rows")
        self.database = database
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.max_backlog_rows = max_backlog_rows
        self.personal_ttl_days = personal_ttl_days
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.migrate_on_start = migrate_on_start
        self.stats = SinkStats()
        self._clock = clock
        self._tails: dict[str, _Pending] = {}  # rows not yet cut into a batch, per table
        self._pending_rows = 0  # rows in _tails
        self._queued_rows = 0  # rows in batches handed to the sink thread, not yet written
        self._seq = 0  # number of batches cut
        self._writes: list[concurrent.futures.Future] = []  # batch writes not known to have succeeded
        self._unflushed_rows = 0  # rows added since the last completed flush
        self._unstarted: list[_Chunk] = []  # batches cut before start()
        self._lock = threading.Lock()  # counters shared with the sink thread
        self._wake = threading.Event()  # interrupts a retry's backoff on stop()
        self._last_flush = clock()
        self._executor: ThreadPoolExecutor | None = None  # the one thread that talks to ClickHouse
        self._encoder: ThreadPoolExecutor | None = None  # encodes the next batch meanwhile (no I/O)
        self._flush_lock: asyncio.Lock | None = None
        self._started_event = asyncio.Event()
        self.start_wait_s = 120.0  # how long flush() waits for a start() in progress
        self._stopping = False
        self._started = False

    # ---- backend hooks (called on the sink thread only) ----
    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    @abstractmethod
    def _execute(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]: ...

    @abstractmethod
    def _insert(self, table: str, payload: bytes, token: str) -> None: ...

    # ---- lifecycle ----
    async def start(self) -> None:
        """Open the client on the sink thread and run migrations (idempotent)."""
        if self._started:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"pingan-sink-{self.scheme}")
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pingan-sink-encode")
        self._flush_lock = asyncio.Lock()
        self._stopping = False
        self._wake.clear()
        try:
            await self._call(self._open)
            if self.migrate_on_start:
                await self._call(self._migrate)
        except BaseException:
            await self._call(self._close_quietly)
            self._shutdown_threads()
            raise
        self._started = True
        self._started_event.set()
        self._last_flush = self._clock()

    async def stop(self) -> None:
        """Stop retrying, close the client and the thread. Unwritten rows stay uncommitted upstream."""
        self._stopping = True
        self._wake.set()
        if self._executor is None:
            return
        await self._call(self._close_quietly)
        self._shutdown_threads()
        self._started = False
        self._started_event.clear()

    def _shutdown_threads(self) -> None:
        for pool in (self._executor, self._encoder):
            if pool is not None:
                pool.shutdown(wait=True)
        self._executor = self._encoder = None

    def _close_quietly(self) -> None:
        try:
            self._close()
        except Exception as exc:  # noqa: BLE001 - closing must not mask the real error
            log.warning("closing the %s sink failed: %s", self.scheme, exc)

    def _migrate(self) -> list[str]:
        return migrate(self._execute, personal_ttl_days=self.personal_ttl_days)

    async def migrate(self) -> list[str]:
        """Apply pending migrations now (``pingan db migrate``); returns what was done."""
        return await self._call(self._migrate)

    # ---- writing ----
    def add(self, table: str, rows: Sequence[dict[str, Any]], source: Source | None = None) -> None:
        """Buffer ``rows`` for ``table``; ``source`` is the Kafka range they came from."""
        if table not in COLUMN_SPECS:
            raise ConfigError(f"unknown table {table!r}; writable tables: {', '.join(COLUMN_SPECS)}")
        if not rows:
            return
        if not self.has_capacity(len(rows)):
            backlog = self.backlog_rows
            raise BackpressureError(
                f"ClickHouse sink backlog is {backlog} rows (max {self.max_backlog_rows}): "
                f"stop consuming until the pending batches are written ({self.stats.last_error or 'writing'})"
            )
        tail = self._tails.setdefault(table, _Pending())
        tail.add(rows, source)
        self._pending_rows += len(rows)
        self._unflushed_rows += len(rows)
        self.stats.rows_added += len(rows)
        while len(tail.rows) >= self.batch_rows:
            self._cut(table, tail, self.batch_rows)

    def _cut(self, table: str, tail: _Pending, size: int) -> None:
        """Cut the first ``size`` rows of ``tail`` into a batch: encode it on the encoder thread and
        queue its write on the sink thread (writes run in cut order)."""
        self._seq += 1
        chunk = _Chunk(table, tail.rows[:size], tail.range_text(), self._seq)
        del tail.rows[:size]
        if not tail.rows:
            tail.ranges.clear()
        rows = len(chunk.rows)
        with self._lock:
            self._pending_rows -= rows
            self._queued_rows += rows
        if self._executor is None or self._encoder is None:
            self._unstarted.append(chunk)  # written once start() has opened the client
            return
        chunk.encoded = self._encoder.submit(self._encode, table, chunk.rows, chunk.ranges)
        self._writes = [f for f in self._writes if not f.done() or f.exception() is not None]
        self._writes.append(self._executor.submit(self._write_blocking, chunk))

    @property
    def pending_rows(self) -> int:
        """Rows buffered but not yet cut into a batch."""
        return self._pending_rows

    @property
    def backlog_rows(self) -> int:
        """Rows added and not yet written (buffered or in batches waiting for the writer)."""
        return self._pending_rows + self._queued_rows

    def has_capacity(self, rows: int = 0) -> bool:
        """True when ``add()`` of ``rows`` more rows would not raise :class:`BackpressureError`."""
        backlog = self.backlog_rows
        return backlog == 0 or backlog + rows <= self.max_backlog_rows

    async def wait_for_capacity(self, rows: int = 0, poll_s: float = 0.05) -> None:
        """Wait (without consuming) until ``rows`` more rows fit; the writer frees the backlog."""
        while not self.has_capacity(rows):
            if self._stopping:
                raise UnavailableError("the ClickHouse sink is stopping")
            await asyncio.sleep(poll_s)

    def should_flush(self) -> bool:
        """Time to flush (and commit): rows added since the last flush, and the interval elapsed or
        half the backlog limit reached. Full batches are written without waiting for a flush."""
        if self._unflushed_rows == 0:
            return False
        if self._unflushed_rows >= max(self.batch_rows, self.max_backlog_rows // 2):
            return True
        return self._clock() - self._last_flush >= self.flush_interval_s

    async def flush(self) -> int:
        """Write every row added so far; retry failures until written (or ``stop()``).

        Returns how many rows were still unwritten at the call."""
        if self._stopping:
            raise UnavailableError("the ClickHouse sink is stopping")
        if not self._started:
            # a consumer may hand over rows before start() has opened the client: wait for it
            try:
                await asyncio.wait_for(self._started_event.wait(), timeout=self.start_wait_s)
            except asyncio.TimeoutError:
                raise UnavailableError("the ClickHouse sink is not started") from None
        assert self._flush_lock is not None
        async with self._flush_lock:
            unstarted, self._unstarted = self._unstarted, []
            for chunk in unstarted:
                chunk.encoded = self._encoder.submit(self._encode, chunk.table, chunk.rows, chunk.ranges)
                self._writes.append(self._executor.submit(self._write_blocking, chunk))
            for table, tail in self._tails.items():
                while tail.rows:
                    self._cut(table, tail, self.batch_rows)
            unwritten = self._queued_rows
            covered = self._unflushed_rows
            writes = list(self._writes)
            if writes:
                # all must finish (they run in order); the first failure is raised
                await asyncio.gather(*(asyncio.wrap_future(f) for f in writes))
                self._writes = [f for f in self._writes if f not in writes]
            self._unflushed_rows -= covered
            self._last_flush = self._clock()
            return unwritten

    def _write_blocking(self, chunk: _Chunk) -> int:
        """On the sink thread: write one batch, retrying with capped backoff until it is written or
        the sink stops (then the rows stay in the backlog: their offsets are never committed)."""
        assert chunk.encoded is not None
        payload, token = chunk.encoded.result()
        rows = len(chunk.rows)
        delay = self.retry_initial_s
        while True:
            try:
                self._insert(chunk.table, payload, token)
            except Exception as exc:  # noqa: BLE001 - every write failure is retried
                with self._lock:
                    self.stats.write_errors += 1
                    self.stats.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
                if self._stopping:
                    raise UnavailableError(
                        f"ClickHouse sink stopped with {self.backlog_rows} rows unwritten "
                        f"(last error: {self.stats.last_error})"
                    ) from None
                log.warning("writing %d rows to %s failed (%s); retrying in %.2fs",
                            rows, chunk.table, self.stats.last_error, delay)
                self._wake.wait(delay)
                delay = min(delay * 2, self.retry_max_s)
                continue
            with self._lock:
                self._queued_rows -= rows
                self.stats.rows_written += rows
                self.stats.batches_written += 1
            chunk.encoded = None  # the bytes are no longer needed
            return rows

    @staticmethod
    def _encode(table: str, rows: list[dict[str, Any]], ranges: str) -> tuple[bytes, str]:
        payload = encode_rows(table, rows)
        return payload, dedup_token(table, ranges, payload, len(rows))

    # ---- reading ----
    async def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a read query (``{name:Type}`` placeholders bound from ``params``); rows as dicts."""
        return await self._call(self._execute, sql, params)

    def query_sync(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Blocking variant for the CLI and tests (still executed on the sink thread)."""
        if self._executor is None:
            raise UnavailableError("the ClickHouse sink is not started")
        return self._executor.submit(self._execute, sql, params).result()

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise UnavailableError("the ClickHouse sink is not started")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def describe(self) -> str:
        return f"{self.scheme} sink, database {self.database}"
