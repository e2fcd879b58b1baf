"""Worker processes for the CPU-heavy stage, so the reactor never stalls.

Two pools: small submissions go to ``workers`` processes, submissions of at least
``large_submission_bytes`` to their own ``large_workers`` processes. A 100 MB interchange therefore
occupies a large-pool worker for its minute while small submissions keep being acknowledged in
milliseconds by the small pool (measured: bench/gateway_bench.py, docs/performance.md).

Processes are started with ``spawn``: forking a process that runs a reactor and threads (journal
writer, reader pool) would copy locks in unknown states.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import msgspec
from twisted.application.service import Service
from twisted.internet.defer import Deferred

from .process import (
    ProcessResult,
    ReceiptContext,
    decode_result,
    encode_result,
    init_signer,
    process_submission,
    warm_up,
)

#: scheduling niceness of the large-submission workers
LARGE_NICE = 19


def _init_worker(parent: int, signing: tuple[str, str, str | None] | None,
                 nice: int = 0) -> None:  # fmt: skip
    """Die with the gateway: a SIGKILLed gateway must not leave workers behind (Linux
    PR_SET_PDEATHSIG; elsewhere they exit when their call queue closes)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)
    if nice:
        # large interchanges are batch work: the scheduler gives the CPU to the small
        # submissions' workers and the reactor first (their acknowledgements wait on it)
        os.nice(nice)
    if signing is not None:
        init_signer(*signing)
    warm_up()


def _run(payload: bytes | None, path: str | None, rule_set: str, reject: bool,
         context: bytes | None, spool: str | None) -> bytes:  # fmt: skip
    # msgpack over the pipe: several times cheaper to pass back than pickled structs
    ctx = msgspec.msgpack.decode(context, type=ReceiptContext) if context else None
    return encode_result(process_submission(payload, path, rule_set=rule_set,
                                            reject_rule_errors=reject, context=ctx,
                                            spool=spool))  # fmt: skip


class WorkerPool(Service):
    name = "workers"

    def __init__(self, reactor: Any, *, workers: int = 2, large_workers: int = 1,
                 large_submission_bytes: int = 1 << 20, rule_set: str = "default",
                 reject_rule_errors: bool = False,
                 signing: tuple[str, str, str | None] | None = None) -> None:  # fmt: skip
        self._reactor = reactor
        self._sizes = (workers, large_workers)
        self.large_submission_bytes = large_submission_bytes
        self._rule_set = rule_set
        self._reject = reject_rule_errors
        self._signing = signing
        self._small: ProcessPoolExecutor | None = None
        self._large: ProcessPoolExecutor | None = None

    def _executor(self, size: int, nice: int = 0) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=size, initializer=_init_worker,
                                   initargs=(os.getpid(), self._signing, nice),
                                   mp_context=multiprocessing.get_context("spawn"))  # fmt: skip

    def startService(self) -> None:
        super().startService()
        # results come back through the executor's threads and callFromThread: with the
        # default 5 ms GIL switch interval each hop can wait that long behind the reactor
        # thread; 0.5 ms keeps the hops short (measured: bench/gateway_bench.py)
        sys.setswitchinterval(0.0005)
        self._small = self._executor(self._sizes[0])
        self._large = self._executor(self._sizes[1], LARGE_NICE)
        # start the processes now (and warm them up) rather than on the first submission
        for pool, n in ((self._small, self._sizes[0]), (self._large, self._sizes[1])):
            for _ in range(n):
                pool.submit(int)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        pools = [p for p in (self._small, self._large) if p is not None]
        self._small = self._large = None
        from twisted.internet.threads import deferToThreadPool

        def shutdown() -> None:
            for p in pools:
                p.shutdown(wait=True, cancel_futures=True)

        return deferToThreadPool(self._reactor, self._reactor.getThreadPool(), shutdown)

    def is_large(self, size: int) -> bool:
        return size >= self.large_submission_bytes

    def process(self, size: int, payload: bytes | None, path: str | None,
                context: ReceiptContext | None = None, spool: str | None = None,
                ) -> Deferred[ProcessResult]:  # fmt: skip
        large = self.is_large(size)
        ctx = msgspec.msgpack.encode(context) if context is not None else None
        args = (payload, path, self._rule_set, self._reject, ctx, spool)
        pool = self._large if large else self._small
        if pool is None:
            raise RuntimeError("the worker pool is not running")
        try:
            future = pool.submit(_run, *args)
        except BrokenProcessPool:
            # a worker died (e.g. killed by the OOM killer): replace the pool and retry once
            pool = self._executor(self._sizes[1 if large else 0], LARGE_NICE if large else 0)
            if large:
                self._large = pool
            else:
                self._small = pool
            future = pool.submit(_run, *args)
        d: Deferred[ProcessResult] = Deferred()

        def done(f: Future[bytes]) -> None:
            # runs in the executor's management thread: hand the result to the reactor thread
            self._reactor.callFromThread(_fire, d, f)

        future.add_done_callback(done)
        return d


def _fire(d: Deferred[ProcessResult], f: Future[bytes]) -> None:
    exc = f.exception()
    if exc is not None:
        d.errback(exc)
    else:
        d.callback(decode_result(f.result()))
