"""IFTMIN D.01B (our fixture) -> canonical transport instruction and IFCSUM D.01B (third-party
sample) -> canonical cargo report with a consolidation and its consignments, value by value."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from .conftest import FIXTURES, SAMPLES
from .test_mapping_engine import map_file

HKT = timezone(timedelta(hours=8))  # the mappings' time zone for times without one


def test_iftmin_shipping_instruction() -> None:
    (doc,) = map_file(FIXTURES / "iftmin_d01b_sea.edi")
    h = doc.header
    assert (h.type, h.type_code, h.identifier, h.function) == (
        "transport_instruction", "340", "SLKSI24070044", "9")  # fmt: skip
    assert h.issue_time == datetime(2024, 7, 5, 9, 30, tzinfo=HKT)
    btm = doc.border_transport_means
    assert btm is not None and btm.carrier is not None
    assert (btm.mode, btm.identifier, btm.name, btm.nationality, btm.journey_id) == (
        "1", "9517343", "ORIENT STAR", "SG", "119S")  # fmt: skip
    assert btm.carrier.identifier == "POCL"
    assert btm.etd == datetime(2024, 7, 6, 18, 0, tzinfo=HKT)
    assert btm.eta == datetime(2024, 8, 9, 12, 0, tzinfo=HKT)  # DTM+132 with LOC+11 (SG9)
    assert [(loc.code, loc.function) for loc in btm.itinerary] == [
        ("HKHKG", "loading"), ("NLRTM", "unloading")]  # fmt: skip

    (c,) = doc.consignments
    assert [(r.type_code, r.identifier) for r in c.references] == [
        ("BN", "POCLBKG2407130"), ("FF", "SLKHKG24070044"), ("CU", "GB-EXP-2407-015")]  # fmt: skip
    assert c.total_packages == 540
    assert c.total_gross_mass is not None and c.total_volume is not None
    assert (c.total_gross_mass.value, c.total_gross_mass.unit) == (Decimal("9856.5"), "KGM")
    assert (c.total_volume.value, c.total_volume.unit) == (Decimal("52.4"), "MTQ")
    assert [(loc.code, loc.function) for loc in c.locations] == [
        ("HKHKG", "acceptance"), ("DEDUS", "delivery"),
        ("HKHKG", "loading"), ("NLRTM", "unloading"),
    ]  # fmt: skip
    assert [(p.role, p.name) for p in c.parties] == [
        ("CZ", "GOLDEN BRIDGE POWER TOOLS LTD"),
        ("CN", "RIJNMOND TOOLS TRADING B.V."),
        ("N1", "RIJNMOND TOOLS TRADING B.V."),
        ("FW", "SWIFTLINK LOGISTICS (HK) LTD"),
        ("CA", "PACIFIC ORIENT CONTAINER LINE"),
    ]
    shipper, consignee = c.parties[0], c.parties[1]
    assert [(x.channel, x.value) for x in shipper.contacts] == [("TE", "85227901234")]
    assert consignee.address is not None
    assert (consignee.address.street, consignee.address.city, consignee.address.postcode) == (
        ["WAALHAVEN OOSTZIJDE 81"], "ROTTERDAM", "3087 BM")  # fmt: skip
    assert c.parties[3].identifier == "SLKHKG"
    assert c.equipment_refs == ["POLU2407061"]

    tools, sets = c.items
    assert (tools.sequence, tools.hs_code, tools.equipment_refs) == (1, "846721", ["POLU2407061"])
    assert tools.description == [
        "CORDLESS POWER TOOLS, DRILLS AND DRIVERS",
        "WITH LITHIUM ION BATTERIES CONTAINED IN EQUIPMENT",
    ]
    assert [(p.count, p.type_code, p.marks) for p in tools.packaging] == [
        (360, "CT", ["RTT/RTM", "C/NO. 1-360"])]  # fmt: skip
    assert tools.gross_mass is not None and tools.volume is not None
    assert (tools.gross_mass.value, tools.volume.value) == (Decimal("6480"), Decimal("34.6"))
    assert [(d.un_number, d.hazard_class) for d in tools.dangerous_goods] == [("3481", "9")]
    assert (sets.sequence, sets.hs_code) == (2, "820600")
    assert sets.gross_mass is not None and sets.gross_mass.value == Decimal("3376.5")
    assert [(p.count, p.marks) for p in sets.packaging] == [(180, ["RTT/RTM", "C/NO. 361-540"])]
    assert sets.dangerous_goods == []

    (box,) = doc.transport_equipment
    assert (box.identifier, box.size_type, box.loaded) == ("POLU2407061", "45G1", True)
    assert box.gross_mass is not None and box.gross_mass.value == Decimal("9856.5")
    assert [(s.identifier, s.party) for s in box.seals] == [("SLK0705044", "SH")]


def test_ifcsum_consolidation() -> None:
    # UNT+787 for 27 segments, an 18-character 7065 and lower case in UNOA: the message is
    # invalid (test_samples.py); its content still maps.
    (doc,) = map_file(SAMPLES / "edi-net" / "edifact.D01B.IFCSUM.EDI", valid=False)
    h = doc.header
    assert (h.type, h.type_code, h.identifier, h.function) == (
        "cargo_report", "610", "1000505549", "9")  # fmt: skip
    assert h.issue_time == datetime(2018, 5, 25, tzinfo=HKT)  # DTM+137:20180525:102
    # NAD+CZ+5011408000007.::9+UK2. (a name and address line only), NAD+CA+5999999999950::9
    assert [(p.role, p.identifier, p.identifier_scheme, p.name) for p in doc.parties] == [
        ("CZ", "5011408000007.", "9", "UK2."),
        ("CA", "5999999999950", "9", None),
    ]
    assert doc.border_transport_means is not None
    assert doc.border_transport_means.mode == "10"  # TDT+20++10:SEA

    (master,) = doc.consignments
    assert master.transport_document is None  # no master reference (SG1) in the sample
    assert master.total_gross_mass is not None
    assert (master.total_gross_mass.value, master.total_gross_mass.unit) == (
        Decimal("25.784"), "KG")  # fmt: skip
    (house,) = master.house_consignments  # the sample keeps 1 of the 5 (CNT+10:5)
    assert house.sequence == 1
    assert house.transport_document is not None
    assert house.transport_document.identifier == "311447177"
    assert house.master_document is None
    assert house.total_packages == 1
    assert house.total_gross_mass is not None and house.total_gross_mass.value == Decimal("8.269")
    assert [(p.role, p.identifier, p.name) for p in house.parties] == [("DP", "PC", "1919990312")]
    assert [(r.type_code, r.identifier) for r in house.references] == [
        ("DQ", "5000706244"), ("CR", "TUESDAY 29TH MAY")]  # fmt: skip
    i1, i2 = house.items
    assert (i1.sequence, i1.description) == (1, ["MAYB NAIL ForeverStrong 06 DeepRed 12"])
    # GID+1+:350114081527920321:1:9+1:3600530124848:PK:9: two package levels
    assert [(p.count, p.type_code) for p in i1.packaging] == [
        (None, "350114081527920321"), (1, "3600530124848")]  # fmt: skip
    assert (i2.sequence, i2.description) == (2, ["MAYB Found. Dream Satin Liquid Sand 30"])
    assert [(p.count, p.type_code) for p in i2.packaging][1] == (1, "3600530521845")
    assert i1.hs_code is None  # PIA+1+B0918306:::91 is the seller's article number
    assert doc.provenance is not None
    pos = doc.provenance.fields["consignments[0].house_consignments[0].items[1].packaging[1].count"]
    assert (pos.segment_tag, pos.segment_position, pos.element, pos.component) == ("GID", 23, 3, 1)


def test_ifcsum_master_document_from_the_header() -> None:
    data = (SAMPLES / "edi-net" / "edifact.D01B.IFCSUM.EDI").read_bytes()
    data = data.replace(b"CNT+7:25.784:KG'", b"CNT+7:25.784:KG'\nRFF+MB:MBL2018052501'\n"
                        b"DTM+171:20180524:102'")  # fmt: skip
    (doc,) = map_file(data, valid=False)
    (master,) = doc.consignments
    assert master.transport_document is not None
    assert (master.transport_document.identifier, master.transport_document.type) == (
        "MBL2018052501", "BL")  # fmt: skip
    (house,) = master.house_consignments
    assert house.master_document is not None
    assert house.master_document.identifier == "MBL2018052501"
    assert [(r.type_code, r.identifier, r.issue_date) for r in doc.header.references] == [
        ("MB", "MBL2018052501", date(2018, 5, 24))]  # fmt: skip
