"""The gateway's XML answers: the ``Acknowledgement`` of a submission and the ``CustomsResponse``
relaying a backend's decision, both in ``urn:edigate:xsd:customs-response:1`` (see
``xsd/customs-response-1.xsd``), optionally signed (enveloped XMLDSig, ``edigate.xmldsig``).

Pure: values in, bytes out. Texts are cut to the schema's lengths, so what we send always
validates against what we publish (the tests check every rendering against the schema).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

from .canonical.model import CustomsResponse
from .xsd import COMMON_NS, CUSTOMS_RESPONSE_NS

_NSMAP = {None: CUSTOMS_RESPONSE_NS, "c": COMMON_NS}
TEXT_MAX = 512  # cmn:DescriptionTextType
ID_MAX = 70  # cmn:IdentifierContentType
#: an acknowledgement lists every document up to this many; beyond, only documents with findings
ALL_DOCUMENTS_MAX = 1000
FINDINGS_PER_DOCUMENT_MAX = 20


@dataclass(slots=True)
class AckFinding:
    code: str
    text: str
    severity: str = "error"  # error, warning, info
    line: int = 0
    column: int = 0
    xpath: str | None = None
    pointer: str | None = None  # canonical path of a business-rule finding


@dataclass(slots=True)
class AckDocument:
    sequence: int
    outcome: str  # accepted, rejected
    identifier: str | None = None
    name: str | None = None  # root or record element name
    findings: list[AckFinding] = field(default_factory=list)


def _q(name: str) -> str:
    return f"{{{CUSTOMS_RESPONSE_NS}}}{name}"


def _time(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("times in XML answers carry their zone")
    return t.isoformat(timespec="milliseconds" if t.microsecond else "seconds")


#: characters XML 1.0 cannot carry (a finding may quote what a sender's bytes decoded to)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(parent: etree._Element, name: str, value: object, limit: int = TEXT_MAX,
          **attrs: str) -> etree._Element:  # fmt: skip
    el = etree.SubElement(parent, _q(name), **attrs)
    text = _NOT_XML.sub("\ufffd", str(value))
    if limit == ID_MAX:
        text = " ".join(text.split())
    el.text = text[:limit] if text else "-"
    return el


def _finding(parent: etree._Element, f: AckFinding) -> None:
    el = etree.SubElement(parent, _q("Finding"))
    _text(el, "Code", f.code)
    _text(el, "SeverityCode", f.severity)
    _text(el, "Text", f.text)
    if f.line > 0:
        _text(el, "LineNumeric", f.line)
    if f.column > 0:
        _text(el, "ColumnNumeric", f.column)
    if f.xpath:
        _text(el, "XPath", f.xpath)
    if f.pointer:
        _text(el, "Pointer", f.pointer)


def render_acknowledgement(*, message_id: str, received: datetime, issued: datetime,
                           sender: str | None, payload_sha256: str, payload_size: int,
                           outcome: str, findings: Iterable[AckFinding] = (),
                           documents: list[AckDocument] | None = None,
                           signer: Any = None) -> bytes:  # fmt: skip
    """An ``Acknowledgement``. ``outcome``: accepted (at least one document accepted) or
    rejected. ``documents`` are listed all when there are at most ``ALL_DOCUMENTS_MAX``, else
    only those rejected or with findings (a 100,000-record batch gets a short answer).
    ``signer``: an ``XmlSigner`` to sign the answer."""
    root = etree.Element(_q("Acknowledgement"), nsmap=_NSMAP)  # type: ignore[arg-type]
    _text(root, "MessageID", message_id, ID_MAX)
    _text(root, "ReceivedDateTime", _time(received))
    _text(root, "IssueDateTime", _time(issued))
    if sender:
        _text(root, "SenderID", sender, ID_MAX, schemeID="EDIGATE")
    _text(root, "PayloadSHA256", payload_sha256.lower())
    _text(root, "PayloadSizeNumeric", payload_size)
    _text(root, "OutcomeCode", "accepted" if outcome in ("accepted", "partially_accepted")
          else "rejected")  # fmt: skip
    for f in findings:
        _finding(root, f)
    docs = documents or []
    listed = docs if len(docs) <= ALL_DOCUMENTS_MAX else [
        d for d in docs if d.outcome != "accepted" or d.findings][:ALL_DOCUMENTS_MAX]
    for d in listed:
        el = etree.SubElement(root, _q("DocumentOutcome"))
        _text(el, "SequenceNumeric", d.sequence)
        if d.identifier:
            _text(el, "ID", d.identifier, ID_MAX)
        if d.name:
            _text(el, "DocumentTypeName", d.name, ID_MAX)
        _text(el, "OutcomeCode", d.outcome)
        for f in d.findings[:FINDINGS_PER_DOCUMENT_MAX]:
            _finding(el, f)
    return _serialise(root, signer)


def render_customs_response(response: CustomsResponse, *, issued: datetime,
                            response_id: str | None = None,
                            document_type_code: str | None = None,
                            signer: Any = None) -> bytes:  # fmt: skip
    """A backend's decision as a ``CustomsResponse`` for an XML sender."""
    root = etree.Element(_q("CustomsResponse"), nsmap=_NSMAP)  # type: ignore[arg-type]
    if response_id:
        _text(root, "ID", response_id, ID_MAX)
    _text(root, "IssueDateTime", _time(response.issued or issued))
    _text(root, "StatusCode", response.status)
    to = etree.SubElement(root, _q("ResponseTo"))
    _text(to, "ID", response.response_to, ID_MAX)
    if document_type_code:
        _text(to, "TypeCode", document_type_code)
    if response.response_to_message_id:
        _text(to, "MessageID", response.response_to_message_id, ID_MAX)
    if response.customs_reference:
        _text(root, "CustomsReferenceID", response.customs_reference, ID_MAX)
    for reason in response.reasons:
        el = etree.SubElement(root, _q("Reason"))
        _text(el, "Code", reason.code)
        if reason.text:
            _text(el, "Text", reason.text)
        if reason.pointer:
            _text(el, "Pointer", reason.pointer)
    return _serialise(root, signer)


class XmlSigner:
    """The gateway's key and certificate for signing XML answers (``edigate.xmldsig``)."""

    def __init__(self, key: Any, certificate: Any) -> None:
        self.key = key
        self.certificate = certificate

    def sign(self, root: etree._Element) -> etree._Element:
        from .xmldsig import sign_enveloped

        return sign_enveloped(root, self.key, self.certificate)


def _serialise(root: etree._Element, signer: XmlSigner | None) -> bytes:
    if signer is not None:
        root = signer.sign(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


__all__ = [
    "AckDocument",
    "AckFinding",
    "XmlSigner",
    "render_acknowledgement",
    "render_customs_response",
]
