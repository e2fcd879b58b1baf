"""Parsing XML from untrusted senders: hostile documents are refused with a documented code,
in bounded time and memory, before anything else looks at them.

The policy is strict because nothing legitimate in a customs submission needs what it forbids:

- no DOCTYPE at all (EDG-X001): internal subsets are how entity bombs (billion laughs, quadratic
  blow-up) and external entities (file and network reads) are declared; refusing the DOCTYPE
  refuses all of them, whatever the parser would have done;
- no network, no DTD loading, no entity resolution, no XInclude processing (XInclude elements are
  refused outright, EDG-X004), libxml2's own limits kept (``huge_tree`` off);
- a size limit checked before parsing (EDG-X005) and a depth limit (EDG-X003), checked while
  parsing so a deep document costs no more than the limit;
- not well-formed or undecodable input: EDG-X002 / EDG-X006 with line and column.

lxml (libxml2) does the parsing; this module only configures it and applies the policy.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from lxml import etree

XINCLUDE_NS = "http://www.w3.org/2001/XInclude"

#: documented codes (docs/errors.md, "XML")
CODES = {
    "EDG-X001": "DOCTYPE declarations are not allowed (DTDs, entities)",
    "EDG-X002": "not well-formed XML",
    "EDG-X003": "the document is nested too deeply",
    "EDG-X004": "XInclude is not allowed",
    "EDG-X005": "the document is larger than allowed",
    "EDG-X006": "the document's encoding is not supported or its bytes do not match it",
}

DEFAULT_MAX_BYTES = 64 << 20
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_ELEMENTS = 2_000_000


class XmlRejected(ValueError):
    """A refused document: a code from ``CODES``, plain text and where (1-based; 0 unknown)."""

    def __init__(self, code: str, text: str, line: int = 0, column: int = 0) -> None:
        super().__init__(f"[{code}] {text}" + (f" (line {line}, column {column})" if line else ""))
        self.code = code
        self.text = text
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class XmlLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH
    #: elements in a tree held in memory (a whole document; one record and the header of a
    #: streamed batch): a tree costs about 200 bytes per element, whatever its text, so a
    #: document of tiny elements (``<a/>`` is 4 bytes) is bounded by this, not by its size
    max_elements: int = DEFAULT_MAX_ELEMENTS


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=False, remove_pis=False, collect_ids=False,
    )  # fmt: skip


def syntax_error(exc: etree.XMLSyntaxError) -> XmlRejected:
    """The policy's code for a parser error, with libxml2's position."""
    # libxml2's own error is more precise than the exception's summary (iterparse
    # reports an undefined entity as "no element found" at 0:0)
    last = exc.error_log.last_error if exc.error_log else None
    if last is not None:
        line, column, message = last.line, max(last.column - 1, 0), last.message
    else:
        line, column = (exc.position if exc.position else (0, 0))
        message = str(exc.msg or exc)
    column = column + 1 if line else 0  # 1-based; 0 when libxml2 gives no position
    low = message.lower()
    if "encoding" in low or "input is not proper utf-8" in low or "invalid char" in low \
            or "bytes:" in low:
        return XmlRejected("EDG-X006", f"{CODES['EDG-X006']}: {message}", line, column)
    if "doctype" in low:
        return XmlRejected("EDG-X001", f"{CODES['EDG-X001']}: {message}", line, column)
    if "depth" in low:
        return XmlRejected("EDG-X003", f"{CODES['EDG-X003']}: {message}", line, column)
    return XmlRejected("EDG-X002", f"{CODES['EDG-X002']}: {message}", line, column)


#: how far into a document a DOCTYPE is looked for when libxml2 stops before reporting the root
HEAD_BYTES = 4096


def doctype_line(head: bytes) -> int:
    """Line of a DOCTYPE declaration in the first bytes of a document (UTF-8 or UTF-16), 0 if
    none. libxml2 (2.14 and later) may give up inside the internal subset, on its entity
    amplification limit, before the root element is reported: such a document is refused for
    its DOCTYPE, as the policy says, not as merely malformed."""
    for codec in ("utf-8", "utf-16-le", "utf-16-be"):
        at = head.find("<!DOCTYPE".encode(codec))
        if at >= 0:
            return head[:at].count("\n".encode(codec)) + 1
    return 0


def too_many_elements(limits: XmlLimits, element: etree._Element) -> XmlRejected:
    return XmlRejected("EDG-X005", f"{CODES['EDG-X005']}: more than {limits.max_elements} "
                                   "elements", element.sourceline or 0)  # fmt: skip


def parse_failure(exc: etree.XMLSyntaxError | LookupError, head: bytes) -> XmlRejected:
    """The refusal for a parser failure; ``head``: the document's first bytes (a DOCTYPE there
    is the reason, whatever libxml2 stopped on). LookupError: an encoding nobody knows."""
    if isinstance(exc, LookupError):
        return XmlRejected("EDG-X006", f"{CODES['EDG-X006']}: {exc}")
    rejected = syntax_error(exc)
    line = doctype_line(head) if rejected.code != "EDG-X001" else 0
    return XmlRejected("EDG-X001", CODES["EDG-X001"], line) if line else rejected


def parse_untrusted(data: bytes, limits: XmlLimits | None = None) -> etree._ElementTree:
    """Parse ``data`` under the policy above; raises ``XmlRejected``."""
    limits = limits or XmlLimits()
    if len(data) > limits.max_bytes:
        raise XmlRejected("EDG-X005", f"{CODES['EDG-X005']}: {len(data)} bytes, the limit "
                                      f"is {limits.max_bytes}")  # fmt: skip
    etree.clear_error_log()  # the log is per thread: only this document's errors, please
    depth = elements = 0
    root: etree._Element | None = None
    events = etree.iterparse(io.BytesIO(data), events=("start", "end"), resolve_entities=False,
                             no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=False)  # fmt: skip
    try:
        for event, element in events:
            if event == "start":
                if root is None:
                    root = element
                    # the DOCTYPE, if any, is known once the root element starts: refuse it
                    # before reading the rest of the document
                    if element.getroottree().docinfo.doctype:
                        raise XmlRejected("EDG-X001", CODES["EDG-X001"],
                                          doctype_line(data[:HEAD_BYTES])
                                          or element.sourceline or 0)  # fmt: skip
                depth += 1
                elements += 1
                if depth > limits.max_depth:
                    raise XmlRejected("EDG-X003", f"{CODES['EDG-X003']}: more than "
                                                  f"{limits.max_depth} levels",
                                      element.sourceline or 0)  # fmt: skip
                if elements > limits.max_elements:
                    raise too_many_elements(limits, element)
                if isinstance(element.tag, str) and element.tag.startswith("{" + XINCLUDE_NS):
                    raise XmlRejected("EDG-X004", CODES["EDG-X004"], element.sourceline or 0)
            else:
                depth -= 1
    except (etree.XMLSyntaxError, LookupError) as exc:
        raise parse_failure(exc, data[:HEAD_BYTES]) from None
    if root is None:
        raise XmlRejected("EDG-X002", f"{CODES['EDG-X002']}: no root element")
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlRejected("EDG-X001", CODES["EDG-X001"], 1)
    return tree
