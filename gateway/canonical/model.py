"""Canonical cargo model v1: one format-free shape for everything the gateway accepts.

Names follow the WCO Data Model classes (Declaration, BorderTransportMeans, Consignment,
TransportContractDocument, TransportEquipment, GovernmentAgencyGoodsItem, Party...) and EU ICS2's
consignment / house-consignment tree. Nothing here knows EDIFACT, XML or sockets: mappings fill
these structures, business rules read them, backends receive them as JSON.

Conventions: quantities and money are ``Decimal`` (JSON strings, never floats); times are
timezone-aware ``datetime``; codes keep their code list in the field name or docstring
(UN/LOCODE, ISO 3166-1 alpha-2, ISO 4217, UN Rec 19/20/21, UNTDID 1001/1225/3035...).
"""

from __future__ import annotations

import inspect
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

import msgspec
from msgspec import Struct

SCHEMA_VERSION = "1.0"


class _Base(Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """Common options: keyword construction, defaults left out of JSON, no unknown fields."""


class SourcePosition(_Base, kw_only=True):
    """Where a value was read in the submitted document."""

    segment_position: int | None = None  # EDIFACT: position in the message, UNH = 1
    segment_tag: str | None = None
    element: int | None = None  # EDIFACT: data element, 1 = first after the tag
    component: int | None = None
    line: int | None = None  # text line in the submitted file
    xpath: str | None = None  # XML documents


class Provenance(_Base, kw_only=True):
    """What the canonical document was made from."""

    source_format: Literal["edifact", "xml", "cargo-imp"]
    message_type: str  # e.g. CUSCAR, CUSDEC, or the XML root element
    message_version: str | None = None  # e.g. D:95B:UN
    message_reference: str | None = None  # UNH 0062
    interchange_reference: str | None = None  # UNB 0020
    sender: str | None = None  # UNB S002 0004 / partner id
    recipient: str | None = None
    #: canonical field path (e.g. ``consignments[0].items[1].gross_mass``) -> source position
    fields: dict[str, SourcePosition] = {}


class Measure(_Base, kw_only=True):
    value: Decimal
    unit: str  # UN/ECE Rec 20 unit code, e.g. KGM, MTQ, TNE


class Amount(_Base, kw_only=True):
    value: Decimal
    currency: str | None = None  # ISO 4217


class Address(_Base, kw_only=True):
    street: list[str] = []
    city: str | None = None
    postcode: str | None = None
    country_subdivision: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2


class Communication(_Base, kw_only=True):
    channel: str  # UNTDID 3155: TE telephone, EM e-mail, FX fax...
    value: str


class Party(_Base, kw_only=True):
    """A party in a role (UNTDID 3035 role codes: CZ consignor, CN consignee, N1 notify party,
    CA carrier, DT declarant, IM importer, EX exporter, FW forwarder, MS sender...)."""

    role: str
    identifier: str | None = None
    identifier_scheme: str | None = None  # code list responsible agency / scheme (e.g. 5 = ISO)
    name: str | None = None
    address: Address | None = None
    contacts: list[Communication] = []


class Location(_Base, kw_only=True):
    code: str | None = None  # UN/LOCODE (5 characters) where given
    name: str | None = None
    #: what the location is for: loading, unloading, delivery, departure, arrival, transit,
    #: acceptance, customs_office, origin... (mappings use these words)
    function: str | None = None
    scheme: str | None = None  # code list of ``code`` when not UN/LOCODE


class Packaging(_Base, kw_only=True):
    count: int | None = None
    type_code: str | None = None  # UN/ECE Rec 21 package type (CT, PK, PL...)
    marks: list[str] = []


class ReferencedDocument(_Base, kw_only=True):
    """A document referenced by a goods item or consignment (licence, permit, invoice...)."""

    type_code: str | None = None  # UNTDID 1001 or 1153 qualifier
    identifier: str
    issue_date: date | None = None


class DangerousGoods(_Base, kw_only=True):
    un_number: str  # four digits
    hazard_class: str | None = None


class GoodsItem(_Base, kw_only=True):
    """WCO GovernmentAgencyGoodsItem / ICS2 ConsignmentItem."""

    sequence: int | None = None
    description: list[str] = []
    hs_code: str | None = None  # Harmonized System code, 6 to 8 (or 10) digits
    packaging: list[Packaging] = []
    gross_mass: Measure | None = None
    net_mass: Measure | None = None
    volume: Measure | None = None
    quantity: Measure | None = None  # supplementary quantity, UN/ECE Rec 20 unit
    dangerous_goods: list[DangerousGoods] = []
    equipment_refs: list[str] = []  # container ids this item is stowed in
    origin_country: str | None = None  # ISO 3166-1 alpha-2
    value: Amount | None = None
    documents: list[ReferencedDocument] = []


class TransportDocument(_Base, kw_only=True):
    """WCO TransportContractDocument: B/L, house B/L, master/house AWB, road consignment note."""

    identifier: str
    type: Literal["BL", "HBL", "MAWB", "HAWB", "CMR", "SWB", "OTHER"] = "OTHER"


class Seal(_Base, kw_only=True):
    identifier: str
    party: str | None = None  # UNTDID 9303: CA carrier, CU customs, SH shipper...


class TransportEquipment(_Base, kw_only=True):
    identifier: str  # ISO 6346 container id where a container
    type: str | None = None  # UNTDID 8053: CN container, TE trailer...
    size_type: str | None = None  # ISO 6346 size/type code (e.g. 45G1)
    loaded: bool | None = None  # UNTDID 8169: 5 full -> True, 4 empty -> False
    seals: list[Seal] = []
    gross_mass: Measure | None = None
    location: str | None = None  # e.g. BAPLIE stowage position
    # Stowage plans and equipment reports (BAPLIE, COARRI, CODECO) describe each unit on its own:
    locations: list[Location] = []  # this unit's ports/places: loading, unloading, delivery...
    event_time: datetime | None = None  # when the reported move happened (loaded, discharged, gate)
    references: list[ReferencedDocument] = []  # booking (BN), B/L (BM), release order (AAJ)...
    parties: list[Party] = []  # e.g. container operator (CF, or CA in SMDG BAPLIE), shipper
    dangerous_goods: list[DangerousGoods] = []
    #: means carrying this unit when not the document's vessel: CODECO truck, on-carriage
    transport_means: BorderTransportMeans | None = None


class Consignment(_Base, kw_only=True):
    """A consignment (master level) or house consignment (with ``master_document``)."""

    sequence: int | None = None
    transport_document: TransportDocument | None = None
    master_document: TransportDocument | None = None
    locations: list[Location] = []
    parties: list[Party] = []
    total_packages: int | None = None
    total_gross_mass: Measure | None = None
    total_volume: Measure | None = None
    equipment_refs: list[str] = []
    items: list[GoodsItem] = []
    house_consignments: list[Consignment] = []
    references: list[ReferencedDocument] = []


class BorderTransportMeans(_Base, kw_only=True):
    mode: str | None = None  # UN/ECE Rec 19: 1 sea, 3 road, 4 air, 8 inland water...
    identifier: str | None = None
    identifier_type: Literal["IMO", "FLIGHT", "REGISTRATION", "CALL_SIGN", "OTHER"] | None = None
    name: str | None = None
    nationality: str | None = None  # ISO 3166-1 alpha-2
    journey_id: str | None = None  # voyage or flight number
    carrier: Party | None = None
    eta: datetime | None = None
    etd: datetime | None = None
    itinerary: list[Location] = []


DocumentType = Literal[
    "cargo_report",  # sea/air/road cargo report or manifest (CUSCAR, IFCSUM, FFM...)
    "advance_cargo_information",
    "house_consignment_report",
    "stowage_plan",  # BAPLIE
    "equipment_report",  # COARRI / CODECO
    "transport_instruction",  # IFTMIN
    "declaration",  # CUSDEC
    "customs_response",  # CUSRES
]


class DocumentHeader(_Base, kw_only=True):
    type: DocumentType
    type_code: str | None = None  # UNTDID 1001 document name code (85, 785, 929...)
    function: str | None = None  # UNTDID 1225: 9 original, 5 replace, 1 cancel, 4 change...
    identifier: str | None = None  # sender's reference: LRN, manifest or voyage reference
    issue_time: datetime | None = None
    version: str | None = None
    references: list[ReferencedDocument] = []


class Declaration(_Base, kw_only=True):
    declaration_type: Literal["import", "export", "re-export", "transit", "other"]
    shipment_date: date | None = None  # date of import or export
    due_date: date | None = None  # statutory filing deadline (HK: 14 days after shipment)
    customs_office: str | None = None
    total_invoice: Amount | None = None


class ResponseReason(_Base, kw_only=True):
    code: str
    text: str | None = None
    pointer: str | None = None  # canonical path or source position the reason is about


class CustomsResponse(_Base, kw_only=True):
    status: Literal["accepted", "rejected", "held", "released"]
    response_to: str  # identifier of the submitted document (header.identifier / LRN)
    response_to_message_id: str | None = None  # gateway message id of the submission
    reasons: list[ResponseReason] = []
    customs_reference: str | None = None  # e.g. MRN / customs cargo reference number
    issued: datetime | None = None


class CanonicalDocument(_Base, kw_only=True, omit_defaults=False):
    """One business document (one EDIFACT message, one XML document)."""

    schema_version: str = SCHEMA_VERSION
    header: DocumentHeader
    border_transport_means: BorderTransportMeans | None = None
    parties: list[Party] = []  # document-level parties (sender, carrier, declarant...)
    consignments: list[Consignment] = []
    transport_equipment: list[TransportEquipment] = []
    declaration: Declaration | None = None
    response: CustomsResponse | None = None
    provenance: Provenance | None = None


_encoder = msgspec.json.Encoder(decimal_format="string")


def to_json(doc: CanonicalDocument) -> bytes:
    return _encoder.encode(doc)


def from_json(data: bytes | str) -> CanonicalDocument:
    return msgspec.json.decode(data, type=CanonicalDocument)


def json_schema() -> dict[str, object]:
    """JSON Schema of the canonical document (committed as docs/canonical-schema.json)."""
    schema = msgspec.json.schema(CanonicalDocument)
    # descriptions come from docstrings; msgspec releases differ in how they dedent them, so
    # normalise here and keep the committed schema the same whatever version is installed
    for definition in schema.get("$defs", {}).values():
        if isinstance(definition.get("description"), str):
            definition["description"] = inspect.cleandoc(definition["description"])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"edigate canonical cargo document v{SCHEMA_VERSION}"
    return schema
