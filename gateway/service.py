"""The running gateway: services composed in start order (stopped in reverse).

journal → worker processes → AMQP connection, publisher, response consumer → HTTPS channel →
ops site (/metrics, /health). The HTTPS channel listens last and stops first, so nothing is
accepted that the journal cannot take; the journal stops last, after draining its queued writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
from twisted.application.service import MultiService
from twisted.internet import defer

from .adapters.amqp.connection import AmqpConnectionService
from .adapters.amqp.consumer import ResponseConsumer
from .adapters.amqp.publisher import OutboxPublisher
from .adapters.http.server import build_site
from .adapters.http.tls import server_endpoint
from .certs import cert_paths, init_certs, missing
from .config import Config, rule_set_name
from .journal.payload_store import PayloadStore
from .journal.writer import open_journal
from .observability import build_ops_site
from .pipeline.handler import Pipeline
from .pipeline.responses import ResponseLinker
from .pipeline.workers import WorkerPool
from .receipts import ReceiptSigner

log = structlog.get_logger("edigate.service")


def ensure_certificates(config: Config) -> None:
    """Create the development CA, signing key and TLS certificate when configured to and any is
    missing (``edigate certs init`` does the same by hand)."""
    signing = config.path(config.signing.key)
    paths = cert_paths(signing.parent)
    if config.signing.create_if_missing and missing(paths):
        created = init_certs(signing.parent)
        log.warning("certs.created_development_set", directory=str(signing.parent),
                    created=[str(p) for p in getattr(created, "created", [])] or None)


class GatewayService(MultiService):
    def __init__(self, config: Config, reactor: Any) -> None:
        super().__init__()
        self.config = config
        self.reactor = reactor
        ensure_certificates(config)
        self.journal = open_journal(config.journal, Path(config.base_dir))
        self.journal.setServiceParent(self)
        self.payloads = PayloadStore(config.path(config.journal.payload_dir))
        self.workers = WorkerPool(
            reactor, workers=config.pipeline.workers, large_workers=config.pipeline.large_workers,
            large_submission_bytes=config.pipeline.large_submission_bytes,
            rule_set=rule_set_name(config, config.pipeline.rule_set),
            reject_rule_errors=config.pipeline.rule_errors == "reject",
            signing=(str(config.path(config.signing.key)),
                     str(config.path(config.signing.certificate)),
                     str(config.path(config.signing.ca_certificate))))
        self.workers.setServiceParent(self)
        # loaded here too: a key or certificate that cannot sign fails the start, not a worker
        ReceiptSigner(config.path(config.signing.key), config.path(config.signing.certificate),
                      config.path(config.signing.ca_certificate))
        self.amqp = AmqpConnectionService(config.amqp, connection_name=config.gateway.node_id,
                                          reactor=reactor)  # fmt: skip
        self.amqp.setServiceParent(self)
        self.publisher = OutboxPublisher(self.amqp, self.journal, config.amqp, reactor=reactor)
        self.publisher.setServiceParent(self)
        self.pipeline = Pipeline(config, self.journal, self.workers, self.payloads, reactor,
                                 self.publisher.wake)  # fmt: skip
        self.responses = ResponseLinker(config, self.journal)
        self.consumer = ResponseConsumer(self.amqp, config.amqp, self.responses.on_response,
                                         reactor=reactor)  # fmt: skip
        self.consumer.setServiceParent(self)
        http = config.http
        self.site = build_site(
            self.pipeline, config.partners, max_body=http.max_body_bytes,
            inline_max=config.journal.inline_payload_max_bytes,
            spool_dir=str(config.path(config.journal.payload_dir) / "spool"),
            public_url=http.public_url)
        self.ops_site = build_ops_site(checks={
            "journal": self.journal.ping,
            "workers": lambda: self.workers.running,
            "amqp": self.amqp.is_ready,
            "http": lambda: self.http_port is not None,
        })
        self.http_port: Any = None
        self.ops_port: Any = None
        self.started: defer.Deferred[Any] = defer.Deferred()
        self.start_error: Any = None
        #: twistd: stop the process when the gateway cannot start (edigate serve handles it)
        self.stop_reactor_on_failure = True

    def startService(self) -> None:
        super().startService()
        self.started = self._listen()

        def failed(f: Any) -> None:
            # a gateway that cannot listen must not linger half-started (under twistd too)
            log.error("gateway.start_failed", error=f.getErrorMessage())
            self.start_error = f
            if self.stop_reactor_on_failure and self.reactor.running:
                self.reactor.stop()

        self.started.addErrback(failed)

    def start(self) -> defer.Deferred[Any]:
        """Start every service; fires when listening (with the failure when a port cannot be
        bound: see ``start_error``)."""
        self.startService()
        return self.started

    @defer.inlineCallbacks
    def _listen(self) -> Any:
        """Finish submissions a crash interrupted, then listen."""
        from twisted.internet import endpoints

        recovered = yield self.pipeline.recover()
        if recovered:
            log.warning("gateway.recovered_submissions", count=recovered)
        http = self.config.http
        client_ca = self.config.path(http.client_ca) if http.client_ca else None
        endpoint = server_endpoint(self.reactor, http.endpoint,
                                   cert=self.config.path(http.tls_certificate),
                                   key=self.config.path(http.tls_key), client_ca=client_ca)
        self.http_port = yield endpoint.listen(self.site)
        ops = endpoints.serverFromString(self.reactor, self.config.metrics.endpoint)
        self.ops_port = yield ops.listen(self.ops_site)
        log.info("gateway.started", https=str(self.http_port.getHost()),
                 ops=str(self.ops_port.getHost()), node_id=self.config.gateway.node_id)
        return self

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        for port in (self.http_port, self.ops_port):
            if port is not None:
                yield port.stopListening()
        self.http_port = self.ops_port = None
        if self.running:
            yield super().stopService()
        log.info("gateway.stopped")


def build_service(config: Config, reactor: Any) -> GatewayService:
    return GatewayService(config, reactor)
