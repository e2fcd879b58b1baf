"""Backends' decisions back to the submitter: a canonical CustomsResponse arrives on the response
queue, is linked to the submission it answers, rendered in the submitter's format (CUSRES in the
directory version they used, for EDIFACT senders) and journaled, so the submitter's channel can
serve it (HTTPS ``GET /v1/submissions/{id}/response``; SFTP outbox folders later)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from twisted.internet import defer

from ..canonical.model import CanonicalDocument, CustomsResponse
from ..config import Config
from ..journal.base import Event, ResponseRecord, SubmissionRecord
from ..mappings.cusres import render_cusres
from ..receipts import ReceiptSigner
from ..xmlrender import XmlSigner, render_customs_response

log = structlog.get_logger("edigate.responses")


class InvalidResponse(ValueError):
    """Not a canonical customs response: dead-lettered by the consumer, with the body kept."""


def decode_response(body: bytes) -> CustomsResponse:
    """A canonical document with a ``response``, or a bare CustomsResponse object."""
    try:
        doc = msgspec.json.decode(body, type=CanonicalDocument)
        if doc.response is not None:
            return doc.response
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as exc:
        raise InvalidResponse(f"not JSON: {exc}") from exc
    try:
        return msgspec.json.decode(body, type=CustomsResponse)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidResponse(f"not a canonical customs response: {exc}") from exc


def _parsed_detail(timeline: list[Event]) -> dict[str, Any]:
    for e in timeline:
        if e.state == "parsed":
            return e.detail
    return {}


def render_for(record: SubmissionRecord, timeline: list[Event], response: CustomsResponse,
               response_format: str, now: datetime,
               xml_signer: XmlSigner | None = None) -> tuple[bytes, str]:  # fmt: skip
    """The response in the submitter's format: (bytes, content type). ``response_format``
    "json" is JSON; "xml" is a ``CustomsResponse`` document (xsd/customs-response-1.xsd,
    signed with ``xml_signer``); "edifact" answers in the submission's own syntax: CUSRES for
    an EDIFACT interchange, the XML ``CustomsResponse`` for an XML document."""
    if response_format == "xml" or (response_format == "edifact" and record.format == "xml"):
        return render_customs_response(response, issued=now, response_id=secrets.token_hex(8),
                                       signer=xml_signer), "application/xml"  # fmt: skip
    parsed = _parsed_detail(timeline)
    directories = parsed.get("directories") or []
    if response_format == "edifact" and record.format == "edifact" and directories:
        syntax = parsed.get("syntax") or ["UNOC", "3"]
        rendered = render_cusres(
            response, directory=directories[0],
            sender=[parsed.get("recipient_id") or "EDIGATE"],
            recipient=[record.sender_id or parsed.get("sender_id") or record.partner],
            interchange_reference=secrets.token_hex(7).upper(),
            syntax=(syntax[0], syntax[1]) if len(syntax) == 2 else ("UNOC", "3"), now=now)
        return rendered, "application/EDIFACT"
    return msgspec.json.encode(response), "application/json"


class ResponseLinker:
    """``on_response(body, properties)`` for the AMQP response consumer."""

    def __init__(self, config: Config, journal: Any) -> None:
        self.config = config
        self.journal = journal
        self._signer: XmlSigner | None = None

    def _xml_signer(self) -> XmlSigner:
        """The gateway's signing key for XML responses, loaded on first use (and checked as
        for receipts)."""
        if self._signer is None:
            s = self.config.signing
            receipts = ReceiptSigner(self.config.path(s.key), self.config.path(s.certificate))
            self._signer = XmlSigner(receipts.private_key, receipts.certificate)
        return self._signer

    @defer.inlineCallbacks
    def on_response(self, body: bytes, properties: Any) -> Any:
        now = datetime.now(UTC)
        response_id = getattr(properties, "message_id", None) or secrets.token_hex(16)
        try:
            response = decode_response(body)
        except InvalidResponse as exc:
            log.error("response.invalid", response_id=response_id, error=str(exc))
            raise
        ref = response.response_to_message_id or getattr(properties, "correlation_id", None)
        sid = ref.split("-", 1)[0] if ref else None
        record = (yield self.journal.get_submission(sid)) if sid else None
        if record is None:
            # kept in the journal (not lost) for an operator to link by hand
            yield self.journal.record_event(Event("response_unlinked", now, None, {
                "response_id": response_id, "reference": ref,
                "body": body.decode("utf-8", "replace")}))
            log.error("response.unknown_submission", response_id=response_id, reference=ref)
            return "unknown_submission"
        timeline = yield self.journal.timeline(record.id)
        partner = self.config.partner(record.partner)
        fmt = partner.response_format if partner is not None else "json"
        signer = self._xml_signer() if partner is not None and partner.sign_xml_answers else None
        try:
            rendered, ctype = render_for(record, timeline, response, fmt, now, signer)
        except (KeyError, ValueError) as exc:  # a directory without CUSRES support: plain JSON
            log.warning("response.render_failed", submission_id=record.id, error=str(exc))
            rendered, ctype = msgspec.json.encode(response), "application/json"
        stored = yield self.journal.record_response(ResponseRecord(
            submission_id=record.id, response_id=response_id, received_at=now,
            body=to_json_response(response), rendered=rendered, content_type=ctype))
        blog = log.bind(submission_id=record.id, partner=record.partner)
        blog.info("response.linked" if stored else "response.duplicate",
                  response_id=response_id, status=response.status)
        return "linked" if stored else "duplicate"


def to_json_response(response: CustomsResponse) -> bytes:
    return msgspec.json.encode(response)


__all__ = ["InvalidResponse", "ResponseLinker", "decode_response", "render_for", "to_json_response"]
