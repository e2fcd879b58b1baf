"""The pipeline's orchestration: journal → process (worker) → sign → route → outbox, and back.

``Pipeline`` implements ``SubmissionHandler`` for the channel adapters. The order matters and is
the gateway's promise to senders: the raw payload is committed before any processing; the
acknowledgement, receipt and outbox messages are committed together before the sender hears
anything; the publisher only ever reads committed outbox rows. A crash between the two commits
leaves a "received" submission that ``recover()`` finishes on the next start.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import structlog
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool

from .. import metrics
from ..config import Config, Partner, rule_set_name
from ..journal.base import (
    Event,
    NewSubmission,
    OutboxMessage,
    ResponseRecord,
    SubmissionOutcome,
    SubmissionRecord,
)
from .api import SubmissionAnswer, SubmissionError, SubmissionRequest, SubmissionStatus
from .process import DocumentResult, ProcessResult, ReceiptContext, read_documents
from .routing import destinations, document_outcome

log = structlog.get_logger("edigate.pipeline")

#: documented error code the pipeline itself answers with (docs/errors.md)
ERR_UNAVAILABLE = "EDG-S001"
#: documents per outbox staging step of a large submission
SPOOL_CHUNK = 500


def new_submission_id() -> str:
    """Time-ordered (48-bit milliseconds, then 80 random bits), 32 hex digits: sorts by arrival,
    unguessable, safe in file names and AMQP message ids."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def _now() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    """Implements edigate.pipeline.api.SubmissionHandler. Collaborators are injected so tests can
    run it with a real journal and real worker processes but no network:

    - ``journal``: edigate.journal.service.AsyncJournal (Deferred-returning Journal methods)
    - ``workers``: WorkerPool (``process(size, payload, path) -> Deferred[ProcessResult]``)
    - ``payloads``: PayloadStore (blocking; run in a thread) for large bodies
    - ``wake_publisher``: called after outbox rows are committed
    """

    def __init__(self, config: Config, journal: Any, workers: Any, payloads: Any, reactor: Any,
                 wake_publisher: Callable[[], None] = lambda: None) -> None:  # fmt: skip
        self.config = config
        self.journal = journal
        self.workers = workers
        self.spool_dir = Path(config.path(config.journal.payload_dir)) / "spool"
        self.payloads = payloads
        self.reactor = reactor
        self.wake_publisher = wake_publisher
        self.window = timedelta(hours=config.journal.duplicate_window_hours)
        self.inline_max = config.journal.inline_payload_max_bytes

        #: partner id -> its XML signing certificates (PEM), read once
        self._certificates: dict[str, bytes] = {}

    def _xml_certificates(self, partner: Partner) -> bytes:
        pem = self._certificates.get(partner.id)
        if pem is None:
            pem = self._certificates[partner.id] = b"".join(
                self.config.path(c).read_bytes() for c in partner.xml_signing_certificates)
        return pem

    # -- submissions ----------------------------------------------------------------------------

    @defer.inlineCallbacks
    def submit(self, request: SubmissionRequest) -> Any:
        started = time.perf_counter()
        sid = new_submission_id()
        partner = request.partner
        blog = log.bind(submission_id=sid, partner=partner.id, channel=request.channel)
        received_at = _now()
        try:
            payload, path, sha, size = yield self._store_payload(request)
            original = yield self.journal.find_duplicate(
                partner.id, sha256=sha, since=received_at - self.window)
            yield self.journal.record_received(NewSubmission(
                id=sid, partner=partner.id, channel=request.channel, received_at=received_at,
                sha256=sha, size=size, content_type=request.content_type,
                metadata=dict(request.metadata), payload=payload, payload_path=path))
        except Exception as exc:
            blog.error("submission.not_journaled", error=repr(exc))
            metrics.SUBMISSIONS.labels(request.channel, "refused").inc()
            raise SubmissionError(ERR_UNAVAILABLE, "the submission could not be stored; "
                                  "nothing was accepted, please retry", 503) from exc
        metrics.STAGE_SECONDS.labels("journal_received").observe(time.perf_counter() - started)
        blog.info("submission.received", size=size, sha256=sha)
        if original is not None:
            answer = yield self._duplicate(sid, original, "payload_digest", blog)
        else:
            answer = yield self._process_and_commit(sid, partner, request.channel, received_at,
                                                    sha, size, payload, path, blog)  # fmt: skip
        metrics.SUBMISSIONS.labels(request.channel, answer.outcome).inc()
        metrics.ACK_SECONDS.labels(request.channel).observe(time.perf_counter() - started)
        return answer

    def _store_payload(self, request: SubmissionRequest) -> Deferred[Any]:
        """(inline bytes or None, stored path or None, sha256, size)."""
        if request.payload is not None and len(request.payload) <= self.inline_max:
            data = request.payload
            return defer.succeed((data, None, hashlib.sha256(data).hexdigest(), len(data)))

        def store() -> tuple[None, str, str, int]:
            if request.payload is not None:
                path, sha, size = self.payloads.write_bytes(request.payload)
            else:
                assert request.payload_file is not None
                path, sha, size = self.payloads.write_file(request.payload_file)
            return None, str(path), sha, size

        return deferToThreadPool(self.reactor, self.reactor.getThreadPool(), store)

    @defer.inlineCallbacks
    def _duplicate(self, sid: str, original: SubmissionRecord, basis: str, blog: Any) -> Any:
        """Answer a resubmission with the original's receipt and acknowledgement; route nothing."""
        events = [Event("duplicate", _now(), sid, {"duplicate_of": original.id, "basis": basis})]
        yield self.journal.record_outcome(SubmissionOutcome(
            submission_id=sid, state="duplicate", events=events, receipt=original.receipt or b"",
            format=original.format, document_type=original.document_type,
            interchange_ref=original.interchange_ref, sender_id=original.sender_id,
            acknowledgement=original.acknowledgement, ack_content_type=original.ack_content_type,
            duplicate_of=original.id))
        blog.info("submission.duplicate", duplicate_of=original.id, basis=basis)
        return SubmissionAnswer(
            submission_id=sid, outcome="duplicate", receipt=original.receipt or b"",
            acknowledgement=original.acknowledgement,
            ack_content_type=original.ack_content_type, duplicate_of=original.id)

    @defer.inlineCallbacks
    def _process_and_commit(self, sid: str, partner: Partner, channel: str,
                            received_at: datetime, sha: str, size: int, payload: bytes | None,
                            path: str | None, blog: Any) -> Any:  # fmt: skip
        t0 = time.perf_counter()
        context = ReceiptContext(
            submission_id=sid, partner_id=partner.id, channel=channel, received_at=received_at,
            payload_sha256=sha, payload_size=size, node_id=self.config.gateway.node_id,
            allowed_types=list(partner.document_types),
            allowed_senders=list(partner.edifact_senders),
            xml_certificates=self._xml_certificates(partner),
            xml_signature_required=partner.xml_signature == "required",
            sign_xml=partner.sign_xml_answers, timezone=partner.timezone,
            rule_set=rule_set_name(self.config, partner.rule_set) if partner.rule_set else None)
        # large submissions stream their documents to a spool file next to the payloads
        spool = str(self.spool_dir / f"{sid}.docs") if self.workers.is_large(size) else None
        if spool:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
        try:
            result: ProcessResult = yield self.workers.process(size, payload, path, context,
                                                               spool)  # fmt: skip
            answer = yield self._commit(sid, partner, channel, received_at, result, blog, t0)
        finally:
            if spool:
                Path(spool).unlink(missing_ok=True)
        return answer

    @defer.inlineCallbacks
    def _commit(self, sid: str, partner: Partner, channel: str, received_at: datetime,
                result: ProcessResult, blog: Any, t0: float) -> Any:  # fmt: skip
        t1 = time.perf_counter()
        metrics.STAGE_SECONDS.labels("process").observe(t1 - t0)
        if result.interchange_ref:
            original = yield self.journal.find_duplicate(
                partner.id, interchange_ref=result.interchange_ref, sender_id=result.sender_id,
                since=received_at - self.window)
            # a corrected resubmission may reuse the reference of a rejected one: only an
            # interchange that was accepted makes a later one with its reference a duplicate
            if original is not None and original.id != sid and original.state != "rejected":
                return (yield self._duplicate(sid, original, "interchange_reference", blog))
        receipt = result.receipt
        if receipt is None:
            raise RuntimeError("the worker returned no receipt: is signing configured?")
        outbox: list[OutboxMessage] = []
        if result.documents_file:
            # stage the outbox in chunks (bounded memory, short writer transactions); the
            # outcome below releases the staged rows in the same transaction as the answer
            routed = yield self._stage_spool(sid, partner.id, result.documents_file)
        else:
            outbox = self._outbox(sid, partner.id, result.documents)
            routed = len(outbox)
        state = "routed" if routed else "rejected"
        events = self._events(sid, _now(), result, routed)
        yield self.journal.record_outcome(SubmissionOutcome(
            submission_id=sid, state=state, events=events, receipt=receipt,
            format=result.format,
            document_type=result.message_types[0] if result.message_types else None,
            interchange_ref=result.interchange_ref, sender_id=result.sender_id,
            acknowledgement=result.acknowledgement, ack_content_type=result.ack_content_type,
            outbox=outbox))
        metrics.STAGE_SECONDS.labels("journal_outcome").observe(time.perf_counter() - t1)
        outcome = result.outcome
        for stage in ("parse", "validate", "map"):
            metrics.STAGE_OUTCOMES.labels(stage, outcome).inc()
        if result.error_code:
            metrics.SUBMISSION_ERRORS.labels(channel, result.format, result.error_code).inc()
        if routed:
            self.wake_publisher()
        blog.info("submission.acknowledged", outcome=outcome, messages=result.messages,
                  documents=result.document_count, outbox=routed, error_code=result.error_code)
        return SubmissionAnswer(
            submission_id=sid, outcome=outcome, receipt=receipt,
            acknowledgement=result.acknowledgement, ack_content_type=result.ack_content_type,
            error_code=result.error_code, error_message=result.error_message)

    @defer.inlineCallbacks
    def _stage_spool(self, sid: str, partner: str, spool: str) -> Any:
        staged = 0
        with open(spool, "rb") as fh:
            while True:
                docs = yield deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                               read_documents, fh, SPOOL_CHUNK)  # fmt: skip
                if not docs:
                    return staged
                rows = self._outbox(sid, partner, docs)
                yield self.journal.stage_outbox(rows)
                staged += len(rows)

    def _outbox(self, sid: str, partner: str,
                documents: list[DocumentResult]) -> list[OutboxMessage]:  # fmt: skip
        out = []
        for d in documents:
            headers = {
                "x-edigate-submission-id": sid,
                "x-edigate-partner": partner,
                "x-edigate-document-type": d.document_type,
                "x-edigate-message-type": d.message_type,
                "x-edigate-message-version": d.message_version,
                "x-edigate-schema-version": d.schema_version,
                "x-edigate-transport-mode": d.transport_mode or "",
                "x-edigate-outcome": document_outcome(d),
                "x-edigate-rule-errors": str(d.rule_errors),
                "x-edigate-document-sha256": d.sha256,
                # this document's signed receipt (small, whatever the submission's size)
                "x-edigate-receipt": (d.receipt or b"").decode("utf-8"),
            }
            for dest in destinations(self.config.routes, d, partner,
                                     self.config.amqp.parking_exchange):  # fmt: skip
                out.append(OutboxMessage(
                    message_id=f"{sid}-{d.index}", submission_id=sid, exchange=dest.exchange,
                    routing_key=dest.routing_key, body=d.canonical,
                    content_type="application/json", correlation_id=sid,
                    headers={**headers, "x-edigate-route": dest.route}))
        return out

    def _events(self, sid: str, now: datetime, result: ProcessResult,
                routed: int) -> list[Event]:  # fmt: skip
        directories = sorted({str(d["directory"]) for d in result.summaries})
        ev = [
            Event("parsed", now, sid, {"format": result.format,
                                       "interchanges": result.interchanges,
                                       "messages": result.messages,
                                       "message_types": result.message_types,
                                       "interchange_ref": result.interchange_ref,
                                       "sender_id": result.sender_id,
                                       "recipient_id": result.recipient_id,
                                       "syntax": result.syntax,
                                       "directories": directories}),
            Event("validated", now, sid, {"syntax_findings": len(result.findings),
                                          "findings": result.findings[:10]}),
            Event("acknowledged", now, sid, {"outcome": result.outcome,
                                             "acknowledgement": result.ack_content_type}),
        ]  # fmt: skip
        problems = msgspec.to_builtins(result.problems[:20])
        if result.document_count:
            ev.append(Event("mapped", now, sid, {
                "documents": result.document_count,
                "first_documents": result.summaries[:20], "problems": problems}))
        assert result.receipt is not None
        ev.append(Event("signed", now, sid,
                        {"receipt_sha256": hashlib.sha256(result.receipt).hexdigest()}))
        if routed:
            ev.append(Event("routed", now, sid, {"messages": routed}))
        else:
            ev.append(Event("rejected", now, sid, {
                "error_code": result.error_code, "error": result.error_message,
                "problems": problems}))
        return ev

    # -- crash recovery -------------------------------------------------------------------------

    @defer.inlineCallbacks
    def recover(self) -> Any:
        """Finish submissions journaled as received whose processing a crash interrupted. Their
        senders got no answer and may resubmit: that is then answered as a duplicate."""
        ids = yield self.journal.unfinished()
        for sid in ids:
            rec: SubmissionRecord | None = yield self.journal.get_submission(sid)
            if rec is None:
                continue
            partner = self.config.partner(rec.partner) or Partner(id=rec.partner)
            payload = yield self.journal.payload(sid) if rec.size <= self.inline_max else None
            path = None if payload is not None else (yield self.journal.payload_path(sid))
            blog = log.bind(submission_id=sid, partner=rec.partner, channel=rec.channel)
            blog.warning("submission.recovering")
            yield self.journal.discard_staged(sid)
            yield self._process_and_commit(sid, partner, rec.channel, rec.received_at,
                                           rec.sha256, rec.size, payload, path, blog)  # fmt: skip
        return len(ids)

    # -- queries --------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def status(self, partner_id: str, submission_id: str) -> Any:
        rec = yield self.journal.get_submission(submission_id)
        if rec is None or rec.partner != partner_id:
            return None
        timeline = yield self.journal.timeline(submission_id)
        response = yield self.journal.get_response(submission_id)
        return SubmissionStatus(record=rec, timeline=timeline, has_response=response is not None)

    @defer.inlineCallbacks
    def response(self, partner_id: str, submission_id: str) -> Any:
        rec = yield self.journal.get_submission(submission_id)
        if rec is None or rec.partner != partner_id:
            return None
        return (yield self.journal.get_response(submission_id))

    def audit(self, event: Event) -> Deferred[None]:
        return self.journal.record_event(event)

    def record_response(self, response: ResponseRecord) -> Deferred[bool]:
        return self.journal.record_response(response)

