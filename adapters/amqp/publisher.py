"""Outbox to broker: publishes what the journal's outbox holds, with publisher confirms.

A row leaves the outbox only when the broker has confirmed it (``outbox_delivered``) or, when no
queue would take it, once a copy sits in the parking queue (``outbox_parked``). Anything else (a
nack, a lost channel or connection) leaves the row pending and it is published again later: the
contract with the backends is *at least once*, and they de-duplicate on ``message_id``.

Flow: ``wake()`` (new rows committed) or the poll timer marks the outbox dirty; while a confirm
channel is open the publisher reads pending rows after its cursor into a buffer and publishes
them, keeping at most ``confirm_window`` unconfirmed. Confirms arriving together are written to
the journal together (one ``outbox_delivered`` per reactor turn). A new channel (after a
reconnection) starts again from the beginning of the outbox, because every message that was in
flight may or may not have reached the broker.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pika
import structlog
from pika.adapters.twisted_connection import ReceivedMessage, TwistedChannel
from pika.exceptions import ChannelClosedByBroker, NackError, UnroutableError
from twisted.application import service
from twisted.internet import defer, task
from twisted.internet.interfaces import IDelayedCall
from twisted.python.failure import Failure

from ... import metrics
from ...config import AmqpSection
from ...journal.base import OutboxMessage
from .connection import AmqpConnectionService

log = structlog.get_logger("edigate.amqp")

#: header added to a parked copy: where the message could not be routed ("exchange/routing_key")
UNROUTABLE_HEADER = "x-edigate-unroutable"


class OutboxSource(Protocol):
    """The outbox as the publisher sees it (the journal's AsyncJournal provides it). All methods
    are called in the reactor thread and may return plain values or Deferreds."""

    def outbox_pending(self, after_seq: int, limit: int) -> defer.Deferred[list[OutboxMessage]]:
        """Up to ``limit`` pending rows with ``seq > after_seq``, in ``seq`` order."""
        ...

    def outbox_delivered(self, seqs: Sequence[int]) -> defer.Deferred[None]: ...

    def outbox_parked(self, seqs: Sequence[int], reason: str) -> defer.Deferred[None]: ...

    def outbox_depth(self) -> defer.Deferred[int]: ...


@dataclass(slots=True)
class PublisherStats:
    """Counters since start, for tests and diagnostics (metrics carry the same in Prometheus)."""

    published: int = 0  # basic.publish calls, parked copies and republications included
    confirmed: int = 0  # outbox rows confirmed where they were addressed
    nacked: int = 0
    unroutable: int = 0
    parked: int = 0  # parked copies confirmed
    failed: int = 0  # outcome lost with the channel or connection
    max_in_flight: int = 0  # high-water mark of unconfirmed messages
    channels: int = 0  # confirm channels opened (1 + reopenings)
    journal_writes: int = 0  # outbox_delivered / outbox_parked calls


@dataclass(slots=True, eq=False)
class _Flight:
    """One outbox row between publish and confirm (primary publish, then maybe its parked copy)."""

    msg: OutboxMessage
    started: float
    key: tuple[str, str, str] = ("", "", "")  # (message_id, exchange, routing_key) as published
    returned: str | None = None  # "312 NO_ROUTE" once basic.return named this message
    parking_reason: str | None = None  # set while the parked copy awaits its confirm


class OutboxPublisher(service.Service):
    """Publishes the outbox of ``source`` over ``connection`` (see the module docstring).

    ``confirm_window`` and ``parking_exchange`` default to ``settings`` (by default the
    connection's); ``batch`` (rows read per ``outbox_pending`` call) defaults to the window.
    """

    def __init__(self, connection: AmqpConnectionService, source: OutboxSource,
                 settings: AmqpSection | None = None, *,
                 confirm_window: int | None = None, parking_exchange: str | None = None,
                 app_id: str = "edigate", poll_interval: float = 1.0, retry_delay: float = 1.0,
                 depth_interval: float = 5.0, batch: int | None = None,
                 drain_timeout: float = 5.0, reactor: Any = None) -> None:  # fmt: skip
        self.connection = connection
        self.source = source
        self.reactor = reactor if reactor is not None else connection.reactor
        settings = settings if settings is not None else connection.settings
        self.window = confirm_window if confirm_window is not None else settings.confirm_window
        if self.window < 1:
            raise ValueError("confirm_window must be at least 1")
        self.parking_exchange = parking_exchange or settings.parking_exchange
        self.app_id = app_id
        self.poll_interval = poll_interval
        self.retry_delay = retry_delay
        self.depth_interval = depth_interval
        self.batch = batch or self.window
        self.drain_timeout = drain_timeout
        self.stats = PublisherStats()
        #: publishing is limited to the declared topology: an exchange that does not exist would
        #: make the broker close the channel, stalling every other message behind this one
        self._exchanges = connection.topology.exchange_names
        self._channel: TwistedChannel | None = None
        self._opening = False
        self._cursor = 0
        self._swept = False
        self._dirty = True
        self._fetching = False
        self._gen = 0  # bumped whenever in-flight state is thrown away
        self._in_flight: dict[int, _Flight] = {}
        self._by_key: dict[tuple[str, str, str], set[int]] = {}
        self._buffer: deque[OutboxMessage] = deque()
        self._buffered: set[int] = set()
        self._retry: dict[int, OutboxMessage] = {}
        self._settling: set[int] = set()  # confirmed or parked, journal write not yet done
        self._settled_during_fetch: set[int] = set()
        self._acked: list[int] = []
        self._parked: dict[str, list[int]] = {}
        self._writes: set[defer.Deferred[Any]] = set()
        self._pumping = False
        self._pump_again = False
        self._redeclaring = False
        self._flush_call: IDelayedCall | None = None
        self._retry_call: IDelayedCall | None = None
        self._reopen_call: IDelayedCall | None = None
        self._drained: defer.Deferred[None] | None = None
        self._poll: task.LoopingCall | None = None
        self._depth: task.LoopingCall | None = None

    # -- public

    def wake(self) -> None:
        """New rows were committed: look now rather than at the next poll."""
        self._dirty = True
        self._swept = False  # they may be behind the cursor (released staged rows)
        self._pump()

    def is_ready(self) -> bool:
        """True while a confirm channel is open (a readiness check)."""
        return self._channel is not None

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # -- service

    def startService(self) -> None:
        super().startService()
        self._poll = task.LoopingCall(self.wake)
        self._poll.clock = self.reactor
        self._poll.start(self.poll_interval, now=False)
        self._depth = task.LoopingCall(self._refresh_depth)
        self._depth.clock = self.reactor
        self._depth.start(self.depth_interval, now=True)
        self.connection.subscribe(self)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()  # not running: nothing new is published from here on
        for loop in (self._poll, self._depth):
            if loop is not None and loop.running:
                loop.stop()
        self._cancel("_retry_call")
        self._cancel("_reopen_call")
        if self._in_flight and self._channel is not None:
            # confirms usually follow within milliseconds; waiting spares republication later
            self._drained = defer.Deferred()
            self._drained.addTimeout(self.drain_timeout, self.reactor)
            try:
                yield self._drained
            except defer.TimeoutError:
                log.warning("amqp.publisher_drain_timeout", in_flight=len(self._in_flight))
            self._drained = None
        self._flush()
        if self._writes:
            yield defer.DeferredList(list(self._writes))
        self.connection.unsubscribe(self)
        channel = self._channel
        self._reset()
        if channel is not None and channel.is_open:
            channel.close()

    # -- connection observer

    def amqp_ready(self, connection: Any) -> None:
        if self.running:
            self._open_channel(connection)

    def amqp_lost(self, reason: Failure) -> None:
        self._cancel("_reopen_call")
        self._reset()

    # -- channel

    def _open_channel(self, connection: Any) -> None:
        if self._opening or self._channel is not None:
            return
        self._opening = True
        gen = self._gen

        def confirm(channel: TwistedChannel) -> defer.Deferred[TwistedChannel]:
            return channel.confirm_delivery().addCallback(lambda _: channel)

        d = connection.channel().addCallback(confirm)
        d.addCallbacks(self._channel_opened, self._channel_failed,
                       callbackArgs=(gen, connection), errbackArgs=(gen, connection))

    def _channel_opened(self, channel: TwistedChannel, gen: int, connection: Any) -> None:
        self._opening = False
        if gen != self._gen or not self.running or connection is not self.connection.connection:
            if channel.is_open:
                channel.close()
            return
        self._channel = channel
        channel.add_on_return_callback(self._on_return)
        channel.on_closed.addBoth(self._channel_closed, channel)
        self.stats.channels += 1
        # whatever was in flight before may or may not have arrived: start from the beginning
        self._cursor = 0
        self._dirty = True
        log.info("amqp.publisher_ready", window=self.window, channel=channel.channel_number)
        self._pump()

    def _channel_failed(self, failure: Failure, gen: int, connection: Any) -> None:
        self._opening = False
        if gen == self._gen and self.running and connection is self.connection.connection:
            log.warning("amqp.publisher_channel_failed", error=failure.getErrorMessage())
            self._schedule_reopen()

    def _channel_closed(self, reason: Any, channel: TwistedChannel) -> None:
        if channel is not self._channel:
            return
        self._reset()
        if not self.running or not channel.connection.is_open:
            return  # stopping, or the connection went: amqp_lost / amqp_ready take over
        # e.g. an exchange deleted under us (404): redeclare the topology, then a new channel
        level = "warning" if isinstance(reason, ChannelClosedByBroker) else "info"
        getattr(log, level)("amqp.publisher_channel_closed", reason=str(reason))
        self._schedule_reopen()

    def _schedule_reopen(self) -> None:
        if self._reopen_call is None:
            self._reopen_call = self.reactor.callLater(self.retry_delay, self._reopen)

    def _reopen(self) -> None:
        self._reopen_call = None
        connection = self.connection.connection
        if not self.running or connection is None or self._channel is not None:
            return

        def failed(f: Failure) -> None:
            log.warning("amqp.publisher_redeclare_failed", error=f.getErrorMessage())
            if self.connection.connection is connection:
                self._schedule_reopen()

        self.connection.redeclare().addCallbacks(
            lambda _: self._open_channel(connection) if self.running else None, failed)

    def _reset(self) -> None:
        """Forget everything in flight (it stays pending in the journal) and read the outbox
        from the beginning on the next channel."""
        unconfirmed = len(self._in_flight) + len(self._retry)
        if unconfirmed and self.running:
            # their confirms will never come: they stay pending and are published again
            log.warning("amqp.publisher_in_flight_lost", unconfirmed=unconfirmed)
        self._gen += 1
        self._channel = None
        self._in_flight.clear()
        self._by_key.clear()
        self._buffer.clear()
        self._buffered.clear()
        self._retry.clear()
        self._cancel("_retry_call")
        self._cursor = 0
        self._dirty = True
        metrics.AMQP_IN_FLIGHT.set(0)
        self._check_drained()

    # -- pumping

    def _pump(self) -> None:
        if self._pumping:  # a publish that failed synchronously calls back into here
            self._pump_again = True
            return
        self._pumping = True
        try:
            while True:
                self._pump_again = False
                self._pump_once()
                if not self._pump_again:
                    break
        finally:
            self._pumping = False

    def _pump_once(self) -> None:
        if self._channel is None or not self.running:
            return
        while self._buffer and len(self._in_flight) < self.window and self._channel is not None:
            msg = self._buffer.popleft()
            self._buffered.discard(msg.seq)
            self._send(msg)
        if (self._dirty and not self._fetching and not self._buffer
                and len(self._in_flight) < self.window):  # fmt: skip
            self._fetch()

    def _owned(self, seq: int) -> bool:
        """True while this seq is being published, waiting for a retry or being settled: the
        same row must never be published twice at the same time."""
        return (seq in self._in_flight or seq in self._buffered or seq in self._retry
                or seq in self._settling)  # fmt: skip

    def _fetch(self) -> None:
        self._fetching = True
        self._settled_during_fetch = set()
        self._dirty = False
        gen = self._gen
        d = defer.maybeDeferred(self.source.outbox_pending, self._cursor, self.batch)
        d.addCallbacks(self._fetched, self._fetch_failed, callbackArgs=(gen,),
                       errbackArgs=(gen,))

    def _fetched(self, rows: list[OutboxMessage], gen: int) -> None:
        self._fetching = False
        if gen == self._gen:
            fresh = False
            for msg in rows:
                self._cursor = max(self._cursor, msg.seq)
                if not self._owned(msg.seq) and msg.seq not in self._settled_during_fetch:
                    self._buffer.append(msg)
                    self._buffered.add(msg.seq)
                    fresh = True
            if fresh:
                # maybe more behind these (a source may return fewer than asked): one more read
                # once they are out; an empty read ends the burst
                self._dirty = True
                self._swept = False
            elif self._cursor and not self._swept:
                # rows can become pending behind the cursor (a large submission's outbox is
                # staged, then released with its answer, keeping its earlier seqs): once the
                # burst is over, read once more from the start
                self._cursor = 0
                self._swept = True
                self._dirty = True
        else:
            self._dirty = True  # read for a channel that is gone: read again for the new one
        self._pump()

    def _fetch_failed(self, failure: Failure, gen: int) -> None:
        self._fetching = False
        self._dirty = True  # the next poll tries again
        log.error("amqp.outbox_read_failed", error=failure.getErrorMessage())

    # -- publishing

    def _send(self, msg: OutboxMessage) -> None:
        if msg.seq in self._in_flight:  # guarded by _owned; never publish a seq twice at once
            log.error("amqp.publisher_duplicate_seq", seq=msg.seq)
            return
        flight = _Flight(msg, time.monotonic())
        self._in_flight[msg.seq] = flight
        n = len(self._in_flight)
        self.stats.max_in_flight = max(self.stats.max_in_flight, n)
        metrics.AMQP_IN_FLIGHT.set(n)
        if msg.exchange not in self._exchanges:
            self._unroutable(flight, f"exchange {msg.exchange!r} is not declared")
        else:
            self._publish(flight, msg.exchange, msg.routing_key, msg.headers)

    def _publish(self, flight: _Flight, exchange: str, routing_key: str,
                 headers: dict[str, str]) -> None:  # fmt: skip
        channel = self._channel
        msg = flight.msg
        if channel is None:
            self._retry_later(flight)
            return
        flight.key = (msg.message_id, exchange, routing_key)
        flight.returned = None
        self._by_key.setdefault(flight.key, set()).add(msg.seq)
        props = pika.BasicProperties(
            content_type=msg.content_type, delivery_mode=2, message_id=msg.message_id,
            correlation_id=msg.correlation_id, app_id=self.app_id,
            timestamp=int(time.time()), headers=dict(headers))
        self.stats.published += 1
        d = channel.basic_publish(exchange, routing_key, msg.body, props, mandatory=True)
        d.addCallbacks(self._on_ack, self._on_publish_error, callbackArgs=(flight,),
                       errbackArgs=(flight,))

    def _current(self, flight: _Flight) -> bool:
        """False for a confirm that belongs to a channel (or a publication) already forgotten."""
        return self._in_flight.get(flight.msg.seq) is flight

    def _on_return(self, returned: ReceivedMessage) -> None:
        # basic.return always precedes the basic.ack of the same message; pika hands the
        # resulting UnroutableError to the *first* tag of a multiple ack and keeps only the last
        # return, so the returned message is identified here by what it carries
        if returned.channel is not self._channel:
            return
        method, props = returned.method, returned.properties
        key = (props.message_id or "", method.exchange, method.routing_key)
        for seq in self._by_key.get(key, ()):
            flight = self._in_flight.get(seq)
            if flight is not None and flight.key == key:
                flight.returned = f"{method.reply_code} {method.reply_text}"

    def _on_ack(self, _frame: Any, flight: _Flight) -> None:
        if not self._current(flight):
            return
        if flight.returned is not None:
            self._returned(flight)
        else:
            self._confirmed(flight)

    def _on_publish_error(self, failure: Failure, flight: _Flight) -> None:
        if not self._current(flight):
            return None
        if failure.check(UnroutableError):
            # possibly attributed to this message by mistake (see _on_return)
            self._on_ack(None, flight)
        elif failure.check(NackError):
            self.stats.nacked += 1
            metrics.AMQP_PUBLISHED.labels("nacked").inc()
            log.warning("amqp.nacked", message_id=flight.msg.message_id, seq=flight.msg.seq,
                        retry_in=self.retry_delay)
            self._retry_later(flight)
        else:
            # the channel is closing under it: _channel_closed / amqp_lost reset everything
            self.stats.failed += 1
            metrics.AMQP_PUBLISHED.labels("failed").inc()
            self._retry_later(flight)
        return None

    def _confirmed(self, flight: _Flight) -> None:
        seq = flight.msg.seq
        metrics.AMQP_PUBLISHED.labels("confirmed").inc()
        if flight.parking_reason is None:
            self.stats.confirmed += 1
            metrics.DELIVERY_SECONDS.observe(time.monotonic() - flight.started)
            self._acked.append(seq)
        else:
            self.stats.parked += 1
            self._parked.setdefault(flight.parking_reason, []).append(seq)
        self._settling.add(seq)
        if self._flush_call is None:
            # confirms of one read (often one multiple-ack) share a single journal write
            self._flush_call = self.reactor.callLater(0, self._flush)
        self._forget(flight)  # last: it may end a drain, which flushes what was noted above
        self._pump()

    def _returned(self, flight: _Flight) -> None:
        msg = flight.msg
        if flight.parking_reason is not None or msg.exchange == self.parking_exchange:
            self._parking_failed(flight)
            return
        self._unroutable(flight, f"no queue bound for {msg.exchange}/{msg.routing_key}"
                                 f" ({flight.returned})")

    def _unroutable(self, flight: _Flight, reason: str) -> None:
        msg = flight.msg
        self.stats.unroutable += 1
        metrics.AMQP_PUBLISHED.labels("unroutable").inc()
        # looked up here, not at import: a test capturing logs reconfigures structlog
        structlog.get_logger("edigate.amqp").error(
            "amqp.unroutable", message_id=msg.message_id, submission_id=msg.submission_id,
            seq=msg.seq, exchange=msg.exchange, routing_key=msg.routing_key, reason=reason,
            parking_exchange=self.parking_exchange)
        self._unkey(flight)
        flight.parking_reason = f"unroutable: {reason}"
        headers = {**msg.headers, UNROUTABLE_HEADER: f"{msg.exchange}/{msg.routing_key}"}
        self._publish(flight, self.parking_exchange, msg.routing_key, headers)

    def _parking_failed(self, flight: _Flight) -> None:
        """The parking queue itself is gone (deleted by hand?): keep the row pending, declare
        the topology again and retry."""
        msg = flight.msg
        log.error("amqp.parking_failed", message_id=msg.message_id, seq=msg.seq,
                  parking_exchange=self.parking_exchange, reply=flight.returned)
        self._retry_later(flight)
        if not self._redeclaring and self.connection.is_ready():
            self._redeclaring = True

            def done(result: Any) -> None:
                self._redeclaring = False
                if isinstance(result, Failure):
                    log.warning("amqp.publisher_redeclare_failed",
                                error=result.getErrorMessage())

            self.connection.redeclare().addBoth(done)

    def _retry_later(self, flight: _Flight) -> None:
        self._forget(flight)
        self._retry[flight.msg.seq] = flight.msg
        if self._retry_call is None and self.running:
            self._retry_call = self.reactor.callLater(self.retry_delay, self._retry_now)

    def _retry_now(self) -> None:
        self._retry_call = None
        for msg in sorted(self._retry.values(), key=lambda m: m.seq, reverse=True):
            self._buffer.appendleft(msg)
            self._buffered.add(msg.seq)
        self._retry.clear()
        self._pump()

    def _unkey(self, flight: _Flight) -> None:
        seqs = self._by_key.get(flight.key)
        if seqs is not None:
            seqs.discard(flight.msg.seq)
            if not seqs:
                del self._by_key[flight.key]

    def _forget(self, flight: _Flight) -> None:
        self._in_flight.pop(flight.msg.seq, None)
        self._unkey(flight)
        metrics.AMQP_IN_FLIGHT.set(len(self._in_flight))
        self._check_drained()

    def _check_drained(self) -> None:
        if self._drained is not None and not self._in_flight:
            d, self._drained = self._drained, None
            d.callback(None)

    # -- journal writes

    def _flush(self) -> None:
        self._cancel("_flush_call")
        if self._acked:
            seqs, self._acked = self._acked, []
            self._write(self.source.outbox_delivered, seqs)
        parked, self._parked = self._parked, {}
        for reason, seqs in parked.items():
            self._write(lambda s, r=reason: self.source.outbox_parked(s, r), seqs)

    def _write(self, call: Callable[[list[int]], Any], seqs: list[int]) -> None:
        self.stats.journal_writes += 1
        d = defer.maybeDeferred(call, seqs)
        self._writes.add(d)

        def failed(f: Failure) -> None:
            # the rows are still pending in the journal: publish them again (at least once)
            log.error("amqp.outbox_write_failed", count=len(seqs), error=f.getErrorMessage())
            self._cursor = 0
            self._dirty = True

        def written(_: Any) -> None:
            # a read still under way may have seen these rows pending: it must not
            # publish them again once they stop being ours (see _fetched)
            self._settled_during_fetch.update(seqs)

        def settled(_: Any) -> None:
            self._writes.discard(d)
            self._settling.difference_update(seqs)

        d.addCallbacks(written, failed).addBoth(settled)

    # -- depth gauge

    def _refresh_depth(self) -> defer.Deferred[None]:
        def failed(f: Failure) -> None:
            log.warning("amqp.outbox_depth_failed", error=f.getErrorMessage())

        d = defer.maybeDeferred(self.source.outbox_depth)
        return d.addCallbacks(metrics.OUTBOX_DEPTH.set, failed)

    def _cancel(self, attr: str) -> None:
        call = getattr(self, attr)
        setattr(self, attr, None)
        if call is not None and call.active():
            call.cancel()


__all__ = ["UNROUTABLE_HEADER", "OutboxPublisher", "OutboxSource", "PublisherStats"]
