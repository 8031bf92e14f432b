"""The batching sink: buffer rows per table, write them in batches on one dedicated thread.

Delivery is at-least-once, so every write is keyed to be harmless when repeated:

- each batch carries an insert deduplication token derived from the Kafka ranges it holds
  (``topic:partition:first-last``), its row count and a hash of its rows' ids (event ids, alert
  ids, dead-letter offsets), so a batch re-sent after a lost acknowledgement, or cut again from the
  same offsets after a restart, is dropped by ClickHouse (``non_replicated_deduplication_window``);
- the raw tables are keyed by id (ReplacingMergeTree) and every figure de-duplicates by id at query
  time, so the same event written again from a new offset never counts twice.

Write-behind: as soon as a table's buffer holds ``batch_rows`` rows, a batch is cut, encoded on an
encoder thread and written on the sink thread, in order, while the caller keeps adding (chDB and the
HTTP client release the GIL while they work, so writing overlaps the caller's Python work). The
encoder makes a batch one column at a time and the writer opens the INSERT as soon as the token is
known and streams the columns into it, so the engine parses a batch while the rest of it is encoded.
``flush()`` cuts what is left and returns only when every row added before the call is written:
the worker commits its offsets after that. A failing write is retried with capped exponential
backoff until it succeeds or ``stop()`` is called; meanwhile ``add()`` keeps buffering up to
``max_backlog_rows`` and then raises :class:`BackpressureError` (``wait_for_capacity()`` lets the
worker pause instead), so the worker stops consuming with bounded memory and loses nothing.

Backends implement four methods that run on the sink's own thread: ``_open``, ``_close``,
``_execute(sql, params) -> rows`` and ``_insert(table, payload, token)``; ``payload`` is ``bytes``
or an iterable of byte parts made while the insert runs (iterable again on a retry; a failure to
encode raises :class:`EncodingFailed` from it, which the backend lets through without committing).
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pingan.errors import BackpressureError, ConfigError, UnavailableError
from pingan.sinks.migrate import migrate
from pingan.sinks.tables import COLUMN_SPECS, COLUMNS, IDENTITY_COLUMNS, iter_columns

log = logging.getLogger(__name__)
T = TypeVar("T")
Source = tuple[str, int, int, int]  # topic, partition, first_offset, last_offset
_DATABASE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
#: table -> indexes of its identity columns in the written column order
_IDENTITY = {t: tuple(COLUMNS[t].index(c) for c in cols) for t, cols in IDENTITY_COLUMNS.items()}


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


class _Encoding:
    """The bytes of one batch, made on the encoder thread one column at a time.

    The token is known as soon as the identity columns are encoded (they come first for every table
    but ``deadletters``), so the writer can open the INSERT and stream the columns while the rest of
    the batch is still being encoded (chDB parses what it has received meanwhile). Iterating yields
    the bytes from the start every time (a retried write sends them again) and blocks until more
    are made; an encoding failure is raised to the writer as :class:`EncodingFailed`."""

    def __init__(self) -> None:
        self._ready = threading.Condition(threading.Lock())
        self._pieces: list[bytes] = []
        self._token: str | None = None
        self._complete = False
        self._error: BaseException | None = None

    # -- the encoder thread --
    def start(self, token: str, pieces: list[bytes]) -> None:
        with self._ready:
            self._token = token
            self._pieces.extend(pieces)
            self._ready.notify_all()

    def put(self, *pieces: bytes) -> None:
        with self._ready:
            self._pieces.extend(pieces)
            self._ready.notify_all()

    def close(self) -> None:
        with self._ready:
            self._complete = True
            self._ready.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self._ready:
            self._error = exc
            self._ready.notify_all()

    # -- the writer thread --
    def token(self) -> str:
        with self._ready:
            self._ready.wait_for(lambda: self._token is not None or self._error is not None)
            if self._error is not None:
                raise EncodingFailed(self._error)
            assert self._token is not None
            return self._token

    def __iter__(self) -> Iterator[bytes]:
        """Every part, from the first; blocks until the next one is made."""
        sent = 0
        while True:
            with self._ready:
                self._ready.wait_for(lambda: len(self._pieces) > sent or self._complete or self._error is not None)
                if self._error is not None:
                    raise EncodingFailed(self._error)
                ready = self._pieces[sent:]
                done = self._complete
            sent += len(ready)
            yield from ready
            if done and not ready:
                return


class EncodingFailed(Exception):
    """Encoding a batch failed (a row the table cannot store): the batch is not retried."""

    def __init__(self, cause: BaseException):
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


@dataclass
class _Chunk:
    """One batch of one table, cut from the buffer; its encoding may already run in the background."""

    table: str
    rows: list[dict[str, Any]]
    ranges: str
    seq: int
    encoded: _Encoding | None = None


def dedup_token(table: str, ranges: str, identity: Iterable[bytes], rows: int) -> str:
    """The insert deduplication token of one batch: its table, the Kafka ranges it came from, its
    row count and a hash of its identity columns (event ids, alert ids, dead-letter offsets; see
    ``tables.IDENTITY_COLUMNS``): the same offsets give the same rows, hence the same token."""
    digest = hashlib.blake2b(digest_size=12)
    for column in identity:
        digest.update(column)
    return f"{table}|{ranges}|{rows}|{digest.hexdigest()}"


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
    def _insert(self, table: str, payload: bytes | Iterable[bytes], token: str) -> None: ...

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
        self._submit(chunk)
        self._writes = [f for f in self._writes if not f.done() or f.exception() is not None]

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
                self._submit(chunk)
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

    def _submit(self, chunk: _Chunk) -> None:
        """Encode ``chunk`` on the encoder thread and queue its write on the sink thread (writes run
        in cut order; the writer streams the bytes as they are made)."""
        assert self._executor is not None and self._encoder is not None
        chunk.encoded = _Encoding()
        self._encoder.submit(self._encode, chunk.encoded, chunk.table, chunk.rows, chunk.ranges)
        self._writes.append(self._executor.submit(self._write_blocking, chunk))

    def _write_blocking(self, chunk: _Chunk) -> int:
        """On the sink thread: write one batch, retrying with capped backoff until it is written or
        the sink stops (then the rows stay in the backlog: their offsets are never committed)."""
        encoded = chunk.encoded
        assert encoded is not None
        try:
            token = encoded.token()
        except EncodingFailed as exc:
            raise exc.cause from None  # rows this table cannot store: not a write failure to retry
        rows = len(chunk.rows)
        delay = self.retry_initial_s
        while True:
            try:
                self._insert(chunk.table, encoded, token)
            except EncodingFailed as exc:
                raise exc.cause from None
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
    def _encode(out: _Encoding, table: str, rows: list[dict[str, Any]], ranges: str) -> None:
        """On the encoder thread: the JSONCompactColumns bytes of ``rows`` (``[col,col,...]``), one
        column at a time; the token as soon as the identity columns are encoded."""
        try:
            identity = _IDENTITY[table]
            last = max(identity)
            head: list[bytes] = []
            for i, column in enumerate(iter_columns(table, rows)):
                if i < last:
                    head.append(column)
                elif i == last:
                    head.append(column)
                    token = dedup_token(table, ranges, (head[k] for k in identity), len(rows))
                    out.start(token, [b"[", head[0], *(p for part in head[1:] for p in (b",", part))])
                else:
                    out.put(b",", column)
            out.put(b"]")
            out.close()
        except BaseException as exc:  # noqa: BLE001 - handed to the writer, which raises it
            out.fail(exc)

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
