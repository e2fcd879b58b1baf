"""XML -> canonical mappings (``edigate.mappings.xml_engine``): the engine's options on a small
test vocabulary (tests/fixtures/xml), the compile-time checks, and the mapping files of
``mappings/xml`` on the published examples (``xsd/examples``)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from edigate.canonical.model import CanonicalDocument
from edigate.mappings import xml_engine
from edigate.mappings.xml_engine import (
    MappingError,
    XmlMapping,
    load_xml_mapping,
    map_xml,
    map_xml_document,
    parse_xs_date,
    parse_xs_datetime,
    xml_mapping_files,
    xml_mapping_for,
)

from .conftest import REPO

XML_FIXTURES = REPO / "tests" / "fixtures" / "xml"
HKT = timezone(timedelta(hours=8))


def compile_toml(tmp_path: Path, body: str, *, document_type: str = "cargo_report",
                 extra: str = "") -> XmlMapping:  # fmt: skip
    path = tmp_path / "test_mapping.toml"
    path.write_text(
        '[mapping]\nroot = "t:Report"\n'
        'namespaces = { t = "urn:edigate:test:cargo:1", k = "urn:edigate:test:common:1" }\n'
        f'document_type = "{document_type}"\n{extra}\n{body}'
    )
    return load_xml_mapping(path)


def fixture_doc() -> CanonicalDocument:
    mapping = load_xml_mapping(XML_FIXTURES / "cargo.toml")
    return map_xml(etree.parse(str(XML_FIXTURES / "cargo.xml")).getroot(), mapping)


# -- the engine on the test vocabulary ----------------------------------------------------------


def test_header_and_transport_means() -> None:
    doc = fixture_doc()
    assert doc.header.type == "cargo_report"
    assert doc.header.identifier == "CR-2024-0001"  # stripped
    assert doc.header.function == "9"  # map(function)
    assert doc.header.issue_time == datetime(2024, 7, 1, 9, 30, tzinfo=HKT)
    btm = doc.border_transport_means
    assert btm is not None
    assert (btm.mode, btm.identifier, btm.identifier_type, btm.journey_id) == (
        "1", "9321483", "IMO", "118N")  # fmt: skip
    assert btm.name == "ORIENT\n      STAR"  # stripped at the ends only: the text as sent
    assert btm.eta == datetime(2024, 7, 3, 16, 0, tzinfo=HKT)
    assert btm.etd is None  # 2024-07-02T08:00:00 has no zone: no value
    assert [(x.code, x.function) for x in btm.itinerary] == [
        ("TWKHH", "loading"), ("HKHKG", "unloading")]  # fmt: skip


def test_equipment_seals_and_items_left_out() -> None:
    doc = fixture_doc()
    # the third container has no id (required): left out, not the whole document
    assert [(e.identifier, e.size_type, e.loaded) for e in doc.transport_equipment] == [
        ("MSKU1234565", "45G1", True), ("TGHU7654321", None, False)]  # fmt: skip
    # the third seal is empty: no identifier, left out
    assert [(s.identifier, s.party) for s in doc.transport_equipment[0].seals] == [
        ("SL-1", "CA"), ("SL-2", "CU")]  # fmt: skip


def test_consignments_parties_items_and_masses() -> None:
    doc = fixture_doc()
    first, second, third = doc.consignments
    assert [c.sequence for c in doc.consignments] == [1, 2, 3]  # count(...) + 1 | int
    assert first.transport_document is not None
    assert (first.transport_document.identifier, first.transport_document.type) == (
        "BL-001", "BL")  # fmt: skip
    assert first.total_packages == 12
    assert first.total_gross_mass is not None
    assert (first.total_gross_mass.value, first.total_gross_mass.unit) == (
        Decimal("1250.500"), "KGM")  # fmt: skip
    consignor, consignee = first.parties
    assert (consignor.role, consignor.name, consignor.identifier) == (
        "CZ", "Acme Trading Ltd", None)  # fmt: skip
    assert consignor.address is not None
    assert consignor.address.street == ["1 Harbour Road", "Block B"]
    assert consignor.address.country == "TW"  # upper
    assert (consignee.role, consignee.identifier, consignee.address) == ("CN", "HK123", None)
    item1, item2 = first.items
    assert item1.description == ["Toys", "plastic"]
    assert (item1.sequence, item1.hs_code, item1.equipment_refs) == (1, "950300", ["MSKU1234565"])
    assert item1.gross_mass is not None and item1.gross_mass.value == Decimal(1000)
    # a mass without its unit is left out, the item stays
    assert (item2.sequence, item2.gross_mass) == (2, None)
    assert item2.equipment_refs == ["MSKU1234565", "TGHU7654321"]
    assert first.equipment_refs == ["MSKU1234565", "MSKU1234565", "TGHU7654321"]
    # "three" is no integer: no value; no bill of lading: no transport document (required id)
    assert second.total_packages is None and second.transport_document is not None
    assert third.transport_document is None and third.total_packages == 1


def _local_names(path: str) -> str:
    """A prefix-free path as an XPath that ignores namespaces."""
    steps = []
    for step in path.strip("/").split("/"):
        if step.startswith("@"):
            steps.append(step)
            continue
        name, _, index = step.partition("[")
        steps.append(f"*[local-name()='{name}']" + (f"[{index}" if index else ""))
    return "/" + "/".join(steps)


def test_provenance_positions() -> None:
    doc = fixture_doc()
    assert doc.provenance is not None
    assert (doc.provenance.source_format, doc.provenance.message_type) == ("xml", "Report")
    fields = doc.provenance.fields
    pos = fields["header.identifier"]
    # prefix-free paths, as the schema validator writes them
    assert (pos.xpath, pos.line) == ("/Report/Reference", 4)
    pos = fields["border_transport_means.identifier"]
    assert (pos.xpath, pos.line) == ("/Report/Vessel/@imo", 7)
    pos = fields["consignments[0].total_gross_mass.unit"]
    assert (pos.xpath, pos.line) == ("/Report/Consignment[1]/GrossMass/@unitCode", 41)
    pos = fields["consignments[0].parties[0].name"]  # join: the first value's position
    assert (pos.xpath, pos.line) == ("/Report/Consignment[1]/Party[1]/Name[1]", 32)
    assert fields["consignments[0].items[1].hs_code"].line == 51
    # values converted to nothing, items and objects left out, function results: no position
    assert "border_transport_means.etd" not in fields
    assert "consignments[0].items[1].gross_mass.value" not in fields
    assert not any(k.startswith("transport_equipment[2]") for k in fields)
    assert "consignments[1].total_packages" not in fields
    assert "consignments[0].sequence" not in fields
    # every position names a node of the document, at the line given
    tree = etree.parse(str(XML_FIXTURES / "cargo.xml"))
    for key, pos in fields.items():
        assert pos.xpath is not None
        (node,) = tree.xpath(_local_names(pos.xpath))
        owner = node.getparent() if isinstance(node, str) else node
        assert owner.sourceline == pos.line, key


def test_batch_one_document_per_record() -> None:
    mapping = load_xml_mapping(XML_FIXTURES / "batch.toml")
    assert mapping.record == "{urn:edigate:test:cargo:1}House"
    root = etree.parse(str(XML_FIXTURES / "batch.xml")).getroot()
    docs = list(map_xml_document(root, mapping, {"sender": "AGENT1"}))
    assert [d.header.identifier for d in docs] == ["HB-7", "HB-7"]
    assert [d.header.type for d in docs] == ["house_consignment_report"] * 2
    for doc, (bill, mass) in zip(docs, [("HAWB-1", "12.5"), ("HAWB-2", "7")], strict=True):
        (c,) = doc.consignments
        assert c.transport_document is not None and c.master_document is not None
        assert (c.transport_document.identifier, c.transport_document.type) == (bill, "HAWB")
        assert (c.master_document.identifier, c.master_document.type) == (
            "MAWB-176-12345675", "MAWB")  # fmt: skip
        assert c.total_gross_mass is not None and c.total_gross_mass.value == Decimal(mass)
        assert doc.border_transport_means is not None
        assert doc.border_transport_means.identifier == "CX880"
        assert doc.provenance is not None
        assert (doc.provenance.message_type, doc.provenance.sender) == ("Batch", "AGENT1")
    assert docs[1].provenance is not None
    pos = docs[1].provenance.fields["consignments[0].transport_document.identifier"]
    assert (pos.xpath, pos.line) == ("/Batch/House[2]/Bill", 14)


def test_batch_records_from_a_streaming_read() -> None:
    """Records mapped as a streaming reader sees them: each at its end event, earlier records
    removed from the tree, the header still there for the absolute paths."""
    mapping = load_xml_mapping(XML_FIXTURES / "batch.toml")
    assert mapping.record is not None
    data = (XML_FIXTURES / "batch.xml").read_bytes()
    bills = []
    lines: list[int | None] = []
    for _, el in etree.iterparse(io.BytesIO(data), events=("end",), tag=mapping.record):
        doc = map_xml(el, mapping)
        assert doc.header.identifier == "HB-7"
        assert doc.consignments[0].master_document is not None
        bills.append(doc.consignments[0].transport_document)
        assert doc.provenance is not None
        lines.append(doc.provenance.fields["consignments[0].transport_document.identifier"].line)
        el.clear()
        parent = el.getparent()
        while (previous := el.getprevious()) is not None and previous.tag == mapping.record:
            parent.remove(previous)
    assert [b.identifier for b in bills if b is not None] == ["HAWB-1", "HAWB-2"]
    assert lines == [10, 14]  # the XPath positions are those of the tree as it was then


def test_map_xml_refuses_another_element() -> None:
    mapping = load_xml_mapping(XML_FIXTURES / "batch.toml")
    root = etree.parse(str(XML_FIXTURES / "batch.xml")).getroot()
    with pytest.raises(ValueError, match="applies to"):
        map_xml(root, mapping)  # a batch mapping applies to records


def test_alternatives_conditions_and_derived(tmp_path: Path) -> None:
    m = compile_toml(tmp_path, """
[maps.declaration_type]
"IM" = "import"
"EX" = "export"
"*" = "other"

[fields]
# the first alternative finds nothing, the second gives no value (no zone), the third wins
"header.issue_time" = ["t:Missing | datetime", "t:Vessel/t:Departure | datetime",
                       "t:Issued | datetime"]
"header.identifier" = [{ when = "t:Function = 'Replacement'", value = "=NEVER" },
                       { when = "t:Function = 'Original'", value = "t:Reference | upper" }]
"header.version" = "concat(t:Vessel/t:Voyage, '-', 'x')"
"header.type_code" = "t:Function | join(/)"

[objects.declaration]
when = "t:Consignment"
[objects.declaration.fields]
"declaration_type" = "=import"
"shipment_date" = "t:Vessel/t:Arrival | date"

[objects.response]
when = "t:Nothing"
[objects.response.fields]
"status" = "=accepted"
"response_to" = "t:Reference"

[[lists]]
target = "parties"
from = ["t:Nobody", "t:Consignment/t:Party[@role='Consignee']"]
[lists.fields]
"role" = "=CN"
"name" = "k:Name"

[derived]
"declaration.due_date" = "declaration.shipment_date | add_days(14)"
"response.issued" = "header.issue_time"
""")
    doc = map_xml(etree.parse(str(XML_FIXTURES / "cargo.xml")).getroot(), m)
    assert doc.header.issue_time == datetime(2024, 7, 1, 9, 30, tzinfo=HKT)
    assert doc.header.identifier == "CR-2024-0001"
    assert doc.header.version == "118N-x"
    assert doc.header.type_code == "Original"
    assert doc.declaration is not None
    assert doc.declaration.shipment_date == date(2024, 7, 3)
    assert doc.declaration.due_date == date(2024, 7, 17)
    assert doc.response is None  # its when found nothing; no object for the derived value
    assert [(p.role, p.name) for p in doc.parties] == [("CN", "Kowloon Imports")]
    assert doc.provenance is not None
    fields = doc.provenance.fields
    assert fields["declaration.due_date"] == fields["declaration.shipment_date"]
    assert fields["header.issue_time"].line == 6
    assert "header.version" not in fields  # computed by an XPath function


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-07-01T09:30:00+08:00", datetime(2024, 7, 1, 9, 30, tzinfo=HKT)),
    ("2024-07-01T01:30:00Z", datetime(2024, 7, 1, 1, 30, tzinfo=UTC)),
    ("2024-07-01T01:30:00.25-05:30",
     datetime(2024, 7, 1, 1, 30, 0, 250000, tzinfo=timezone(-timedelta(hours=5, minutes=30)))),
    ("2024-12-31T24:00:00Z", datetime(2025, 1, 1, tzinfo=UTC)),
    ("2024-07-01T09:30:00", None),  # no zone
    ("2024-07-01 09:30:00+08:00", None),
    ("2024-02-30T09:30:00Z", None),
    ("2024-07-01T24:30:00Z", None),
    ("20240701T093000Z", None),
    ("2024-07-01", None),
])  # fmt: skip
def test_xs_datetime(text: str, expected: datetime | None) -> None:
    assert parse_xs_datetime(text) == expected
    if expected is not None:
        assert expected.utcoffset() == parse_xs_datetime(text).utcoffset()  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-07-01", date(2024, 7, 1)),
    ("2024-07-01+08:00", date(2024, 7, 1)),
    ("2024-07-01Z", date(2024, 7, 1)),
    ("2024-07-01T23:30:00-05:00", date(2024, 7, 1)),  # the date as written
    ("2024-07-01T23:30:00", date(2024, 7, 1)),
    ("2024-13-01", None),
    ("01/07/2024", None),
])  # fmt: skip
def test_xs_date(text: str, expected: date | None) -> None:
    assert parse_xs_date(text) == expected


# -- compile-time checks ----------------------------------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    ('[fields]\n"header.colour" = "t:X"', "DocumentHeader has no field 'colour'"),
    ('[fields]\n"parties" = "t:X"', "parties is a list: write parties[]"),
    ('[fields]\n"header.identifier[]" = "t:X"', "identifier is no list"),
    ('[fields]\n"header.identifier" = "x:Reference"', "unknown namespace prefix 'x'"),
    ('[fields]\n"header.identifier" = "t:Reference[["', "invalid XPath"),
    ('[fields]\n"header.identifier" = "t:Ref(("', "invalid XPath"),
    ('[fields]\n"header.identifier" = "frobnicate(t:Reference)"', "invalid XPath"),
    ('[fields]\n"header.identifier" = "t:Reference | lower"', "unknown transform 'lower'"),
    ('[fields]\n"header.identifier" = "t:Reference | map(nothing)"', "no [maps.nothing] table"),
    ('[fields]\n"header.identifier" = "t:A | t:B"', "bad transform 't:B'"),
    ('[fields]\n"header.identifier" = "t:A | int(3)"', "int takes no argument"),
    ('[fields]\n"header.issue_time" = "t:Issued"', "a datetime field: convert"),
    ('[objects.declaration.fields]\n"declaration_type" = "t:Type"',
     "takes a fixed set of values: end with | map"),
    ('[objects.declaration.fields]\n"declaration_type" = "=imports"', "'imports' is not a value"),
    ('[maps.t]\n"IM" = "importation"\n[objects.declaration.fields]\n'
     '"declaration_type" = "t:Type | map(t)"', "not values of this field"),
    ('[[lists]]\ntarget = "transport_equipment"\nfrom = "t:C"\n[lists.fields]\n'
     '"identifier" = "t:Id"\n"loaded" = "@loaded"', "fixed set of values"),
    ('[[lists]]\ntarget = "parties"\nfrom = "t:P"\n[lists.fields]\n"name" = "t:N[]"',
     "invalid XPath"),
    ('[[lists]]\ntarget = "parties"\nfrom = "t:P/@role"\n[lists.fields]\n"role" = "."',
     "'from' selects elements"),
    ('[[lists]]\ntarget = "parties"\nfrom = "count(t:P)"\n[lists.fields]\n"role" = "."',
     "'from' selects elements"),
    ('[[lists]]\ntarget = "parties"\n[lists.fields]\n"role" = "."', "a list needs 'from'"),
    ('[objects.parties.fields]\n"role" = "=CZ"', "a list: build it with [[lists]]"),
    ('[objects.header.fields]\n"identifier" = "t:R"\n"colour" = "t:C"', "no field 'colour'"),
    ('[objects.border_transport_means]\nfrom = "t:V"\nsource = "t:V"', "unknown keys ['source']"),
    ('[colours]\nred = 1', "unknown keys ['colours']"),
    ('[objects.header]\nuse = "nothing"', "no [blocks.nothing] table"),
    ('[blocks.a]\nuse = "b"\n[blocks.b]\nuse = "a"\n[objects.header]\nuse = "a"',
     "[blocks.a] uses itself"),
    ('[blocks.a]\ncolour = "red"', "[blocks.a]: unknown keys ['colour']"),
    ('[derived]\n"declaration.due_date" = "declaration.shipment | add_days(14)"',
     "no field 'shipment'"),
    ('[derived]\n"declaration.due_date" = "declaration.shipment_date | add_days(x)"',
     "whole number of days"),
])  # fmt: skip
def test_compile_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(MappingError) as info:
        compile_toml(tmp_path, body)
    assert message in str(info.value)
    assert str(info.value).startswith("test_mapping.toml: ")


@pytest.mark.parametrize(("meta", "message"), [
    ('root = "Report"', "'Report' has no prefix: write prefix:Report"),
    ('root = "x:Report"', "unknown namespace prefix 'x'"),
    ('root = "t:Report"\nrecord = "y:House"', "unknown namespace prefix 'y'"),
    ('root = "t:Report"\nschema = "a.xsd"', "unknown keys ['schema']"),
])  # fmt: skip
def test_compile_errors_in_the_mapping_table(tmp_path: Path, meta: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(f'[mapping]\n{meta}\nnamespaces = {{ t = "urn:t" }}\n'
                    'document_type = "cargo_report"\n')  # fmt: skip
    with pytest.raises(MappingError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_xml_mapping(path)
    path.write_text('[mapping]\nroot = "t:R"\nnamespaces = { t = "urn:t" }\n'
                    'document_type = "cargo_list"\n')  # fmt: skip
    with pytest.raises(MappingError, match="'cargo_list' is not one of"):
        load_xml_mapping(path)


def test_lookup_by_root_and_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("cargo.toml", "batch.toml"):
        (tmp_path / name).write_bytes((XML_FIXTURES / name).read_bytes())
    (tmp_path / "settings.toml").write_text("[other]\nx = 1\n")  # not a mapping
    monkeypatch.setattr(xml_engine, "XML_MAPPINGS", tmp_path)
    xml_engine._roots.cache_clear()
    xml_mapping_for.cache_clear()
    try:
        found = xml_mapping_for("{urn:edigate:test:cargo:1}Report")
        assert found is not None and found.name == "cargo"
        assert xml_mapping_for("{urn:edigate:test:cargo:1}Report") is found  # cached
        batch = xml_mapping_for("{urn:edigate:test:cargo:1}Batch")
        assert batch is not None and batch.record is not None
        assert xml_mapping_for("{urn:edigate:test:cargo:1}House") is None
        assert xml_mapping_for("Report") is None
        (tmp_path / "again.toml").write_bytes((XML_FIXTURES / "cargo.toml").read_bytes())
        xml_engine._roots.cache_clear()
        xml_mapping_for.cache_clear()
        with pytest.raises(MappingError, match="both map"):
            xml_mapping_for("{urn:edigate:test:cargo:1}Report")
    finally:
        xml_engine._roots.cache_clear()
        xml_mapping_for.cache_clear()


# -- the mapping files of mappings/xml --------------------------------------------------------

FILES = xml_mapping_files()


@pytest.mark.parametrize("path", list(FILES), ids=[p.stem for p in FILES])
def test_mapping_file_compiles(path: Path) -> None:
    mapping = load_xml_mapping(path)
    assert mapping.name == path.stem
    found = xml_mapping_for(mapping.root)  # also: no two files claim one root
    assert found is not None and found.name == path.stem


def test_fixture_mappings_compile() -> None:
    files = xml_mapping_files(XML_FIXTURES)
    assert {p.name for p in files} == {"cargo.toml", "batch.toml"}
    for path in files:
        load_xml_mapping(path)


# -- the published examples (xsd/examples) ------------------------------------------------------

EXAMPLES = REPO / "xsd" / "examples"
# the acknowledgement is the gateway's own receipt (an output): no mapping
EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*.xml") if p.name != "acknowledgement.xml")


def map_example(name: str) -> list[CanonicalDocument]:
    root = etree.parse(str(EXAMPLES / name)).getroot()
    mapping = xml_mapping_for(root.tag)
    assert mapping is not None, f"no mapping for {root.tag}"
    return list(map_xml_document(root, mapping))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_every_example_maps(path: Path) -> None:
    docs = map_example(path.name)
    assert docs
    for doc in docs:
        assert doc.header.identifier and doc.header.issue_time is not None
        assert doc.header.issue_time.utcoffset() is not None
        assert doc.provenance is not None and doc.provenance.source_format == "xml"
        assert doc.provenance.message_type == etree.QName(
            etree.parse(str(path)).getroot()).localname  # fmt: skip
        assert doc.provenance.fields  # every value read has its position


def test_cargo_report_sea() -> None:
    (doc,) = map_example("cargo-report-sea.xml")
    h = doc.header
    assert (h.type, h.identifier, h.type_code, h.function, h.version) == (
        "cargo_report", "OOLU-HKG-2024-0312-041E", "785", "9", "1")  # fmt: skip
    assert h.issue_time == datetime(2024, 3, 10, 9, 15, tzinfo=HKT)
    btm = doc.border_transport_means
    assert btm is not None and btm.carrier is not None
    assert (btm.mode, btm.identifier, btm.identifier_type, btm.name, btm.nationality,
            btm.journey_id) == ("1", "9776171", "IMO", "OOCL HONG KONG", "HK", "041E")  # fmt: skip
    assert (btm.carrier.role, btm.carrier.identifier, btm.carrier.identifier_scheme) == (
        "CA", "OOLU", "SCAC")  # fmt: skip
    assert btm.eta == datetime(2024, 3, 12, 6, 0, tzinfo=HKT)
    assert btm.etd == datetime(2024, 3, 13, 2, 0, tzinfo=HKT)
    assert [x.code for x in btm.itinerary] == ["SGSIN", "HKHKG", "CNSHA"]
    (agent,) = doc.parties
    assert (agent.role, agent.identifier, agent.identifier_scheme) == ("AG", "31234567", "BR")
    assert [(c.channel, c.value) for c in agent.contacts] == [("EM", "manifest.hk@example.com")]

    c1, c2 = doc.consignments
    assert c1.transport_document is not None and c2.transport_document is not None
    assert (c1.transport_document.identifier, c1.transport_document.type) == (
        "OOLU2712345670", "BL")  # fmt: skip
    assert c2.transport_document.identifier == "OOLU2712345688"
    assert [(x.code, x.function) for x in c1.locations] == [
        ("SGSIN", "loading"), ("HKHKG", "unloading"), ("HKHKG", "delivery")]  # fmt: skip
    assert [(x.code, x.function) for x in c2.locations] == [
        ("SGSIN", "loading"), ("HKHKG", "unloading"), ("HKHKG", "transit"),
        ("CNSHA", "destination")]  # fmt: skip
    assert [(p.role, p.name) for p in c1.parties] == [
        ("CZ", "Straits Electronics Pte Ltd"), ("CN", "Kowloon Components Trading Co Ltd"),
        ("N1", "Kowloon Components Trading Co Ltd")]  # fmt: skip
    consignee = c1.parties[1]
    assert consignee.address is not None
    assert consignee.address.street == [
        "Unit 1205, 12/F, Tower 2, Kowloon Commerce Centre", "51 Kwai Cheong Road"]  # fmt: skip
    assert (consignee.address.city, consignee.address.country) == ("Kwai Chung", "HK")
    assert [p.role for p in c2.parties] == ["CZ", "CN", "FW"]
    assert c1.total_packages == 420
    assert c1.total_gross_mass is not None and c1.total_volume is not None
    assert (c1.total_gross_mass.value, c1.total_gross_mass.unit) == (Decimal("8650.5"), "KGM")
    assert (c1.total_volume.value, c1.total_volume.unit) == (Decimal("56.2"), "MTQ")
    assert c1.equipment_refs == ["OOLU1234567"]
    assert c2.equipment_refs == ["TGHU8812348", "MSCU6543212"]
    i1, i2 = c1.items
    assert (i1.sequence, i1.description, i1.hs_code, i1.origin_country) == (
        1, ["PRINTED CIRCUIT BOARD ASSEMBLIES FOR ROUTERS"], "85177100", "SG")  # fmt: skip
    assert [(p.count, p.type_code, p.marks) for p in i1.packaging] == [
        (400, "CT", ["KCT/HKG 1-400"])]  # fmt: skip
    assert i1.gross_mass is not None and i1.volume is not None
    assert (i1.gross_mass.value, i1.gross_mass.unit) == (Decimal(8200), "KGM")
    assert (i1.volume.value, i1.volume.unit) == (Decimal(52), "MTQ")
    assert i1.equipment_refs == ["OOLU1234567"]
    assert [(d.un_number, d.hazard_class) for d in i2.dangerous_goods] == [("3481", "9")]
    assert i2.gross_mass is not None and i2.gross_mass.value == Decimal("450.5")
    # the consolidation: two house bills under the master B/L
    h1, h2 = c2.house_consignments
    assert h1.transport_document is not None and h2.transport_document is not None
    assert [(h.transport_document.identifier, h.transport_document.type)
            for h in (h1, h2)] == [("HFCSIN240301", "HBL"), ("HFCSIN240302", "HBL")]  # fmt: skip
    assert [p.name for p in h1.parties] == ["Marina Furniture Pte Ltd", "Tai Po Home Living Ltd"]
    assert h1.items[0].hs_code == "940360" and h1.items[0].equipment_refs == ["TGHU8812348"]
    assert h2.total_gross_mass is not None and h2.total_gross_mass.value == Decimal(5200)

    assert [(e.identifier, e.type, e.size_type, e.loaded) for e in doc.transport_equipment] == [
        ("OOLU1234567", "CN", "45G1", True), ("TGHU8812348", "CN", "22G1", True),
        ("MSCU6543212", "CN", "22G1", True)]  # fmt: skip
    e1 = doc.transport_equipment[0]
    assert [(s.identifier, s.party) for s in e1.seals] == [("OOL0458812", "CA")]
    assert e1.gross_mass is not None
    assert (e1.gross_mass.value, e1.gross_mass.unit) == (Decimal("12550.5"), "KGM")

    assert doc.provenance is not None
    fields = doc.provenance.fields
    pos = fields["consignments[1].house_consignments[0].transport_document.identifier"]
    assert pos.line is not None and pos.xpath is not None
    assert pos.xpath.endswith("/TransportContractDocument/ID")
    text = (EXAMPLES / "cargo-report-sea.xml").read_text().splitlines()
    assert "HFCSIN240301" in text[pos.line - 1]
    pos = fields["transport_equipment[0].gross_mass.unit"]
    assert pos.xpath is not None and pos.xpath.endswith("/GrossMassMeasure/@unitCode")
    assert 'unitCode="KGM">12550.5' in text[pos.line - 1]


def test_cargo_report_air() -> None:
    (doc,) = map_example("cargo-report-air.xml")
    btm = doc.border_transport_means
    assert btm is not None
    assert (btm.mode, btm.identifier, btm.identifier_type, btm.journey_id) == (
        "4", "CX0084", "FLIGHT", "CX0084")  # fmt: skip
    assert btm.eta == datetime(2024, 3, 12, 5, 35, tzinfo=HKT)
    assert btm.etd == datetime(2024, 3, 11, 1, 5, tzinfo=timezone(-timedelta(hours=7)))
    assert doc.header.issue_time == datetime(2024, 3, 11, 1, 40, tzinfo=UTC)
    m1, m2 = doc.consignments
    assert m1.transport_document is not None and m2.transport_document is not None
    assert (m1.transport_document.identifier, m1.transport_document.type) == (
        "160-12345675", "MAWB")  # fmt: skip
    assert m2.transport_document.identifier == "160-23456786"
    assert [(h.transport_document.identifier, h.transport_document.type)
            for h in m1.house_consignments if h.transport_document] == [
        ("PAC-LAX-778812", "HAWB"), ("PAC-LAX-778813", "HAWB")]  # fmt: skip
    lenses = m1.house_consignments[1].items[0]
    assert lenses.value is not None
    assert (lenses.value.value, lenses.value.currency) == (Decimal("86400.00"), "USD")
    assert m1.total_gross_mass is not None
    assert (m1.total_gross_mass.value, m1.total_gross_mass.unit) == (Decimal("1240.0"), "KGM")
    assert [(e.identifier, e.type) for e in doc.transport_equipment] == [
        ("AKE12345CX", "ULD"), ("PMC54321CX", "ULD")]  # fmt: skip


def test_cargo_report_road() -> None:
    (doc,) = map_example("cargo-report-road.xml")
    btm = doc.border_transport_means
    assert btm is not None
    assert (btm.mode, btm.identifier, btm.identifier_type) == ("3", "LV4821", "REGISTRATION")
    crossing = btm.itinerary[1]
    assert (crossing.code, crossing.scheme, crossing.function) == ("LMC", "HKCP", "crossing_point")
    (c,) = doc.consignments
    assert c.transport_document is not None
    assert (c.transport_document.identifier, c.transport_document.type) == (
        "SSX-CMR-240312-01", "CMR")  # fmt: skip
    assert [(p.role, p.identifier_scheme) for p in c.parties] == [("CZ", "USCC"), ("CN", "BR")]
    assert [(e.identifier, e.type) for e in doc.transport_equipment] == [
        ("TCNU1122333", "CN"), ("ZC9876", "CH")]  # fmt: skip


def test_house_consignment_batch() -> None:
    docs = map_example("house-consignment-batch.xml")
    assert len(docs) == 3
    for doc in docs:
        assert doc.header.type == "house_consignment_report"
        assert doc.header.identifier == "SKYHK-HB-20240311-001"
        assert doc.header.issue_time == datetime(2024, 3, 11, 22, 10, tzinfo=HKT)
        assert doc.border_transport_means is not None
        assert doc.border_transport_means.identifier == "CX0251"
        assert [(p.role, p.identifier) for p in doc.parties] == [("FW", "55508877")]
    houses = [d.consignments[0] for d in docs]
    assert [(h.transport_document.identifier, h.transport_document.type)
            for h in houses if h.transport_document] == [
        ("SKY-FRA-100231", "HAWB"), ("SKY-FRA-100232", "HAWB"),
        ("SKY-MUC-200017", "HAWB")]  # fmt: skip
    # the batch's master air waybill, except where a record gives its own
    assert [h.master_document.identifier for h in houses if h.master_document] == [
        "160-34567890", "160-34567890", "160-45678916"]  # fmt: skip
    assert [h.sequence for h in houses] == [1, 2, 3]
    assert houses[0].total_gross_mass is not None
    assert (houses[0].total_gross_mass.value, houses[0].total_gross_mass.unit) == (
        Decimal("84.5"), "KGM")  # fmt: skip
    (licence,) = houses[1].items[0].documents
    assert (licence.type_code, licence.identifier, licence.issue_date) == (
        "911", "PH-IMP-2024-004512", date(2024, 3, 1))  # fmt: skip
    assert [p.role for p in houses[2].parties] == ["CZ", "CN", "N1"]


def test_road_aci() -> None:
    (doc,) = map_example("road-aci.xml")
    assert doc.header.type == "advance_cargo_information"
    assert doc.header.identifier == "ACI-SSX-20240312-0457"
    btm = doc.border_transport_means
    assert btm is not None and btm.carrier is not None
    assert (btm.mode, btm.identifier, btm.identifier_type, btm.nationality) == (
        "3", "LV4821", "REGISTRATION", "HK")  # fmt: skip
    assert btm.eta == datetime(2024, 3, 12, 10, 30, tzinfo=HKT)
    assert [(x.code, x.scheme, x.function) for x in btm.itinerary] == [
        ("LMC", "HKCP", "crossing_point")]  # fmt: skip
    assert (btm.carrier.role, btm.carrier.identifier) == ("CA", "62345678")
    assert [(e.identifier, e.type) for e in doc.transport_equipment] == [
        ("ZC9876", "TE"), ("TCNU1122333", "CN")]  # fmt: skip
    c1, c2 = doc.consignments
    assert [c.transport_document.identifier for c in (c1, c2) if c.transport_document] == [
        "SSX-CMR-240312-01", "SSX-CMR-240312-02"]  # fmt: skip
    assert [(p.role, p.name) for p in c1.parties] == [
        ("CZ", "Shenzhen Bright Lighting Manufacturing Co Ltd"),
        ("CN", "Tsing Yi Lighting Distribution Ltd")]  # fmt: skip
    (item,) = c1.items
    assert (item.description, item.hs_code, item.equipment_refs) == (
        ["LED LAMPS"], "85395000", ["TCNU1122333"])  # fmt: skip
    assert [(p.count, p.type_code) for p in item.packaging] == [(640, "CT")]
    assert item.gross_mass is not None
    assert (item.gross_mass.value, item.gross_mass.unit) == (Decimal(9850), "KGM")
    assert c2.total_packages == 85 and c2.items[0].hs_code is None
    assert [(r.type_code, r.identifier) for r in c1.references] == [
        ("830", "530120240001234567")]  # fmt: skip


@pytest.mark.parametrize(("name", "kind", "shipped", "due"), [
    ("declaration-import.xml", "import", date(2024, 3, 12), date(2024, 3, 26)),
    ("declaration-export.xml", "export", date(2024, 3, 18), date(2024, 4, 1)),
])  # fmt: skip
def test_declarations(name: str, kind: str, shipped: date, due: date) -> None:
    (doc,) = map_example(name)
    d = doc.declaration
    assert d is not None
    assert (d.declaration_type, d.shipment_date, d.due_date) == (kind, shipped, due)
    assert doc.provenance is not None
    fields = doc.provenance.fields
    assert fields["declaration.due_date"] == fields["declaration.shipment_date"]
    (c,) = doc.consignments
    assert c.items and all(i.hs_code for i in c.items)
    if kind == "import":
        assert doc.header.identifier == "KCT-IMP-2024-000318"
        assert d.customs_office == "KTCT"
        assert d.total_invoice is not None
        assert (d.total_invoice.value, d.total_invoice.currency) == (Decimal("410000.00"), "USD")
        assert [p.role for p in doc.parties] == ["DT", "IM", "CZ"]
        assert c.transport_document is not None
        assert (c.transport_document.identifier, c.transport_document.type) == (
            "OOLU2712345670", "BL")  # fmt: skip
        assert c.equipment_refs == ["OOLU1234567"]
        i1, i2 = c.items
        assert i1.net_mass is not None and i1.quantity is not None
        assert (i1.net_mass.value, i1.net_mass.unit) == (Decimal(7640), "KGM")
        assert (i1.quantity.value, i1.quantity.unit) == (Decimal(12000), "NAR")
        assert i2.value is not None
        assert (i2.value.value, i2.value.currency) == (Decimal("26000.00"), "USD")
        assert [(r.type_code, r.identifier, r.issue_date) for r in c.references] == [
            ("380", "SE-INV-24-00871", date(2024, 2, 28))]  # fmt: skip
        btm = doc.border_transport_means
        assert btm is not None and (btm.identifier, btm.journey_id) == ("9776171", "041E")
    else:
        assert doc.header.identifier == "HKE-EXP-2024-004471"
        assert [p.role for p in doc.parties] == ["DT", "EX", "CN"]
        assert c.transport_document is not None
        assert (c.transport_document.identifier, c.transport_document.type) == (
            "160-56789121", "MAWB")  # fmt: skip
        btm = doc.border_transport_means
        assert btm is not None
        assert (btm.identifier_type, btm.identifier) == ("FLIGHT", "CX0239")
        assert btm.etd == datetime(2024, 3, 18, 23, 55, tzinfo=HKT)
        assert [(x.code, x.function) for x in c.locations][:3] == [
            ("HKHKG", "loading"), ("GBLHR", "unloading"), ("ACC", "customs_office")]  # fmt: skip
        (licence,) = c.items[0].documents
        assert (licence.type_code, licence.identifier) == ("811", "SC-EXP-24-019933")


def test_customs_responses() -> None:
    (ok,) = map_example("customs-response-accepted.xml")
    assert ok.header.type == "customs_response"
    r = ok.response
    assert r is not None
    assert (r.status, r.response_to, r.response_to_message_id, r.customs_reference) == (
        "accepted", "ACI-SSX-20240312-0457", "01HRV4Q3M2W8K9ZJ6T1B5N7XCD", "CCRN24HK000917734")
    assert r.issued == datetime(2024, 3, 12, 7, 46, 12, tzinfo=HKT) and r.reasons == []
    (no,) = map_example("customs-response-rejected.xml")
    r = no.response
    assert r is not None
    assert (r.status, r.response_to) == ("rejected", "KCT-IMP-2024-000318")
    assert [x.code for x in r.reasons] == ["D104", "D231"]
    assert r.reasons[0].pointer == "/Declaration/GoodsItem[2]/c:OriginCountryCode"
    assert all(x.pointer for x in r.reasons)
    assert r.reasons[0].text is not None and r.reasons[0].text.startswith("Country of origin CN")
    assert [(x.type_code, x.identifier) for x in no.header.references] == [
        ("929", "KCT-IMP-2024-000318")]  # fmt: skip


def test_the_mappings_asked_for_are_there() -> None:
    roots = {load_xml_mapping(p).root: p.stem for p in FILES}
    assert roots == {
        "{urn:edigate:xsd:cargo-report:1}CargoReport": "cargo_report_1",
        "{urn:edigate:xsd:cargo-report:1}HouseConsignmentBatch": "house_consignment_batch_1",
        "{urn:edigate:xsd:road-aci:1}AdvanceCargoInformation": "road_aci_1",
        "{urn:edigate:xsd:declaration:1}Declaration": "declaration_1",
        "{urn:edigate:xsd:customs-response:1}CustomsResponse": "customs_response_1",
    }
