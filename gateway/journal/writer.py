"""AsyncJournal: the journal as the reactor sees it, with group commit.

Writes go to ONE writer thread. Whatever is queued when it wakes (up to ``max_operations``) runs
in one transaction, each operation inside its own SAVEPOINT so a failing one fails only its own
Deferred; then one COMMIT, i.e. one fsync, for the lot. Under load many submissions share each
fsync; alone, a submission waits for exactly one. Reads run on a small pool of reader threads,
each with its own connection (WAL: they never block the writer).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from .. import metrics
from ..config import JournalSection
from .store import SqliteJournal, SqliteJournalReader

_STOP = object()


class AsyncJournal(Service):
    name = "journal"

    WRITES = ("record_received", "record_outcome", "record_event", "outbox_delivered",
              "outbox_parked", "record_response", "stage_outbox", "discard_staged")
    READS = ("get_submission", "timeline", "payload", "payload_path", "find_duplicate",
             "unfinished", "outbox_pending", "outbox_depth", "get_response", "audit_events")

    def __init__(self, factory: Callable[[], SqliteJournal], reactor: Any = None, *,
                 max_operations: int = 512, max_delay_ms: float = 0.0,
                 readers: int = 2) -> None:  # fmt: skip
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.reactor = reactor
        self._factory = factory
        self.max_operations = max_operations
        self.max_delay = max_delay_ms / 1000.0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._journal: SqliteJournal | None = None
        self._reader_threads = readers
        self._pool = ThreadPool(minthreads=1, maxthreads=readers, name="journal-readers")
        self._local = threading.local()
        self._readers: list[SqliteJournalReader] = []
        self._readers_lock = threading.Lock()
        self._stopped: Deferred[None] | None = None

    # -- service
    def startService(self) -> None:
        self._journal = self._factory()
        super().startService()
        self._writer = threading.Thread(target=self._write_loop, name="journal-writer",
                                        daemon=True)  # fmt: skip
        self._writer.start()
        # a stopped ThreadPool cannot start again: a fresh one per start
        self._pool = ThreadPool(minthreads=1, maxthreads=self._reader_threads,
                                name="journal-readers")  # fmt: skip
        self._local = threading.local()
        self._pool.start()

    def stopService(self) -> Deferred[None]:
        """Every write queued before this call is committed before the Deferred fires."""
        super().stopService()
        self._stopped = Deferred()
        self._queue.put(_STOP)
        d = self._stopped

        def closed(_: Any) -> None:
            self._pool.stop()
            with self._readers_lock:
                for r in self._readers:
                    r.close()
                self._readers.clear()

        d.addCallback(closed)
        return d

    @property
    def commits(self) -> int:
        return self._journal.commits if self._journal else 0

    def ping(self) -> bool:
        return self.running and self._writer is not None and self._writer.is_alive()

    # -- writes: group commit on the writer thread
    def _submit(self, name: str, *args: Any, **kwargs: Any) -> Deferred[Any]:
        if not self.running:
            return defer.fail(RuntimeError("the journal is not running"))
        d: Deferred[Any] = Deferred()
        self._queue.put((name, args, kwargs, d))
        return d

    def _write_loop(self) -> None:
        journal = self._journal
        assert journal is not None
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            if self.max_delay:
                time.sleep(self.max_delay)  # a moment for company (only when configured)
            while len(batch) < self.max_operations:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._commit(journal, batch)
        journal.close()
        self.reactor.callFromThread(self._stopped.callback, None)  # type: ignore[union-attr]

    def _commit(self, journal: SqliteJournal, batch: list[Any]) -> None:
        started = time.perf_counter()
        results: list[tuple[Deferred[Any], Any, bool]] = []
        try:
            journal.begin()
            for i, (name, args, kwargs, d) in enumerate(batch):
                sp = f"op{i}"
                journal.savepoint(sp)
                try:
                    value = getattr(journal, name)(*args, **kwargs)
                    journal.release(sp)
                    results.append((d, value, True))
                except Exception:
                    journal.rollback_to(sp)
                    results.append((d, Failure(), False))
            journal.commit()
        except Exception:
            failure = Failure()
            journal.rollback()
            results = [(d, failure, False) for (_, _, _, d) in batch]
        metrics.JOURNAL_COMMIT_SECONDS.observe(time.perf_counter() - started)
        metrics.JOURNAL_BATCH_SIZE.observe(len(batch))
        self.reactor.callFromThread(_fire_all, results)

    # -- reads on the reader pool
    def _reader(self) -> SqliteJournalReader:
        r = getattr(self._local, "reader", None)
        if r is None:
            assert self._journal is not None
            r = self._local.reader = self._journal.reader()
            with self._readers_lock:
                self._readers.append(r)
        return r

    def _read(self, name: str, *args: Any, **kwargs: Any) -> Deferred[Any]:
        if not self.running:
            return defer.fail(RuntimeError("the journal is not running"))
        return deferToThreadPool(self.reactor, self._pool,
                                 lambda: getattr(self._reader(), name)(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        if name in AsyncJournal.WRITES:
            return lambda *a, **kw: self._submit(name, *a, **kw)
        if name in AsyncJournal.READS:
            return lambda *a, **kw: self._read(name, *a, **kw)
        raise AttributeError(name)


def _fire_all(results: list[tuple[Deferred[Any], Any, bool]]) -> None:
    for d, value, ok in results:
        if ok:
            d.callback(value)
        else:
            d.errback(value)


def open_journal(settings: JournalSection, base: Path, reactor: Any = None) -> AsyncJournal:
    path = Path(settings.path)
    if not path.is_absolute():
        path = base / path
    return AsyncJournal(lambda: SqliteJournal(path), reactor,
                        max_operations=settings.group_commit_max_operations,
                        max_delay_ms=settings.group_commit_max_delay_ms)  # fmt: skip
