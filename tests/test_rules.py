"""Business rules (edigate.rules): each check with valid and invalid values, each rule on documents.

Check digits here were computed by hand from the standards, not with the code under test:

ISO 6346 (letters A=10, B=12 ... skipping 11, 22, 33: L=23, O=26, P=27, Q=28, S=30, U=32;
character i weighted 2**i; sum mod 11, a remainder of 10 written 0):

- CSQU3054383: 13 + 30*2 + 28*4 + 32*8 + 3*16 + 0*32 + 5*64 + 4*128 + 3*256 + 8*512 = 6185;
  6185 = 11*562 + 3 -> 3.
- POLU2406018: 27 + 26*2 + 23*4 + 32*8 + 2*16 + 4*32 + 0*64 + 6*128 + 0*256 + 1*512 = 1867;
  1867 = 11*169 + 8 -> 8.
- POLU2406023: ... + 2*512 = 2379 = 11*216 + 3 -> 3.
- POLU2406050: ... + 5*512 = 3915 = 11*355 + 10 -> remainder 10, check digit 0.

IMO (first six digits weighted 7..2, last digit of the sum):

- 9704611: 63 + 42 + 0 + 16 + 18 + 2 = 141 -> 1.
- 9074729: 63 + 0 + 35 + 16 + 21 + 4 = 139 -> 9.
- 9517343: 63 + 30 + 5 + 28 + 9 + 8 = 143 -> 3.

IATA air waybill (first seven serial digits mod 7):

- 020-12345675: 1234567 = 7*176366 + 5 -> 5.
- 176-99999992: 9999999 = 7*1428571 + 2 -> 2.
- 160-70000000: 7000000 = 7*1000000 + 0 -> 0.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from edigate.canonical.model import (
    Address,
    Amount,
    BorderTransportMeans,
    CanonicalDocument,
    Consignment,
    DangerousGoods,
    Declaration,
    DocumentHeader,
    GoodsItem,
    Location,
    Measure,
    Packaging,
    Party,
    Provenance,
    SourcePosition,
    TransportDocument,
    TransportEquipment,
)
from edigate.rules import RULES, RuleFinding, check_document, load_rule_set
from edigate.rules.checks import (
    awb_problem,
    container_problem,
    country_problem,
    currency_problem,
    hs_code_problem,
    imo_problem,
    locode_problem,
)

HKT = timezone(timedelta(hours=8))
NOW = datetime(2024, 6, 17, 12, 0, tzinfo=UTC)

# -- the value checks -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["CSQU3054383", "POLU2406018", "POLU2406023", "POLU2406050",
                                   "polu2406018"])  # fmt: skip
def test_container_valid(value: str) -> None:
    assert container_problem(value) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("CSQU3054384", "check digit 4 is wrong (ISO 6346 gives 3)"),
        ("POLU2406019", "check digit 9 is wrong (ISO 6346 gives 8)"),
        ("POLU2406051", "check digit 1 is wrong (ISO 6346 gives 0)"),
        ("POLU240601", "10 characters"),
        ("P0LU2406018", "not 3 letters"),  # digit zero in the owner code
        ("POLX2406018", "category"),  # X is no equipment category
        ("POLU24O6018", "not 3 letters"),  # letter O in the serial
    ],
)
def test_container_invalid(value: str, words: str) -> None:
    problem = container_problem(value)
    assert problem is not None and words in problem


@pytest.mark.parametrize("value", ["9704611", "9074729", "9517343", "IMO 9074729", "IMO9704611"])
def test_imo_valid(value: str) -> None:
    assert imo_problem(value) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [("9704612", "check digit 2 is wrong (IMO gives 1)"), ("9074720", "IMO gives 9"),
     ("970461", "6 digits"), ("97046110", "8 digits"), ("97O4611", "not digits")],
)  # fmt: skip
def test_imo_invalid(value: str, words: str) -> None:
    problem = imo_problem(value)
    assert problem is not None and words in problem


@pytest.mark.parametrize("value", ["020-12345675", "02012345675", "176-99999992", "160 70000000"])
def test_awb_valid(value: str) -> None:
    assert awb_problem(value) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [("020-12345670", "check digit 0 is wrong (serial 1234567 modulo 7 is 5)"),
     ("176-99999995", "modulo 7 is 2"), ("020-1234567", "10 digits"),
     ("020-123456757", "12 digits"), ("02O-12345675", "not digits")],
)  # fmt: skip
def test_awb_invalid(value: str, words: str) -> None:
    problem = awb_problem(value)
    assert problem is not None and words in problem


@pytest.mark.parametrize("value", ["HKHKG", "CNSHA", "NLRTM", "DE2AB", "USZ9Z"])
def test_locode_valid(value: str) -> None:
    assert locode_problem(value) is None


def test_locode_extra_country() -> None:
    assert locode_problem("XZAAA") is not None
    assert locode_problem("XZAAA", extra_countries=["XZ"]) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [("HKHK1", "place code 'HK1'"), ("HKHK0", "place code"), ("XXHKG", "'XX' is not"),
     ("UKLON", "'UK' is not"), ("HKHKGX", "6 characters"), ("HK HKG", "6 characters"),
     ("hkhkg", "'hk' is not"), ("HKHkg", "place code")],
)  # fmt: skip
def test_locode_invalid(value: str, words: str) -> None:
    problem = locode_problem(value)
    assert problem is not None and words in problem


LENGTHS = (6, 7, 8, 10)


@pytest.mark.parametrize("value", ["847130", "8471300", "22083000", "8471300010"])
def test_hs_valid(value: str) -> None:
    assert hs_code_problem(value, LENGTHS) is None


@pytest.mark.parametrize("value", ["84713", "847130001", "84713000101", "8471.30", "84713O", ""])
def test_hs_invalid(value: str) -> None:
    assert hs_code_problem(value, LENGTHS) is not None


@pytest.mark.parametrize("value", ["HK", "GB", "FR", "CN", "PA"])
def test_country_valid(value: str) -> None:
    assert country_problem(value) is None


@pytest.mark.parametrize("value", ["UK", "hk", "XX", "HKG", "", "EU"])
def test_country_invalid(value: str) -> None:
    assert country_problem(value) is not None


@pytest.mark.parametrize("value", ["HKD", "EUR", "USD", "CNY"])
def test_currency_valid(value: str) -> None:
    assert currency_problem(value) is None


@pytest.mark.parametrize("value", ["RMB", "EURO", "hkd", "XYZ", "HK"])
def test_currency_invalid(value: str) -> None:
    assert currency_problem(value) is not None


# -- rules on documents ---------------------------------------------------------------------------


def kg(value: str) -> Measure:
    return Measure(value=Decimal(value), unit="KGM")


def cargo_report(**changes: object) -> CanonicalDocument:
    """A small correct cargo report; keyword arguments replace its parts."""
    parts: dict[str, object] = {
        "header": DocumentHeader(type="cargo_report", identifier="R-1",
                                 issue_time=datetime(2024, 6, 17, 10, 30, tzinfo=HKT)),
        "border_transport_means": BorderTransportMeans(
            mode="1", identifier="9704611", identifier_type="IMO", nationality="PA",
            eta=datetime(2024, 6, 18, 14, 0, tzinfo=HKT),
            itinerary=[Location(code="HKHKG", function="arrival")],
        ),
        "consignments": [
            Consignment(
                transport_document=TransportDocument(identifier="POCLSHA0240601", type="BL"),
                locations=[Location(code="CNSHA", function="loading")],
                parties=[Party(role="CN", address=Address(country="HK"))],
                total_packages=520, total_gross_mass=kg("12480.5"),
                items=[
                    GoodsItem(hs_code="847130", packaging=[Packaging(count=320, type_code="CT")],
                              gross_mass=kg("6480.5"), net_mass=kg("6000"),
                              equipment_refs=["POLU2406018"], origin_country="CN",
                              value=Amount(value=Decimal("1000"), currency="USD")),
                    GoodsItem(hs_code="850440", packaging=[Packaging(count=200, type_code="PK")],
                              gross_mass=kg("6000"), equipment_refs=["POLU2406018"]),
                ],
            )
        ],
        "transport_equipment": [TransportEquipment(identifier="POLU2406018", type="CN")],
    }  # fmt: skip
    parts.update(changes)
    return CanonicalDocument(**parts)  # type: ignore[arg-type]


def codes(findings: list[RuleFinding]) -> list[tuple[str, str]]:
    return [(f.code, f.path) for f in findings]


def run(doc: CanonicalDocument, now: datetime = NOW) -> list[RuleFinding]:
    return check_document(doc, load_rule_set("default"), now=now)


def test_correct_document_has_no_findings() -> None:
    assert run(cargo_report()) == []


def test_r001_container_check_digit() -> None:
    doc = cargo_report()
    doc.transport_equipment[0].identifier = "POLU2406019"
    found = [f for f in run(doc) if f.code == "R001"]
    assert codes(found) == [("R001", "transport_equipment[0].identifier")]
    assert found[0].severity == "error" and found[0].value == "POLU2406019"
    assert "check digit 9 is wrong (ISO 6346 gives 8)" in found[0].text


def test_r001_only_for_containers() -> None:
    doc = cargo_report(transport_equipment=[
        TransportEquipment(identifier="TRAILER-77", type="TE"),  # a trailer: no ISO 6346 id
        TransportEquipment(identifier="POLU2406018"),  # untyped: checked as a container
        TransportEquipment(identifier="ABC", type=None),
    ])  # fmt: skip
    assert codes([f for f in run(doc) if f.code == "R001"]) == [
        ("R001", "transport_equipment[2].identifier")]  # fmt: skip


def test_r002_imo_check_digit() -> None:
    doc = cargo_report()
    assert doc.border_transport_means is not None
    doc.border_transport_means.identifier = "9704612"
    assert codes(run(doc)) == [("R002", "border_transport_means.identifier")]
    doc.border_transport_means.identifier_type = "CALL_SIGN"  # not an IMO number: not checked
    assert run(doc) == []


def test_r003_air_waybill_check_digit() -> None:
    doc = cargo_report()
    c = doc.consignments[0]
    c.transport_document = TransportDocument(identifier="020-12345675", type="MAWB")
    assert run(doc) == []
    c.transport_document = TransportDocument(identifier="020-12345670", type="MAWB")
    c.master_document = TransportDocument(identifier="176-99999995", type="MAWB")
    found = run(doc)
    assert codes(found) == [("R003", "consignments[0].master_document.identifier"),
                            ("R003", "consignments[0].transport_document.identifier")]  # fmt: skip
    # house waybills are the forwarder's numbers: not checked by default
    c.transport_document = TransportDocument(identifier="HK-000123", type="HAWB")
    c.master_document = None
    assert run(doc) == []


def test_r004_locode_format() -> None:
    doc = cargo_report()
    doc.consignments[0].locations = [
        Location(code="HKHK1", function="unloading"),
        Location(code="KCCH", function="customs_office", scheme="customs office"),  # not checked
        Location(code="FR", function="export_country", scheme="ISO 3166-1"),  # R006, not R004
    ]
    assert codes(run(doc)) == [("R004", "consignments[0].locations[0].code")]


def test_r005_hs_code() -> None:
    doc = cargo_report()
    doc.consignments[0].items[1].hs_code = "84713"
    assert codes(run(doc)) == [("R005", "consignments[0].items[1].hs_code")]


def test_r006_country_codes_everywhere() -> None:
    doc = cargo_report()
    assert doc.border_transport_means is not None
    doc.border_transport_means.nationality = "XX"
    doc.consignments[0].parties[0].address = Address(country="UK")
    doc.consignments[0].items[0].origin_country = "hk"
    doc.consignments[0].locations.append(
        Location(code="EU", function="export_country", scheme="ISO 3166-1"))  # fmt: skip
    assert sorted(codes(run(doc))) == [
        ("R006", "border_transport_means.nationality"),
        ("R006", "consignments[0].items[0].origin_country"),
        ("R006", "consignments[0].locations[1].code"),
        ("R006", "consignments[0].parties[0].address.country"),
    ]


def test_r007_currency() -> None:
    doc = cargo_report()
    doc.consignments[0].items[0].value = Amount(value=Decimal(1), currency="RMB")
    assert codes(run(doc)) == [("R007", "consignments[0].items[0].value.currency")]


def test_r008_positive_measures() -> None:
    doc = cargo_report()
    doc.consignments[0].items[1].volume = Measure(value=Decimal(0), unit="MTQ")
    doc.transport_equipment[0].gross_mass = kg("-3800")
    assert sorted(codes(run(doc))) == [
        ("R008", "consignments[0].items[1].volume"),
        ("R008", "transport_equipment[0].gross_mass"),
    ]


def test_r009_positive_counts() -> None:
    doc = cargo_report()
    doc.consignments[0].items[1].packaging[0].count = 0
    doc.consignments[0].total_packages = 320  # still consistent with 320 + 0
    assert codes(run(doc)) == [("R009", "consignments[0].items[1].packaging[0].count")]
    doc.consignments[0].total_packages = -1
    assert ("R009", "consignments[0].total_packages") in codes(run(doc))


@pytest.mark.parametrize(
    ("total", "unit", "finding"),
    [("12480.5", "KGM", False), ("12600", "KGM", False),  # 119.5 kg off: within 1 % (126 kg)
     ("12700", "KGM", True), ("12.4805", "TNE", False), ("12.6", "TNE", False),
     ("13", "TNE", True), ("12480.5", "MTQ", False)],  # not a mass unit: not compared
)  # fmt: skip
def test_r010_total_gross_mass(total: str, unit: str, finding: bool) -> None:
    doc = cargo_report()
    doc.consignments[0].total_gross_mass = Measure(value=Decimal(total), unit=unit)
    found = [f for f in run(doc) if f.code == "R010"]
    assert bool(found) == finding
    if finding:
        assert found[0].path == "consignments[0].total_gross_mass"
        assert "12480.5 kg" in found[0].text


def test_r010_small_totals_use_the_absolute_tolerance() -> None:
    doc = cargo_report()
    c = doc.consignments[0]
    c.items[0].gross_mass, c.items[1].gross_mass = kg("10"), kg("20")
    c.items[0].net_mass = None
    c.total_gross_mass = kg("31")  # 1 kg off: within tolerance_kg = 1
    assert run(doc) == []
    c.total_gross_mass = kg("31.5")
    assert codes(run(doc)) == [("R010", "consignments[0].total_gross_mass")]


def test_r010_r011_not_compared_when_an_item_lacks_the_value() -> None:
    doc = cargo_report()
    c = doc.consignments[0]
    c.items[1].gross_mass = None
    c.items[1].packaging = []
    c.total_gross_mass, c.total_packages = kg("1"), 1
    assert run(doc) == []


def test_r010_r011_house_consignments() -> None:
    doc = cargo_report()
    master = doc.consignments[0]
    master.items = []
    master.house_consignments = [
        Consignment(total_packages=300, total_gross_mass=kg("6000")),
        Consignment(total_packages=220, total_gross_mass=kg("6480.5")),
    ]
    assert run(doc) == []
    master.total_packages = 500
    master.total_gross_mass = kg("20000")
    assert codes(run(doc)) == [("R010", "consignments[0].total_gross_mass"),
                               ("R011", "consignments[0].total_packages")]  # fmt: skip


def test_r011_total_packages_counts_the_outer_level_only() -> None:
    doc = cargo_report()
    doc.consignments[0].items[0].packaging.append(Packaging(count=6400, type_code="PK"))  # inner
    assert run(doc) == []
    doc.consignments[0].total_packages = 521
    found = run(doc)
    assert codes(found) == [("R011", "consignments[0].total_packages")]
    assert "(520)" in found[0].text


def test_r012_issue_time_in_the_future() -> None:
    doc = cargo_report()  # issued 2024-06-17 02:30 UTC
    assert run(doc, now=datetime(2024, 6, 16, 3, 0, tzinfo=UTC)) == []  # 23.5 h ahead: fine
    found = run(doc, now=datetime(2024, 6, 16, 2, 0, tzinfo=UTC))  # 24.5 h ahead
    assert codes(found) == [("R012", "header.issue_time")]
    assert found[0].severity == "error"


@pytest.mark.parametrize(
    ("eta", "finding"),
    [(datetime(2024, 6, 10, 11, 0, tzinfo=HKT), False),  # issued 06-17 10:30: 6.98 days before
     (datetime(2024, 6, 10, 10, 0, tzinfo=HKT), True),  # 7 days and 30 minutes before
     (datetime(2024, 8, 16, 10, 0, tzinfo=HKT), False),  # 60 days minus 30 minutes after
     (datetime(2024, 8, 16, 11, 0, tzinfo=HKT), True)],  # 60 days and 30 minutes after
)  # fmt: skip
def test_r013_eta_window(eta: datetime, finding: bool) -> None:
    doc = cargo_report()
    assert doc.border_transport_means is not None
    doc.border_transport_means.eta = eta
    found = run(doc)
    assert codes(found) == ([("R013", "border_transport_means.eta")] if finding else [])
    assert all(f.severity == "warning" for f in found)


def declaration(shipment: date | None, due: date | None, issued: datetime) -> CanonicalDocument:
    return CanonicalDocument(
        header=DocumentHeader(type="declaration", identifier="IMP1", issue_time=issued),
        declaration=Declaration(declaration_type="import", shipment_date=shipment, due_date=due),
        provenance=Provenance(source_format="edifact", message_type="CUSDEC", fields={
            "header.issue_time": SourcePosition(segment_position=6, segment_tag="DTM", element=1,
                                                component=2, line=7),
            "declaration.shipment_date": SourcePosition(segment_position=7, segment_tag="DTM",
                                                        element=1, component=2, line=8),
            "declaration.due_date": SourcePosition(segment_position=7, segment_tag="DTM",
                                                   element=1, component=2, line=8),
        }),
    )  # fmt: skip


def test_r014_due_date_is_shipment_plus_14_days() -> None:
    issued = datetime(2024, 6, 18, 10, 15, tzinfo=HKT)
    assert run(declaration(date(2024, 6, 20), date(2024, 7, 4), issued)) == []
    found = run(declaration(date(2024, 6, 20), date(2024, 7, 5), issued))
    assert codes(found) == [("R014", "declaration.due_date")]
    assert "2024-07-04" in found[0].text
    # the position is the one the mapping recorded for the derived value: the shipment date's DTM
    assert found[0].source is not None
    assert (found[0].source.segment_tag, found[0].source.line) == ("DTM", 8)


def test_r015_lodged_after_the_due_date() -> None:
    # export on 2024-06-01: due 2024-06-15; lodged on the 15th (Hong Kong time) is in time
    ok = declaration(date(2024, 6, 1), date(2024, 6, 15), datetime(2024, 6, 15, 23, 0, tzinfo=HKT))
    assert run(ok) == []
    late = declaration(date(2024, 6, 1), date(2024, 6, 15), datetime(2024, 6, 16, 9, 0, tzinfo=HKT))
    found = run(late)
    assert codes(found) == [("R015", "header.issue_time")]
    assert found[0].severity == "warning"
    assert found[0].source is not None and found[0].source.line == 7
    # without a due date, shipment date + 14 days
    late.declaration.due_date = None  # type: ignore[union-attr]
    assert codes(run(late)) == [("R015", "header.issue_time")]


def test_r016_equipment_references() -> None:
    doc = cargo_report()
    doc.consignments[0].items[1].equipment_refs = ["POLU2406018", "POLU2406023"]
    doc.consignments[0].equipment_refs = ["POLU2406050"]
    found = run(doc)
    assert sorted(codes(found)) == [("R016", "consignments[0].equipment_refs[0]"),
                                    ("R016", "consignments[0].items[1].equipment_refs[1]")]
    assert {f.severity for f in found} == {"warning"}
    doc.transport_equipment = []  # no equipment details at all: nothing to compare with
    assert run(doc) == []


def test_r017_net_mass_above_gross_mass() -> None:
    doc = cargo_report()
    doc.consignments[0].items[0].net_mass = Measure(value=Decimal("6.5"), unit="TNE")
    found = run(doc)
    assert codes(found) == [("R017", "consignments[0].items[0].net_mass")]
    assert "6500 kg exceeds the gross mass 6480.5 kg" in found[0].text


def test_r018_un_numbers() -> None:
    doc = cargo_report()
    item = doc.consignments[0].items[0]
    item.dangerous_goods = [DangerousGoods(un_number="1263"), DangerousGoods(un_number="UN1263"),
                            DangerousGoods(un_number="0000"), DangerousGoods(un_number="126")]
    found = run(doc)
    assert codes(found) == [("R018", f"consignments[0].items[0].dangerous_goods[{i}].un_number")
                            for i in (1, 2, 3)]  # fmt: skip
    assert found[0].value == "UN1263"


def test_r019_units_of_masses_and_volumes() -> None:
    doc = cargo_report()
    item = doc.consignments[0].items[0]
    item.volume = Measure(value=Decimal("12"), unit="KGM")  # a volume in kilograms
    doc.consignments[0].total_gross_mass = Measure(value=Decimal("12480.5"), unit="MTQ")
    item.quantity = Measure(value=Decimal("3"), unit="pieces")  # not a Rec 20 code
    found = [f for f in run(doc) if f.code == "R019"]
    assert sorted(codes(found)) == [("R019", "consignments[0].items[0].quantity.unit"),
                                    ("R019", "consignments[0].items[0].volume.unit"),
                                    ("R019", "consignments[0].total_gross_mass.unit")]
    assert any("not a mass unit" in f.text for f in found)
    # every mass unit R010 converts is a mass unit here too
    from edigate.rules.catalogue import KILOGRAMS

    assert set(KILOGRAMS) <= set(load_rule_set("default").parameters["R019"]["mass_units"])


def test_r020_package_types() -> None:
    doc = cargo_report()
    doc.consignments[0].items[0].packaging = [Packaging(count=520, type_code="CTN"),
                                              Packaging(count=1, type_code="1A")]
    found = [f for f in run(doc) if f.code == "R020"]
    assert codes(found) == [("R020", "consignments[0].items[0].packaging[0].type_code")]
    assert found[0].severity == "warning"


def test_every_rule_has_a_test_here() -> None:
    tested = {name.split("_")[1].upper() for name in globals() if name.startswith("test_r0")}
    assert tested == set(RULES)
