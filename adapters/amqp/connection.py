"""One AMQP connection for the gateway, kept up for as long as the service runs.

pika's ``TwistedProtocolConnection`` has no recovery of its own, so reconnection is Twisted's
``ClientService`` (exponential backoff between ``reconnect_initial_delay`` and
``reconnect_max_delay``). Each new connection first declares the topology (``topology.py``) and
only then is reported ready: publisher and consumer (the observers) never see a connection whose
exchanges or queues may be missing. Observers are told when a connection is ready and when it is
lost; they open their own channels on it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol

import pika
import structlog
from pika.adapters.twisted_connection import TwistedProtocolConnection
from pika.exceptions import ConnectionClosedByBroker
from twisted.application import service
from twisted.application.internet import ClientService
from twisted.internet import defer, protocol, task
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IAddress, IStreamClientEndpoint
from twisted.python.failure import Failure

from ... import metrics
from ...config import AmqpSection
from .topology import Topology, declare_topology, topology_from_settings

log = structlog.get_logger("edigate.amqp")


class ConnectionObserver(Protocol):
    """Told about each connection (after its topology was declared) and its loss. Called in the
    reactor thread; must not raise (an exception is logged and ignored)."""

    def amqp_ready(self, connection: TwistedProtocolConnection) -> None: ...

    def amqp_lost(self, reason: Failure) -> None: ...


class _PikaProtocol(TwistedProtocolConnection):
    """pika's protocol, telling its owner when the TCP connection goes away."""

    def __init__(self, parameters: pika.ConnectionParameters, owner: AmqpConnectionService,
                 reactor: Any) -> None:  # fmt: skip
        super().__init__(parameters, custom_reactor=reactor)
        self._owner = owner
        #: why the AMQP handshake failed (pika reports only "AMQPConnectionError: 1" otherwise)
        self.open_error: BaseException | None = None
        self.broker_close: ConnectionClosedByBroker | None = None

    def connectionMade(self) -> None:
        self._owner._setup(self)

    def _on_connection_failed(self, connection: Any, error: Any = None) -> None:
        self.open_error = error
        super()._on_connection_failed(connection, error)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        # pika keeps the broker's Connection.Close (403 ACCESS_REFUSED, 320 CONNECTION_FORCED...)
        # only until the socket closes, then reports a bare ConnectionDone: keep it for the logs
        pending = getattr(self._impl, "_error", None)
        if isinstance(pending, ConnectionClosedByBroker):
            self.broker_close = pending
            reason = Failure(pending)
        try:
            super().connectionLost(reason)
        finally:
            self._owner._connection_lost(self, reason)


class _Factory(protocol.Factory):
    def __init__(self, owner: AmqpConnectionService) -> None:
        self._owner = owner

    def buildProtocol(self, addr: IAddress) -> _PikaProtocol:
        p = _PikaProtocol(self._owner.parameters, self._owner, self._owner.reactor)
        p.factory = self
        return p


class AmqpConnectionService(service.Service):
    """Keeps one pika connection to ``settings.host:port`` (or ``endpoint``) up while running.

    ``connection_name`` is shown by the broker (``rabbitmqctl list_connections name
    client_properties``, management UI); use the node id so operators can tell gateways apart.
    """

    def __init__(self, settings: AmqpSection, *, connection_name: str = "edigate",
                 endpoint: IStreamClientEndpoint | None = None, reactor: Any = None,
                 connect_timeout: float = 10.0, close_timeout: float = 5.0) -> None:  # fmt: skip
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.reactor = reactor
        self.settings = settings
        self.connection_name = connection_name
        self.topology: Topology = topology_from_settings(settings)
        self.parameters = pika.ConnectionParameters(
            # host and port are ignored by the Twisted adapter (the endpoint decides); set anyway
            # so that the parameters read true in logs
            host=settings.host, port=settings.port, virtual_host=settings.virtual_host,
            credentials=pika.PlainCredentials(settings.username, settings.password),
            heartbeat=settings.heartbeat, connection_attempts=1,
            client_properties={"connection_name": connection_name})
        self._endpoint = endpoint or HostnameEndpoint(reactor, settings.host, settings.port,
                                                      timeout=connect_timeout)
        self._close_timeout = close_timeout
        self._client: ClientService | None = None
        self._conn: TwistedProtocolConnection | None = None
        self._observers: list[ConnectionObserver] = []
        self._waiters: list[defer.Deferred[TwistedProtocolConnection]] = []
        #: connections that became ready since start (1 + reconnections)
        self.connections = 0
        self._failures = 0

    # -- observers and state

    def subscribe(self, observer: ConnectionObserver) -> None:
        """Add ``observer``; it is told at once if a connection is ready now."""
        if observer not in self._observers:
            self._observers.append(observer)
            if self._conn is not None:
                self._notify(observer.amqp_ready, self._conn)

    def unsubscribe(self, observer: ConnectionObserver) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def is_ready(self) -> bool:
        """True while connected with the topology declared (a readiness check)."""
        return self._conn is not None

    @property
    def connection(self) -> TwistedProtocolConnection | None:
        return self._conn

    def when_ready(self) -> defer.Deferred[TwistedProtocolConnection]:
        """Fires with the ready connection: now, or when the next one is ready."""
        if self._conn is not None:
            return defer.succeed(self._conn)

        def cancel(d: defer.Deferred[TwistedProtocolConnection]) -> None:
            if d in self._waiters:
                self._waiters.remove(d)

        d: defer.Deferred[TwistedProtocolConnection] = defer.Deferred(cancel)
        self._waiters.append(d)
        return d

    def redeclare(self) -> defer.Deferred[None]:
        """Declare the topology again on the current connection (after the broker closed a
        channel because something was deleted under us)."""
        conn = self._conn
        if conn is None:
            return defer.fail(RuntimeError("AMQP connection is not ready"))
        return self._declare(conn)

    # -- service

    def startService(self) -> None:
        super().startService()
        # No prepareConnection: when it fails because the broker dropped the socket (bad
        # credentials, say), ClientService (Twisted 26.10) gets the disconnect in a state with no
        # transition for it and logs NoTransition; _setup drops failed connections instead and
        # _retry_delay counts those failures itself so the backoff still grows.
        self._client = ClientService(self._endpoint, _Factory(self), retryPolicy=self._retry_delay,
                                     clock=self.reactor)
        self._client.startService()

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        conn, client = self._conn, self._client
        if conn is not None and not conn.is_closed:
            # a clean AMQP close first: stopping ClientService would only drop the socket
            closed = conn.close(200, "gateway stopping")
            if closed is not None:
                closed.addTimeout(self._close_timeout, self.reactor)
                try:
                    yield closed
                except defer.TimeoutError:
                    log.warning("amqp.close_timeout", timeout=self._close_timeout)
                    if conn.transport is not None:
                        conn.transport.abortConnection()
            # let connectionLost unwind before ClientService reacts to it
            yield task.deferLater(self.reactor, 0, lambda: None)
        if client is not None:
            yield client.stopService()
        self._client = None
        metrics.AMQP_CONNECTED.set(0)

    # -- internals

    def _retry_delay(self, attempt: int) -> float:
        # ClientService's own count restarts at every TCP connection, even one whose handshake
        # or topology then failed: count failures since the last ready connection instead
        del attempt
        self._failures += 1
        s = self.settings
        base = min(s.reconnect_initial_delay * 2 ** min(self._failures - 1, 32),
                   s.reconnect_max_delay)
        # jitter so that gateways dropped together do not reconnect in lockstep
        delay = base * random.uniform(1.0, 1.25)
        if self.running:
            log.info("amqp.reconnect_scheduled", attempt=self._failures, delay=round(delay, 3))
        return delay

    @defer.inlineCallbacks
    def _declare(self, conn: TwistedProtocolConnection) -> Any:
        channel = yield conn.channel()
        yield declare_topology(channel, self.topology)
        channel.close()

    @defer.inlineCallbacks
    def _setup(self, conn: _PikaProtocol) -> Any:
        """A TCP connection is up: AMQP handshake, then the topology, then ready. On failure the
        socket is dropped, which makes ClientService schedule a retry."""
        stage = "handshake"
        try:
            yield conn.ready
            stage = "topology"
            yield self._declare(conn)
            if not self.running or conn.transport is None:
                raise defer.CancelledError("stopped or disconnected during setup")
        except Exception as exc:
            if self.running:
                # pika's Twisted adapter loses the broker's reason (ACCESS_REFUSED...) when the
                # socket closes during the handshake: name the usual suspects
                hint = ("credentials, virtual host or its permissions" if stage == "handshake"
                        else "a queue or exchange exists with different arguments"
                        if "PRECONDITION_FAILED" in str(exc) else None)
                log.error("amqp.connection_failed", stage=stage,
                          error=_describe(conn.broker_close or conn.open_error or exc), hint=hint,
                          host=self.settings.host, port=self.settings.port,
                          vhost=self.settings.virtual_host)
            if conn.transport is not None:
                conn.transport.abortConnection()
            return
        self._conn = conn
        self._failures = 0
        self.connections += 1
        metrics.AMQP_CONNECTED.set(1)
        log.info("amqp.connected", host=self.settings.host, port=self.settings.port,
                 vhost=self.settings.virtual_host, connection_name=self.connection_name,
                 connections=self.connections)
        for observer in list(self._observers):
            self._notify(observer.amqp_ready, conn)
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(conn)

    def _connection_lost(self, conn: TwistedProtocolConnection, reason: Failure) -> None:
        if conn is not self._conn:
            return  # a connection that never became ready: _prepare reported it
        self._conn = None
        metrics.AMQP_CONNECTED.set(0)
        if self.running:
            log.warning("amqp.connection_lost", error=_describe(reason.value))
        else:
            log.info("amqp.connection_closed")
        for observer in list(self._observers):
            self._notify(observer.amqp_lost, reason)

    def _notify(self, method: Callable[[Any], None], arg: Any) -> None:
        try:
            method(arg)
        except Exception:
            log.exception("amqp.observer_failed", observer=repr(method))


def _describe(exc: BaseException) -> str:
    """pika's exceptions often carry the useful part (reply code and text) only in args."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["AmqpConnectionService", "ConnectionObserver"]
