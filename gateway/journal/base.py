"""The journal's records and its storage interface.

The journal is the gateway's memory: every submission's raw payload and metadata, every state
change and audit event, the signed receipt, the outbox feeding the AMQP publisher and the backends'
responses. Nothing is acknowledged to a sender before the journal has committed it.

``Journal`` is the blocking storage interface a backend implements (SQLite is the embedded
default; PostgreSQL can follow with the same interface). The pipeline never calls it directly: it
goes through ``edigate.journal.service.AsyncJournal``, which runs writes on one writer thread with
group commit and reads on reader threads, and returns Deferreds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

#: submission states, in pipeline order; the last three are terminal alternatives
STATES = ("received", "parsed", "validated", "acknowledged", "mapped", "signed", "routed",
          "delivered", "rejected", "duplicate")  # fmt: skip


@dataclass(frozen=True, slots=True)
class NewSubmission:
    """What a channel hands over: raw bytes (inline, or a file already synced in the payload
    store for large bodies) plus partner and channel metadata."""

    id: str
    partner: str
    channel: str  # "https", "sftp", "as2", "cli"
    received_at: datetime  # timezone-aware, UTC
    sha256: str  # hex digest of the raw payload
    size: int
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # remote address, file name, ...
    payload: bytes | None = None
    payload_path: str | None = None  # absolute path inside the payload store


@dataclass(frozen=True, slots=True)
class Event:
    """One line of a submission's timeline (or an audit event with no submission)."""

    state: str  # one of STATES, or an audit kind such as "auth_failed", "response"
    at: datetime
    submission_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # JSON-serialisable


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One AMQP message waiting for its broker confirm. ``seq`` is assigned by the journal
    (strictly increasing in commit order); ``message_id`` is the idempotency key the backends
    de-duplicate on (the same document routed to two backends keeps one message_id)."""

    message_id: str
    submission_id: str
    exchange: str
    routing_key: str
    body: bytes
    content_type: str
    correlation_id: str
    headers: dict[str, str]
    seq: int = 0


@dataclass(frozen=True, slots=True)
class SubmissionOutcome:
    """Everything processing produced, committed in one transaction: the events, the final
    state, the acknowledgement and receipt the sender gets, and the outbox messages."""

    submission_id: str
    state: str  # "routed", "rejected" or "duplicate"
    events: Sequence[Event]
    receipt: bytes  # the signed receipt (JSON)
    format: str | None = None  # "edifact", "xml", ...
    document_type: str | None = None  # e.g. "CUSCAR" (the first message's type)
    interchange_ref: str | None = None  # sender's control reference (UNB 0020)
    sender_id: str | None = None  # interchange sender identification (UNB 0004)
    acknowledgement: bytes | None = None  # e.g. CONTRL
    ack_content_type: str | None = None
    duplicate_of: str | None = None
    outbox: Sequence[OutboxMessage] = ()


@dataclass(frozen=True, slots=True)
class SubmissionRecord:
    id: str
    partner: str
    channel: str
    received_at: datetime
    sha256: str
    size: int
    state: str
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    format: str | None = None
    document_type: str | None = None
    interchange_ref: str | None = None
    sender_id: str | None = None
    duplicate_of: str | None = None
    receipt: bytes | None = None
    acknowledgement: bytes | None = None
    ack_content_type: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """A backend's decision about a submission, as received and as rendered for the sender."""

    submission_id: str
    response_id: str  # the backend's message_id (idempotency: stored once)
    received_at: datetime
    body: bytes  # canonical CustomsResponse JSON as received
    rendered: bytes  # in the sender's format (CUSRES for EDIFACT senders)
    content_type: str


class Journal(Protocol):
    """Blocking storage interface. Implementations need not be thread-safe beyond what
    AsyncJournal guarantees: write methods are called from one writer thread, inside a
    transaction AsyncJournal opens (``begin``/``commit``/``rollback``, with ``savepoint``
    isolating each operation of a group commit); read methods may be called from reader threads,
    each with its own ``reader()`` handle."""

    # -- lifecycle and transactions (writer thread)
    def begin(self) -> None: ...
    def commit(self) -> None: ...  # durable (fsync) when it returns
    def rollback(self) -> None: ...
    def savepoint(self, name: str) -> None: ...
    def release(self, name: str) -> None: ...
    def rollback_to(self, name: str) -> None: ...
    def close(self) -> None: ...
    def reader(self) -> JournalReader: ...

    # -- writes
    def record_received(self, submission: NewSubmission) -> None: ...
    def record_outcome(self, outcome: SubmissionOutcome) -> None: ...
    def record_event(self, event: Event) -> None: ...
    def outbox_delivered(self, seqs: Sequence[int]) -> None: ...
    def outbox_parked(self, seqs: Sequence[int], reason: str) -> None: ...
    def record_response(self, response: ResponseRecord) -> bool: ...  # False: already stored
    def stage_outbox(self, rows: Sequence[OutboxMessage]) -> None: ...  # large submissions
    def discard_staged(self, submission_id: str) -> None: ...  # recovery


class JournalReader(Protocol):
    def get_submission(self, submission_id: str) -> SubmissionRecord | None: ...
    def timeline(self, submission_id: str) -> list[Event]: ...
    def payload(self, submission_id: str) -> bytes | None: ...
    def payload_path(self, submission_id: str) -> str | None: ...
    def find_duplicate(self, partner: str, *, sha256: str | None = None,
                       interchange_ref: str | None = None, sender_id: str | None = None,
                       since: datetime) -> SubmissionRecord | None: ...
    def unfinished(self) -> list[str]: ...  # received, no outcome yet (crash recovery)
    def outbox_pending(self, after_seq: int, limit: int) -> list[OutboxMessage]: ...
    def outbox_depth(self) -> int: ...
    def get_response(self, submission_id: str) -> ResponseRecord | None: ...
    def close(self) -> None: ...
