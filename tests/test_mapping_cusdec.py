"""CUSDEC D.96B and D.01B -> canonical declaration, value by value, from the fixtures; and the
business computation: shipment date (date of import or export) and due date (+14 days)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from edigate.canonical.model import CanonicalDocument

from .conftest import FIXTURES
from .test_mapping_engine import map_file

HKT = timezone(timedelta(hours=8))
IMPORT = FIXTURES / "cusdec_d96b_import.edi"
EXPORT = FIXTURES / "cusdec_d01b_export.edi"
SMALL = FIXTURES / "cusdec_d01b_small_unow.edi"


def with_segments(data: bytes, after: str, *segments: str) -> bytes:
    """``data`` with ``segments`` inserted after the segment ``after`` (UNT count adjusted)."""
    anchor = after.encode() + b"'"
    assert data.count(anchor) == 1, after
    added = b"".join(s.encode() + b"'" for s in segments)
    data = data.replace(anchor, anchor + added)
    return re.sub(rb"UNT\+(\d+)\+",
                  lambda m: b"UNT+%d+" % (int(m.group(1)) + len(segments)), data)  # fmt: skip


@pytest.fixture(scope="module")
def imp() -> CanonicalDocument:
    (d,) = map_file(IMPORT)
    return d


@pytest.fixture(scope="module")
def exp() -> CanonicalDocument:
    (d,) = map_file(EXPORT)
    return d


def test_import_header_and_declaration(imp: CanonicalDocument) -> None:
    h = imp.header
    assert (h.type, h.type_code, h.identifier, h.function) == (
        "declaration", "929", "IMP20240618HK0001", "9")  # fmt: skip
    assert h.issue_time == datetime(2024, 6, 18, 10, 15, tzinfo=HKT)
    # SG1 RFF (+DTM) and SG5 DOC (+DTM): B/L, dutiable commodities permit, invoice
    assert [(r.type_code, r.identifier, r.issue_date) for r in h.references] == [
        ("BM", "POCLFOS0240521", date(2024, 5, 21)),
        ("IP", "DCP-24-003311", None),
        ("380", "DV-2024-0457", date(2024, 5, 20)),
    ]
    d = imp.declaration
    assert d is not None
    assert (d.declaration_type, d.customs_office) == ("import", "KCCH")
    assert d.shipment_date == date(2024, 6, 20)  # DTM+132 (estimated arrival)
    assert d.due_date == date(2024, 7, 4)  # 14 days later
    assert d.total_invoice is not None
    assert (d.total_invoice.value, d.total_invoice.currency) == (Decimal("58240.00"), "EUR")


def test_import_parties(imp: CanonicalDocument) -> None:
    assert [(p.role, p.identifier, p.name) for p in imp.parties] == [
        ("DT", "61234567", "GRANDVIEW CUSTOMS BROKERAGE LTD"),
        ("IM", "70034521", "Victoria Harbour Wine & Spirits Ltd"),
        ("SE", None, "Maison Duval et Fils SAS"),
    ]
    declarant, importer, seller = imp.parties
    assert declarant.identifier_scheme == "150"  # HK Customs
    assert declarant.address is not None
    assert declarant.address.street == ["ROOM 1602, 16/F", "9 QUEEN'S ROAD CENTRAL"]
    assert [(c.channel, c.value) for c in declarant.contacts] == [
        ("TE", "85228881234"), ("EM", "customs@grandview.example.hk")]  # fmt: skip
    assert importer.address is not None and importer.address.city == "Central, Hong Kong"
    assert seller.address is not None
    assert (seller.address.city, seller.address.postcode, seller.address.country) == (
        "Bordeaux", "33000", "FR")  # fmt: skip


def test_import_transport_and_goods(imp: CanonicalDocument) -> None:
    btm = imp.border_transport_means
    assert btm is not None
    assert (btm.identifier, btm.identifier_type, btm.name, btm.nationality, btm.journey_id) == (
        "9704611", "IMO", "HARBOUR PIONEER", "PA", "031W")  # fmt: skip
    assert btm.eta == datetime(2024, 6, 20, tzinfo=HKT)
    assert [(e.identifier, e.size_type) for e in imp.transport_equipment] == [
        ("POLU2406065", "22G1")]  # fmt: skip
    (c,) = imp.consignments
    assert c.transport_document is not None
    assert (c.transport_document.identifier, c.transport_document.type) == (
        "POCLFOS0240521", "BL")  # fmt: skip
    assert c.master_document is None
    assert c.equipment_refs == ["POLU2406065"]
    assert c.total_packages == 1000
    assert c.total_gross_mass is not None and c.total_gross_mass.value == Decimal("11620")
    assert [(loc.code, loc.function, loc.scheme) for loc in c.locations] == [
        ("KCCH", "customs_office", "customs office"),
        ("FR", "export_country", "ISO 3166-1"),
        ("FRFOS", "loading", None),
        ("HKHKG", "unloading", None),
    ]
    whisky, wine = c.items
    assert (whisky.sequence, whisky.hs_code, whisky.origin_country) == (1, "22083000", "GB")
    assert whisky.description == ["SCOTCH WHISKY, BLENDED, 40% VOL, 6 X 70 CL PER CARTON"]
    assert whisky.gross_mass is not None and whisky.net_mass is not None
    assert (whisky.gross_mass.value, whisky.net_mass.value) == (Decimal("5220"), Decimal("3528"))
    assert [(p.count, p.type_code) for p in whisky.packaging] == [(600, "CT")]
    assert whisky.value is not None
    assert (whisky.value.value, whisky.value.currency) == (Decimal("34200.00"), "EUR")
    assert (wine.sequence, wine.hs_code, wine.origin_country) == (2, "22042100", "FR")
    assert wine.net_mass is not None and wine.net_mass.value == Decimal("3600")
    assert [(p.count, p.type_code) for p in wine.packaging] == [(400, "CT")]
    assert wine.value is not None and wine.value.value == Decimal("24040.00")


def test_export_in_syntax_4(exp: CanonicalDocument) -> None:
    h = exp.header
    assert (h.type_code, h.identifier) == ("830", "EXP20240618HK0007")
    assert [(r.type_code, r.identifier, r.issue_date) for r in h.references] == [
        ("BM", "POCLHKG0240618", None), ("380", "WC-INV-24-0618", date(2024, 6, 17))]  # fmt: skip
    d = exp.declaration
    assert d is not None
    assert (d.declaration_type, d.customs_office) == ("export", "KCCH")  # LOC+42: office of exit
    # No departure (or arrival) date in the message: nothing to compute the due date from.
    assert (d.shipment_date, d.due_date) == (None, None)
    assert d.total_invoice is not None
    assert (d.total_invoice.value, d.total_invoice.currency) == (Decimal("186500.00"), "USD")
    assert [(p.role, p.identifier, p.name) for p in exp.parties] == [
        ("EX", "51234567", "永昌鐘錶有限公司 WING CHEONG WATCH CO LTD"),
        ("DT", "61239876", "香港貨運有限公司 HONG KONG CARGO CO LTD"),
        ("CN", None, "Société d'Horlogerie Côte d'Azur"),
    ]
    # COM+85223456789:TE*export@hkcargo.example.hk:EM: one contact per repetition
    assert [(c.channel, c.value) for c in exp.parties[1].contacts] == [
        ("TE", "85223456789"), ("EM", "export@hkcargo.example.hk")]  # fmt: skip
    assert exp.parties[2].address is not None
    assert exp.parties[2].address.street == ["12 rue de la Préfecture"]
    (c,) = exp.consignments
    assert c.transport_document is not None
    assert c.transport_document.identifier == "POCLHKG0240618"
    assert c.total_packages == 150
    assert [(loc.code, loc.function) for loc in c.locations] == [
        ("KCCH", "customs_office"),
        ("HKHKG", "loading"),
        ("FR", "destination_country"),
    ]
    watches, straps = c.items
    assert (watches.hs_code, watches.origin_country) == ("91021100", "HK")
    assert watches.description == ["Montres-bracelets à quartz, boîtier acier / 石英手錶"]
    assert watches.gross_mass is not None and watches.gross_mass.value == Decimal("420.5")
    assert watches.value is not None
    assert (watches.value.value, watches.value.currency) == (Decimal("150000.00"), "USD")
    assert (straps.hs_code, straps.origin_country) == ("91139000", "CN")
    assert [(p.count, p.type_code) for p in straps.packaging] == [(30, "CT")]


def test_small_export() -> None:
    (doc,) = map_file(SMALL)
    assert (doc.header.type_code, doc.header.identifier) == ("830", "EXP20240618HK0008")
    assert doc.declaration is not None and doc.declaration.declaration_type == "export"
    assert [p.role for p in doc.parties] == ["EX", "DT"]
    (item,) = doc.consignments[0].items
    assert (item.sequence, item.hs_code, item.origin_country) == (1, "91021100", "HK")
    assert item.description == ["Montres-bracelets à quartz / 石英手錶"]


@pytest.mark.parametrize(
    ("dates", "shipped"),
    [
        # export: the departure date, actual before estimated, never the arrival
        (["DTM+132:20240712:102", "DTM+186:20240619:102"], date(2024, 6, 19)),
        (["DTM+132:20240712:102", "DTM+133:20240620:102"], date(2024, 6, 20)),
        (["DTM+133:20240620:102", "DTM+186:20240621:102"], date(2024, 6, 21)),
        (["DTM+132:20240712:102"], None),
    ],
)
def test_export_shipment_and_due_date(dates: list[str], shipped: date | None) -> None:
    data = with_segments(EXPORT.read_bytes(), "DTM+137:202406180930:203", *dates)
    (doc,) = map_file(data)
    d = doc.declaration
    assert d is not None
    if shipped is None:
        assert (d.shipment_date, d.due_date) == (None, None)
        return
    assert (d.shipment_date, d.due_date) == (shipped, shipped + timedelta(days=14))
    assert doc.provenance is not None
    fields = doc.provenance.fields
    # the due date points at the DTM it was computed from
    assert fields["declaration.due_date"] == fields["declaration.shipment_date"]
    assert fields["declaration.due_date"].segment_tag == "DTM"


def test_import_shipment_date_is_the_arrival() -> None:
    data = with_segments(IMPORT.read_bytes(), "DTM+137:202406181015:203",
                         "DTM+186:20240523:102", "DTM+178:20240621:102")  # fmt: skip
    (doc,) = map_file(data)
    assert doc.declaration is not None
    assert doc.declaration.shipment_date == date(2024, 6, 21)  # actual arrival, not 186
    assert doc.declaration.due_date == date(2024, 7, 5)
    btm = doc.border_transport_means
    assert btm is not None and btm.etd == datetime(2024, 5, 23, tzinfo=HKT)


def test_item_documents_and_supplementary_quantity() -> None:
    data = with_segments(IMPORT.read_bytes(), "MEA+WT+AAL+KGM:3528", "MEA+AAR++LTR:2520")
    data = with_segments(data, "MOA+40:288015.30:HKD",
                         "RFF+IV:DV-2024-0457", "DOC+911+IL-24-55012", "DTM+182:20240601:102")
    (doc,) = map_file(data)
    whisky = doc.consignments[0].items[0]
    assert whisky.quantity is not None
    assert (whisky.quantity.value, whisky.quantity.unit) == (Decimal("2520"), "LTR")
    assert [(d.type_code, d.identifier, d.issue_date) for d in whisky.documents] == [
        ("911", "IL-24-55012", date(2024, 6, 1)),
        ("IV", "DV-2024-0457", None),
    ]
