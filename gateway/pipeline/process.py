"""The CPU-heavy middle of the pipeline, run in worker processes: detect the format, parse,
validate, build the syntax acknowledgement, map to canonical documents, check business rules,
apply the partner's permissions and sign the receipts.

Pure: bytes (or a file path) in, a ``ProcessResult`` out; no journal, no network, no reactor. The
result crosses the process boundary as msgpack (msgspec). Signing happens here too, so the
reactor process never spends CPU on it: the submission's receipt, and one receipt per document
(the one that travels with that document's AMQP message, small whatever the submission's size).

Large submissions (``spool`` given) stream: each document is appended to a spool file as soon as
it is mapped, so memory holds one message, never the interchange; the result carries the file.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from ..canonical.model import SCHEMA_VERSION, CanonicalDocument, to_json
from ..edifact.contrl import build_contrl
from ..receipts import Receipt, ReceiptDocument, ReceiptSigner
from ..rules import RuleSet, RuleSetError, load_rule_set
from ..xmlrender import (
    ALL_DOCUMENTS_MAX,
    AckDocument,
    AckFinding,
    XmlSigner,
    render_acknowledgement,
)
from ..xmlsafe import XmlRejected
from .edifact import InterchangeEnd, MessageOutcome, check_rules, file_chunks, message_stream
from .xml import XmlHead, XmlOutcome, xml_stream

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
    receipt: bytes | None = None  # this document's signed receipt (travels with its message)
    void: bool = False  # its interchange or group turned out to be in error


class ReceiptContext(msgspec.Struct, kw_only=True):
    """What the worker needs to know of the submission to decide and sign: who, when, what."""

    submission_id: str
    partner_id: str
    channel: str
    received_at: datetime
    payload_sha256: str
    payload_size: int
    node_id: str
    allowed_types: list[str] = []  # empty: any
    allowed_senders: list[str] = []  # empty: any
    #: XML: the partner's signing certificates (PEM), whether unsigned documents are refused,
    #: whether the acknowledgement is signed
    xml_certificates: bytes = b""
    xml_signature_required: bool = False
    sign_xml: bool = False
    #: IANA zone of the partner's EDIFACT times without a zone (None: each mapping's own)
    timezone: str | None = None
    #: the partner's own business-rule set (None: the pipeline's)
    rule_set: str | None = None


class Problem(msgspec.Struct, kw_only=True):
    """A message that was not turned into a canonical document, and why."""

    interchange: int
    message: int
    message_reference: str | None
    message_type: str | None
    kind: str  # syntax, envelope, no_mapping, mapping_failed, too_large, rules, schema
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
    receipt: bytes | None = None  # the submission's signed receipt (when signing is set up)
    document_count: int = 0  # documents accepted (in ``documents`` or in ``documents_file``)
    documents_file: str | None = None  # spool of DocumentResult records (large submissions)
    summaries: list[dict[str, object]] = []  # the first documents, for the timeline


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(ProcessResult)
MAX_FINDINGS = 50
MAX_PROBLEMS = 200


#: receipts signer of this worker process (see init_signer), and the same key for XML answers
_signer: ReceiptSigner | None = None
_xml_signer: XmlSigner | None = None
_doc_encoder = msgspec.msgpack.Encoder()
_doc_decoder = msgspec.msgpack.Decoder(DocumentResult)
MAX_SUMMARIES = 100

ERR_SENDER = "EDG-A003"
ERR_DOCTYPE = "EDG-A004"


def init_signer(key: str, certificate: str, ca: str | None) -> None:
    global _signer, _xml_signer
    _signer = ReceiptSigner(key, certificate, ca)
    _xml_signer = XmlSigner(_signer.private_key, _signer.certificate)


def write_document(fh: BinaryIO, doc: DocumentResult) -> None:
    data = _doc_encoder.encode(doc)
    fh.write(len(data).to_bytes(4, "big"))
    fh.write(data)


def read_documents(fh: BinaryIO, limit: int) -> list[DocumentResult]:
    """Up to ``limit`` documents from a spool file (voided ones skipped)."""
    out: list[DocumentResult] = []
    while len(out) < limit:
        head = fh.read(4)
        if len(head) < 4:
            break
        doc = _doc_decoder.decode(fh.read(int.from_bytes(head, "big")))
        if not doc.void:
            out.append(doc)
    return out


def encode_result(result: ProcessResult) -> bytes:
    return _encoder.encode(result)


def decode_result(data: bytes) -> ProcessResult:
    return _decoder.decode(data)


#: how XML written in UTF-16 starts: a byte order mark, or "<" as a 16-bit unit
_UTF16_STARTS = (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")


def detect_format(head: bytes) -> str:
    """EDIFACT starts with UNA or UNB (after an optional BOM and white space); XML with '<'
    (in UTF-8, or UTF-16 with or without its byte order mark)."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text[:3] in (b"UNA", b"UNB"):
        return "edifact"
    if text[:1] == b"<" or head[:2] in _UTF16_STARTS:
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
                       context: ReceiptContext | None = None, spool: str | None = None,
                       ) -> ProcessResult:  # fmt: skip
    """Process one submission's raw payload (in memory, or a file for large ones). With a
    ``context`` the partner's permissions are applied and, when this process has a signer, the
    receipts are signed; with ``spool`` (a file path) documents go there instead of memory."""
    now = now or datetime.now(UTC)
    fmt = detect_format(_head(payload, path))
    accepted: list[ReceiptDocument] = []  # digests of the accepted documents
    if fmt not in ("edifact", "xml"):
        result = ProcessResult(format="unknown", outcome="rejected", error_code="EDG-F001",
                               error_message="the payload is neither EDIFACT (UNA/UNB) nor XML")
    else:
        if context is not None and context.rule_set:
            rule_set = context.rule_set
        try:
            rules = _rule_set(rule_set)
        except (OSError, RuleSetError) as exc:  # a configuration error: fail loudly
            raise RuntimeError(f"rule set {rule_set!r} cannot be loaded: {exc}") from exc
        if fmt == "xml":
            source = payload if payload is not None else str(path)
            result, accepted = _process_xml(source, rules, reject_rule_errors, now, context,
                                            spool)  # fmt: skip
        else:
            result, accepted = _process_edifact(_chunks_of(payload, path), rules,
                                                reject_rule_errors, now, context, spool)
    if context is not None and _signer is not None:
        result.receipt = _signer.sign(_receipt(context, result, accepted))
    return result


def _receipt(ctx: ReceiptContext, result: ProcessResult,
             documents: list[ReceiptDocument]) -> Receipt:  # fmt: skip
    ack = result.acknowledgement
    return Receipt(
        submission_id=ctx.submission_id, partner_id=ctx.partner_id, channel=ctx.channel,
        received_at=ctx.received_at, payload_sha256=ctx.payload_sha256,
        payload_size=ctx.payload_size, outcome=result.outcome, node_id=ctx.node_id,
        interchange_reference=result.interchange_ref,
        acknowledgement_sha256=hashlib.sha256(ack).hexdigest() if ack else None,
        documents=tuple(documents))


def _receipt_document(d: DocumentResult) -> ReceiptDocument:
    return ReceiptDocument(index=d.index, message_reference=d.message_reference,
                           document_type=d.document_type, schema_version=d.schema_version,
                           sha256=d.sha256)  # fmt: skip


def _refusal(ctx: ReceiptContext | None, sender: str | None,
             message_type: str) -> tuple[str, str] | None:  # fmt: skip
    """The partner's permissions: (error code, message) when this is not allowed."""
    if ctx is None:
        return None
    if sender and ctx.allowed_senders and sender not in ctx.allowed_senders:
        return ERR_SENDER, (f"interchange sender {sender!r} is not one of partner "
                            f"{ctx.partner_id}'s identifications")  # fmt: skip
    if message_type and ctx.allowed_types and message_type not in ctx.allowed_types:
        return ERR_DOCTYPE, (f"partner {ctx.partner_id} may not submit {message_type} "
                             f"(allowed: {', '.join(ctx.allowed_types)})")  # fmt: skip
    return None


class _Sink:
    """Where accepted documents go: memory, or the spool file (large submissions)."""

    def __init__(self, result: ProcessResult, spool: str | None) -> None:
        self.result = result
        self.fh: BinaryIO | None = open(spool, "wb") if spool else None  # noqa: SIM115
        self.void: set[int] = set()
        self.receipt_docs: list[ReceiptDocument] = []
        #: documents of the interchange being read: (index, group), to void them if it fails
        self.current: list[tuple[int, int]] = []

    def add(self, doc: DocumentResult, group: int) -> None:
        self.result.document_count += 1
        self.current.append((doc.index, group))
        self.receipt_docs.append(_receipt_document(doc))
        if len(self.result.summaries) < MAX_SUMMARIES:
            self.result.summaries.append({
                "index": doc.index, "message_type": doc.message_type,
                "directory": doc.directory, "document_type": doc.document_type,
                "identifier": doc.identifier, "sha256": doc.sha256,
                "rule_errors": doc.rule_errors, "rule_warnings": doc.rule_warnings})
        if self.fh is None:
            self.result.documents.append(doc)
        else:
            write_document(self.fh, doc)

    def end_interchange(self, end: InterchangeEnd) -> list[int]:
        """Void the documents of a failed interchange or group; their indices."""
        if end.report.findings:
            voided = [i for i, _ in self.current]
        else:
            voided = [i for i, g in self.current if g in end.bad_groups]
        self.current = []
        if voided:
            self.void.update(voided)
            self.result.document_count -= len(voided)
            self.receipt_docs = [d for d in self.receipt_docs if d.index not in self.void]
            self.result.summaries = [d for d in self.result.summaries
                                     if d["index"] not in self.void]  # fmt: skip
            if self.fh is None:
                self.result.documents = [d for d in self.result.documents
                                         if d.index not in self.void]  # fmt: skip
        return voided

    def close(self, spool: str | None) -> None:
        if self.fh is None:
            return
        self.fh.close()
        if self.void and spool:
            # rewrite the (rare) spool with voided documents marked, so readers skip them
            tmp = spool + ".v"
            with open(spool, "rb") as src, open(tmp, "wb") as dst:
                while True:
                    head = src.read(4)
                    if len(head) < 4:
                        break
                    doc = _doc_decoder.decode(src.read(int.from_bytes(head, "big")))
                    doc.void = doc.index in self.void
                    write_document(dst, doc)
            os.replace(tmp, spool)


def _process_edifact(chunks: Iterable[bytes], rules: RuleSet, reject_rule_errors: bool,
                     now: datetime, ctx: ReceiptContext | None,
                     spool: str | None,
                     ) -> tuple[ProcessResult, list[ReceiptDocument]]:  # fmt: skip
    result = ProcessResult(format="edifact", outcome="rejected", documents_file=spool)
    sink = _Sink(result, spool)
    acks: list[bytes] = []
    by_sender: dict[str | None, RuleSet] = {}
    pending: list[MessageOutcome] = []  # this interchange's messages without a document
    next_index = 1
    try:
        for item in message_stream(chunks, timezone=ctx.timezone if ctx else None):
            if isinstance(item, InterchangeEnd):
                ic = item.report
                result.interchanges += 1
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
                voided = sink.end_interchange(item)
                if voided and len(result.problems) < MAX_PROBLEMS:
                    level = "interchange" if ic.findings else "group"
                    first = (ic.findings or [f for g in ic.groups for f in g.findings])[0]
                    result.problems.append(Problem(
                        interchange=ic.index, message=0, message_reference=None,
                        message_type=None, kind="envelope",
                        reason=f"{len(voided)} document(s) voided: their {level} has syntax "
                               f"errors; first: [{first.code}] {first.text}"))  # fmt: skip
                for m in pending:
                    _problem(result, m, [])
                pending = []
                continue
            m = item
            result.messages += 1
            label = m.report.type
            if label and label not in result.message_types:
                result.message_types.append(label)
            refused = _refusal(ctx, m.doc.provenance.sender if m.doc and m.doc.provenance
                               else None, label)  # fmt: skip
            if refused is not None and result.error_code is None:
                result.error_code, result.error_message = refused
            if m.doc is None or refused is not None:
                m.problem = m.problem or "refused"
                m.reason = m.reason or (refused[1] if refused else "")
                pending.append(m)
                continue
            check_rules([m], rules, now, by_sender)
            doc = _document(m, next_index, reject_rule_errors)
            if doc is None:
                pending.append(m)
                continue
            next_index += 1
            if ctx is not None and _signer is not None:
                doc.receipt = _signer.sign(_receipt(ctx, ProcessResult(
                    format="edifact", outcome="accepted",
                    interchange_ref=m.doc.provenance.interchange_reference
                    if m.doc.provenance else None), [_receipt_document(doc)]))
            sink.add(doc, m.report.group)
            m.doc = None
    finally:
        sink.close(spool)
    accepted = sink.receipt_docs
    if result.error_code in (ERR_SENDER, ERR_DOCTYPE):
        # a partner may not send any of it: nothing is accepted
        accepted = _withdraw_all(result, spool)
    if acks:
        result.acknowledgement = b"".join(acks)
        result.ack_content_type = "application/EDIFACT"
    if result.messages and result.document_count == result.messages:
        result.outcome = "accepted"
    elif result.document_count:
        result.outcome = "partially_accepted"
    if result.messages == 0 and result.error_code is None:
        result.error_code = "EDG-F003"
        result.error_message = "no message could be read from the interchange"
    return result, accepted


def _process_xml(source: bytes | str, rules: RuleSet, reject_rule_errors: bool, now: datetime,
                 ctx: ReceiptContext | None, spool: str | None,
                 ) -> tuple[ProcessResult, list[ReceiptDocument]]:  # fmt: skip
    """An XML submission (``edigate.pipeline.xml``): documents as for EDIFACT, and an XML
    ``Acknowledgement`` (signed when the partner's profile asks) in place of CONTRL."""
    result = ProcessResult(format="xml", outcome="rejected", documents_file=spool)
    sink = _Sink(result, spool)
    ack_docs: list[AckDocument] = []
    ack_findings: list[AckFinding] = []
    certificates = _partner_certificates(ctx.xml_certificates) if ctx else []
    head: XmlHead | None = None
    flagged = 0
    try:
        for item in xml_stream(source, certificates=certificates,
                               signature_required=ctx.xml_signature_required if ctx else False,
                               provenance={"sender": ctx.partner_id} if ctx else None):
            if isinstance(item, XmlHead):
                head = item
                result.message_types.append(item.name)
                refused = _refusal(ctx, None, item.name)
                if refused is not None:
                    result.error_code, result.error_message = refused
                    ack_findings.append(AckFinding(refused[0], refused[1]))
                    break
                continue
            assert head is not None
            result.messages += 1
            if item.doc is not None:
                check_rules([item], rules, now, {})  # type: ignore[list-item]
            doc = _xml_document(item, head, result.document_count + 1, reject_rule_errors)
            ack = AckDocument(item.index, "accepted" if doc else "rejected",
                              item.doc.header.identifier if item.doc else None, item.name,
                              _ack_findings(item))  # fmt: skip
            # every document of a small submission; of a large one, those with findings
            if len(ack_docs) <= ALL_DOCUMENTS_MAX or (
                    (ack.findings or doc is None) and flagged < ALL_DOCUMENTS_MAX):
                ack_docs.append(ack)
                flagged += bool(ack.findings or doc is None)
            if doc is None:
                _xml_problem(result, item)
                continue
            if ctx is not None and _signer is not None:
                doc.receipt = _signer.sign(_receipt(ctx, ProcessResult(
                    format="xml", outcome="accepted"), [_receipt_document(doc)]))
            sink.add(doc, 0)
    except XmlRejected as exc:
        result.error_code = exc.code
        result.error_message = exc.text + (f" (line {exc.line}, column {exc.column})"
                                           if exc.line else "")  # fmt: skip
        result.findings.append({"code": exc.code, "text": exc.text, "line": exc.line,
                                "column": exc.column})  # fmt: skip
        ack_findings.append(AckFinding(exc.code, exc.text, line=exc.line, column=exc.column))
    finally:
        sink.close(spool)
    accepted = sink.receipt_docs
    if result.error_code is not None:
        # the whole document is refused (hostile, unsigned, not the partner's to send...)
        accepted = _withdraw_all(result, spool)
        ack_docs = []
    if result.messages and result.document_count == result.messages:
        result.outcome = "accepted"
    elif result.document_count:
        result.outcome = "partially_accepted"
    for o in ack_docs:
        for f in o.findings:
            if len(result.findings) < MAX_FINDINGS and f.code.startswith("EDG-X"):
                result.findings.append({"code": f.code, "text": f.text, "line": f.line,
                                        "column": f.column, "xpath": f.xpath,
                                        "document": o.sequence})  # fmt: skip
    if ctx is not None:
        result.acknowledgement = render_acknowledgement(
            message_id=ctx.submission_id, received=ctx.received_at, issued=now,
            sender=ctx.partner_id, payload_sha256=ctx.payload_sha256,
            payload_size=ctx.payload_size, outcome=result.outcome, findings=ack_findings,
            documents=ack_docs, signer=_xml_signer if ctx.sign_xml else None)
        result.ack_content_type = "application/xml"
    return result, accepted


@functools.lru_cache(maxsize=64)
def _partner_certificates(pem: bytes) -> list[Any]:
    from ..xmldsig import load_certificates

    return load_certificates(pem) if pem.strip() else []


def _ack_findings(o: XmlOutcome) -> list[AckFinding]:
    out = [AckFinding(f.code, f.text, f.severity, f.line, f.column, f.xpath)
           for f in o.schema_findings]  # fmt: skip
    for r in o.findings:
        src = r.source
        out.append(AckFinding(r.code, r.text, r.severity, (src.line or 0) if src else 0, 0,
                              src.xpath if src else None, r.path))  # fmt: skip
    if o.doc is None and not o.schema_findings and o.reason:
        out.append(AckFinding("EDG-F004", o.reason))
    return out


def _xml_problem(result: ProcessResult, o: XmlOutcome) -> None:
    if len(result.problems) >= MAX_PROBLEMS:
        return
    errors = [f for f in o.findings if f.severity == "error"]
    reason = o.reason or _rules_reason(errors)
    result.problems.append(Problem(interchange=0, message=o.index, message_reference=None,
                                   message_type=o.name, kind=o.problem or "rules",
                                   reason=reason))  # fmt: skip


def _xml_document(o: XmlOutcome, head: XmlHead, index: int,
                  reject_rule_errors: bool) -> DocumentResult | None:  # fmt: skip
    if not _routable(o, reject_rule_errors):
        return None
    assert o.doc is not None
    return _document_result(o.doc, o.findings, index, interchange=0, message_reference=None,
                            message_type=o.name, message_version=head.namespace,
                            directory=head.schema)  # fmt: skip


def _withdraw_all(result: ProcessResult, spool: str | None) -> list[ReceiptDocument]:
    """Nothing of the submission is accepted: documents forgotten, the spool emptied."""
    result.document_count = 0
    result.documents = []
    result.summaries = []
    if spool:
        open(spool, "wb").close()
    return []


def _problem(result: ProcessResult, m: MessageOutcome, errors: list[Any]) -> None:
    if len(result.problems) >= MAX_PROBLEMS:
        return
    r = m.report
    kind = m.problem or "rules"
    reason = m.reason or _rules_reason(errors)
    result.problems.append(Problem(
        interchange=m.interchange, message=r.index, message_reference=r.reference or None,
        message_type=r.type or None, kind=kind, reason=reason))


def _document(m: MessageOutcome, index: int, reject_rule_errors: bool) -> DocumentResult | None:
    if not _routable(m, reject_rule_errors):
        return None
    r = m.report
    assert m.doc is not None
    return _document_result(m.doc, m.findings, index, interchange=m.interchange,
                            message_reference=r.reference or None, message_type=r.type,
                            message_version=":".join(r.identifier[1:4]),
                            directory=r.directory)  # fmt: skip


def _rules_reason(errors: list[Any]) -> str:
    return (f"{len(errors)} business rule error(s); first: [{errors[0].code}] {errors[0].text}"
            if errors else "")


def _routable(o: MessageOutcome | XmlOutcome, reject_rule_errors: bool) -> bool:
    """Whether a mapped message or XML document becomes a document to route: mapped, and
    without rule errors when they reject (then it is marked a "rules" problem)."""
    errors = [f for f in o.findings if f.severity == "error"]
    if o.doc is None or (errors and reject_rule_errors):
        if errors and o.problem is None:
            o.problem = "rules"
            o.reason = o.reason or _rules_reason(errors)
        return False
    return True


def _document_result(doc: CanonicalDocument, findings: list[Any], index: int, *,
                     interchange: int, message_reference: str | None, message_type: str,
                     message_version: str, directory: str) -> DocumentResult:  # fmt: skip
    """A canonical document as it travels: canonical JSON, its digest, rule findings."""
    body = to_json(doc)
    btm = doc.border_transport_means
    errors = sum(1 for f in findings if f.severity == "error")
    return DocumentResult(
        index=index, interchange=interchange, message_reference=message_reference,
        message_type=message_type, message_version=message_version, directory=directory,
        document_type=doc.header.type, transport_mode=btm.mode if btm is not None else None,
        identifier=doc.header.identifier, schema_version=SCHEMA_VERSION, canonical=body,
        sha256=hashlib.sha256(body).hexdigest(), rule_errors=errors,
        rule_warnings=len(findings) - errors,
        rule_findings=[{k: v for k, v in f.as_dict().items() if k != "source"}
                       for f in findings[:20]],
    )  # fmt: skip


def warm_up() -> None:
    """Load directories, mappings and the default rule set before the first real submission
    (run as the worker processes' initializer so the first acknowledgement is not slow)."""
    sample = (b"UNB+UNOA:3+WARM+UP+260101:0000+1'UNH+1+CUSCAR:D:95B:UN'BGM+85+1+9'"
              b"UNT+3+1'UNZ+1+1'")  # fmt: skip
    process_submission(sample, None)
    # code lists the business rules read lazily (pycountry loads its databases on first use)
    import pycountry

    pycountry.countries.get(alpha_2="HK")
    pycountry.currencies.get(alpha_3="HKD")
    from ..mappings.engine import mapping_files, mapping_for

    for meta in mapping_files().values():
        for directory in meta.get("directories", []):
            try:
                mapping_for(str(meta.get("message", "")), str(directory))
            except (KeyError, ValueError, OSError):
                continue
