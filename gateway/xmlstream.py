"""Reading (and validating) large XML batch documents record by record, in bounded memory.

``stream_records(source, record_tag)`` parses a batch (e.g. a ``HouseConsignmentBatch`` of
thousands of ``HouseConsignment``) with lxml's ``iterparse`` and yields a ``Record`` for each
record element as soon as its end tag is read. The record's element is still attached to the
document, which keeps everything read before the first record (the *header*), so absolute
XPaths into the header work while a record is mapped (``record.element.xpath('/b:Batch/...')``).
When the consumer asks for the next record, the previous one is cleared and removed from the tree
(with whatever non-record nodes came between records): memory stays bounded by the header, one
record and libxml2's read-ahead, whatever the number of records.

The hostile-XML policy of ``edigate.xmlsafe`` applies, with its codes, raised as ``XmlRejected``:
a DOCTYPE is refused (EDG-X001) before any record is yielded; no network, no DTD loading, no entity
resolution; XInclude refused (EDG-X004); the depth limit is checked on every start tag (EDG-X003);
the size limit is counted on the bytes as they are read (EDG-X005), so an oversized stream is
refused without reading it all; not well-formed input and bad encodings are EDG-X002 / EDG-X006
with line and column.

Validation (``schema=``): each record is validated on its own against the schema, after its end
tag and before it is yielded; its findings (``edigate.xmlvalidate.XmlFinding``, absolute
prefix-free XPaths, lines, and columns when the bytes are still in the read window) are on
``record.findings``. When the schema declares the record element globally it is validated
directly; otherwise a skeleton document (the root, the header and this record) is validated and
only the findings inside the record are kept. lxml's own ``iterparse(schema=...)`` was tried and
is not usable here: it does let elements be cleared, but it reports validity errors only when the
whole document has been read (after every record was yielded), with line 0 and no path.

What the caller should do with results:

- an ``XmlRejected`` may be raised after some records were yielded (the document turns out not
  to be well-formed or too large further on): the document is not XML we accept, the batch is
  rejected as a whole and whatever was done with earlier records must be discarded (stage them,
  commit at the end);
- schema findings are per record: we recommend answering per record (accepted / rejected with
  its findings), the batch being partially accepted, rather than rejecting the batch for one bad
  record. A caller that prefers all-or-nothing collects the findings and decides at the end.

The header (what precedes the first record) is validated with the first record, in its
skeleton: those findings come once, as the first record's ``header_findings`` (skeleton mode;
a record declared globally is validated alone and its header is not). Not checked: the root's
content model after the first record (how many records, a trailer after them). Elements after
the last record (a trailer) stay in the tree until the end.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from lxml import etree

from edigate.xmlsafe import CODES as SAFE_CODES
from edigate.xmlsafe import (
    HEAD_BYTES,
    XINCLUDE_NS,
    XmlLimits,
    XmlRejected,
    doctype_line,
    parse_failure,
    too_many_elements,
)
from edigate.xmlvalidate import (
    DEFAULT_MAX_FINDINGS,
    SourceLines,
    XmlFinding,
    findings_from_log,
    load_schema,
    local,
    resolve_libxml2_path,
    run_lxml,
    xpath_of,
)

__all__ = ["Record", "header_of", "stream_records"]

# how much of the most recently read input is kept to compute columns of findings
_WINDOW_CHUNKS = 8


@dataclass(frozen=True, slots=True)
class Record:
    """One record of a batch. ``element`` is valid until the consumer asks for the next record
    (then it is cleared and detached): copy what must outlive that."""

    element: etree._Element
    index: int  # 1-based, in document order
    line: int  # of the record's start tag
    xpath: str  # prefix-free absolute path, e.g. /HouseConsignmentBatch/HouseConsignment[3]
    findings: list[XmlFinding] = field(default_factory=list)
    #: the first record only: findings about what precedes the records (the batch's header and
    #: context), which concern every record
    header_findings: list[XmlFinding] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.findings

    @property
    def root(self) -> etree._Element:
        """The document's root element, holding the header (and this record)."""
        return self.element.getroottree().getroot()


def header_of(record: Record) -> etree._Element:
    """The root element with the header elements (everything before the first record); valid
    for the whole iteration."""
    return record.root


class _CountingReader:
    """Hands lxml the source's bytes, refusing (EDG-X005) once more than the limit was read, and
    keeps the last few chunks so columns of findings can be computed without keeping it all."""

    def __init__(self, raw: IO[bytes], max_bytes: int) -> None:
        self._raw = raw
        self._max = max_bytes
        self.count = 0
        self._window: deque[tuple[int, bytes]] = deque(maxlen=_WINDOW_CHUNKS)
        self._lines_before = 0  # newlines before the chunk being read
        self._head = b""  # the first bytes, where a DOCTYPE would be

    def read(self, size: int = 65536) -> bytes:
        data = self._raw.read(size if size and size > 0 else 65536)
        self.count += len(data)
        if self.count > self._max:
            # the line is where reading stopped: roughly where the limit was passed
            raise XmlRejected("EDG-X005", f"{SAFE_CODES['EDG-X005']}: more than {self._max} "
                                          "bytes", self._lines_before + 1)  # fmt: skip
        if data and len(self._head) < HEAD_BYTES:
            self._head += data[:HEAD_BYTES - len(self._head)]
        if data:
            self._window.append((self._lines_before + 1, data))
            self._lines_before += data.count(b"\n")
        return data

    @property
    def head(self) -> bytes:
        """The first bytes read (where a DOCTYPE would be)."""
        return self._head

    def lines(self, encoding: str | None) -> SourceLines | None:
        """The window as lines, numbered as in the document (first, partial line dropped)."""
        if not self._window:
            return None
        first, _ = self._window[0]
        data = b"".join(chunk for _, chunk in self._window)
        if first > 1:  # the window may start mid-line: that line is not reliable
            cut = data.find(b"\n")
            data, first = data[cut + 1:], first + 1
        return SourceLines(data, encoding, first)


def _open(source: str | os.PathLike[str] | IO[bytes],
          stack: contextlib.ExitStack) -> IO[bytes]:  # fmt: skip
    if isinstance(source, str | os.PathLike):
        return stack.enter_context(open(source, "rb"))
    if isinstance(source, bytes | bytearray):
        return io.BytesIO(source)
    return source


class _RecordValidator:
    """Validates one record at a time (see the module docstring)."""

    def __init__(self, schema: etree.XMLSchema, max_findings: int) -> None:
        self.schema = schema
        self.max_findings = max_findings
        self.direct: bool | None = None  # unknown until the first record
        #: findings outside the first record (its skeleton holds the whole header), once
        self.header: list[XmlFinding] | None = None

    def __call__(self, element: etree._Element, xpath: str,
                 lines: Callable[[], SourceLines | None]) -> list[XmlFinding]:  # fmt: skip
        if self.direct is not False:
            entries = run_lxml(self.schema, element)
            if self.direct is None:
                # "no matching global declaration": the record is declared locally
                self.direct = not any(e.type == etree.ErrorTypes.SCHEMAV_CVC_ELT_1
                                      for e in entries)  # fmt: skip
            if self.direct:
                if not entries:
                    return []
                return findings_from_log(entries, element, base=xpath, lines=lines(),
                                         max_findings=self.max_findings)  # fmt: skip
        return self._skeleton(element, xpath, lines)

    def _skeleton(self, element: etree._Element, xpath: str,
                  lines: Callable[[], SourceLines | None]) -> list[XmlFinding]:  # fmt: skip
        # the record's ancestors copied without their children, each given copies of the children
        # before the chain (the header), the record copied last: later records that libxml2 has
        # already read ahead are not copied; copies keep their source lines
        chain = [element, *element.iterancestors()][::-1]
        root = twin = _shallow(chain[0], None)
        node = element
        for child in chain[1:]:
            for before in child.itersiblings(preceding=True):
                twin.insert(0, copy.deepcopy(before))
            if child is element:
                node = copy.deepcopy(element)
                twin.append(node)
            else:
                twin = _shallow(child, twin)
        entries = run_lxml(self.schema, root)
        inside = [e for e in entries if e.path and _within(root, node, e.path)]
        if self.header is None:
            # the first skeleton is the header plus one record: what is wrong outside the
            # record is wrong in the header (nothing the schema requires follows the records)
            outside = [e for e in entries if e not in inside]
            self.header = findings_from_log(outside, root, lines=lines(),
                                            max_findings=self.max_findings) if outside else []
        if not inside:
            return []
        # paths inside the copy are rebased on the record's path in the real document
        return findings_from_log(inside, root, base=xpath, anchor=node, lines=lines(),
                                 max_findings=self.max_findings)  # fmt: skip


def _shallow(element: etree._Element, parent: etree._Element | None) -> etree._Element:
    nsmap = element.nsmap
    twin = (etree.Element(element.tag, dict(element.attrib), nsmap=nsmap) if parent is None
            else etree.SubElement(parent, element.tag, dict(element.attrib), nsmap=nsmap))
    twin.sourceline = element.sourceline
    return twin


def _within(root: etree._Element, record: etree._Element, path: str) -> bool:
    target = resolve_libxml2_path(root, path)
    while target is not None:
        if target is record:
            return True
        target = target.getparent()
    return False


def stream_records(source: str | os.PathLike[str] | IO[bytes] | bytes, record_tag: str, *,
                   schema: etree.XMLSchema | str | os.PathLike[str] | None = None,
                   limits: XmlLimits | None = None,
                   max_findings: int = DEFAULT_MAX_FINDINGS) -> Iterator[Record]:  # fmt: skip
    """Yield the ``record_tag`` elements (Clark name, ``{ns}local``) of ``source`` (a path, a
    binary file object or bytes) as ``Record``s; raises ``XmlRejected`` under the xmlsafe
    policy. A record nested in another record is part of it, not a record of its own."""
    limits = limits or XmlLimits()
    if schema is not None and not isinstance(schema, etree.XMLSchema):
        schema = load_schema(schema)
    validator = _RecordValidator(schema, max_findings) if schema is not None else None
    with contextlib.ExitStack() as stack:
        reader = _CountingReader(_open(source, stack), limits.max_bytes)
        etree.clear_error_log()
        events = etree.iterparse(reader, events=("start", "end"), resolve_entities=False,
                                 no_network=True, load_dtd=False, huge_tree=False,
                                 remove_comments=False)  # fmt: skip
        yield from _records(events, reader, record_tag, limits, validator)


def _records(events: Any, reader: _CountingReader, record_tag: str, limits: XmlLimits,
             validator: _RecordValidator | None) -> Iterator[Record]:  # fmt: skip
    root: etree._Element | None = None
    depth = 0
    record_depth = 0  # depth of the record being read, 0 outside records
    in_record = outside = 0  # elements of the record being read / outside every record
    index = 0
    prefix = ""  # path of the records' parent, known at the first record
    previous: etree._Element | None = None
    header: list[etree._Element] = []  # preceding siblings of the first record: kept
    encoding: str | None = None
    try:
        for event, element in events:
            if event == "start":
                depth += 1
                if root is None:
                    root = element
                    docinfo = element.getroottree().docinfo
                    # the DOCTYPE is known once the root starts: refuse it before anything else
                    if docinfo.doctype:
                        raise XmlRejected("EDG-X001", SAFE_CODES["EDG-X001"],
                                          doctype_line(reader.head)
                                          or element.sourceline or 0)  # fmt: skip
                    encoding = docinfo.encoding
                    _refuse_namespace_errors(events)
                if depth > limits.max_depth:
                    raise XmlRejected("EDG-X003", f"{SAFE_CODES['EDG-X003']}: more than "
                                                  f"{limits.max_depth} levels",
                                      element.sourceline or 0)  # fmt: skip
                tag = element.tag
                if isinstance(tag, str):
                    if tag.startswith("{" + XINCLUDE_NS):
                        raise XmlRejected("EDG-X004", SAFE_CODES["EDG-X004"],
                                          element.sourceline or 0)  # fmt: skip
                    if tag == record_tag and not record_depth:
                        record_depth = depth
                # what is in memory at once: one record, or what is outside the records
                if record_depth:
                    in_record += 1
                    if in_record > limits.max_elements:
                        raise too_many_elements(limits, element)
                else:
                    outside += 1
                    if outside > limits.max_elements:
                        raise too_many_elements(limits, element)
                continue
            depth -= 1
            if record_depth != depth + 1 or element.tag != record_tag:
                continue
            record_depth = 0
            in_record = 0
            _refuse_namespace_errors(events)
            # the previous record goes now: its consumer is done with it
            if previous is not None:
                _drop(previous, header)
            index += 1
            if index == 1:
                header = list(element.itersiblings(preceding=True))
                parent = element.getparent()
                prefix = xpath_of(parent) if parent is not None else ""
            xpath = f"{prefix}/{local(record_tag)}[{index}]"
            findings = (validator(element, xpath, functools.partial(reader.lines, encoding))
                        if validator else [])  # fmt: skip
            about_header = (validator.header or []) if validator and index == 1 else []
            previous = element
            yield Record(element, index, element.sourceline or 0, xpath, findings, about_header)
        if previous is not None:
            _drop(previous, header)
    except (etree.XMLSyntaxError, LookupError) as exc:
        raise parse_failure(exc, reader.head) from None
    if root is None:
        raise XmlRejected("EDG-X002", f"{SAFE_CODES['EDG-X002']}: no root element")


def _refuse_namespace_errors(events: Any) -> None:
    """libxml2 reports an undeclared prefix (not namespace-well-formed) only when the document
    ends, but builds the elements meanwhile, with names such as ``c:ID``: refuse the document as
    soon as the parser, which reads ahead of the records, has met one."""
    log = events.error_log
    if not log:
        return
    for e in log:
        if e.domain_name == "NAMESPACE" and e.level_name in ("ERROR", "FATAL"):
            raise XmlRejected("EDG-X002", f"{SAFE_CODES['EDG-X002']}: {e.message.strip()}",
                              e.line, e.column + 1 if e.line else 0)  # fmt: skip


def _drop(element: etree._Element, header: list[etree._Element]) -> None:
    """Clear and detach a consumed record, and whatever non-record nodes lie between it and the
    header (comments, elements between records) so nothing accumulates."""
    parent = element.getparent()
    element.clear(keep_tail=False)
    if parent is None:
        return
    prev = element.getprevious()
    while prev is not None and not any(prev is h for h in header):
        before = prev.getprevious()
        parent.remove(prev)
        prev = before
    parent.remove(element)
