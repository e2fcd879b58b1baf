"""Backend responses in: consumes the response queue and hands each message to a handler.

Manual acknowledgement: a message is acked only after the handler's Deferred has fired (it has
journaled, or parked, what it needed), whatever the outcome it reports. A handler that fails
(raises, or its Deferred fails) gets the message nacked without requeue, so the broker
dead-letters it (the response queue is declared with ``x-dead-letter-exchange``) and the body is
kept for an operator. If the connection drops between the handler and the ack, the broker
delivers the message again (``redelivered``): handlers must be idempotent, e.g. store a response
once per ``message_id`` and report ``"duplicate"`` the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from pika.adapters.twisted_connection import (
    ClosableDeferredQueue,
    ReceivedMessage,
    TwistedChannel,
)
from pika.spec import BasicProperties
from twisted.application import service
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.python.failure import Failure

from ... import metrics
from ...config import AmqpSection
from .connection import AmqpConnectionService

log = structlog.get_logger("edigate.amqp")

#: ``on_response(body, properties)``: fires with the outcome, one of OUTCOMES
ResponseHandler = Callable[[bytes, BasicProperties], "defer.Deferred[str] | str"]

#: outcomes counted under their own name in edigate_responses_total; others count as "other",
#: handler failures as "invalid" (ValueError) or "failed" (anything else)
OUTCOMES = frozenset({"linked", "duplicate", "unknown_submission", "invalid"})


class ResponseConsumer(service.Service):
    """Consumes ``queue`` (default: ``response_queue`` of ``settings``, by default the
    connection's) with ``prefetch`` unacked messages at most (default: ``response_prefetch``),
    handing each to ``handler``; re-subscribes after every reconnection."""

    def __init__(self, connection: AmqpConnectionService, settings: AmqpSection | None,
                 handler: ResponseHandler, *, queue: str | None = None,
                 prefetch: int | None = None, retry_delay: float = 1.0,
                 stop_timeout: float = 10.0, reactor: Any = None) -> None:  # fmt: skip
        settings = settings if settings is not None else connection.settings
        self.connection = connection
        self.handler = handler
        self.reactor = reactor if reactor is not None else connection.reactor
        self.queue = queue or settings.response_queue
        self.prefetch = prefetch if prefetch is not None else settings.response_prefetch
        self.retry_delay = retry_delay
        self.stop_timeout = stop_timeout
        self._channel: TwistedChannel | None = None
        self._consumer_tag: str | None = None
        self._opening = False
        self._gen = 0
        self._handling: set[defer.Deferred[Any]] = set()
        self._resubscribe_call: IDelayedCall | None = None
        #: messages acked / nacked since start
        self.acked = 0
        self.nacked = 0

    def is_ready(self) -> bool:
        """True while subscribed to the queue (a readiness check)."""
        return self._consumer_tag is not None

    # -- service

    def startService(self) -> None:
        super().startService()
        self.connection.subscribe(self)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        self.connection.unsubscribe(self)
        self._cancel_resubscribe()
        channel, tag = self._channel, self._consumer_tag
        if channel is not None and channel.is_open and tag is not None:
            try:
                yield channel.basic_cancel(tag)  # no new deliveries
            except Exception as exc:
                log.info("amqp.consumer_cancel_failed", error=str(exc))
        if self._handling:
            # let handlers finish so their messages are acked, not redelivered
            waiting = defer.DeferredList(list(self._handling))
            waiting.addTimeout(self.stop_timeout, self.reactor)
            try:
                yield waiting
            except defer.TimeoutError:
                log.warning("amqp.consumer_stop_timeout", handling=len(self._handling))
        self._gen += 1
        self._channel = self._consumer_tag = None
        if channel is not None and channel.is_open:
            channel.close()

    # -- connection observer

    def amqp_ready(self, connection: Any) -> None:
        if self.running:
            self._subscribe(connection)

    def amqp_lost(self, reason: Failure) -> None:
        self._gen += 1
        self._channel = self._consumer_tag = None
        self._cancel_resubscribe()

    # -- subscription

    @defer.inlineCallbacks
    def _subscribe(self, connection: Any) -> Any:
        if self._opening or self._channel is not None:
            return
        self._opening = True
        gen = self._gen
        channel = None
        try:
            channel = yield connection.channel()
            yield channel.basic_qos(prefetch_count=self.prefetch)
            queue, tag = yield channel.basic_consume(queue=self.queue, auto_ack=False)
        except Exception as exc:
            self._opening = False
            if gen == self._gen and self.running and connection is self.connection.connection:
                log.warning("amqp.consumer_subscribe_failed", queue=self.queue, error=str(exc))
                self._schedule_resubscribe(redeclare=True)
            return
        self._opening = False
        if gen != self._gen or not self.running:
            if channel.is_open:
                channel.close()
            return
        self._channel, self._consumer_tag = channel, tag
        channel.on_closed.addBoth(self._channel_closed, channel)
        log.info("amqp.consumer_ready", queue=self.queue, prefetch=self.prefetch)
        self._next(queue, channel, gen)

    def _next(self, queue: ClosableDeferredQueue, channel: TwistedChannel, gen: int) -> None:
        queue.get().addCallbacks(self._deliver, self._queue_closed,
                                 callbackArgs=(queue, channel, gen), errbackArgs=(gen,))

    def _queue_closed(self, failure: Failure, gen: int) -> None:
        # channel closed (its handler decides) or the broker cancelled us (queue deleted)
        if gen != self._gen or not self.running:
            return
        channel = self._channel
        if channel is not None and channel.is_open:
            log.warning("amqp.consumer_cancelled", queue=self.queue, error=repr(failure.value))
            self._gen += 1
            self._channel = self._consumer_tag = None
            channel.close()
            self._schedule_resubscribe(redeclare=True)

    def _channel_closed(self, reason: Any, channel: TwistedChannel) -> None:
        if channel is not self._channel:
            return
        self._gen += 1
        self._channel = self._consumer_tag = None
        if self.running and channel.connection.is_open:
            log.warning("amqp.consumer_channel_closed", reason=str(reason))
            self._schedule_resubscribe(redeclare=True)

    def _schedule_resubscribe(self, *, redeclare: bool) -> None:
        if self._resubscribe_call is None:
            self._resubscribe_call = self.reactor.callLater(self.retry_delay,
                                                            self._resubscribe, redeclare)

    def _resubscribe(self, redeclare: bool) -> None:
        self._resubscribe_call = None
        connection = self.connection.connection
        if not self.running or connection is None:
            return  # amqp_ready will subscribe
        if not redeclare:
            self._subscribe(connection)
            return

        def failed(f: Failure) -> None:
            log.warning("amqp.consumer_redeclare_failed", error=f.getErrorMessage())
            if self.connection.connection is connection:
                self._schedule_resubscribe(redeclare=True)

        # the queue may have been deleted under us: declare it again first
        self.connection.redeclare().addCallbacks(
            lambda _: self._subscribe(connection) if self.running else None, failed)

    def _cancel_resubscribe(self) -> None:
        call, self._resubscribe_call = self._resubscribe_call, None
        if call is not None and call.active():
            call.cancel()

    # -- messages

    def _deliver(self, message: ReceivedMessage, queue: ClosableDeferredQueue,
                 channel: TwistedChannel, gen: int) -> None:  # fmt: skip
        # handlers run concurrently, bounded by the prefetch count
        if gen == self._gen:
            self._next(queue, channel, gen)
        if not channel.is_open:
            return  # could not be acked: the broker delivers it again
        tag = message.method.delivery_tag
        d = defer.maybeDeferred(self.handler, message.body, message.properties)
        self._handling.add(d)
        d.addCallbacks(self._handled, self._failed, callbackArgs=(message, channel, tag),
                       errbackArgs=(message, channel, tag))
        d.addBoth(self._done, d)

    def _done(self, _: Any, d: defer.Deferred[Any]) -> None:
        self._handling.discard(d)

    def _handled(self, outcome: Any, message: ReceivedMessage, channel: TwistedChannel,
                 tag: int) -> None:  # fmt: skip
        label = outcome if outcome in OUTCOMES else "other"
        metrics.RESPONSES.labels(label).inc()
        if self._settle(channel, tag, ack=True):
            self.acked += 1

    def _failed(self, failure: Failure, message: ReceivedMessage, channel: TwistedChannel,
                tag: int) -> None:  # fmt: skip
        label = "invalid" if failure.check(ValueError) else "failed"
        metrics.RESPONSES.labels(label).inc()
        log.error("amqp.response_rejected", message_id=message.properties.message_id,
                  correlation_id=message.properties.correlation_id, queue=self.queue,
                  error=failure.getErrorMessage(), error_type=failure.type.__name__)
        if self._settle(channel, tag, ack=False):
            self.nacked += 1

    def _settle(self, channel: TwistedChannel, tag: int, *, ack: bool) -> bool:
        if not channel.is_open:
            # delivery tags belong to their channel: the broker redelivers this message
            log.warning("amqp.response_settle_lost", delivery_tag=tag, ack=ack)
            return False
        if ack:
            channel.basic_ack(delivery_tag=tag)
        else:
            channel.basic_nack(delivery_tag=tag, requeue=False)  # dead-letters it
        return True


__all__ = ["OUTCOMES", "ResponseConsumer", "ResponseHandler"]
