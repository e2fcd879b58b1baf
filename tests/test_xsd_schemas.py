"""The published XML schemas (edigate.xsd): they compile with lxml and xmlschema without network,
the examples validate and the schemas reject typical mistakes, every component is documented,
and the generated reference (docs/xml-schemas.md) is up to date."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

import edigate
from edigate import xsddoc
from edigate.xmlvalidate import xmlschema_compat
from edigate.xsd import (
    EXAMPLES_DIR,
    NAMESPACES,
    RECORDS,
    SCHEMAS,
    XSD_DIR,
    schema_path,
)

XS = "http://www.w3.org/2001/XMLSchema"
C = "urn:edigate:xsd:common:1"
CR = "urn:edigate:xsd:cargo-report:1"
ACI = "urn:edigate:xsd:road-aci:1"
DEC = "urn:edigate:xsd:declaration:1"
RSP = "urn:edigate:xsd:customs-response:1"
NS = {"xs": XS, "c": C, "cr": CR, "aci": ACI, "dec": DEC, "rsp": RSP}
REPO = Path(__file__).resolve().parents[1]

EXAMPLES = {
    "cargo-report-sea.xml": f"{{{CR}}}CargoReport",
    "cargo-report-air.xml": f"{{{CR}}}CargoReport",
    "cargo-report-road.xml": f"{{{CR}}}CargoReport",
    "house-consignment-batch.xml": f"{{{CR}}}HouseConsignmentBatch",
    "road-aci.xml": f"{{{ACI}}}AdvanceCargoInformation",
    "declaration-import.xml": f"{{{DEC}}}Declaration",
    "declaration-export.xml": f"{{{DEC}}}Declaration",
    "customs-response-accepted.xml": f"{{{RSP}}}CustomsResponse",
    "customs-response-rejected.xml": f"{{{RSP}}}CustomsResponse",
    "acknowledgement.xml": f"{{{RSP}}}Acknowledgement",
}
SCHEMA_FILES = sorted(NAMESPACES.values())


def _parser() -> etree.XMLParser:
    return etree.XMLParser(no_network=True, resolve_entities=False)


@cache
def lxml_schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / name), _parser()))


@cache
def xmlschema_schema(name: str) -> xmlschema.XMLSchema:
    # no URL resolution beyond the local directory: the only import is common-1.xsd
    xmlschema_compat()  # after Twisted's tests (zope.interface on collections.abc)
    return xmlschema.XMLSchema(str(XSD_DIR / name), allow="local")


def _example(name: str) -> etree._ElementTree:
    return etree.parse(str(EXAMPLES_DIR / name), _parser())


def _errors(doc: etree._ElementTree) -> tuple[list[str], list[str]]:
    """Validation errors of a document with lxml and with xmlschema, against the schema its
    root element names (a root we do not know is an error for both)."""
    path = schema_path(doc.getroot().tag)
    if path is None:
        msg = f"no schema for root {doc.getroot().tag}"
        return [msg], [msg]
    lx = lxml_schema(path.name)
    lx_errors = [] if lx.validate(doc) else [str(e) for e in lx.error_log]
    xs_errors = [str(e.reason) for e in xmlschema_schema(path.name).iter_errors(doc)]
    return lx_errors, xs_errors


# -- the schemas ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_compiles_with_lxml_without_network(name: str) -> None:
    schema = lxml_schema(name)
    assert isinstance(schema, etree.XMLSchema)


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_compiles_with_xmlschema(name: str) -> None:
    schema = xmlschema_schema(name)
    assert schema.target_namespace in NAMESPACES
    assert NAMESPACES[schema.target_namespace] == name
    assert schema.validity == "valid"


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_header(name: str) -> None:
    root = etree.parse(str(XSD_DIR / name), _parser()).getroot()
    ns = root.get("targetNamespace")
    assert NAMESPACES[ns] == name
    assert root.get("elementFormDefault") == "qualified"
    # versioned file names: the major version is in both the file name and the namespace
    assert name.endswith(f"-{ns.rsplit(':', 1)[1]}.xsd")
    for imp in root.findall("xs:import", NS):
        assert (XSD_DIR / imp.get("schemaLocation")).is_file()
        assert "://" not in imp.get("schemaLocation")


def test_registry_matches_schemas() -> None:
    """SCHEMAS lists exactly the global elements of the schemas; RECORDS names real children."""
    declared = set()
    for name in SCHEMA_FILES:
        root = etree.parse(str(XSD_DIR / name), _parser()).getroot()
        ns = root.get("targetNamespace")
        for el in root.findall("xs:element", NS):
            declared.add(f"{{{ns}}}{el.get('name')}")
            assert SCHEMAS[f"{{{ns}}}{el.get('name')}"] == name
    assert declared == set(SCHEMAS)
    assert schema_path(f"{{{CR}}}CargoReport") == XSD_DIR / "cargo-report-1.xsd"
    assert schema_path("{urn:example}Other") is None
    expected = {f"{{{CR}}}HouseConsignmentBatch": f"{{{CR}}}HouseConsignment"}
    assert expected == RECORDS
    batch = _example("house-consignment-batch.xml").getroot()
    records = [c for c in batch if c.tag == RECORDS[batch.tag]]
    assert len(records) == 3


def test_every_root_ends_with_optional_signature() -> None:
    for name in SCHEMA_FILES:
        root = etree.parse(str(XSD_DIR / name), _parser()).getroot()
        for el in root.findall("xs:element", NS):
            local_type = el.get("type", "").rpartition(":")[2]
            ctype = root.find(f"xs:complexType[@name='{local_type}']", NS)
            assert ctype is not None, el.get("name")
            last = ctype.findall("xs:sequence/*", NS)[-1]
            assert last.tag == f"{{{XS}}}any", el.get("name")
            assert last.get("namespace") == "http://www.w3.org/2000/09/xmldsig#"
            assert last.get("processContents") == "skip"
            assert last.get("minOccurs") == "0"
            assert last.get("maxOccurs", "1") == "1"


def _undocumented(root: etree._Element) -> list[str]:
    missing = []
    wanted = ("complexType", "simpleType", "element", "attribute", "enumeration")
    for node in root.iter(*(f"{{{XS}}}{t}" for t in wanted)):
        if not xsddoc._text(node):
            where = node.get("name") or node.get("value") or node.getparent().get("name")
            missing.append(f"{etree.QName(node).localname} {where} (line {node.sourceline})")
    return missing


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_every_component_is_documented(name: str) -> None:
    root = etree.parse(str(XSD_DIR / name), _parser()).getroot()
    assert xsddoc._text(root), "schema-level documentation"
    assert _undocumented(root) == []
    for anyp in root.iter(f"{{{XS}}}any"):
        assert xsddoc._text(anyp)


def test_canonical_names_are_wco_style() -> None:
    """UpperCamelCase names for every element and type (WCO Data Model style)."""
    for name in SCHEMA_FILES:
        root = etree.parse(str(XSD_DIR / name), _parser()).getroot()
        for node in root.iter(f"{{{XS}}}element", f"{{{XS}}}complexType", f"{{{XS}}}simpleType"):
            local = node.get("name")
            if local is not None:
                assert local[0].isupper() and local.isalnum(), local


# -- the examples ---------------------------------------------------------------------------


def test_all_examples_listed() -> None:
    assert sorted(p.name for p in EXAMPLES_DIR.glob("*.xml")) == sorted(EXAMPLES)
    assert set(EXAMPLES.values()) == set(SCHEMAS)  # every root has an example


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_is_valid(name: str) -> None:
    doc = _example(name)
    assert doc.getroot().tag == EXAMPLES[name]
    assert doc.getroot().tag in SCHEMAS
    assert _errors(doc) == ([], [])
    assert doc.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature") is None


def _iso6346_ok(code: str) -> bool:
    values: dict[str, int] = {}
    n = 10
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if n % 11 == 0:
            n += 1
        values[ch] = n
        n += 1
    total = sum((values[ch] if ch.isalpha() else int(ch)) * 2**i for i, ch in enumerate(code[:10]))
    return total % 11 % 10 == int(code[10])


def _imo_ok(code: str) -> bool:
    return sum(int(d) * w for d, w in zip(code[:6], range(7, 1, -1), strict=True)) % 10 == int(
        code[6]
    )


def _awb_ok(code: str) -> bool:
    serial = code.replace("-", "")[3:]
    return int(serial[:7]) % 7 == int(serial[7])


def test_example_identifiers_have_valid_check_digits() -> None:
    seen = {"container": 0, "imo": 0, "awb": 0}
    for name in EXAMPLES:
        doc = _example(name)
        for el in doc.iter():
            if not isinstance(el.tag, str) or el.text is None:
                continue
            local = etree.QName(el).localname
            parent = etree.QName(el.getparent()).localname if el.getparent() is not None else ""
            text = el.text.strip()
            container = (local == "ID" and parent in ("TransportEquipment",
                                                      "TransportEquipmentReference"))
            if container or local == "ContainerID":
                seen["container"] += 1
                assert _iso6346_ok(text), (name, text)
            if local == "ID" and el.get("typeCode") == "IMO":
                seen["imo"] += 1
                assert _imo_ok(text), (name, text)
            if local == "ID" and parent.endswith("TransportContractDocument"):
                kind = el.getparent().find(f"{{{C}}}TypeCode")
                if kind is not None and kind.text == "MAWB":
                    seen["awb"] += 1
                    assert _awb_ok(text), (name, text)
    assert all(seen.values()), seen


def test_examples_use_hong_kong_time_zone_and_locodes() -> None:
    doc = _example("cargo-report-sea.xml")
    eta = doc.findtext(".//c:EstimatedArrivalDateTime", namespaces=NS)
    assert eta is not None and eta.endswith("+08:00")
    assert "HKHKG" in [e.text for e in doc.iterfind(".//cr:UnloadingLocation/c:ID", NS)]


# -- invalid variants: both validators must reject them -------------------------------------


def _set(xpath: str, value: str) -> Callable[[etree._ElementTree], None]:
    def edit(doc: etree._ElementTree) -> None:
        nodes = doc.xpath(xpath, namespaces=NS)
        assert nodes, xpath
        nodes[0].text = value

    return edit


def _remove(xpath: str) -> Callable[[etree._ElementTree], None]:
    def edit(doc: etree._ElementTree) -> None:
        nodes = doc.xpath(xpath, namespaces=NS)
        assert nodes, xpath
        for node in nodes:
            node.getparent().remove(node)

    return edit


def _rename_root(ns: str) -> Callable[[etree._ElementTree], None]:
    def edit(doc: etree._ElementTree) -> None:
        root = doc.getroot()
        root.tag = f"{{{ns}}}{etree.QName(root).localname}"

    return edit


def _set_attr(xpath: str, attr: str, value: str) -> Callable[[etree._ElementTree], None]:
    def edit(doc: etree._ElementTree) -> None:
        doc.xpath(xpath, namespaces=NS)[0].set(attr, value)

    return edit


def _append_two_signatures(doc: etree._ElementTree) -> None:
    root = doc.getroot()
    etree.SubElement(root, "{http://www.w3.org/2000/09/xmldsig#}Signature")
    etree.SubElement(root, "{http://www.w3.org/2000/09/xmldsig#}Signature")


INVALID = {
    "container id pattern": (
        "cargo-report-sea.xml", _set("//cr:TransportEquipment[1]/c:ID", "OOLU12345")),
    "container id lower case in a goods item": (
        "cargo-report-sea.xml", _set("//cr:GoodsItem//c:TransportEquipmentReference/c:ID",
                                     "oolu1234567")),
    "container id on the road vehicle": (
        "road-aci.xml", _set("//aci:Conveyance/aci:ContainerID", "TCNX1122333")),
    "missing transport contract document": (
        "cargo-report-sea.xml", _remove("//cr:Consignment[1]/cr:TransportContractDocument")),
    "missing header": ("declaration-import.xml", _remove("/dec:Declaration/dec:Header")),
    "missing goods description": (
        "declaration-export.xml", _remove("//dec:GoodsItem[1]/c:Commodity/c:Description")),
    "batch without records": (
        "house-consignment-batch.xml", _remove("//cr:HouseConsignment")),
    "missing crossing point": ("road-aci.xml", _remove("//aci:CrossingPoint")),
    "missing payload digest": ("acknowledgement.xml", _remove("//rsp:PayloadSHA256")),
    "unknown transport mode": (
        "cargo-report-air.xml", _set("//c:ModeCode", "10")),
    "unknown message function": ("cargo-report-road.xml", _set("//c:FunctionCode", "8")),
    "unknown transport document type": (
        "cargo-report-air.xml", _set("//cr:TransportContractDocument/c:TypeCode", "AWB")),
    "unknown declaration type": (
        "declaration-import.xml", _set("//dec:DeclarationTypeCode", "IMPORT")),
    "unknown response status": (
        "customs-response-accepted.xml", _set("//rsp:StatusCode", "approved")),
    "unknown party role": ("house-consignment-batch.xml", _set("//c:RoleCode", "XX")),
    "unknown means identifier type": (
        "cargo-report-sea.xml", _set_attr("//cr:BorderTransportMeans/c:ID", "typeCode", "MMSI")),
    "unknown severity": ("acknowledgement.xml", _set("//rsp:SeverityCode", "fatal")),
    "date-time without zone (header)": (
        "cargo-report-sea.xml", _set("//c:IssueDateTime", "2024-03-10T09:15:00")),
    "date-time without zone (ETA)": (
        "road-aci.xml", _set("//aci:ExpectedArrivalDateTime", "2024-03-12T10:30:00")),
    "date-time without zone (response)": (
        "customs-response-rejected.xml", _set("//rsp:IssueDateTime", "2024-03-15T16:21:03.5")),
    "wrong root namespace": (
        "cargo-report-sea.xml", _rename_root("urn:edigate:xsd:cargo-report:2")),
    "root in another schema's namespace": ("declaration-import.xml", _rename_root(ACI)),
    "bad UN/LOCODE": ("cargo-report-sea.xml", _set("//cr:LoadingLocation/c:ID", "SGSI1")),
    "bad HS code": ("declaration-import.xml", _set("//c:Classification/c:ID", "8517.71")),
    "bad currency": ("declaration-export.xml", _set_attr("//dec:TotalInvoiceAmount",
                                                         "currencyID", "hkd")),
    "measure without unit": ("road-aci.xml", _set_attr("//aci:GrossMassMeasure", "unitCode", "")),
    "negative mass": ("cargo-report-road.xml", _set("//cr:TotalGrossMassMeasure", "-1")),
    "three-letter nationality code": (
        "cargo-report-sea.xml", _set("//c:RegistrationNationalityCode", "HKG")),
    "two signatures": ("customs-response-accepted.xml", _append_two_signatures),
    "bad SHA-256": ("acknowledgement.xml", _set("//rsp:PayloadSHA256", "9F2C")),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_variant_is_rejected_by_both(case: str) -> None:
    example, edit = INVALID[case]
    doc = _example(example)
    edit(doc)
    lx_errors, xs_errors = _errors(doc)
    assert lx_errors, f"lxml accepted: {case}"
    assert xs_errors, f"xmlschema accepted: {case}"


def test_signature_is_accepted_without_the_xmldsig_schema() -> None:
    """An enveloped ds:Signature (content not validated, processContents="skip") is allowed."""
    for name in EXAMPLES:
        doc = _example(name)
        sig = etree.SubElement(doc.getroot(), "{http://www.w3.org/2000/09/xmldsig#}Signature")
        etree.SubElement(sig, "{http://www.w3.org/2000/09/xmldsig#}SignedInfo")
        etree.SubElement(sig, "{http://www.w3.org/2000/09/xmldsig#}Whatever")
        assert _errors(doc) == ([], []), name


def test_foreign_element_is_not_accepted_at_the_end() -> None:
    doc = _example("road-aci.xml")
    etree.SubElement(doc.getroot(), "{urn:example:other}Signature")
    lx_errors, xs_errors = _errors(doc)
    assert lx_errors and xs_errors


# -- the generated reference ----------------------------------------------------------------


def test_reference_documentation_is_up_to_date() -> None:
    # the subprocess must import the same edigate as this test (source tree, not an install)
    source_root = str(Path(edigate.__file__).parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-m", "edigate.xsddoc", "--check",
         "--out", str(REPO / "docs" / "xml-schemas.md")],
        capture_output=True, text=True, check=False, env=env,
    )
    assert result.returncode == 0, result.stderr


def test_reference_check_detects_stale_file(tmp_path: Path) -> None:
    out = tmp_path / "xml-schemas.md"
    assert xsddoc.main(["--out", str(out), "--check"]) == 1  # missing
    assert xsddoc.main(["--out", str(out)]) == 0
    assert xsddoc.main(["--out", str(out), "--check"]) == 0
    out.write_text(out.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    assert xsddoc.main(["--out", str(out), "--check"]) == 1


def test_reference_documentation_content() -> None:
    text = xsddoc.generate()
    for ns, name in NAMESPACES.items():
        assert f"## {name}" in text
        assert f"`{ns}`" in text
    for clark in SCHEMAS:
        assert f"`{etree.QName(clark).localname}`" in text
    # complex type tables, code lists with their values and meanings, patterns
    assert "#### ConsignmentType" in text
    assert "| `GrossMassMeasure` |" in text
    assert "| `9` | Original: the first transmission of the document. |" in text
    assert "Pattern: `[A-Z]{3}[UJZR]\\d{7}`." in text
    assert "Streamed record element: `HouseConsignment`." in text
    assert "| `@unitCode` |" in text
