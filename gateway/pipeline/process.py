"""The CPU-heavy middle of the pipeline, run in worker processes: detect the format, parse,
validate, build the syntax acknowledgement, map to canonical documents, check business rules.

Pure: bytes (or a file path) in, a ``ProcessResult`` out; no journal, no network, no reactor. The
result crosses the process boundary as msgpack (msgspec), so it is small and fast to pass back.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from ..canonical.model import SCHEMA_VERSION, to_json
from ..edifact.contrl import build_contrl
from ..rules import RuleSet, RuleSetError, load_rule_set
from .edifact import MessageOutcome, check_rules, file_chunks, interchange_outcomes

#: bytes of the payload start that format detection looks at
SNIFF_BYTES = 512


class DocumentResult(msgspec.Struct, kw_only=True):
    index: int  # 1-based within the submission
    interchange: int
    message_reference: str | None
    message_type: str  # e.g. CUSCAR
    message_version: str  # e.g. D:95B:UN
    directory: str  # e.g. D95B
    document_type: str  # canonical header type, e.g. cargo_report
    transport_mode: str | None
    identifier: str | None  # the sender's document reference (LRN, manifest ref)
    schema_version: str
    canonical: bytes  # canonical JSON
    sha256: str
    rule_errors: int = 0
    rule_warnings: int = 0
    rule_findings: list[dict[str, object]] = []


class Problem(msgspec.Struct, kw_only=True):
    """A message that was not turned into a canonical document, and why."""

    interchange: int
    message: int
    message_reference: str | None
    message_type: str | None
    kind: str  # syntax, envelope, no_mapping, mapping_failed, rules
    reason: str


class ProcessResult(msgspec.Struct, kw_only=True):
    format: str  # edifact, xml, unknown
    #: accepted (every message became a document), partially_accepted, rejected
    outcome: str
    interchanges: int = 0
    messages: int = 0
    message_types: list[str] = []  # distinct, in order of appearance
    interchange_ref: str | None = None  # first interchange's control reference (UNB 0020)
    sender_id: str | None = None  # first interchange's sender (UNB 0004)
    recipient_id: str | None = None
    syntax: list[str] = []  # UNB syntax identifier and version, e.g. ["UNOC", "3"]
    acknowledgement: bytes | None = None  # one CONTRL per interchange, concatenated
    ack_content_type: str | None = None
    documents: list[DocumentResult] = []
    problems: list[Problem] = []
    #: syntax findings (first few) for the timeline: code, text and position
    findings: list[dict[str, object]] = []
    error_code: str | None = None  # our documented code when the payload is not processable
    error_message: str | None = None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(ProcessResult)
MAX_FINDINGS = 50
MAX_PROBLEMS = 200


def encode_result(result: ProcessResult) -> bytes:
    return _encoder.encode(result)


def decode_result(data: bytes) -> ProcessResult:
    return _decoder.decode(data)


def detect_format(head: bytes) -> str:
    """EDIFACT starts with UNA or UNB (after an optional BOM and white space); XML with '<'."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text[:3] in (b"UNA", b"UNB"):
        return "edifact"
    if text[:1] == b"<":
        return "xml"
    if text[:3] == b"UNH":  # a bare message without envelope: the validator reports it
        return "edifact"
    return "unknown"


_rule_sets: dict[str, RuleSet] = {}


def _rule_set(name: str) -> RuleSet:
    rs = _rule_sets.get(name)
    if rs is None:
        rs = _rule_sets[name] = load_rule_set(Path(name) if name.endswith(".toml") else name)
    return rs


def _chunks_of(payload: bytes | None, path: str | None) -> Iterator[bytes]:
    if payload is not None:
        yield payload
        return
    assert path is not None
    with open(path, "rb") as fh:
        yield from file_chunks(fh, 1 << 20)


def _head(payload: bytes | None, path: str | None) -> bytes:
    if payload is not None:
        return payload[:SNIFF_BYTES]
    assert path is not None
    with open(path, "rb") as fh:
        return fh.read(SNIFF_BYTES)


def process_submission(payload: bytes | None, path: str | None, *, rule_set: str = "default",
                       reject_rule_errors: bool = False, now: datetime | None = None,
                       ) -> ProcessResult:  # fmt: skip
    """Process one submission's raw payload (in memory, or a file for large ones)."""
    now = now or datetime.now(UTC)
    fmt = detect_format(_head(payload, path))
    if fmt == "xml":
        return ProcessResult(format="xml", outcome="rejected", error_code="EDG-F002",
                             error_message="XML submissions are not supported yet")
    if fmt != "edifact":
        return ProcessResult(format="unknown", outcome="rejected", error_code="EDG-F001",
                             error_message="the payload is neither EDIFACT (UNA/UNB) nor XML")
    try:
        rules = _rule_set(rule_set)
    except (OSError, RuleSetError) as exc:  # a configuration error: fail loudly, not per message
        raise RuntimeError(f"rule set {rule_set!r} cannot be loaded: {exc}") from exc
    return _process_edifact(_chunks_of(payload, path), rules, reject_rule_errors, now)


def _process_edifact(chunks: Iterable[bytes], rules: RuleSet, reject_rule_errors: bool,
                     now: datetime) -> ProcessResult:  # fmt: skip
    result = ProcessResult(format="edifact", outcome="rejected")
    acks: list[bytes] = []
    by_sender: dict[str | None, RuleSet] = {}
    for ic, batch in interchange_outcomes(chunks):
        result.interchanges += 1
        result.messages += len(batch)
        if result.interchanges == 1 and ic.header is not None:
            result.interchange_ref = ic.reference or ic.header.value(5) or None
            result.sender_id = ic.header.value(2) or None
            result.recipient_id = ic.header.value(3) or None
            result.syntax = [ic.syntax_identifier, ic.syntax_version]
        for f in ic.all_findings():
            if len(result.findings) < MAX_FINDINGS:
                result.findings.append(f.as_dict())
        contrl = build_contrl(ic, secrets.token_hex(7).upper(), now)
        if contrl is not None:
            acks.append(contrl)
        check_rules(batch, rules, now, by_sender)
        for m in batch:
            label = m.report.type
            if label and label not in result.message_types:
                result.message_types.append(label)
            _document(result, m, reject_rule_errors)
            m.doc = None
    if acks:
        result.acknowledgement = b"".join(acks)
        result.ack_content_type = "application/EDIFACT"
    if result.messages and len(result.documents) == result.messages:
        result.outcome = "accepted"
    elif result.documents:
        result.outcome = "partially_accepted"
    if result.messages == 0 and result.error_code is None:
        result.error_code = "EDG-F003"
        result.error_message = "no message could be read from the interchange"
    return result


def _document(result: ProcessResult, m: MessageOutcome, reject_rule_errors: bool) -> None:
    r = m.report
    errors = [f for f in m.findings if f.severity == "error"]
    if m.doc is None or (errors and reject_rule_errors):
        if len(result.problems) < MAX_PROBLEMS:
            kind = m.problem or "rules"
            reason = m.reason or f"{len(errors)} business rule error(s); first: " \
                f"[{errors[0].code}] {errors[0].text}"
            result.problems.append(Problem(
                interchange=m.interchange, message=r.index, message_reference=r.reference or None,
                message_type=r.type or None, kind=kind, reason=reason))
        return
    doc = m.doc
    body = to_json(doc)
    btm = doc.border_transport_means
    result.documents.append(DocumentResult(
        index=len(result.documents) + 1,
        interchange=m.interchange,
        message_reference=r.reference or None,
        message_type=r.type,
        message_version=":".join(r.identifier[1:4]),
        directory=r.directory,
        document_type=doc.header.type,
        transport_mode=btm.mode if btm is not None else None,
        identifier=doc.header.identifier,
        schema_version=SCHEMA_VERSION,
        canonical=body,
        sha256=hashlib.sha256(body).hexdigest(),
        rule_errors=len(errors),
        rule_warnings=len(m.findings) - len(errors),
        rule_findings=[{k: v for k, v in f.as_dict().items() if k != "source"}
                       for f in m.findings[:20]],
    ))  # fmt: skip


def warm_up() -> None:
    """Load directories, mappings and the default rule set before the first real submission
    (run as the worker processes' initializer so the first acknowledgement is not slow)."""
    sample = (b"UNB+UNOA:3+WARM+UP+260101:0000+1'UNH+1+CUSCAR:D:95B:UN'BGM+85+1+9'"
              b"UNT+3+1'UNZ+1+1'")  # fmt: skip
    process_submission(sample, None)
