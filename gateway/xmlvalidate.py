"""Strict XSD validation of XML submissions, answered with precise findings.

Every finding is an ``XmlFinding``: a documented code (``CODES``), plain English text that keeps the
element names, and where: line and column (1-based; 0 when unknown) and an XPath.

XPaths are **prefix-free**: local names only, e.g.
``/CargoReport/Consignment[2]/GoodsItem[1]/GrossMassMeasure``, with ``/@name`` appended for an
attribute. A step carries a 1-based index when its parent has more than one child element of that
(namespace, local name), the convention libxml2 uses; streamed records always carry their index in
the batch (see ``edigate.xmlstream``). Prefixes are left out because they are the sender's choice
and mean nothing to the reader of a rejection; our schemas never put two sibling elements with the
same local name in different namespaces, so the paths stay unambiguous.

Columns point at the ``<`` of the element's start tag (or at the attribute's name), counted in
characters; they are only known when the document's bytes are at hand (``validate`` given bytes,
or ``source=``) because libxml2 reports no column for schema errors. Lines come from libxml2.

Two validators give the same ``XmlFinding`` shape:

- ``validate`` (lxml/libxml2) is the one the gateway uses: fast, compiled schemas cached per
  process (``load_schema``), codes chosen by libxml2's error type (``SCHEMAV_*``);
- ``validate_xmlschema`` (the pure-Python xmlschema library) exists for comparison, for the
  benchmark and for a second opinion when a finding is disputed; it is several times slower.

``validate_document`` picks the published schema by the root element (``edigate.xsd``).

Hostile or not well-formed input is never validated: bytes are parsed with
``edigate.xmlsafe.parse_untrusted`` first, whose ``XmlRejected`` (EDG-X001..X006) propagates.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from edigate.xmlsafe import XmlLimits, parse_untrusted

#: documented codes (docs/errors.md, "XML")
CODES = {
    "EDG-X101": "an element is not expected where it is, or a required element is missing "
                "(the schema's content model)",
    "EDG-X102": "a value is not valid for its type (pattern, enumeration, length, number or "
                "date format, range)",
    "EDG-X103": "an attribute is missing, not allowed, or its value is not valid",
    "EDG-X104": "the root element (or its namespace) is not one of the published schemas",
    "EDG-X105": "another schema validity error (identity constraints, nil, abstract types, ...)",
}  # fmt: skip

DEFAULT_MAX_FINDINGS = 100

_T = etree.ErrorTypes

# libxml2 error types -> codes; anything not listed is EDG-X105
_CONTENT = {
    _T.SCHEMAV_ELEMENT_CONTENT, _T.SCHEMAV_ELEMCONT, _T.SCHEMAV_EXTRACONTENT,
    _T.SCHEMAV_INVALIDELEM, _T.SCHEMAV_WRONGELEM, _T.SCHEMAV_MISSING, _T.SCHEMAV_NOTEMPTY,
    _T.SCHEMAV_UNDECLAREDELEM, _T.SCHEMAV_NOTSIMPLE, _T.SCHEMAV_CVC_WILDCARD,
    _T.SCHEMAV_CVC_COMPLEX_TYPE_2_1, _T.SCHEMAV_CVC_COMPLEX_TYPE_2_2,
    _T.SCHEMAV_CVC_COMPLEX_TYPE_2_3, _T.SCHEMAV_CVC_COMPLEX_TYPE_2_4,
}  # fmt: skip
_VALUE = {
    _T.SCHEMAV_CVC_DATATYPE_VALID_1_2_1, _T.SCHEMAV_CVC_DATATYPE_VALID_1_2_2,
    _T.SCHEMAV_CVC_DATATYPE_VALID_1_2_3, _T.SCHEMAV_CVC_FACET_VALID, _T.SCHEMAV_CVC_LENGTH_VALID,
    _T.SCHEMAV_CVC_MINLENGTH_VALID, _T.SCHEMAV_CVC_MAXLENGTH_VALID,
    _T.SCHEMAV_CVC_MININCLUSIVE_VALID, _T.SCHEMAV_CVC_MAXINCLUSIVE_VALID,
    _T.SCHEMAV_CVC_MINEXCLUSIVE_VALID, _T.SCHEMAV_CVC_MAXEXCLUSIVE_VALID,
    _T.SCHEMAV_CVC_TOTALDIGITS_VALID, _T.SCHEMAV_CVC_FRACTIONDIGITS_VALID,
    _T.SCHEMAV_CVC_PATTERN_VALID, _T.SCHEMAV_CVC_ENUMERATION_VALID, _T.SCHEMAV_VALUE,
    _T.SCHEMAV_FACET, _T.SCHEMAV_CVC_TYPE_3_1_1, _T.SCHEMAV_CVC_TYPE_3_1_2,
    _T.SCHEMAV_CVC_ELT_5_2_2_1, _T.SCHEMAV_CVC_ELT_5_2_2_2_1, _T.SCHEMAV_CVC_ELT_5_2_2_2_2,
}  # fmt: skip
_ATTRIBUTE = {
    _T.SCHEMAV_CVC_ATTRIBUTE_1, _T.SCHEMAV_CVC_ATTRIBUTE_2, _T.SCHEMAV_CVC_ATTRIBUTE_3,
    _T.SCHEMAV_CVC_ATTRIBUTE_4, _T.SCHEMAV_CVC_COMPLEX_TYPE_3_1, _T.SCHEMAV_CVC_COMPLEX_TYPE_3_2_1,
    _T.SCHEMAV_CVC_COMPLEX_TYPE_3_2_2, _T.SCHEMAV_CVC_COMPLEX_TYPE_4, _T.SCHEMAV_ATTRINVALID,
    _T.SCHEMAV_ATTRUNKNOWN, _T.SCHEMAV_INVALIDATTR, _T.SCHEMAV_CVC_AU,
}  # fmt: skip
_ROOT = {_T.SCHEMAV_CVC_ELT_1, _T.SCHEMAV_NOROOT, _T.SCHEMAV_DOCUMENT_ELEMENT_MISSING}


@dataclass(frozen=True, slots=True)
class XmlFinding:
    """One schema validity problem; ``line``/``column`` 1-based, 0 when unknown."""

    code: str
    text: str
    line: int
    column: int
    xpath: str
    severity: str = "error"

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text, "line": self.line, "column": self.column,
                "xpath": self.xpath, "severity": self.severity}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# schemas


def _schema_parser() -> etree.XMLParser:
    # our own XSDs, but imports must still resolve from disk only: no network, no DTDs
    return etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)


@functools.cache
def _load_schema(path: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(path, _schema_parser()))


@functools.cache
def load_schema(path: str | os.PathLike[str]) -> etree.XMLSchema:
    """The compiled schema at ``path``, compiled once per process (cached by real path, and by
    the path as given so a submission costs no file system calls).
    Raises ``etree.XMLSchemaParseError`` for a broken schema: that is our bug, not the sender's."""
    return _load_schema(os.path.realpath(path))


# lxml keeps a validator's error log on the validator object, so two threads validating with
# the same compiled schema would mix their errors: each schema's runs are serialized
_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(schema: etree.XMLSchema) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(id(schema), threading.Lock())


def run_lxml(schema: etree.XMLSchema, node: etree._Element | etree._ElementTree,
             ) -> list[Any]:  # fmt: skip
    """libxml2's error entries for ``node`` (an element is validated as if it were the root)."""
    with _lock_for(schema):
        if schema.validate(node):
            return []
        return list(schema.error_log)


# ---------------------------------------------------------------------------------------------
# positions


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def xpath_of(element: etree._Element, stop: etree._Element | None = None,
             base: str = "") -> str:  # fmt: skip
    """Prefix-free absolute path of ``element``; with ``stop`` (an ancestor-or-self), the steps
    below ``stop`` appended to ``base`` (the path ``stop`` is known by)."""
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None and node is not stop:
        tag = node.tag
        step = local(tag)
        parent = node.getparent()
        if parent is not None:
            before = sum(1 for _ in node.itersiblings(tag, preceding=True))
            if before or next(node.itersiblings(tag), None) is not None:
                step += f"[{before + 1}]"
        steps.append(step)
        node = parent
    if stop is not None and node is stop:
        return base + "".join("/" + s for s in reversed(steps))
    return "".join("/" + s for s in reversed(steps))


_STEP = re.compile(r"(\*|[^\[\]/]+)(?:\[(\d+)\])?")


def resolve_libxml2_path(root: etree._Element, path: str | None) -> etree._Element | None:
    """The element a libxml2 node path (``/p:A/p:B[2]`` or ``/*/*[3]``) names, counted from
    ``root`` (the element the path's first step is); None when it does not resolve."""
    if not path or not path.startswith("/"):
        return None
    steps = path[1:].split("/")
    node = root
    for step in steps[1:]:
        m = _STEP.fullmatch(step)
        if m is None:
            return None
        name, nth = m[1], int(m[2] or 1)
        prefix, _, name_local = name.rpartition(":")
        found = None
        for child in node.iterchildren(etree.Element):
            if name != "*" and (local(child.tag) != name_local or (child.prefix or "") != prefix):
                continue
            nth -= 1
            if not nth:
                found = child
                break
        if found is None:
            return None
        node = found
    return node


class SourceLines:
    """Lines of the document's bytes, decoded on demand (only when there are findings)."""

    _ASCII_COMPATIBLE = re.compile(r"(utf-?8|us-ascii|ascii|iso-?8859-\d+|latin-?1|"
                                   r"windows-125\d|cp125\d)$", re.I)  # fmt: skip

    def __init__(self, data: bytes, encoding: str | None, first_line: int = 1) -> None:
        self._data = data
        self._encoding = encoding or "utf-8"
        self._first = first_line
        self._lines: list[bytes] | list[str] | None = None

    def line(self, number: int) -> str | None:
        if self._lines is None:
            if self._ASCII_COMPATIBLE.match(self._encoding):
                self._lines = self._data.split(b"\n")  # decode one line at a time later
            else:
                try:
                    self._lines = self._data.decode(self._encoding, "replace").split("\n")
                except LookupError:
                    self._lines = []
        i = number - self._first
        if not 0 <= i < len(self._lines):
            return None
        text = self._lines[i]
        if isinstance(text, bytes):
            text = text.decode(self._encoding, "replace")
        return text.rstrip("\r")


def _same_line_before(element: etree._Element, line: int) -> int:
    """How many elements start on ``line`` before ``element`` with the same prefix and name:
    walks back in document order, which stays on that line (sourcelines never decrease)."""
    count = 0
    node = element
    while True:
        prev = node.getprevious()
        while prev is not None and not isinstance(prev.tag, str):
            prev = prev.getprevious()
        if prev is not None:
            node = prev
            while True:  # the last element of its subtree comes right before us
                last = None
                for child in reversed(node):
                    if isinstance(child.tag, str):
                        last = child
                        break
                if last is None:
                    break
                node = last
        else:
            parent = node.getparent()
            if parent is None:
                return count
            node = parent
        if (node.sourceline or 0) < line:
            return count
        if node.tag == element.tag and node.prefix == element.prefix:
            count += 1


def column_of(element: etree._Element, lines: SourceLines | None,
              attribute: str | None = None) -> int:  # fmt: skip
    """1-based column of ``element``'s start tag (or of ``attribute`` in it); 0 if unknown."""
    line = element.sourceline or 0
    text = lines.line(line) if lines is not None and line else None
    if text is None:
        return 0
    qname = (element.prefix + ":" if element.prefix else "") + local(element.tag)
    starts = [m.start() for m in re.finditer("<" + re.escape(qname) + r"(?=[\s/>]|$)", text)]
    nth = _same_line_before(element, line)
    if nth >= len(starts):
        return 0
    column = starts[nth]
    if attribute:
        m = re.compile(r"[\s]((?:[\w.\-]+:)?" + re.escape(attribute) + r")\s*=").search(text,
                                                                                      column)
        if m is not None and ">" not in text[column:m.start()]:
            return m.start(1) + 1
    return column + 1


# ---------------------------------------------------------------------------------------------
# text

_TYPES = {
    "decimal": "decimal number", "integer": "whole number", "int": "whole number",
    "long": "whole number", "short": "whole number",
    "positiveInteger": "whole number greater than 0",
    "nonNegativeInteger": "whole number (0 or more)", "date": "date (YYYY-MM-DD)",
    "dateTime": "date and time (YYYY-MM-DDThh:mm:ss)", "time": "time (hh:mm:ss)",
    "boolean": "boolean (true, false, 1 or 0)", "gYear": "year (YYYY)", "double": "number",
    "float": "number", "anyURI": "URI", "language": "language code", "duration": "duration",
}  # fmt: skip


def type_words(name: str) -> str:
    """``xs:decimal`` -> "decimal number"; our own types by their local name."""
    name = re.sub(r"\{[^}]*\}", "", name)
    base = name.rpartition(":")[2]
    if name.startswith(("xs:", "xsd:")) or ":" not in name:
        return _TYPES.get(base, f"value of type {base}")
    return f"value of type {base}"


_CLARK = re.compile(r"\{[^}]*\}([\w.\-]+)")
_LEAD = re.compile(r"Element '([^']*)'(?:, attribute '([^']*)')?: (.*)", re.S)
_REWRITES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"This element is not expected\. Expected is (?:one of )?\( (.*) \)\.?"),
     "{el} is not expected here; expected: {0}"),
    (re.compile(r"This element is not expected\.?"), "{el} is not expected here"),
    (re.compile(r"Missing child element\(s\)\. Expected is (?:one of )?\( (.*) \)\.?"),
     "{el} is incomplete: missing {0}"),
    (re.compile(r"\[facet 'pattern'\] The value '(.*)' is not accepted by the pattern '(.*)'\.?",
                re.S), "{subj}: the value '{0}' does not have the required format ({1})"),
    (re.compile(r"\[facet 'enumeration'\] The value '(.*)' is not an element of the set "
                r"\{(.*)\}\.?", re.S), "{subj}: '{0}' is not one of the allowed values {1}"),
    (re.compile(r"\[facet '(?:maxLength|minLength|length)'\] The value '(.*)' has a length of "
                r"'(\d+)'; this (exceeds|underruns|differs from) the allowed (?:maximum |minimum )?"
                r"length of '(\d+)'\.?", re.S),
     "{subj}: '{0}' has {1} characters; the {2} is {3}"),
    (re.compile(r"\[facet '\w+'\] The value '(.*)' (.*)\.?", re.S), "{subj}: '{0}' {1}"),
    (re.compile(r"'(.*)' is not a valid value of the (?:atomic|list|union) type '(.*)'\.?",
                re.S), "{subj}: '{0}' is not a valid {1}"),
    (re.compile(r"The attribute '(.*)' is required but missing\.?"),
     "{el}: the required attribute {0} is missing"),
    (re.compile(r"The attribute '(.*)' is not allowed\.?"),
     "{el}: the attribute {0} is not allowed"),
    (re.compile(r"No matching global declaration available for the validation root\.?"),
     "{el} is not a root element of this schema"),
    (re.compile(r"Element content is not allowed, because the content type is a simple type "
                r"definition\.?"), "{el} must hold a value, not elements"),
    (re.compile(r"Character content other than whitespace is not allowed because the content "
                r"type is 'element-only'\.?"), "{el} must hold elements only, no text"),
    (re.compile(r"Character content is not allowed, because the content type is empty\.?"),
     "{el} must be empty"),
    (re.compile(r"Element content is not allowed, because the content type is empty\.?"),
     "{el} must be empty"),
]
_LENGTH = {"exceeds": "maximum", "underruns": "minimum", "differs from": "required length"}


def plain_text(message: str) -> tuple[str, str | None]:
    """libxml2's message in plain English, element names kept (local names), and the attribute
    it is about, if any."""
    message = message.strip()
    m = _LEAD.match(message)
    if m is None:
        return _CLARK.sub(r"\1", message), None
    el, attr, rest = local(m[1]), m[2], m[3]
    subj = f"{el}/@{attr}" if attr else el
    rest = rest.strip()
    for pattern, template in _REWRITES:
        r = pattern.fullmatch(rest)
        if r is None:
            continue
        groups = [_CLARK.sub(r"\1", g) for g in r.groups()]
        if "is not a valid {1}" in template:
            groups[1] = type_words(r[2])
        if "the {2} is {3}" in template:
            groups[2] = _LENGTH.get(groups[2], groups[2])
        if "expected: {0}" in template or "missing {0}" in template:
            groups[0] = groups[0].replace(" ,", ",")
        if attr is None and "attribute {0}" in template:
            attr = groups[0]  # a missing or unknown attribute: the path points at it too
        return template.format(*groups, el=el, subj=subj), attr
    return subj + ": " + _CLARK.sub(r"\1", rest), attr


def code_for(error_type: int, attribute: str | None) -> str:
    if error_type in _ROOT:
        return "EDG-X104"
    if error_type in _ATTRIBUTE or (attribute and error_type in _VALUE):
        return "EDG-X103"
    if error_type in _CONTENT:
        return "EDG-X101"
    if error_type in _VALUE:
        return "EDG-X102"
    return "EDG-X105"


def findings_from_log(entries: Iterable[Any], root: etree._Element, *, base: str | None = None,
                      anchor: etree._Element | None = None, lines: SourceLines | None = None,
                      max_findings: int = DEFAULT_MAX_FINDINGS) -> list[XmlFinding]:  # fmt: skip
    """Turn libxml2 error entries from validating ``root`` into findings. ``base`` is the path
    ``anchor`` (default: ``root``) is known by when it is not where it is in this tree (a
    streamed record, validated alone or in a skeleton copy)."""
    anchor = root if anchor is None else anchor
    out: list[XmlFinding] = []
    for entry in entries:
        if len(out) >= max_findings:
            break
        text, attr = plain_text(entry.message)
        code = code_for(entry.type, attr)
        element = resolve_libxml2_path(root, getattr(entry, "path", None))
        if element is not None:
            xpath = xpath_of(element, anchor, base) if base is not None else xpath_of(element)
            line = element.sourceline or entry.line or 0
            column = column_of(element, lines, attr)
        else:
            xpath = base if base is not None else ""
            if not xpath and entry.path:
                xpath = re.sub(r"(?<=/)[^/:\[]*:", "", entry.path)
            line, column = entry.line or 0, 0
        if attr:
            xpath += f"/@{attr}"
        finding = XmlFinding(code, text, line, column, xpath)
        # older libxml2 follow a facet failure by "not a valid value of the type" for the same
        # node: one problem, one finding
        if out and entry.type == _T.SCHEMAV_CVC_DATATYPE_VALID_1_2_1 \
                and out[-1].xpath == xpath and out[-1].code == code:
            continue
        out.append(finding)
    return out


# ---------------------------------------------------------------------------------------------
# validation


Tree = etree._ElementTree | etree._Element


def _as_tree(doc: Tree | bytes, source: bytes | None,
             limits: XmlLimits | None) -> tuple[etree._ElementTree, bytes | None]:  # fmt: skip
    if isinstance(doc, bytes | bytearray | memoryview):
        data = bytes(doc)
        return parse_untrusted(data, limits), data
    if isinstance(doc, etree._Element):
        return doc.getroottree(), source
    return doc, source


def validate(doc: Tree | bytes, schema: etree.XMLSchema | str | os.PathLike[str],
             max_findings: int = DEFAULT_MAX_FINDINGS, *, source: bytes | None = None,
             limits: XmlLimits | None = None) -> list[XmlFinding]:  # fmt: skip
    """Validate with lxml (libxml2): the gateway's validator. ``doc`` is a parsed tree (pass its
    bytes as ``source`` to get columns) or the bytes themselves (parsed with
    ``parse_untrusted``; ``XmlRejected`` propagates). At most ``max_findings``, in document
    order; an empty list means valid."""
    tree, data = _as_tree(doc, source, limits)
    if not isinstance(schema, etree.XMLSchema):
        schema = load_schema(schema)
    entries = run_lxml(schema, tree)
    if not entries:
        return []
    lines = SourceLines(data, tree.docinfo.encoding) if data is not None else None
    return findings_from_log(entries, tree.getroot(), lines=lines, max_findings=max_findings)


def xmlschema_compat() -> None:
    """zope.interface (under Twisted) can leave a ``__provides__`` descriptor on the
    collections.abc classes that raises AttributeError when read through a subclass; xmlschema
    reads every attribute ``dir()`` lists of its schema classes (which are Sequences) when it
    builds a schema, and fails. Give its base class a plain attribute to find first."""
    from xmlschema.validators.schemas import XMLSchemaBase

    # set whether or not it happened yet: it can happen after this schema was built
    if "__provides__" not in XMLSchemaBase.__dict__:
        XMLSchemaBase.__provides__ = None  # type: ignore[attr-defined]


@functools.cache
def _load_xmlschema(path: str) -> Any:
    import xmlschema  # only the comparison path needs it

    xmlschema_compat()
    # allow="local": imports and includes from the file system only
    return xmlschema.XMLSchema(path, allow="local")


def validate_xmlschema(doc: Tree | bytes, schema_path: str | os.PathLike[str],
                       max_findings: int = DEFAULT_MAX_FINDINGS, *, source: bytes | None = None,
                       limits: XmlLimits | None = None) -> list[XmlFinding]:  # fmt: skip
    """The same as ``validate`` with the xmlschema library (pure Python, slower): used for
    comparison and by the benchmark, not on the gateway's path. Texts are xmlschema's reasons
    (often more specific than libxml2's), with the element name in front."""
    import xmlschema.validators.exceptions as xe
    from xmlschema.validators import XsdAttribute, XsdAttributeGroup

    tree, data = _as_tree(doc, source, limits)
    compiled = _load_xmlschema(os.path.realpath(schema_path))
    lines = SourceLines(data, tree.docinfo.encoding) if data is not None else None
    out: list[XmlFinding] = []
    for error in compiled.iter_errors(tree):
        if len(out) >= max_findings:
            break
        element = error.elem if isinstance(getattr(error, "elem", None), etree._Element) else None
        reason = error.reason or str(error.message)
        attr = None
        m = re.match(r"(?:missing required attribute |attribute )'?([\w.:\-]+)'?", reason) \
            or re.match(r"'([\w.:\-]+)' attribute not allowed", reason)
        if isinstance(error, xe.XMLSchemaChildrenValidationError):
            code = "EDG-X101"
            index = getattr(error, "index", None)
            if element is not None and index is not None and index < len(element):
                kids = [c for c in element if isinstance(c.tag, str)]
                if index < len(kids):
                    element = kids[index]
        elif isinstance(error.validator, XsdAttribute | XsdAttributeGroup) \
                or (m and reason.startswith("attribute ")):
            code = "EDG-X103"
        elif error.validator is compiled or "is not an element of the schema" in reason:
            code = "EDG-X104"
        elif isinstance(error, xe.XMLSchemaDecodeError) \
                or re.search("Facet|Atomic", type(error.validator).__name__):
            code = "EDG-X102"
        else:
            code = "EDG-X105"
        attr = m[1].rpartition(":")[2] if (m and code == "EDG-X103") else None
        if element is not None:
            name = local(element.tag)
            xpath = xpath_of(element) + (f"/@{attr}" if attr else "")
            line, column = element.sourceline or 0, column_of(element, lines, attr)
        else:
            name, xpath, line, column = "", re.sub(r"(?<=/)[^/:\[]*:", "", error.path or ""), 0, 0
        text = _CLARK.sub(r"\1", reason)
        out.append(XmlFinding(code, f"{name}: {text}" if name else text, line, column, xpath))
    return out


def _schema_for(tag: str) -> Path | None:
    """The published schema for a root element's Clark name (``edigate.xsd``), None if none."""
    try:
        from edigate import xsd
    except ImportError:
        return None
    lookup = getattr(xsd, "schema_path", None)
    if lookup is None:
        return None
    try:
        path = lookup(tag)
    except (KeyError, LookupError, ValueError):
        return None
    return Path(path) if path is not None and Path(path).is_file() else None


def validate_document(doc: Tree | bytes, max_findings: int = DEFAULT_MAX_FINDINGS, *,
                      source: bytes | None = None,
                      limits: XmlLimits | None = None) -> list[XmlFinding]:  # fmt: skip
    """Validate against the published schema chosen by the root element; a root that is not one
    of ours is one EDG-X104 finding."""
    tree, data = _as_tree(doc, source, limits)
    root = tree.getroot()
    path = _schema_for(root.tag)
    if path is None:
        ns, name = etree.QName(root).namespace, local(root.tag)
        where = f"in namespace {ns}" if ns else "without a namespace"
        lines = SourceLines(data, tree.docinfo.encoding) if data is not None else None
        return [XmlFinding("EDG-X104", f"{name} ({where}) is not the root element of any "
                                       "published schema", root.sourceline or 0,
                           column_of(root, lines), "/" + name)]  # fmt: skip
    return validate(tree, path, max_findings, source=data)
