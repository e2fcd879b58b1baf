"""XML stage of the pipeline: hostile-XML policy, signature, schema validation and mapping of an
XML submission, one canonical document at a time. Shared by the workers and the command line
(``edigate validate`` / ``edigate map``); pure (no I/O beyond reading the payload).

A submission is one document (``CargoReport``, ``Declaration``...) or a batch
(``HouseConsignmentBatch``: one canonical document per record):

- a document, or a batch from a partner whose signatures are checked, is parsed whole
  (``xmlsafe.parse_untrusted``, at most ``WHOLE_MAX_BYTES``), its enveloped signature verified
  (``xmldsig``: from then on only what was signed is read), validated against its schema
  (lxml), then mapped;
- any other batch is streamed (``xmlstream``): each record is validated and mapped as it is
  read, with bounded memory, so 100,000 house consignments never make a tree of 100,000.

Refusals of the whole document (hostile or malformed XML, unknown root, signature) raise
``XmlRejected`` with a documented code and position: for a streamed batch that may happen after
records were yielded, and then the whole submission is rejected.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from lxml import etree

from ..canonical.model import CanonicalDocument
from ..mappings.xml_engine import MappingError, map_xml, xml_mapping_for
from ..rules import RuleFinding
from ..xmldsig import DS_NS, SignatureRejected, verify_enveloped
from ..xmlsafe import CODES, XmlLimits, XmlRejected, parse_untrusted
from ..xmlstream import stream_records
from ..xmlvalidate import XmlFinding, load_schema, validate
from ..xsd import RECORDS, SCHEMAS, schema_path

#: documents parsed whole (every non-batch document, signed batches): a tree costs about eight
#: times its size in memory
WHOLE_MAX_BYTES = 32 << 20
#: elements of a document read whole (a tree costs ~200 bytes per element: ~400 MB at most)
WHOLE_MAX_ELEMENTS = 2_000_000
#: streamed batches: memory stays flat; the channel's own size limit applies first
STREAM_MAX_BYTES = 1 << 30
#: elements of one streamed record (and of what lies outside the records): a single record of a
#: gigabyte must not be held whole
STREAM_MAX_RECORD_ELEMENTS = 200_000
SNIFF_BYTES = 65536  # the root element is found within a long prolog (comments, PIs) too
X104 = "EDG-X104"


@dataclass(slots=True)
class XmlHead:
    """What the submission is: its root element, whether it was signed, whether it streams."""

    root: str  # Clark name
    name: str  # local name, e.g. CargoReport
    namespace: str
    schema: str  # schema file stem, e.g. cargo-report-1
    batch: bool = False
    signed: bool = False
    signer: str | None = None


@dataclass(slots=True)
class XmlOutcome:
    """One document of the submission (the document itself, or one record of a batch)."""

    index: int  # 1-based
    name: str  # local name of the root or record element
    line: int
    xpath: str
    doc: CanonicalDocument | None = None
    #: why there is no document: "schema", "no_mapping" or "mapping_failed" (or, set by the
    #: caller, "refused" / "rules")
    problem: str | None = None
    reason: str = ""
    schema_findings: list[XmlFinding] = field(default_factory=list)
    rule_set: str | None = None
    findings: list[RuleFinding] = field(default_factory=list)


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def namespace_of(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def sniff_root(head: bytes) -> str | None:
    """Clark name of the root element, read from the first bytes; None when it is not there
    (the full parse then says what is wrong)."""
    try:
        for _, element in etree.iterparse(io.BytesIO(head), events=("start",),
                                          resolve_entities=False, no_network=True,
                                          load_dtd=False, huge_tree=False):  # fmt: skip
            return str(element.tag)
    except (etree.XMLSyntaxError, LookupError):
        return None
    return None


def _head(source: bytes | str) -> bytes:
    if isinstance(source, bytes):
        return source[:SNIFF_BYTES]
    with open(source, "rb") as fh:
        return fh.read(SNIFF_BYTES)


def _unknown_root(tag: str, line: int) -> XmlRejected:
    known = ", ".join(sorted(local(t) for t in SCHEMAS))
    ns = namespace_of(tag)
    return XmlRejected(X104, f"the root element {local(tag)}"
                             f"{f' (namespace {ns})' if ns else ' (no namespace)'} is not one of "
                             f"the published schemas ({known})", line, 1)  # fmt: skip


def _map(outcome: XmlOutcome, element: etree._Element, root_tag: str,
         provenance: dict[str, Any]) -> None:  # fmt: skip
    try:
        mapping = xml_mapping_for(root_tag)
    except (MappingError, OSError) as exc:
        outcome.problem, outcome.reason = "mapping_failed", f"its mapping cannot be loaded: {exc}"
        return
    if mapping is None:
        outcome.problem = "no_mapping"
        outcome.reason = f"no mapping for {local(root_tag)} ({namespace_of(root_tag)})"
        return
    try:
        outcome.doc = map_xml(element, mapping, {**provenance, "message_type": outcome.name},
                              outcome.xpath)
    except (ValueError, msgspec.ValidationError) as exc:
        outcome.problem, outcome.reason = "mapping_failed", f"mapping {mapping.name} failed: {exc}"


def _schema_problem(outcome: XmlOutcome, findings: list[XmlFinding]) -> None:
    first = findings[0]
    outcome.problem = "schema"
    outcome.schema_findings = findings
    outcome.reason = (f"{len(findings)} schema error(s); first: [{first.code}] line "
                      f"{first.line}: {first.text}")  # fmt: skip


def xml_stream(source: bytes | str, *, certificates: Sequence[Any] = (),
               signature_required: bool = False, do_map: bool = True,
               provenance: dict[str, Any] | None = None,
               ) -> Iterator[XmlHead | XmlOutcome]:  # fmt: skip
    """An ``XmlHead``, then one ``XmlOutcome`` per document. ``source``: the payload, or the
    path of a file holding it. ``certificates``: the partner's signing certificates (a signed
    document is verified against them; a partner without any cannot send signed documents);
    ``signature_required``: unsigned documents are refused (EDG-X201)."""
    prov = dict(provenance or {})
    root_tag = sniff_root(_head(source))
    record_tag = RECORDS.get(root_tag or "")
    if record_tag is not None and root_tag is not None and not certificates \
            and not signature_required:
        yield from _streamed(source, root_tag, record_tag, do_map, prov)
        return
    data = source if isinstance(source, bytes) else _read(source)
    tree = parse_untrusted(data, XmlLimits(max_bytes=WHOLE_MAX_BYTES,
                                           max_elements=WHOLE_MAX_ELEMENTS))
    root = tree.getroot()
    path = schema_path(str(root.tag))
    if path is None:
        raise _unknown_root(str(root.tag), root.sourceline or 1)
    verified = verify_enveloped(tree, list(certificates), required=signature_required)
    root = verified.root
    head = XmlHead(str(root.tag), local(str(root.tag)), namespace_of(str(root.tag)), path.stem,
                   batch=record_tag is not None, signed=verified.signed,
                   signer=verified.signer)  # fmt: skip
    yield head
    # every finding of a batch is needed (a capped list would let a later bad record through);
    # the element limit bounds how many there can be
    findings = validate(root.getroottree(), load_schema(path), source=data,
                        max_findings=WHOLE_MAX_ELEMENTS if record_tag else 100)
    records = list(root.iterchildren(record_tag)) if record_tag else [root]
    by_record, outside = _by_record(findings, root, record_tag)
    prov.setdefault("message_version", head.schema)
    for index, element in enumerate(records, 1):
        outcome = XmlOutcome(index, local(str(element.tag)), element.sourceline or 0,
                             _xpath(element, index, len(records) if record_tag else 0))
        # a batch's findings go to the records they are in; findings outside every record
        # (or in a single document) reject them all
        mine = by_record.get(outcome.xpath) or outside
        if mine:
            _schema_problem(outcome, mine)
        elif do_map:
            _map(outcome, element, str(root.tag), prov)
        yield outcome


def _by_record(findings: list[XmlFinding], root: etree._Element, record_tag: str | None,
               ) -> tuple[dict[str, list[XmlFinding]], list[XmlFinding]]:  # fmt: skip
    """Findings grouped by the record path they are in (``/Root/Record[3]``), and the others."""
    if record_tag is None:
        return {}, findings
    prefix = f"/{local(str(root.tag))}/{local(record_tag)}"
    by_record: dict[str, list[XmlFinding]] = {}
    outside: list[XmlFinding] = []
    for f in findings:
        rest = f.xpath[len(prefix):] if f.xpath.startswith(prefix) else None
        if rest is None or (rest and rest[0] not in "[/"):
            outside.append(f)  # not in a record (or an element whose name only starts so)
            continue
        key = prefix + rest[:rest.index("]") + 1] if rest.startswith("[") else prefix
        by_record.setdefault(key, []).append(f)
    return by_record, outside


def _xpath(element: etree._Element, index: int, records: int) -> str:
    """Prefix-free path as the validator writes it: ``/Root/Record[3]``, without the index
    when there is one record only."""
    parent = element.getparent()
    if not records or parent is None:
        return f"/{local(str(element.tag))}"
    step = f"[{index}]" if records > 1 else ""
    return f"/{local(str(parent.tag))}/{local(str(element.tag))}{step}"


def _read(path: str) -> bytes:
    size = Path(path).stat().st_size
    if size > WHOLE_MAX_BYTES:
        raise XmlRejected("EDG-X005", f"{CODES['EDG-X005']}: {size} bytes; a document read "
                                      f"whole (not a streamed batch) may have at most "
                                      f"{WHOLE_MAX_BYTES}")  # fmt: skip
    return Path(path).read_bytes()


def _streamed(source: bytes | str, root_tag: str, record_tag: str, do_map: bool,
              prov: dict[str, Any]) -> Iterator[XmlHead | XmlOutcome]:  # fmt: skip
    path = schema_path(root_tag)
    assert path is not None  # every batch root has a schema
    head = XmlHead(root_tag, local(root_tag), namespace_of(root_tag), path.stem, batch=True)
    yield head
    prov.setdefault("message_version", head.schema)
    root: etree._Element | None = None
    for record in stream_records(source, record_tag, schema=load_schema(path),
                                 limits=XmlLimits(max_bytes=STREAM_MAX_BYTES,
                                                  max_elements=STREAM_MAX_RECORD_ELEMENTS),
                                 ):  # fmt: skip
        root = record.root
        if root.tag != root_tag:  # the sniffed root was not the real one (cannot really happen)
            raise _unknown_root(str(root.tag), root.sourceline or 1)
        if record.header_findings:
            # the batch's header is every record's context: the batch is refused as a whole
            first = record.header_findings[0]
            raise XmlRejected(first.code, f"the batch header is not valid: {first.text} "
                                          f"({first.xpath})", first.line, first.column)
        outcome = XmlOutcome(record.index, local(record_tag), record.line, record.xpath)
        if record.findings:
            _schema_problem(outcome, record.findings)
        elif do_map:
            _map(outcome, record.element, root_tag, prov)
        yield outcome
    if root is not None and root.find(f"{{{DS_NS}}}Signature") is not None:
        # a signature nobody can check is not accepted silently: the partner has no
        # signing certificate configured
        raise SignatureRejected("EDG-X204", "the document is signed, but no signing "
                                            "certificate is configured for this partner",
                                root.sourceline or 0)  # fmt: skip


__all__ = ["XmlHead", "XmlOutcome", "sniff_root", "xml_stream"]
