"""Reference documentation of the published XML schemas, generated from their annotations.

``python -m edigate.xsddoc [--out docs/xml-schemas.md] [--check]`` reads every schema in
``edigate.xsd`` (common components first) with lxml and writes one Markdown document: per schema
its namespace, imports and root elements, a table per complex type (element or attribute, type,
occurrence, documentation) and every simple type with its enumeration values or pattern.
``--check`` writes nothing and exits 1 when the file differs from what would be generated (CI
keeps the committed document in step with the schemas).

The text comes only from ``xs:annotation/xs:documentation``; nothing is written by hand, so the
schemas stay the single source.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from edigate.xsd import NAMESPACES, RECORDS, SCHEMAS, XSD_DIR

XS = "http://www.w3.org/2001/XMLSchema"
_X = f"{{{XS}}}"
DEFAULT_OUT = Path("docs/xml-schemas.md")

_FACETS = ("length", "minLength", "maxLength", "minInclusive", "maxInclusive",
           "minExclusive", "maxExclusive", "totalDigits", "fractionDigits")


def _text(node: etree._Element | None) -> str:
    """Documentation of a schema component, whitespace collapsed ('' when there is none)."""
    if node is None:
        return ""
    parts = [" ".join("".join(d.itertext()).split())
             for d in node.findall(f"{_X}annotation/{_X}documentation")]
    return " ".join(p for p in parts if p)


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _occurs(node: etree._Element) -> str:
    lo = node.get("minOccurs", "1")
    hi = node.get("maxOccurs", "1")
    hi = "*" if hi == "unbounded" else hi
    return lo if lo == hi else f"{lo}..{hi}"


def anchor(schema_file: str, name: str) -> str:
    """HTML anchor id of a type's section (stable, independent of heading text)."""
    return f"{schema_file.removesuffix('.xsd')}-{name}".lower()


@dataclass
class Schema:
    """One parsed schema file and what the document needs from it."""

    file: str
    root: etree._Element
    namespace: str
    complex_types: list[etree._Element] = field(default_factory=list)
    simple_types: list[etree._Element] = field(default_factory=list)
    elements: list[etree._Element] = field(default_factory=list)


def load_schemas(xsd_dir: Path = XSD_DIR) -> list[Schema]:
    """Every schema of ``NAMESPACES``, in that order, parsed without network access."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, remove_comments=True)
    out = []
    for ns, name in NAMESPACES.items():
        root = etree.parse(str(xsd_dir / name), parser).getroot()
        schema = Schema(name, root, ns)
        schema.complex_types = root.findall(f"{_X}complexType")
        schema.simple_types = root.findall(f"{_X}simpleType")
        schema.elements = root.findall(f"{_X}element")
        out.append(schema)
    return out


class _Writer:
    def __init__(self, schemas: Sequence[Schema]) -> None:
        self.schemas = schemas
        self.files = {s.namespace: s.file for s in schemas}
        self.lines: list[str] = []

    def w(self, line: str = "") -> None:
        self.lines.append(line)

    # -- type references ------------------------------------------------------------------

    def ref(self, qname: str | None, context: etree._Element) -> str:
        """A type reference as written in the schema, linked when it is one of ours."""
        if not qname:
            return "(anonymous)"
        prefix, _, local = qname.rpartition(":")
        ns = context.nsmap.get(prefix or None)
        if ns == XS:
            return f"`xs:{local}`"
        target = self.files.get(ns or "")
        if target is None:
            return f"`{qname}`"
        return f"[`{qname}`](#{anchor(target, local)})"

    # -- content models -------------------------------------------------------------------

    def particles(self, nodes: Iterable[etree._Element],
                  prefix: str = "") -> Iterator[tuple[str, ...]]:
        """Rows (name, type, occurs, documentation) of particles, groups recursively."""
        for node in nodes:
            tag = etree.QName(node).localname if isinstance(node.tag, str) else ""
            if tag == "element":
                name = node.get("name") or node.get("ref", "")
                yield (f"{prefix}`{name}`", self.ref(node.get("type"), node),
                       _occurs(node), _text(node))
            elif tag in ("sequence", "choice"):
                label = "one of" if tag == "choice" else "in order"
                doc = _text(node) or ("Exactly one of the following." if tag == "choice"
                                      else "The following, in this order.")
                yield (f"{prefix}*{tag}* ({label}):", "", _occurs(node), doc)
                yield from self.particles(node, prefix + "&nbsp;&nbsp;")
            elif tag == "any":
                ns = node.get("namespace", "##any")
                how = node.get("processContents", "strict")
                yield (f"{prefix}any element of `{ns}`", f"xs:any ({how})",
                       _occurs(node), _text(node))

    def attributes(self, parent: etree._Element) -> Iterator[tuple[str, ...]]:
        for node in parent.findall(f"{_X}attribute"):
            occurs = "1" if node.get("use") == "required" else "0..1"
            yield (f"`@{node.get('name')}`", self.ref(node.get("type"), node), occurs,
                   _text(node))

    def complex_rows(self, ctype: etree._Element) -> tuple[str, list[tuple[str, ...]]]:
        """A sentence about derivation and the table rows of a complex type."""
        rows: list[tuple[str, ...]] = []
        note = ""
        simple = ctype.find(f"{_X}simpleContent")
        complex_ = ctype.find(f"{_X}complexContent")
        if simple is not None:
            deriv = simple.find(f"{_X}extension")
            if deriv is None:
                deriv = simple.find(f"{_X}restriction")
            assert deriv is not None
            rows.append(("(text content)", self.ref(deriv.get("base"), deriv), "1",
                         "The element's value."))
            rows.extend(self.attributes(deriv))
            return note, rows
        body: etree._Element = ctype
        if complex_ is not None:
            ext = complex_.find(f"{_X}extension")
            res = complex_.find(f"{_X}restriction")
            if ext is not None:
                note = (f"Extends {self.ref(ext.get('base'), ext)}: its content comes first, "
                        "followed by:")
                body = ext
            elif res is not None:
                note = f"Restricts {self.ref(res.get('base'), res)} to:"
                body = res
        for node in body:
            if node.tag in (f"{_X}sequence", f"{_X}choice"):
                plain = node.tag == f"{_X}sequence" and _occurs(node) == "1"
                rows.extend(self.particles(node if plain else [node]))
        rows.extend(self.attributes(body))
        return note, rows

    # -- sections -------------------------------------------------------------------------

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.w("| " + " | ".join(header) + " |")
        self.w("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            self.w("| " + " | ".join(_cell(c) for c in row) + " |")
        self.w()

    def simple_type(self, schema: Schema, stype: etree._Element) -> None:
        name = stype.get("name", "")
        self.w(f'<a id="{anchor(schema.file, name)}"></a>')
        self.w()
        self.w(f"#### {name}")
        self.w()
        self.w(_text(stype))
        self.w()
        res = stype.find(f"{_X}restriction")
        if res is None:
            return
        facts = [f"Base: {self.ref(res.get('base'), res)}."]
        for facet in _FACETS:
            node = res.find(f"{_X}{facet}")
            if node is not None:
                facts.append(f"{facet} {node.get('value')}.")
        patterns = [p.get("value", "") for p in res.findall(f"{_X}pattern")]
        facts.extend(f"Pattern: `{p}`." for p in patterns)
        self.w(" ".join(facts))
        self.w()
        values = res.findall(f"{_X}enumeration")
        if values:
            self.table(("Value", "Meaning"), [(f"`{v.get('value')}`", _text(v)) for v in values])

    def complex_type(self, schema: Schema, ctype: etree._Element) -> None:
        name = ctype.get("name", "")
        self.w(f'<a id="{anchor(schema.file, name)}"></a>')
        self.w()
        self.w(f"#### {name}")
        self.w()
        self.w(_text(ctype))
        self.w()
        note, rows = self.complex_rows(ctype)
        if note:
            self.w(note)
            self.w()
        self.table(("Element / attribute", "Type", "Occurs", "Documentation"), rows)

    def schema(self, schema: Schema) -> None:
        root = schema.root
        self.w(f'<a id="{anchor(schema.file, "schema")}"></a>')
        self.w()
        self.w(f"## {schema.file}")
        self.w()
        self.w(f"- Namespace: `{schema.namespace}`")
        self.w(f"- Schema version: {root.get('version', '')}")
        imports = root.findall(f"{_X}import")
        if imports:
            listed = ", ".join(f"`{i.get('namespace')}` ({i.get('schemaLocation')})"
                               for i in imports)
            self.w(f"- Imports: {listed}")
        self.w()
        self.w(_text(root))
        self.w()
        if schema.elements:
            self.w("### Root elements")
            self.w()
            rows = []
            for el in schema.elements:
                clark = f"{{{schema.namespace}}}{el.get('name')}"
                doc = _text(el)
                record = RECORDS.get(clark)
                if record is not None:
                    doc += f" Streamed record element: `{etree.QName(record).localname}`."
                if clark not in SCHEMAS:
                    doc += " (Not registered in edigate.xsd.SCHEMAS.)"
                rows.append((f"`{el.get('name')}`", self.ref(el.get("type"), el), doc))
            self.table(("Element", "Type", "Documentation"), rows)
        if schema.complex_types:
            self.w("### Complex types")
            self.w()
            for ctype in schema.complex_types:
                self.complex_type(schema, ctype)
        if schema.simple_types:
            self.w("### Simple types and code lists")
            self.w()
            for stype in schema.simple_types:
                self.simple_type(schema, stype)

    def document(self) -> str:
        self.w("# XML schemas reference")
        self.w()
        self.w("<!-- Generated by `python -m edigate.xsddoc` from the xs:documentation "
               "annotations in xsd/*.xsd. Do not edit: change the schemas and regenerate. -->")
        self.w()
        self.w("The published XML schemas of the edigate gateway: what partners send in XML and "
               "what the gateway answers. Each schema is versioned in its file name and "
               "namespace; elements declared inside the common types are in the common "
               "namespace. Examples are in `xsd/examples/`; the design is described in "
               "`xsd/README.md`.")
        self.w()
        self.w("| Schema | Namespace | Root elements |")
        self.w("|---|---|---|")
        for s in self.schemas:
            roots = ", ".join(f"`{e.get('name')}`" for e in s.elements) or "(types only)"
            link = f"[{s.file}](#{anchor(s.file, 'schema')})"
            self.w(f"| {link} | `{s.namespace}` | {roots} |")
        self.w()
        for s in self.schemas:
            self.schema(s)
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        return "\n".join(self.lines) + "\n"


def generate(xsd_dir: Path = XSD_DIR) -> str:
    """The whole Markdown reference document."""
    return _Writer(load_schemas(xsd_dir)).document()


def main(argv: Sequence[str] | None = None) -> int:
    summary = (__doc__ or "").split("\n", 1)[0]
    ap = argparse.ArgumentParser(prog="python -m edigate.xsddoc", description=summary)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help=f"Markdown file to write (default: {DEFAULT_OUT})")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if the file is missing or out of date")
    args = ap.parse_args(argv)
    text = generate()
    if args.check:
        try:
            current = args.out.read_text(encoding="utf-8")
        except FileNotFoundError:
            print(f"{args.out}: missing; run python -m edigate.xsddoc --out {args.out}",
                  file=sys.stderr)
            return 1
        if current != text:
            print(f"{args.out}: out of date; run python -m edigate.xsddoc --out {args.out}",
                  file=sys.stderr)
            return 1
        print(f"{args.out}: up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
