"""Canonical customs responses -> CUSRES, in the directory version the submitter used.

Segments are built by data element id against the compiled directory (``C002/1001``...), so the
same code serves every CUSRES version; the codes used are data (``edifact/cusres_render.toml``).
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from edigate.canonical.model import CustomsResponse
from edigate.edifact.directory import SegmentSpec, message_spec
from edigate.edifact.tokenizer import Delimiters
from edigate.edifact.writer import SegmentWriter

RENDER = Path(__file__).with_name("edifact") / "cusres_render.toml"


@lru_cache(maxsize=1)
def _config() -> dict[str, Any]:
    with RENDER.open("rb") as fh:
        return tomllib.load(fh)


def _elements(spec: SegmentSpec, values: dict[str, str]) -> list[str | list[str]]:
    """Positional elements of ``spec`` from ``{"C002/1001": "962", "1225": "29"}``."""
    out: list[str | list[str]] = []
    for es in spec.elements:
        if es.components is None:
            out.append(values.get(es.id, ""))
            continue
        comps = [""] * len(es.components)
        for key, value in values.items():
            composite, _, component = key.partition("/")
            if composite != es.id:
                continue
            for j, cs in enumerate(es.components):
                if cs.id == component and not comps[j]:
                    comps[j] = value
                    break
            else:
                raise KeyError(f"{spec.tag}: no component {component} in {composite}")
        out.append(comps)
    return out


def render_cusres(
    response: CustomsResponse,
    *,
    directory: str,
    sender: list[str],
    recipient: list[str],
    interchange_reference: str,
    message_reference: str = "1",
    syntax: tuple[str, str] = ("UNOC", "3"),
    now: datetime | None = None,
) -> bytes:
    """One interchange holding one CUSRES answering ``response.response_to``."""
    cfg = _config()
    render = cfg["render"]
    status = cfg["status"][response.status]
    spec = message_spec(directory, render["message"])
    segs = spec.segments
    syntax4 = syntax[1] == "4"
    w = SegmentWriter(Delimiters(repetition="*" if syntax4 else None), syntax4)
    now = now or datetime.now(UTC)
    w.unb(syntax, sender, recipient, now, interchange_reference)
    first = len(w.segments)
    w.seg("UNH", message_reference, ["CUSRES", directory[0], directory[1:], "UN"])

    def put(tag: str, values: dict[str, str]) -> None:
        w.seg(tag, *_elements(segs[tag], values))

    put("BGM", {"C002/1001": status["document_code"],
                "C106/1004" if any(e.id == "C106" for e in segs["BGM"].elements) else "1004":
                response.customs_reference or response.response_to,
                "1225": status["function"]})  # fmt: skip
    issued = response.issued or now
    put("DTM", {"C507/2005": render["issue_time_qualifier"],
                "C507/2380": issued.strftime("%Y%m%d%H%M"),
                "C507/2379": render["issue_time_format"]})  # fmt: skip
    # Processing indicator: GIS (C529) up to D.01B, GEI (C012) from D.03B.
    if "GIS" in segs:
        put("GIS", {"C529/7365": status["processing"]})
    else:
        put("GEI", {"9649": render["processing_qualifier"], "C012/7365": status["processing"]})
    refs = [(render["submitted_reference"], response.response_to)]
    if response.customs_reference:
        refs.append((render["customs_reference"], response.customs_reference))
    if directory == "D95B":
        # D.95B: reasons as header FTX and SG1 ERP-ERC (ERP C701 mandatory: 1049 "1" heading
        # section), references in SG5 after them.
        for reason in response.reasons:
            if reason.text:
                put("FTX", {"4451": render["reason_text"], "C108/4440": reason.text[:70]})
        for reason in response.reasons:
            put("ERP", {"C701/1049": "1"})
            put("ERC", {"C901/9321": reason.code})
        for qualifier, value in refs:
            put("RFF", {"C506/1153": qualifier, "C506/1154": value})
    else:
        # D.96B on: SG3 RFF (references), then SG4 ERP-ERC-FTX per reason.
        for qualifier, value in refs:
            put("RFF", {"C506/1153": qualifier, "C506/1154": value})
        for reason in response.reasons:
            w.seg("ERP")
            put("ERC", {"C901/9321": reason.code})
            if reason.text:
                put("FTX", {"4451": render["reason_text"], "C108/4440": reason.text[:70]})
    count = len(w.segments) - first + 1
    w.seg("UNT", str(count), message_reference)
    w.seg("UNZ", "1", interchange_reference)
    codec = "utf-8" if syntax[0] in ("UNOW", "UNOY") else "latin-1"
    return w.text().encode(codec, "replace")
