"""edigate.xsd: the published XML schemas (the contract with partners sending XML).

Each schema is versioned in its file name and namespace (``cargo-report-1.xsd``,
``urn:edigate:xsd:cargo-report:1``); common components are in ``common-1.xsd``. The schemas
need no network: the only external namespace, XML signature, is matched with
``processContents="skip"``.

``SCHEMAS`` maps every root element (Clark name) to its schema file; ``RECORDS`` names, for
batch roots, the repeated record element a streaming reader should hand out one by one.
"""

from __future__ import annotations

from pathlib import Path

XSD_DIR: Path = Path(__file__).resolve().parent
EXAMPLES_DIR: Path = XSD_DIR / "examples"

COMMON_NS = "urn:edigate:xsd:common:1"
CARGO_REPORT_NS = "urn:edigate:xsd:cargo-report:1"
ROAD_ACI_NS = "urn:edigate:xsd:road-aci:1"
DECLARATION_NS = "urn:edigate:xsd:declaration:1"
CUSTOMS_RESPONSE_NS = "urn:edigate:xsd:customs-response:1"
XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"

#: namespace URN -> schema file name (the common file has no root element)
NAMESPACES: dict[str, str] = {
    COMMON_NS: "common-1.xsd",
    CARGO_REPORT_NS: "cargo-report-1.xsd",
    ROAD_ACI_NS: "road-aci-1.xsd",
    DECLARATION_NS: "declaration-1.xsd",
    CUSTOMS_RESPONSE_NS: "customs-response-1.xsd",
}


def _q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


#: root element Clark name -> schema file name (in XSD_DIR)
SCHEMAS: dict[str, str] = {
    _q(CARGO_REPORT_NS, "CargoReport"): "cargo-report-1.xsd",
    _q(CARGO_REPORT_NS, "HouseConsignmentBatch"): "cargo-report-1.xsd",
    _q(ROAD_ACI_NS, "AdvanceCargoInformation"): "road-aci-1.xsd",
    _q(DECLARATION_NS, "Declaration"): "declaration-1.xsd",
    _q(CUSTOMS_RESPONSE_NS, "CustomsResponse"): "customs-response-1.xsd",
    _q(CUSTOMS_RESPONSE_NS, "Acknowledgement"): "customs-response-1.xsd",
}

#: batch root Clark name -> Clark name of its repeated record element (a direct child of the
#: root); everything before the first record is the batch context (header, master document)
RECORDS: dict[str, str] = {
    _q(CARGO_REPORT_NS, "HouseConsignmentBatch"): _q(CARGO_REPORT_NS, "HouseConsignment"),
}


def schema_path(root_qname: str) -> Path | None:
    """Path of the schema for a root element Clark name, or None when it is not one of ours."""
    name = SCHEMAS.get(root_qname)
    return XSD_DIR / name if name is not None else None


__all__ = [
    "CARGO_REPORT_NS",
    "COMMON_NS",
    "CUSTOMS_RESPONSE_NS",
    "DECLARATION_NS",
    "EXAMPLES_DIR",
    "NAMESPACES",
    "RECORDS",
    "ROAD_ACI_NS",
    "SCHEMAS",
    "XMLDSIG_NS",
    "XSD_DIR",
    "schema_path",
]
