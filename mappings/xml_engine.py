"""Apply a declarative mapping (TOML in ``mappings/xml/``) to an XML document -> canonical document.

The XML counterpart of :mod:`edigate.mappings.engine`, with the same blocks (``fields``,
``objects``, ``lists``, ``from``, ``when``, ``[derived]``) and the same compile-time checks of the
targets against the canonical model; paths are XPath 1.0 instead of EDIFACT segment paths.

A file::

    [mapping]
    root = "cr:CargoReport"               # the document element, prefixed (or bare without ns)
    namespaces = { cr = "urn:edigate:xsd:cargo-report:1", c = "urn:edigate:xsd:common:1" }
    document_type = "cargo_report"
    record = "cr:HouseConsignment"        # optional: batch roots, one document per record

    [maps.function]                       # code tables for map(...), "*" the default
    "Original" = "9"

    [fields]
    "header.identifier" = "cr:ReportReference"
    "header.issue_time" = "cr:IssueDateTime | datetime"

    [[lists]]
    target = "consignments"
    from = "cr:Consignment"               # XPath selecting elements, relative to the context
    [lists.fields]
    "total_gross_mass.value" = "c:GrossMassMeasure | decimal"
    "total_gross_mass.unit" = "c:GrossMassMeasure/@unitCode"

Expressions are ``"XPATH | transform | transform"``: the XPath selects elements (their text),
attributes or text nodes, relative to the block's context element (the document element, the
record element of a batch mapping, or the element a ``from`` selected); a path starting with
``/`` starts at the document root (for a record of a batch read by the streaming reader, the
header is still in the tree). ``=VALUE`` is a constant. Values are whitespace-stripped, an empty
value is no value. A field takes the first value found; a target ending in ``[]`` takes every
value, and so does an expression with ``join`` (joined into one). Separate the transforms with
``" | "`` (spaces around the bar); an XPath union is written without spaces (``a|b``).

Transforms: ``int``, ``decimal``, ``datetime`` (xs:dateTime; a value without a time zone gives
no value: local times are ambiguous), ``date`` (xs:date, zone dropped; or the date part of an
xs:dateTime as written), ``upper``, ``join(sep)`` (default a space), ``map(table)`` (``"*"`` the
default; a code missing from a table without ``"*"`` gives no value), ``add_days(n)``. In a
list target or before ``join``, transforms apply to each value (values they reject are dropped).

A field may name a list of alternatives, the first that gives a value wins; an alternative may
be ``{ value = "...", when = "XPATH" }``, only tried when the XPath finds something (an element,
a non-empty attribute or text, or a true comparison). A block may have a ``when`` (checked on the
enclosing context, before ``from``) and a list of ``from`` alternatives (the first that gives an
item wins). Objects are built from the first element of their ``from`` that gives an item; an
object or list item that lacks a field the model requires is left out.

Every value read records its source position (``SourcePosition.xpath``: ``getpath`` of the
element, ``/@name`` appended for an attribute; ``line``) in ``provenance.fields`` under its
canonical path. Values computed by an XPath function (``concat(...)``) have no source node and
no position. XPaths are compiled once (``lxml.etree.XPath``) when the mapping is loaded.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, get_args

import msgspec
import msgspec.inspect as mi
from lxml import etree

from edigate.canonical.model import CanonicalDocument, DocumentType, Provenance, SourcePosition
from edigate.xmlvalidate import local

from .compiled import collect_items, forget
from .engine import _check_value, _get, _required, _struct_of, _target_type, _unwrap
from .expressions import Expression, MappingError

XML_MAPPINGS = Path(__file__).with_name("xml")

_META_KEYS = frozenset(("root", "namespaces", "document_type", "record"))
_BLOCK_KEYS = frozenset(("from", "fields", "objects", "lists", "target", "when", "use"))
_ROOT_KEYS = frozenset(("mapping", "maps", "blocks", "derived", "fields", "objects", "lists"))
_NCNAME = re.compile(r"[A-Za-z_][\w.-]*")
# a prefix in an XPath: "p:" before a name or "*", not an axis ("child::"); literals removed first
_PREFIX = re.compile(r"(?<![\w.:-])([A-Za-z_][\w.-]*):(?=[A-Za-z_*])")
_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")
_NOT_ELEMENTS = re.compile(r"(@[\w.:*-]+|text\(\)|node\(\))\s*$")
_TRANSFORM = re.compile(r"(\w+)(?:\((.*)\))?")

Transform = Callable[[Any], Any]

# -- transforms -------------------------------------------------------------------------------

_XS_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?"
)
_XS_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?")


def _zone(text: str) -> timezone:
    if text == "Z":
        return UTC
    offset = timedelta(hours=int(text[1:3]), minutes=int(text[4:6]))
    return timezone(-offset if text[0] == "-" else offset)


def parse_xs_datetime(value: str) -> datetime | None:
    """An xs:dateTime with its zone -> aware datetime; None without a zone or if unreadable."""
    m = _XS_DATETIME.fullmatch(value)
    if m is None or m.group(8) is None:
        return None
    y, mo, d, hh, mi_, ss, frac, zone = m.groups()
    micro = int((frac + "00000")[:6]) if frac else 0  # beyond microseconds: truncated
    next_day = hh == "24"  # xs:dateTime allows 24:00:00, the first instant of the next day
    if next_day and (mi_ != "00" or ss != "00" or micro):
        return None
    try:
        dt = datetime(int(y), int(mo), int(d), 0 if next_day else int(hh), int(mi_), int(ss),
                      micro, tzinfo=_zone(zone))  # fmt: skip
    except ValueError:  # day 31 of a 30-day month, second 60, zone beyond 24 h...
        return None
    return dt + timedelta(days=1) if next_day else dt


def parse_xs_date(value: str) -> date | None:
    """An xs:date (its zone dropped: the model's dates are calendar days) or the date part of an
    xs:dateTime as written; None if unreadable."""
    m = _XS_DATE.fullmatch(value)
    if m is None:
        m = _XS_DATETIME.fullmatch(value)
        if m is None:
            return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _to_int(v: Any) -> int | None:
    if not isinstance(v, str):
        return None
    try:
        return int(v)  # xs:integer: optional sign, digits (int() also takes "1_0": harmless)
    except ValueError:
        return None


def _to_decimal(v: Any) -> Decimal | None:
    if not isinstance(v, str):
        return None
    try:
        d = Decimal(v)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None  # xs:decimal has no NaN or infinity


def _transform(name: str, arg: str | None, maps: dict[str, dict[str, Any]],
               text: str) -> Transform:  # fmt: skip
    if arg is not None and name not in ("join", "map", "add_days"):
        raise MappingError(f"{text}: {name} takes no argument")
    if name == "int":
        return _to_int
    if name == "decimal":
        return _to_decimal
    if name == "datetime":
        return lambda v: parse_xs_datetime(v) if isinstance(v, str) else None
    if name == "date":
        return lambda v: parse_xs_date(v) if isinstance(v, str) else None
    if name == "upper":
        return lambda v: v.upper() if isinstance(v, str) else v
    if name == "map":
        if arg not in maps:
            raise MappingError(f"{text}: no [maps.{arg}] table")
        table = maps[arg]
        default = table.get("*")
        return lambda v: table.get(v, default) if isinstance(v, str) else v
    if name == "add_days":
        try:
            days = timedelta(days=int(arg or ""))
        except ValueError:
            raise MappingError(f"{text}: add_days needs a whole number of days") from None
        return lambda v: v + days if isinstance(v, date) else None
    raise MappingError(f"{text}: unknown transform {name!r}")


@dataclass(slots=True)
class XmlExpression:
    text: str
    xpath: etree.XPath | None  # None for a constant
    constant: str | None = None
    each: tuple[Transform, ...] = ()  # applied to every value (before a join)
    join: str | None = None  # separator: every value found, joined
    after: tuple[Transform, ...] = ()  # applied to the joined value


@dataclass(slots=True)
class Target:
    text: str  # as written, e.g. "header.references" or "street[]"
    parents: tuple[str, ...]  # objects on the way, e.g. ("total_gross_mass",)
    name: str  # last field name, without []
    is_list: bool


def _target(text: str) -> Target:
    *parents, last = text.split(".")
    return Target(text, tuple(parents), last.removesuffix("[]"), last.endswith("[]"))


@dataclass(slots=True)
class XmlBlock:
    #: XPaths selecting the items' elements, alternatives tried in order; none: the context
    sources: list[etree.XPath] = field(default_factory=list)
    #: target -> alternatives (expression, condition), tried in order until one gives a value
    fields: list[tuple[Target, list[tuple[XmlExpression, etree.XPath | None]]]] = field(
        default_factory=list
    )
    objects: list[tuple[Target, XmlBlock]] = field(default_factory=list)
    lists: list[tuple[Target, XmlBlock]] = field(default_factory=list)
    when: etree.XPath | None = None
    required: tuple[str, ...] = ()  # fields the canonical model requires in an item
    #: objects filled by dotted fields ("gross_mass.value") -> the fields they require, deepest
    #: first: one that lacks one (a mass without its unit) is left out, not the whole item
    partial: list[tuple[Target, tuple[str, ...]]] = field(default_factory=list)


@dataclass(slots=True)
class XmlDerived:
    target: Target
    source: str  # canonical dotted path in the mapped document
    transforms: tuple[Transform, ...]


@dataclass(slots=True)
class XmlMapping:
    name: str  # file stem
    root: str  # Clark name of the document element, {uri}Local
    root_name: str  # its local name: the provenance message type
    document_type: str
    namespaces: dict[str, str]
    block: XmlBlock
    record: str | None = None  # Clark name of the record element of a batch mapping
    derived: list[XmlDerived] = field(default_factory=list)


# -- compiling --------------------------------------------------------------------------------


def _clark(qname: Any, namespaces: dict[str, str], what: str) -> str:
    """``p:Local`` -> ``{uri}Local``; a bare name only when the mapping declares no namespace."""
    if not isinstance(qname, str):
        raise MappingError(f"{what}: an element name, e.g. \"p:Name\"")
    prefix, _, local = qname.rpartition(":")
    if not _NCNAME.fullmatch(local) or (prefix and not _NCNAME.fullmatch(prefix)):
        raise MappingError(f"{what}: {qname!r} is not an element name")
    if not prefix:
        if namespaces:
            raise MappingError(f"{what}: {qname!r} has no prefix: write prefix:{qname}")
        return local
    if prefix not in namespaces:
        raise MappingError(f"{what}: unknown namespace prefix {prefix!r} in {qname!r}")
    return f"{{{namespaces[prefix]}}}{local}"


class ChildPath:
    """A path of child steps, maybe ending in an attribute (``c:Consignor/c:Name``,
    ``c:GrossMassMeasure/@unitCode``): most rules are such paths, and walking the children
    directly costs a fraction of an XPath evaluation. Selects exactly what the XPath would, in
    document order; an attribute comes as ``(value, owner element, attribute name)``."""

    __slots__ = ("attribute", "tags", "text")

    _SIMPLE = re.compile(r"(?:[A-Za-z_][\w.-]*:[A-Za-z_][\w.-]*/)*"
                         r"(?:[A-Za-z_][\w.-]*:[A-Za-z_][\w.-]*|@[A-Za-z_][\w.:-]*)")

    def __init__(self, text: str, tags: tuple[str, ...], attribute: str | None) -> None:
        self.text = text
        self.tags = tags
        self.attribute = attribute

    @classmethod
    def of(cls, text: str, namespaces: dict[str, str]) -> ChildPath | None:
        if not cls._SIMPLE.fullmatch(text):
            return None
        *steps, last = text.split("/")
        attribute = None
        if last.startswith("@"):
            name = last[1:]
            if ":" in name:
                prefix, _, local = name.partition(":")
                if prefix not in namespaces:
                    return None
                name = f"{{{namespaces[prefix]}}}{local}"
            attribute = name
        else:
            steps.append(last)
        tags = []
        for step in steps:
            prefix, _, local = step.partition(":")
            if prefix not in namespaces:
                return None
            tags.append(f"{{{namespaces[prefix]}}}{local}")
        return cls(text, tuple(tags), attribute)

    def __call__(self, element: etree._Element) -> list[Any]:
        nodes = [element]
        for tag in self.tags:
            nodes = [c for n in nodes for c in n.iterchildren(tag)]
            if not nodes:
                return nodes
        name = self.attribute
        if name is None:
            return nodes
        return [(v, n, name) for n in nodes if (v := n.get(name)) is not None]


_PROBE = etree.Element("probe")  # a context for a dry run of each XPath at compile time


@dataclass(slots=True)
class _Compiler:
    namespaces: dict[str, str]
    maps: dict[str, dict[str, Any]]
    blocks: dict[str, dict[str, Any]]  # [blocks.x]: shared block bodies, ``use = "x"``
    using: tuple[str, ...] = ()  # the shared blocks being expanded (refuses a cycle)

    def expand(self, raw: dict[str, Any], where: str) -> dict[str, Any]:
        """``raw`` with the shared block it ``use``s merged in: its own fields and objects win,
        lists are added after the shared block's."""
        name = raw.get("use")
        if name is None:
            return raw
        if name not in self.blocks:
            raise MappingError(f"{where}use: no [blocks.{name}] table")
        if name in self.using:
            raise MappingError(f"{where}use: [blocks.{name}] uses itself")
        self.using += (name,)
        try:
            base = self.expand(self.blocks[name], where)
        finally:
            self.using = self.using[:-1]
        out = {k: v for k, v in base.items() if k != "use"}
        for key, value in raw.items():
            if key in ("fields", "objects"):
                out[key] = {**base.get(key, {}), **value}
            elif key == "lists":
                out[key] = [*base.get(key, []), *value]
            elif key != "use":
                out[key] = value
        return out

    def xpath(self, text: Any, what: str) -> etree.XPath:
        if not isinstance(text, str) or not text.strip():
            raise MappingError(f"{what}: an XPath expression, not {text!r}")
        for prefix in _PREFIX.findall(_LITERAL.sub("''", text)):
            if prefix not in self.namespaces:
                known = ", ".join(sorted(self.namespaces)) or "none declared"
                raise MappingError(f"{what}: unknown namespace prefix {prefix!r} in {text!r} "
                                   f"(namespaces: {known})")  # fmt: skip
        try:
            compiled = etree.XPath(text, namespaces=self.namespaces, smart_strings=True)
            compiled(_PROBE)  # unknown functions, variables... show up only when evaluated
        except etree.XPathError as exc:
            raise MappingError(f"{what}: invalid XPath {text!r}: {exc}") from None
        return ChildPath.of(text.strip(), self.namespaces) or compiled

    def elements(self, text: Any, what: str) -> etree.XPath:
        """An XPath that must select elements (a ``from``)."""
        compiled = self.xpath(text, what)
        if not isinstance(compiled(_PROBE), list) or _NOT_ELEMENTS.search(text):
            raise MappingError(f"{what}: 'from' selects elements, not values: {text!r}")
        return compiled

    def expression(self, text: str, target: Target, target_type: mi.Type,
                   what: str) -> XmlExpression:  # fmt: skip
        path, *pipes = [p.strip() for p in text.split(" | ")]
        if path.startswith("="):
            if pipes:
                raise MappingError(f"{what}: a constant takes no transforms")
            expr = XmlExpression(text, None, constant=path[1:])
        else:
            each: list[Transform] = []
            after: list[Transform] = []
            join = None
            for pipe in pipes:
                m = _TRANSFORM.fullmatch(pipe)
                if m is None:
                    raise MappingError(f"{what}: bad transform {pipe!r} (transforms are "
                                       "separated by ' | ', XPath unions written a|b)")  # fmt: skip
                if m.group(1) == "join":
                    if join is not None:
                        raise MappingError(f"{what}: join twice")
                    join = m.group(2) if m.group(2) is not None else " "
                    continue
                fn = _transform(m.group(1), m.group(2), self.maps, what)
                (after if join is not None else each).append(fn)
            expr = XmlExpression(text, self.xpath(path, what), None, tuple(each), join,
                                 tuple(after))  # fmt: skip
        # the EDIFACT engine's checks (code lists, flags, several values) read these three
        many = expr.join is not None or target.is_list
        _check_value(Expression(text, (), None, constant=expr.constant, many=many), target_type,
                     self.maps, what)  # fmt: skip
        scalar = _unwrap(target_type)
        if isinstance(scalar, mi.ListType):
            scalar = _unwrap(scalar.item_type)
        converted = (mi.IntType, mi.FloatType, mi.DecimalType, mi.DateTimeType, mi.DateType)
        if isinstance(scalar, converted) and expr.constant is None and not pipes:
            kind = type(scalar).__name__.removesuffix("Type").lower()
            raise MappingError(f"{what}: a {kind} field: convert the text, e.g. | int, | decimal,"
                               " | datetime, | date")  # fmt: skip
        return expr

    def block(self, raw: dict[str, Any], owner: mi.Type, where: str) -> XmlBlock:
        unknown = set(raw) - (_ROOT_KEYS if where == "" else _BLOCK_KEYS)
        if unknown:
            raise MappingError(f"{where or 'top level'}: unknown keys {sorted(unknown)}")
        if where:
            raw = self.expand(raw, where)
        block = XmlBlock()
        if "when" in raw:
            block.when = self.xpath(raw["when"], f"{where}when")
        if "from" in raw:
            texts = [raw["from"]] if isinstance(raw["from"], str) else raw["from"]
            if not isinstance(texts, list) or not texts:
                raise MappingError(f"{where}from: an XPath or a list of them")
            block.sources = [self.elements(x, f"{where}from") for x in texts]
        seen: set[str] = set()
        partial: list[tuple[Target, tuple[str, ...]]] = []
        fields = raw.get("fields", {})
        if not isinstance(fields, dict):
            raise MappingError(f"{where}fields: a table of target = expression")
        for name, text in fields.items():
            what = f"{where}{name}"
            target_type = _target_type(owner, name, what)
            target = _target(name)
            alternatives = []
            for alt in [text] if isinstance(text, str) else text:
                cond = None
                if isinstance(alt, dict):
                    if set(alt) - {"value", "when"} or not isinstance(alt.get("value"), str):
                        raise MappingError(f"{what}: an alternative is {{ value, when }}")
                    if "when" in alt:
                        cond = self.xpath(alt["when"], f"{what} when")
                    alt = alt["value"]
                if not isinstance(alt, str):
                    raise MappingError(f"{what}: an expression or a list of them")
                alternatives.append((self.expression(alt, target, target_type, what), cond))
            if not alternatives:
                raise MappingError(f"{what}: no expression")
            block.fields.append((target, alternatives))
            parts = name.split(".")
            for k in range(1, len(parts)):
                inner = ".".join(parts[:k])
                if inner not in seen:
                    seen.add(inner)
                    required = _required(_target_type(owner, inner, what))
                    if where == "" and inner == "header":
                        required = tuple(r for r in required if r != "type")  # map_xml sets it
                    if required:
                        partial.append((_target(inner), required))
        partial.sort(key=lambda p: -len(p[0].parents))
        block.partial = partial
        for name, sub in raw.get("objects", {}).items():
            what = f"{where}{name}"
            try:
                t = _target_type(owner, name, what)
            except MappingError:
                _target_type(owner, name + "[]", what)  # unknown: that error
                raise MappingError(f"{what}: a list: build it with [[lists]]") from None
            built = self.block(sub, _struct_of(t, name, what), f"{what}.")
            built.required = _required(t)
            block.objects.append((_target(name), built))
        for sub in raw.get("lists", []):
            sub = self.expand(sub, f"{where}{sub.get('target', '')}.")
            name = sub.get("target", "")
            listed = name if name.endswith("[]") else name + "[]"
            what = f"{where}{name}"
            t = _target_type(owner, listed, what)
            if "from" not in sub:
                raise MappingError(f"{what}: a list needs 'from' (the elements of its items)")
            built = self.block(sub, _struct_of(t, name, what), f"{what}[].")
            built.required = _required(t)
            block.lists.append((_target(listed), built))
        return block


def _compile(raw: dict[str, Any], name: str) -> XmlMapping:
    meta = raw.get("mapping")
    if not isinstance(meta, dict):
        raise MappingError("no [mapping] table")
    unknown = set(meta) - _META_KEYS
    if unknown:
        raise MappingError(f"[mapping]: unknown keys {sorted(unknown)}")
    namespaces = meta.get("namespaces", {})
    if not isinstance(namespaces, dict) or not all(
        isinstance(p, str) and _NCNAME.fullmatch(p) and isinstance(u, str) and u
        for p, u in namespaces.items()
    ):
        raise MappingError("[mapping] namespaces: a table of prefix = \"namespace URI\"")
    document_type = meta.get("document_type")
    if document_type not in get_args(DocumentType):
        raise MappingError(f"[mapping] document_type: {document_type!r} is not one of "
                           f"{list(get_args(DocumentType))}")  # fmt: skip
    root = _clark(meta.get("root"), namespaces, "[mapping] root")
    record = _clark(meta["record"], namespaces, "[mapping] record") if "record" in meta else None
    maps = raw.get("maps", {})
    if not all(isinstance(t, dict) for t in maps.values()):
        raise MappingError("[maps]: each map is a table of code = value")
    blocks = raw.get("blocks", {})
    if not isinstance(blocks, dict) or not all(isinstance(b, dict) for b in blocks.values()):
        raise MappingError("[blocks]: each shared block is a table")
    for block_name, body in blocks.items():
        unknown = set(body) - _BLOCK_KEYS
        if unknown:
            raise MappingError(f"[blocks.{block_name}]: unknown keys {sorted(unknown)}")
    compiler = _Compiler(namespaces, maps, blocks)
    document = mi.type_info(CanonicalDocument)
    block = compiler.block(raw, document, "")
    derived = []
    for target, text in raw.get("derived", {}).items():
        source, *pipes = [p.strip() for p in text.split(" | ")]
        _target_type(document, target, f"derived {target}")
        _target_type(document, source, f"derived {target}")
        transforms = []
        for pipe in pipes:
            m = _TRANSFORM.fullmatch(pipe)
            if m is None or m.group(1) == "join":
                raise MappingError(f"derived {target}: bad transform {pipe!r}")
            transforms.append(_transform(m.group(1), m.group(2), maps, f"derived {target}"))
        derived.append(XmlDerived(_target(target), source, tuple(transforms)))
    return XmlMapping(name, root, root.rpartition("}")[2], document_type, dict(namespaces), block,
                      record, derived)  # fmt: skip


def load_xml_mapping(path: Path) -> XmlMapping:
    """Compile a mapping file; MappingError names the file and what is wrong."""
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    try:
        return _compile(raw, path.stem)
    except MappingError as exc:
        raise MappingError(f"{path.name}: {exc}") from None


def xml_mapping_files(folder: Path | None = None) -> dict[Path, dict[str, Any]]:
    """Every mapping file (a TOML file with a ``[mapping]`` table) in ``folder`` (default
    ``mappings/xml``) -> that table."""
    out = {}
    for path in sorted((folder or XML_MAPPINGS).glob("*.toml")):
        with path.open("rb") as fh:
            meta = tomllib.load(fh).get("mapping")
        if isinstance(meta, dict):
            out[path] = meta
    return out


@lru_cache(maxsize=1)
def _roots() -> dict[str, Path]:
    """Document element (Clark name) -> its mapping file; two files for one root are refused."""
    out: dict[str, Path] = {}
    for path, meta in xml_mapping_files().items():
        try:
            root = _clark(meta.get("root"), meta.get("namespaces", {}), "[mapping] root")
        except MappingError as exc:
            raise MappingError(f"{path.name}: {exc}") from None
        if root in out:
            raise MappingError(f"{path.name} and {out[root].name} both map {root}")
        out[root] = path
    return out


@lru_cache(maxsize=128)
def xml_mapping_for(root: str) -> XmlMapping | None:
    """The compiled mapping for documents whose element is ``root`` (``{uri}Local``); None if
    no file maps it."""
    path = _roots().get(root)
    return load_xml_mapping(path) if path is not None else None


# -- evaluation -------------------------------------------------------------------------------


class _Context:
    __slots__ = ("anchor", "anchor_path", "paths", "positions", "tree")

    def __init__(self, tree: etree._ElementTree, anchor: etree._Element | None = None,
                 anchor_path: str = "") -> None:  # fmt: skip
        self.tree = tree
        self.positions: dict[str, SourcePosition] = {}
        #: the mapped element and its path in the document as sent (a streamed batch has
        #: dropped the records before it, so the tree alone would number it wrongly)
        self.anchor = anchor
        self.anchor_path = anchor_path
        self.paths: dict[etree._Element, str] = {}  # many values share an element

    def forget(self, prefix: str) -> None:
        """Drop the positions recorded under ``prefix`` (an item that was left out)."""
        forget(self.positions, prefix)

    def path_of(self, element: etree._Element) -> str:
        """Prefix-free path of ``element``, built on its parent's (memoised: the values of a
        document share their ancestors)."""
        known = self.paths.get(element)
        if known is not None:
            return known
        parent = element.getparent()
        if element is self.anchor:
            path = self.anchor_path
        elif parent is None:
            path = "/" + local(element.tag)
        else:
            # number this element's same-named siblings in one pass: they are usually read too
            tag = element.tag
            base = f"{self.path_of(parent)}/{local(tag)}"
            siblings = list(parent.iterchildren(tag))
            if len(siblings) == 1:
                self.paths[element] = base
                return base
            for n, sibling in enumerate(siblings, 1):
                if sibling is not self.anchor:  # the anchor keeps the path it was given
                    self.paths[sibling] = f"{base}[{n}]"
            return self.paths[element]
        self.paths[element] = path
        return path

    def record(self, path: str, owner: etree._Element, attribute: str | None) -> None:
        # prefix-free paths, written as the schema validator writes them (edigate.xmlvalidate)
        where = self.path_of(owner)
        if attribute is not None:
            where = f"{where}/@{attribute.rpartition('}')[2]}"
        self.positions[path] = SourcePosition(xpath=where, line=owner.sourceline)


_Element = etree._Element
_SmartString = etree._ElementUnicodeResult


def _evaluate(expr: XmlExpression, el: _Element, path: str, ctx: _Context,
              every: bool) -> Any:  # fmt: skip
    """The value of ``expr`` in the context ``el``: the first non-empty value found or (``every``,
    or an expression with ``join``) all of them, transformed."""
    if expr.constant is not None:
        return expr.constant
    xpath = expr.xpath
    assert xpath is not None
    if type(xpath) is ChildPath and not every and expr.join is None:
        return _first_child_value(expr, xpath, el, path, ctx)
    result = xpath(el)
    if not isinstance(result, list):
        result = [result]  # a string, number or boolean of an XPath function
    many = every or expr.join is not None
    values: list[str] = []
    for node in result:
        kind = type(node)
        attribute = None
        owner: _Element | None
        if kind is _Element:  # the common case first; comments and PIs are subclasses
            text = node.text if len(node) == 0 else "".join(node.itertext())
            owner = node
        elif kind is tuple:  # an attribute selected by a ChildPath
            text, owner, attribute = node
        elif kind is _SmartString:  # attribute or text node (or a string function's result)
            text = node
            owner = node.getparent()
            if owner is not None:
                if node.is_attribute:
                    attribute = node.attrname
                elif node.is_tail and owner.getparent() is not None:
                    owner = owner.getparent()  # a tail is text of the parent's parent
        elif kind is str:
            text, owner = node, None
        elif kind is bool:
            text, owner = ("true" if node else "false"), None
        elif kind is float:
            if node != node:  # NaN: a number that is no value
                continue
            text, owner = (str(int(node)) if node.is_integer() else repr(node)), None
        else:
            continue  # comments, processing instructions, namespace nodes
        if not text:
            continue
        text = text.strip()
        if not text:
            continue
        if not values and owner is not None:
            ctx.record(path, owner, attribute)
        values.append(text)
        if not many:
            break
    if not values:
        return None
    if not many:
        value: Any = values[0]
        for t in expr.each:
            value = t(value)
            if value is None:
                return None
        return value
    items: list[Any] = values
    for t in expr.each:
        items = [v for v in map(t, items) if v is not None]
    if expr.join is None:
        return items
    if not items:
        return None
    value = expr.join.join(str(v) for v in items)
    for t in expr.after:
        value = t(value)
        if value is None:
            return None
    return value


def _first_child_value(expr: XmlExpression, xpath: ChildPath, el: _Element, path: str,
                       ctx: _Context) -> Any:  # fmt: skip
    """``_evaluate`` for the commonest rule: one value along child steps. Walks the children
    depth first in document order and stops at the first non-empty value, building no lists."""
    found = _first(el, xpath.tags, 0, xpath.attribute)
    if found is None:
        return None
    text, owner, attribute = found
    ctx.record(path, owner, attribute)
    value: Any = text
    for t in expr.each:
        value = t(value)
        if value is None:
            return None
    return value


def _first(el: _Element, tags: tuple[str, ...], k: int,
           attribute: str | None) -> tuple[str, _Element, str | None] | None:  # fmt: skip
    if k == len(tags):
        if attribute is not None:
            raw = el.get(attribute)
            text = raw.strip() if raw else ""
        else:
            raw = el.text if len(el) == 0 else "".join(el.itertext())
            text = raw.strip() if raw else ""
        return (text, el, attribute) if text else None
    for child in el.iterchildren(tags[k]):
        found = _first(child, tags, k + 1, attribute)
        if found is not None:
            return found
    return None


def _found(cond: etree.XPath, el: _Element) -> bool:
    """Whether a condition finds something: an element, a non-empty attribute or text, a true
    comparison, a non-zero number, a non-empty string."""
    result = cond(el)
    if isinstance(result, list):
        return any(isinstance(n, _Element) or (isinstance(n, str) and n.strip())
                   or (isinstance(n, tuple) and n[0].strip()) for n in result)
    if isinstance(result, str):
        return bool(result.strip())
    return bool(result) and result == result  # bool, or a number other than 0 and NaN


def _set(out: dict[str, Any], target: Target, value: Any) -> None:
    for p in target.parents:
        out = out.setdefault(p, {})
    if target.is_list:
        out.setdefault(target.name, []).extend(value if isinstance(value, list) else [value])
    else:
        out[target.name] = value


def _existing(out: dict[str, Any], target: Target) -> int:
    for p in target.parents:
        out = out.get(p)  # type: ignore[assignment]
        if not isinstance(out, dict):
            return 0
    items = out.get(target.name)
    return len(items) if isinstance(items, list) else 0


def _apply(block: XmlBlock, el: _Element, path: str, ctx: _Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for target, alternatives in block.fields:
        where = path + target.text
        for expr, when in alternatives:
            if when is not None and not _found(when, el):
                continue
            value = _evaluate(expr, el, where, ctx, target.is_list)
            if value is not None and value != []:
                _set(out, target, value)
                break
            ctx.positions.pop(where, None)  # read, but converted to nothing
    for target, required in block.partial:
        parent = _get(out, ".".join(target.parents)) if target.parents else out
        value = parent.get(target.name) if isinstance(parent, dict) else None
        if isinstance(value, dict) and not all(name in value for name in required):
            del parent[target.name]
            ctx.forget(f"{path}{target.text}.")
    for target, sub in block.objects:
        item = _build(sub, el, f"{path}{target.text}.", ctx, first_only=True)
        if item:
            _set(out, target, item[0])
    for target, sub in block.lists:
        items = _build(sub, el, f"{path}{target.text[:-2]}", ctx, first_only=False,
                       start=_existing(out, target))  # fmt: skip
        if items:
            _set(out, target, items)
    return out


def _build(block: XmlBlock, el: _Element, path: str, ctx: _Context, first_only: bool,
           start: int = 0) -> list[dict[str, Any]]:  # fmt: skip
    """Items of an object (``first_only``) or list block; ``start``: index of the first item in
    its list (for the provenance paths), when another block already added items to it."""
    if block.when is not None and not _found(block.when, el):
        return []
    if not block.sources:
        return _items(block, [el], path, ctx, first_only, start)
    for source in block.sources:
        found = source(el)
        if not isinstance(found, list):
            continue
        matches = [m for m in found if isinstance(m, _Element) and isinstance(m.tag, str)]
        out = _items(block, matches, path, ctx, first_only, start)
        if out:
            return out
    return []


def _items(block: XmlBlock, matches: list[_Element], path: str, ctx: _Context,
           first_only: bool, start: int) -> list[dict[str, Any]]:  # fmt: skip
    return collect_items(matches, lambda m, sub: _apply(block, m, sub, ctx), block.required,
                         path, ctx.positions, first_only, start)


def _derive(mapping: XmlMapping, data: dict[str, Any], ctx: _Context) -> None:
    for d in mapping.derived:
        value = _get(data, d.source)
        if value is None:
            continue
        for t in d.transforms:
            value = t(value)
        if value is None or (d.target.parents and
                             not isinstance(_get(data, ".".join(d.target.parents)), dict)):
            continue  # nothing to compute, or no object to put it in
        _set(data, d.target, value)
        if d.source in ctx.positions:
            ctx.positions[d.target.text] = ctx.positions[d.source]


def map_xml(element: _Element, mapping: XmlMapping, provenance: dict[str, Any] | None = None,
            xpath: str | None = None) -> CanonicalDocument:  # fmt: skip
    """Map one document: ``element`` is the document element, or for a batch mapping (``record``)
    one record element (paths from ``/`` still reach the rest of its tree). ``xpath``: the
    element's path in the document as sent, when the tree no longer tells (streamed records);
    source positions below it are written from there."""
    expected = mapping.record or mapping.root
    if element.tag != expected:
        raise ValueError(f"mapping {mapping.name} applies to {expected}, not {element.tag}")
    ctx = _Context(element.getroottree(), element if xpath else None, xpath or "")
    data = _apply(mapping.block, element, "", ctx)
    _derive(mapping, data, ctx)
    data.setdefault("header", {})["type"] = mapping.document_type
    prov = dict(provenance or {})
    prov.setdefault("source_format", "xml")
    prov.setdefault("message_type", mapping.root_name)
    doc = msgspec.convert(data, CanonicalDocument, strict=False)
    doc.provenance = msgspec.convert(prov, Provenance, strict=False)
    doc.provenance.fields = ctx.positions
    return doc


def map_xml_document(root: _Element, mapping: XmlMapping, provenance: dict[str, Any] | None = None
                     ) -> Iterator[CanonicalDocument]:  # fmt: skip
    """Every canonical document of a parsed document: one, or one per record of a batch (the
    streaming reader calls :func:`map_xml` per record instead, without the whole tree)."""
    if root.tag != mapping.root:
        raise ValueError(f"mapping {mapping.name} applies to {mapping.root}, not {root.tag}")
    if mapping.record is None:
        yield map_xml(root, mapping, provenance)
        return
    for record in root.iter(mapping.record):
        yield map_xml(record, mapping, provenance)


__all__ = [
    "XML_MAPPINGS",
    "MappingError",
    "XmlMapping",
    "load_xml_mapping",
    "map_xml",
    "map_xml_document",
    "parse_xs_date",
    "parse_xs_datetime",
    "xml_mapping_files",
    "xml_mapping_for",
]
