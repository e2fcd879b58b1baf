"""HTTPS submission channel (twisted.web).

Protocol only: it authenticates the partner (API key or TLS client certificate), enforces the
body limit and content types, hands raw bytes to a ``SubmissionHandler`` and relays its answer.
Every refusal has a documented error code (docs/errors.md, openapi.json) and is audited.

Hostile input is refused before it is read: the body limit is checked against Content-Length
when the headers arrive (and counted for chunked bodies), and an unauthenticated upload is
answered 401 before its body is accepted; idle or trickling connections time out.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.message import Message
from importlib.resources import files
from typing import Any

import structlog
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web import http, resource, server

from ... import metrics
from ...config import Partner
from ...journal.base import Event
from ...pipeline.api import (
    SubmissionAnswer,
    SubmissionError,
    SubmissionHandler,
    SubmissionRequest,
    SubmissionStatus,
)

log = structlog.get_logger("edigate.http")

#: documented error codes of this channel: (HTTP status, title)
ERRORS: dict[str, tuple[int, str]] = {
    "EDG-A001": (401, "authentication required: a valid API key or client certificate"),
    "EDG-A002": (403, "this partner may not submit over HTTPS"),
    "EDG-A003": (403, "the interchange sender is not one of the partner's identifications"),
    "EDG-A004": (403, "the partner may not submit this document type"),
    "EDG-H001": (413, "the body exceeds the configured limit"),
    "EDG-H002": (415, "unsupported content type"),
    "EDG-H003": (400, "empty body"),
    "EDG-H004": (404, "no such submission"),
    "EDG-H005": (405, "method not allowed"),
    "EDG-H006": (404, "no response to this submission yet"),
    "EDG-F001": (422, "the payload is neither EDIFACT nor XML"),
    "EDG-F003": (422, "no message could be read from the interchange"),
    # XML documents refused as a whole (edigate.xmlsafe, edigate.xmldsig, edigate.pipeline.xml)
    "EDG-X001": (422, "DOCTYPE declarations are not allowed"),
    "EDG-X002": (422, "not well-formed XML"),
    "EDG-X003": (422, "the document is nested too deeply"),
    "EDG-X004": (422, "XInclude is not allowed"),
    "EDG-X005": (422, "the document is larger than allowed"),
    "EDG-X006": (422, "unsupported encoding, or bytes that do not match it"),
    "EDG-X104": (422, "the root element is not one of the published schemas"),
    "EDG-X201": (422, "the partner's profile requires a signature: the document is unsigned"),
    "EDG-X202": (422, "the XML signature does not verify"),
    "EDG-X203": (422, "an XML signature algorithm that is not allowed"),
    "EDG-X204": (422, "the signing certificate is not one of the partner's, or not valid"),
    "EDG-X205": (422, "a malformed or not enveloped XML signature"),
    "EDG-S001": (503, "the gateway cannot store submissions right now; retry later"),
}

#: seconds a refused client gets to read the answer before the connection is aborted
REFUSE_GRACE = 2.0

#: media types a submission may be sent as; absent means "sniff the content"
ACCEPTED_TYPES = {"application/edifact", "application/edi-consent", "text/plain",
                  "application/octet-stream", "application/xml", "text/xml"}  # fmt: skip


def _media_type(value: bytes | None) -> str | None:
    if not value:
        return None
    msg = Message()
    msg["content-type"] = value.decode("latin-1")
    return msg.get_content_type().lower()


class Authenticator:
    """Partners by API key (SHA-256 digests in the configuration) or client certificate
    subject (RFC 4514)."""

    def __init__(self, partners: Sequence[Partner]) -> None:
        self.partners = list(partners)
        self._by_digest: dict[str, Partner] = {}
        self._by_subject: dict[str, Partner] = {}
        for p in self.partners:
            for d in p.api_key_sha256:
                self._by_digest[d.lower()] = p
            for s in p.client_certificates:
                self._by_subject[subject_key(s)] = p

    def by_key(self, key: str) -> Partner | None:
        import hashlib

        # digests are compared by dict lookup: the digest of a guess reveals nothing useful
        return self._by_digest.get(hashlib.sha256(key.encode("utf-8")).hexdigest())

    def by_certificate(self, subject: str) -> Partner | None:
        return self._by_subject.get(subject_key(subject))

    def authenticate(self, request: http.Request) -> tuple[Partner | None, str]:
        key = request.getHeader(b"x-api-key")
        auth = request.getHeader(b"authorization")
        if key is None and auth and auth[:7].lower() == b"bearer ":
            key = auth[7:].strip()
        if key:
            return self.by_key(key.decode("latin-1")), "api_key"
        subject = client_subject(request)
        if subject:
            return self.by_certificate(subject), "client_certificate"
        return None, "none"


def subject_key(subject: str) -> frozenset[tuple[str, str]]:
    """A distinguished name compared by its attributes, whatever their order: people copy
    subjects from openssl (CN first) as often as from RFC 4514 strings (CN last)."""
    from cryptography import x509

    name = x509.Name.from_rfc4514_string(subject)
    return frozenset((a.oid.dotted_string, str(a.value)) for a in name)


def client_subject(request: http.Request) -> str | None:
    """RFC 4514 subject of the verified TLS client certificate, if one was presented."""
    transport = getattr(request.channel, "transport", None)
    get = getattr(transport, "getPeerCertificate", None)
    if get is None:
        return None
    try:
        cert = get()
    except Exception:
        return None
    if cert is None:
        return None
    return str(cert.to_cryptography().subject.rfc4514_string())


class SubmissionRequestFactory:
    """Builds ``LimitedRequest`` objects bound to the channel's limits and authenticator."""

    def __init__(self, max_body: int, spool_dir: str, inline_max: int,
                 authenticator: Authenticator, audit: Callable[[str, http.Request], None],
                 ) -> None:  # fmt: skip
        self.max_body = max_body
        self.spool_dir = spool_dir
        self.inline_max = inline_max
        self.authenticator = authenticator
        self.audit = audit

    def __call__(self, channel: Any, queued: bool = False) -> LimitedRequest:
        return LimitedRequest(channel, self)


class LimitedRequest(server.Request):
    """A request that refuses oversized or unauthenticated uploads as soon as the headers are
    in, counts chunked bodies, and spools large bodies to a named file the pipeline can store."""

    def __init__(self, channel: Any, factory: SubmissionRequestFactory) -> None:
        super().__init__(channel)
        self.limits = factory
        self.refused = False
        self.body_complete = False
        self.received_bytes = 0
        self.spool_path: str | None = None
        self.partner: Partner | None = None
        self.auth_method = "none"

    def _refuse_now(self, code: str) -> None:
        """Answer and disconnect without reading the body (the client may still be sending):
        stop reading at once, send the answer, close; abort if the peer does not let go."""
        self.refused = True
        self.discard_spool()  # nothing more is read: the partial upload goes now
        self.content = _Discard()
        self.limits.audit(code, self)
        status, title = ERRORS[code]
        body = json.dumps({"error": {"code": code, "message": title}}).encode()
        reason = http.RESPONSES.get(status, b"Error")
        transport = self.channel.transport
        transport.pauseProducing()
        transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (status, reason, len(body), body))
        self.channel.loseConnection()
        from twisted.internet import reactor

        abort = reactor.callLater(REFUSE_GRACE, transport.abortConnection)  # type: ignore[attr-defined]
        self.notifyFinish().addBoth(lambda _: abort.active() and abort.cancel())

    def gotLength(self, length: int | None) -> None:
        # the request's method is only set once the body is in; the channel has parsed the
        # request line already (a private attribute, stable since Twisted 16)
        if getattr(self.channel, "_command", None) == b"POST":
            if length is not None and length > self.limits.max_body:
                self.content = _Discard()
                return self._refuse_now("EDG-H001")
            self.partner, self.auth_method = self.limits.authenticator.authenticate(self)
            if self.partner is None:
                self.content = _Discard()
                return self._refuse_now("EDG-A001")
            if length is None or length > self.limits.inline_max:
                os.makedirs(self.limits.spool_dir, exist_ok=True)
                # lives as long as the request: closed and removed by discard_spool()
                fh = tempfile.NamedTemporaryFile(  # noqa: SIM115
                    dir=self.limits.spool_dir, delete=False, prefix="upload-")
                self.spool_path = fh.name
                self.content = fh
                return None
        return super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        self.received_bytes += len(data)
        if self.received_bytes > self.limits.max_body:
            return self._refuse_now("EDG-H001")
        self.content.write(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self.refused:
            return
        self.body_complete = True
        super().requestReceived(command, path, version)

    def discard_spool(self) -> None:
        if self.spool_path is not None:
            with contextlib.suppress(OSError):
                self.content.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.spool_path)
            self.spool_path = None

    def connectionLost(self, reason: Failure) -> None:
        super().connectionLost(reason)
        # an upload that never completed leaves nothing behind (a complete one belongs to the
        # submission under way, which removes it when done)
        if not self.body_complete:
            self.discard_spool()


class _Discard:
    def write(self, data: bytes) -> None:
        pass

    def seek(self, *a: Any) -> None:
        pass

    def read(self, *a: Any) -> bytes:
        return b""

    def close(self) -> None:
        pass


def _json(request: http.Request, status: int, obj: Any) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8")


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def answer_body(answer: SubmissionAnswer, base_url: str) -> dict[str, Any]:
    receipt: Any
    try:
        receipt = json.loads(answer.receipt)
    except ValueError:
        receipt = _text(answer.receipt)
    return {
        "submission_id": answer.submission_id,
        "outcome": answer.outcome,
        "status_url": f"{base_url}/v1/submissions/{answer.submission_id}",
        "duplicate_of": answer.duplicate_of,
        "acknowledgement": None if answer.acknowledgement is None else {
            "content_type": answer.ack_content_type, "text": _text(answer.acknowledgement)},
        "receipt": receipt,
        "error": None if answer.error_code is None else {
            "code": answer.error_code, "message": answer.error_message},
    }  # fmt: skip


def answer_status(answer: SubmissionAnswer) -> int:
    if answer.error_code in ERRORS and answer.error_code.startswith("EDG-A"):
        return ERRORS[answer.error_code][0]
    if answer.outcome == "duplicate":
        return 200
    if answer.outcome == "rejected":
        return 422
    return 202


class _Base(resource.Resource):
    def __init__(self, api: ApiRoot) -> None:
        super().__init__()
        self.api = api

    def error(self, request: http.Request, code: str, message: str | None = None) -> bytes:
        status, title = ERRORS[code]
        return _json(request, status, {"error": {"code": code, "message": message or title}})

    def partner_of(self, request: http.Request) -> Partner | None:
        partner = getattr(request, "partner", None)
        if partner is None:
            partner, _ = self.api.authenticator.authenticate(request)
        return partner

    def render(self, request: http.Request) -> bytes | int:
        try:
            return super().render(request)
        except server.UnsupportedMethod:
            return self.error(request, "EDG-H005")


class SubmissionsResource(_Base):
    """``POST /v1/submissions``; children: ``/{id}``."""

    def getChild(self, path: bytes, request: http.Request) -> resource.Resource:
        if not path:
            return self
        return SubmissionResource(self.api, path.decode("ascii", "replace"))

    def render_POST(self, request: LimitedRequest) -> bytes | int:
        started = time.perf_counter()
        partner = self.partner_of(request)
        if partner is None:
            self.api.audit("EDG-A001", request)
            return self.error(request, "EDG-A001")
        if "https" not in partner.channels:
            self.api.audit("EDG-A002", request, partner)
            request.discard_spool() if isinstance(request, LimitedRequest) else None
            return self.error(request, "EDG-A002")
        ctype = _media_type(request.getHeader(b"content-type"))
        if ctype is not None and ctype not in ACCEPTED_TYPES:
            self.api.audit("EDG-H002", request, partner)
            if isinstance(request, LimitedRequest):
                request.discard_spool()
            return self.error(request, "EDG-H002", f"unsupported content type {ctype}; use "
                              "application/EDIFACT, application/xml or text/plain")
        spool = request.spool_path if isinstance(request, LimitedRequest) else None
        payload: bytes | None = None
        if spool is None:
            request.content.seek(0)
            payload = request.content.read()
            size = len(payload)
        else:
            request.content.flush()
            size = os.fstat(request.content.fileno()).st_size
        if size == 0:
            self.api.audit("EDG-H003", request, partner)
            if isinstance(request, LimitedRequest):
                request.discard_spool()
            return self.error(request, "EDG-H003")
        peer = request.getClientAddress()
        meta = {"remote": f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}",
                "auth": getattr(request, "auth_method", "api_key"),
                "user_agent": (request.getHeader(b"user-agent") or b"").decode("latin-1")[:200]}
        subject = client_subject(request)
        if subject:
            meta["tls_client_subject"] = subject
        sub = SubmissionRequest(partner=partner, channel="https", payload=payload,
                                payload_file=spool, content_type=ctype, metadata=meta)
        d = defer.maybeDeferred(self.api.handler.submit, sub)

        def done(answer: SubmissionAnswer) -> None:
            body = answer_body(answer, self.api.public_url)
            status = answer_status(answer)
            request.setHeader(b"location", body["status_url"].encode())
            out = _json(request, status, body)
            self.api.finish(request, out)

        def failed(f: Failure) -> None:
            if f.check(SubmissionError):
                err: SubmissionError = f.value
                out = _json(request, err.http_status,
                            {"error": {"code": err.code, "message": err.message}})
            else:
                log.error("http.submit_failed", error=f.getErrorMessage(),
                          traceback=f.getTraceback())
                out = _json(request, 503, {"error": {"code": "EDG-S001",
                                                     "message": ERRORS["EDG-S001"][1]}})
            self.api.finish(request, out)

        def cleanup(r: Any) -> Any:
            if isinstance(request, LimitedRequest):
                request.discard_spool()
            log.debug("http.submission_answered", ms=round(1000 * (time.perf_counter()
                                                                   - started), 2))
            return r

        d.addCallbacks(done, failed).addBoth(cleanup)
        return server.NOT_DONE_YET


class SubmissionResource(_Base):
    """``GET /v1/submissions/{id}`` and its ``/response``, ``/receipt``, ``/acknowledgement``."""

    isLeaf = True

    def __init__(self, api: ApiRoot, submission_id: str) -> None:
        super().__init__(api)
        self.submission_id = submission_id

    def render_GET(self, request: http.Request) -> bytes | int:
        partner = self.partner_of(request)
        if partner is None:
            self.api.audit("EDG-A001", request)
            return self.error(request, "EDG-A001")
        rest = [p for p in request.postpath if p]
        part = rest[0].decode("ascii", "replace") if rest else ""
        if len(rest) > 1 or part not in ("", "response", "receipt", "acknowledgement"):
            return self.error(request, "EDG-H004")
        sid = self.submission_id
        if part == "response":
            d = self.api.handler.response(partner.id, sid)
            d.addCallback(self._response, request)
        else:
            d = self.api.handler.status(partner.id, sid)
            d.addCallback(self._status, request, part)
        d.addErrback(self._failed, request)
        return server.NOT_DONE_YET

    def _response(self, rec: Any, request: http.Request) -> None:
        if rec is None:
            # unknown submission and "no response yet" are told apart only for the owner
            return self._not_ready(request)
        request.setHeader(b"content-type", rec.content_type.encode())
        request.setHeader(b"x-edigate-response-id", rec.response_id.encode())
        self.api.finish(request, rec.rendered)

    def _not_ready(self, request: http.Request) -> None:
        partner = self.partner_of(request)
        assert partner is not None
        d = self.api.handler.status(partner.id, self.submission_id)

        def told(st: SubmissionStatus | None) -> None:
            self.api.finish(request, self.error(request, "EDG-H006" if st else "EDG-H004"))

        d.addCallback(told).addErrback(self._failed, request)

    def _status(self, st: SubmissionStatus | None, request: http.Request, part: str) -> None:
        if st is None:
            return self.api.finish(request, self.error(request, "EDG-H004"))
        r = st.record
        if part == "receipt":
            request.setHeader(b"content-type", b"application/json")
            return self.api.finish(request, r.receipt or b"")
        if part == "acknowledgement":
            if r.acknowledgement is None:
                return self.api.finish(request, self.error(request, "EDG-H004",
                                                           "no acknowledgement"))  # fmt: skip
            request.setHeader(b"content-type", (r.ack_content_type or
                                                "application/octet-stream").encode())
            return self.api.finish(request, r.acknowledgement)
        body = {
            "submission_id": r.id, "partner": r.partner, "channel": r.channel,
            "received_at": r.received_at.isoformat(), "state": r.state, "format": r.format,
            "document_type": r.document_type, "interchange_ref": r.interchange_ref,
            "sender_id": r.sender_id, "payload_sha256": r.sha256, "size": r.size,
            "duplicate_of": r.duplicate_of, "has_response": st.has_response,
            "timeline": [{"state": e.state, "at": e.at.isoformat(), "detail": e.detail}
                         for e in st.timeline],
        }  # fmt: skip
        self.api.finish(request, _json(request, 200, body))

    def _failed(self, f: Failure, request: http.Request) -> None:
        log.error("http.query_failed", error=f.getErrorMessage(), traceback=f.getTraceback())
        self.api.finish(request, self.error(request, "EDG-S001"))


class OpenApiResource(resource.Resource):
    isLeaf = True

    def render_GET(self, request: http.Request) -> bytes:
        request.setHeader(b"content-type", b"application/json")
        return openapi_document()


def openapi_document() -> bytes:
    return files("edigate.adapters.http").joinpath("openapi.json").read_bytes()


class ApiRoot(resource.Resource):
    def __init__(self, handler: SubmissionHandler, authenticator: Authenticator,
                 public_url: str) -> None:  # fmt: skip
        super().__init__()
        self.handler = handler
        self.authenticator = authenticator
        self.public_url = public_url.rstrip("/")
        v1 = resource.Resource()
        v1.putChild(b"submissions", SubmissionsResource(self))
        v1.putChild(b"openapi.json", OpenApiResource())
        self.putChild(b"v1", v1)

    def getChild(self, path: bytes, request: http.Request) -> resource.Resource:
        return _NotFound()

    def finish(self, request: http.Request, body: bytes) -> None:
        if request._disconnected or request.finished:  # the client gave up: nothing to write
            return
        request.write(body)
        request.finish()

    def audit(self, code: str, request: http.Request, partner: Partner | None = None) -> None:
        metrics.AUDIT_REFUSALS.labels("https", code).inc()
        peer = request.getClientAddress()
        detail = {"code": code, "channel": "https",
                  "remote": f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}",
                  "method": request.method.decode("latin-1"),
                  "path": request.uri.decode("latin-1")[:200],
                  "partner": partner.id if partner else None}  # fmt: skip
        log.warning("http.refused", **detail)
        d = self.handler.audit(Event("refused", datetime.now(UTC), None, detail))
        d.addErrback(lambda f: log.error("http.audit_failed", error=f.getErrorMessage()))


class _NotFound(resource.Resource):
    isLeaf = True

    def render(self, request: http.Request) -> bytes:
        return _json(request, 404, {"error": {"code": "EDG-H004", "message": "not found"}})


def build_site(handler: SubmissionHandler, partners: Sequence[Partner], *, max_body: int,
               inline_max: int, spool_dir: str, public_url: str,
               timeout: float = 60.0) -> server.Site:  # fmt: skip
    """The HTTPS channel's Site (listen on it with a TLS endpoint)."""
    authenticator = Authenticator(partners)
    root = ApiRoot(handler, authenticator, public_url)
    site = server.Site(root, timeout=timeout)
    site.displayTracebacks = False  # never a traceback to a client
    site.requestFactory = SubmissionRequestFactory(
        max_body, spool_dir, inline_max, authenticator,
        lambda code, req: root.audit(code, req))  # fmt: skip
    return site
