"""XSD validation findings: code, plain text, line, column and XPath, value by value."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest
from lxml import etree

from edigate import xmlvalidate
from edigate.xmlsafe import XmlRejected, parse_untrusted
from edigate.xmlvalidate import (
    CODES,
    XmlFinding,
    load_schema,
    validate,
    validate_document,
    validate_xmlschema,
)

from .conftest import REPO

SCHEMA = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t" xmlns="urn:t"
           elementFormDefault="qualified">
  <xs:element name="Report">
    <xs:complexType><xs:sequence>
      <xs:element name="Ref" type="RefType"/>
      <xs:element name="Item" maxOccurs="unbounded">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="Kind" type="KindType"/>
            <xs:element name="Mass" type="xs:decimal"/>
            <xs:element name="Date" type="xs:date" minOccurs="0"/>
          </xs:sequence>
          <xs:attribute name="seq" type="xs:positiveInteger" use="required"/>
        </xs:complexType>
      </xs:element>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:simpleType name="RefType">
    <xs:restriction base="xs:string"><xs:pattern value="[A-Z]{3}[0-9]{4}"/></xs:restriction>
  </xs:simpleType>
  <xs:simpleType name="KindType">
    <xs:restriction base="xs:string">
      <xs:enumeration value="A"/><xs:enumeration value="B"/>
    </xs:restriction>
  </xs:simpleType>
</xs:schema>
"""


@pytest.fixture(scope="module")
def xsd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xsd") / "report.xsd"
    path.write_text(SCHEMA)
    return path


def doc(*items: str, ref: str = "ABC1234", prefix: str = "r") -> bytes:
    """A report whose lines are: 1 declaration, 2 root, 3 Ref, 4.. one Item per line."""
    p = prefix + ":" if prefix else ""
    ns = f'xmlns:{prefix}="urn:t"' if prefix else 'xmlns="urn:t"'
    body = "".join(f"\n  {item.replace('<', '<' + p).replace('<' + p + '/', '</' + p)}"
                   for item in items)  # fmt: skip
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{p}Report {ns}>\n  <{p}Ref>{ref}</{p}Ref>'
            f"{body}\n</{p}Report>\n").encode()  # fmt: skip


GOOD = '<Item seq="1"><Kind>A</Kind><Mass>1.5</Mass></Item>'


def one(findings: list[XmlFinding]) -> XmlFinding:
    assert len(findings) == 1, findings
    return findings[0]


def test_valid_document_has_no_findings(xsd: Path) -> None:
    assert validate(doc(GOOD, GOOD), xsd) == []
    assert validate(doc(GOOD, prefix=""), xsd) == []
    assert validate_xmlschema(doc(GOOD), xsd) == []


def test_codes_are_documented() -> None:
    assert set(CODES) == {f"EDG-X10{i}" for i in range(1, 6)}
    assert all(text and text[0].islower() for text in CODES.values())


# (items, ref) -> (code, text, line, column, xpath); the same for a prefixed and a default
# namespace document: the columns differ by the two characters of "r:" before the element
CASES = {
    "wrong element order": (
        (GOOD, '<Item seq="2"><Mass>1</Mass><Kind>A</Kind></Item>'), "ABC1234",
        ("EDG-X101", "Mass is not expected here; expected: Kind", 5, 19, "/Report/Item[2]/Mass")),
    "missing required element": (
        ('<Item seq="1"><Kind>A</Kind></Item>',), "ABC1234",
        ("EDG-X101", "Item is incomplete: missing Mass", 4, 3, "/Report/Item")),
    "pattern violation": (
        (GOOD,), "ab12",
        ("EDG-X102", "Ref: the value 'ab12' does not have the required format ([A-Z]{3}[0-9]{4})",
         3, 3, "/Report/Ref")),
    "bad enumeration": (
        (GOOD, GOOD, '<Item seq="3"><Kind>C</Kind><Mass>1</Mass></Item>'), "ABC1234",
        ("EDG-X102", "Kind: 'C' is not one of the allowed values 'A', 'B'", 6, 19,
         "/Report/Item[3]/Kind")),
    "bad number": (
        ('<Item seq="1"><Kind>A</Kind><Mass>1,5</Mass></Item>',), "ABC1234",
        ("EDG-X102", "Mass: '1,5' is not a valid decimal number", 4, 37, "/Report/Item/Mass")),
    "bad date": (
        ('<Item seq="1"><Kind>A</Kind><Mass>1</Mass><Date>2024-13-01</Date></Item>',), "ABC1234",
        ("EDG-X102", "Date: '2024-13-01' is not a valid date (YYYY-MM-DD)", 4, 55,
         "/Report/Item/Date")),
    "missing attribute": (
        (GOOD, "<Item><Kind>A</Kind><Mass>1</Mass></Item>"), "ABC1234",
        ("EDG-X103", "Item: the required attribute seq is missing", 5, 3, "/Report/Item[2]/@seq")),
    "attribute not allowed": (
        ('<Item seq="1" colour="red"><Kind>A</Kind><Mass>1</Mass></Item>',), "ABC1234",
        ("EDG-X103", "Item: the attribute colour is not allowed", 4, 19, "/Report/Item/@colour")),
    "invalid attribute value": (
        ('<Item seq="0"><Kind>A</Kind><Mass>1</Mass></Item>',), "ABC1234",
        ("EDG-X103", "Item/@seq: '0' is not a valid whole number greater than 0", 4, 11,
         "/Report/Item/@seq")),
}  # fmt: skip


@pytest.mark.parametrize("prefix", ["r", ""])
@pytest.mark.parametrize("case", sorted(CASES))
def test_finding_value_by_value(xsd: Path, case: str, prefix: str) -> None:
    items, ref, (code, text, line, column, xpath) = CASES[case]
    data = doc(*items, ref=ref, prefix=prefix)
    found = one(validate(data, xsd))
    if not prefix:  # the same text without the "r:" of every tag before the column
        prefixed = doc(*items, ref=ref).decode().splitlines()[line - 1]
        column -= 2 * prefixed[:column - 1].count("r:")
    assert (found.code, found.text, found.line, found.column, found.xpath, found.severity) \
        == (code, text, line, column, xpath, "error")
    # the column is where the element (or attribute) starts in the sender's text
    source_line = data.decode().splitlines()[line - 1]
    steps = xpath.split("/")
    name = steps[-1].split("[")[0]
    if case == "missing attribute":  # points at its element
        name = steps[-2].split("[")[0]
    expect = name[1:] + "=" if name[0] == "@" else "<" + (prefix + ":" if prefix else "") + name
    assert source_line[found.column - 1:].startswith(expect)


def test_several_findings_in_document_order(xsd: Path) -> None:
    data = doc(GOOD, "<Item><Mass>x</Mass><Kind>C</Kind></Item>",
               '<Item seq="3"><Kind>A</Kind></Item>', "<Bogus/>", ref="x")
    found = [(f.code, f.line, f.column, f.xpath) for f in validate(data, xsd)]
    assert found == [
        ("EDG-X102", 3, 3, "/Report/Ref"),
        ("EDG-X103", 5, 3, "/Report/Item[2]/@seq"),
        ("EDG-X101", 5, 11, "/Report/Item[2]/Mass"),
        ("EDG-X101", 6, 3, "/Report/Item[3]"),
        ("EDG-X101", 7, 3, "/Report/Bogus"),
    ]
    assert len(validate(data, xsd, max_findings=2)) == 2


def test_same_element_twice_on_a_line_gets_its_own_column(xsd: Path) -> None:
    data = doc(GOOD + '<Item seq="2"><Kind>A</Kind><Mass>1</Mass></Item>'
               + '<Item seq="3"><Kind>B</Kind><Mass>y</Mass></Item>')
    found = one(validate(data, xsd))
    line = data.decode().splitlines()[3]
    assert line.count("<r:Mass>") == 3
    assert (found.line, found.column, found.xpath) \
        == (4, line.rindex("<r:Mass>") + 1, "/Report/Item[3]/Mass")


def test_unknown_root(xsd: Path) -> None:
    data = b'<?xml version="1.0"?>\n<o:Other xmlns:o="urn:t"/>'
    assert one(validate(data, xsd)) == XmlFinding(
        "EDG-X104", "Other is not a root element of this schema", 2, 1, "/Other")
    alien = b'<Report xmlns="urn:somebody-else"><Ref/></Report>'
    assert one(validate(alien, xsd)).code == "EDG-X104"


def test_validate_document_picks_the_schema_by_root(xsd: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from edigate import xsd as published

    def schema_path(qname: str) -> Path:
        if qname == "{urn:t}Report":
            return xsd
        raise KeyError(qname)

    monkeypatch.setattr(published, "schema_path", schema_path, raising=False)
    assert validate_document(doc(GOOD)) == []
    assert one(validate_document(doc(GOOD, ref="x"))).code == "EDG-X102"
    unknown = one(validate_document(b'<?xml version="1.0"?>\n  <Invoice xmlns="urn:x:inv"/>'))
    assert unknown == XmlFinding("EDG-X104", "Invoice (in namespace urn:x:inv) is not the root "
                                             "element of any published schema", 2, 3, "/Invoice")
    bare = one(validate_document(b"<Report/>"))
    assert (bare.code, bare.text) == ("EDG-X104", "Report (without a namespace) is not the root "
                                                  "element of any published schema")


def test_a_parsed_tree_gives_lines_and_columns_only_with_its_source(xsd: Path) -> None:
    data = doc(GOOD, ref="x")
    tree = parse_untrusted(data)
    without = one(validate(tree, xsd))
    assert (without.line, without.column, without.xpath) == (3, 0, "/Report/Ref")
    assert one(validate(tree.getroot(), load_schema(xsd), source=data)).column == 3


def test_hostile_input_is_refused_not_validated(xsd: Path) -> None:
    with pytest.raises(XmlRejected) as info:
        validate(b'<!DOCTYPE r [<!ENTITY x "y">]><r:Report xmlns:r="urn:t">&x;</r:Report>', xsd)
    assert info.value.code == "EDG-X001"
    with pytest.raises(XmlRejected) as info:
        validate(b'<r:Report xmlns:r="urn:t"><r:Ref>', xsd)
    assert info.value.code == "EDG-X002"


def test_schemas_are_compiled_once(xsd: Path) -> None:
    assert load_schema(xsd) is load_schema(str(xsd)) is load_schema(xsd.parent / "." / xsd.name)


def test_imports_never_reach_the_network(tmp_path: Path) -> None:
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    path = tmp_path / "net.xsd"
    path.write_text(f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
      <xs:import namespace="urn:n" schemaLocation="http://127.0.0.1:{port}/n.xsd"/>
      <xs:element name="a" type="xs:string"/></xs:schema>""")
    with contextlib.suppress(etree.XMLSchemaParseError):
        load_schema(path)  # libxml2 only warns about an import it could not load
    with pytest.raises(OSError):
        server.accept()
    server.close()


def test_concurrent_validation_keeps_each_documents_findings(xsd: Path) -> None:
    schema = load_schema(xsd)
    results: dict[int, set[str]] = {}

    def work(n: int) -> None:
        data = doc(*[GOOD] * 50, ref="x" if n % 2 else "ABC1234")
        seen = set()
        for _ in range(30):
            seen.update(f.xpath for f in validate(data, schema))
        results[n] = seen

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {n: ({"/Report/Ref"} if n % 2 else set()) for n in range(8)}


def test_xmlschema_gives_the_same_shape(xsd: Path) -> None:
    for case in ("wrong element order", "missing required element", "pattern violation",
                 "bad enumeration", "missing attribute", "attribute not allowed"):
        items, ref, (code, _text, line, column, xpath) = CASES[case]
        found = validate_xmlschema(doc(*items, ref=ref), xsd)
        assert [(f.code, f.line, f.column, f.xpath) for f in found][:1] \
            == [(code, line, column, xpath)], case
        named = found[0].text.split(":")[0]  # xmlschema's reason after the element's name
        assert named in xpath and len(found[0].text) > len(named) + 5, found[0]
    other = one(validate_xmlschema(b'<o:Other xmlns:o="urn:t"/>', xsd))
    assert (other.code, other.xpath) == ("EDG-X104", "/Other")


def test_message_rewriting_falls_back_to_libxml2s_words() -> None:
    text, attr = xmlvalidate.plain_text("Element '{urn:t}A': Something new happened.")
    assert (text, attr) == ("A: Something new happened.", None)
    assert xmlvalidate.code_for(etree.ErrorTypes.SCHEMAV_CVC_IDC, None) == "EDG-X105"


# the published schemas and their examples, when they are there
EXAMPLES = sorted((REPO / "xsd" / "examples").glob("*.xml"))


@pytest.mark.skipif(not EXAMPLES, reason="no examples in xsd/examples yet")
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_published_examples_are_valid(example: Path) -> None:
    data = example.read_bytes()
    expect_invalid = "invalid" in example.name
    findings = validate_document(data)
    if expect_invalid:
        assert findings and all(f.line for f in findings)
    else:
        assert findings == []


@pytest.mark.skipif(not (REPO / "xsd" / "examples" / "cargo-report-sea.xml").exists(),
                    reason="no cargo report example yet")
def test_published_schema_findings_have_positions() -> None:
    data = (REPO / "xsd" / "examples" / "cargo-report-sea.xml").read_bytes()
    text = data.decode()
    at = text.index("<SequenceNumeric>1</SequenceNumeric>")
    broken = (text[:at] + "<SequenceNumeric>one</SequenceNumeric>"
              + text[at + len("<SequenceNumeric>1</SequenceNumeric>"):]).encode()
    found = validate_document(broken)
    assert found and found[0].code == "EDG-X102", found
    line = text[:at].count("\n") + 1
    column = at - text.rfind("\n", 0, at)
    assert (found[0].line, found[0].column) == (line, column)
    assert found[0].xpath.startswith("/CargoReport/Consignment")
    assert found[0].xpath.endswith("/SequenceNumeric") and "one" in found[0].text
    # the root of another (known) schema is not accepted by this one
    assert validate_document(data.replace(b"<CargoReport ", b"<CargoReporter ")
                             .replace(b"</CargoReport>", b"</CargoReporter>"))[0].code \
        == "EDG-X104"
