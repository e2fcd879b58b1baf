"""What channel adapters (HTTPS, SFTP, AS2) see of the pipeline: one handler interface.

Adapters know nothing about cargo: they authenticate a partner, hand over raw bytes with channel
metadata, and relay the answer (acknowledgement + signed receipt) in their own protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from twisted.internet.defer import Deferred

from ..config import Partner
from ..journal.base import Event, ResponseRecord, SubmissionRecord


@dataclass(frozen=True, slots=True)
class SubmissionRequest:
    partner: Partner
    channel: str  # "https", "sftp", "as2"
    payload: bytes | None = None  # small bodies in memory
    #: large bodies: a file the adapter owns until the Deferred fires
    payload_file: str | None = None
    content_type: str | None = None
    #: remote address, file name, TLS subject...
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SubmissionAnswer:
    submission_id: str
    #: accepted | partially_accepted | rejected | duplicate
    outcome: str
    receipt: bytes  # signed receipt (JSON), see edigate.receipts
    acknowledgement: bytes | None = None  # syntax acknowledgement, e.g. CONTRL
    ack_content_type: str | None = None
    duplicate_of: str | None = None
    #: when the pipeline refused the content (e.g. a document type the partner may not send):
    #: a documented error code; the submission is still journaled and has a receipt
    error_code: str | None = None
    error_message: str | None = None


class SubmissionError(Exception):
    """Refused before anything was journaled (e.g. the journal is unavailable)."""

    def __init__(self, code: str, message: str, http_status: int = 503) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


@dataclass(frozen=True, slots=True)
class SubmissionStatus:
    record: SubmissionRecord
    timeline: list[Event]
    has_response: bool


class SubmissionHandler(Protocol):
    def submit(self, request: SubmissionRequest) -> Deferred[SubmissionAnswer]: ...

    def status(self, partner_id: str, submission_id: str) -> Deferred[SubmissionStatus | None]:
        """None when unknown or not this partner's."""
        ...

    def response(self, partner_id: str, submission_id: str) -> Deferred[ResponseRecord | None]:
        ...

    def audit(self, event: Event) -> Deferred[None]:
        """Journal an audit event (refused authentication, oversized body, ...)."""
        ...
