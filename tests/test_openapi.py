"""The committed OpenAPI document is valid OpenAPI 3.1, is what the gateway serves, and names
every path and error code the HTTPS channel has."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from edigate.adapters.http.server import ERRORS, openapi_document

from .conftest import REPO


def test_openapi_document_is_valid_and_complete() -> None:
    doc = json.loads(openapi_document())
    validate(doc)
    assert doc == json.loads((REPO / "adapters" / "http" / "openapi.json").read_text())
    assert set(doc["paths"]) == {
        "/v1/submissions", "/v1/submissions/{id}", "/v1/submissions/{id}/response",
        "/v1/submissions/{id}/receipt", "/v1/submissions/{id}/acknowledgement",
        "/v1/openapi.json"}
    codes = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    assert set(codes["enum"]) == set(ERRORS)
    docs = (REPO / "docs" / "errors.md").read_text()
    assert all(f"| {code} |" in docs for code in ERRORS)
