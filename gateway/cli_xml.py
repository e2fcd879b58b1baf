"""``edigate validate`` and ``edigate map`` for XML files (``edigate.cli`` picks this module when a
file starts with ``<``): the same checks as the gateway's XML channel (hostile-XML policy,
signature, schema, mapping, business rules), reported the way the EDIFACT results are: schema
findings apart from business-rule findings, each with its position (line, column, XPath)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .canonical.model import CanonicalDocument
from .pipeline.edifact import check_rules
from .pipeline.xml import XmlHead, XmlOutcome, xml_stream
from .rules import RuleSet
from .xmldsig import load_certificates
from .xmlrender import AckDocument, AckFinding, render_acknowledgement
from .xmlsafe import XmlRejected


def certificates_from(paths: Sequence[str]) -> list[Any]:
    """The signing certificates given with ``--certificate`` (PEM files)."""
    out: list[Any] = []
    for p in paths:
        out.extend(load_certificates(Path(p).read_bytes()))
    return out


def _finding(code: str, text: str, level: str, document: int | None, line: int, column: int,
             xpath: str | None) -> dict[str, Any]:  # fmt: skip
    return {"code": code, "level": level, "text": text, "position": {
        "document": document, "line": line or None, "column": column or None, "xpath": xpath}}


def _rule_finding(o: XmlOutcome, f: Any) -> dict[str, Any]:
    d = f.as_dict()
    s = d.pop("source") or {}
    d["rule_set"] = o.rule_set
    d["position"] = {"document": o.index, "line": s.get("line"), "column": None,
                     "xpath": s.get("xpath")}  # fmt: skip
    return d


def read(path: str, certificates: Sequence[Any], do_map: bool,
         rule_set: RuleSet | None, now: datetime,
         ) -> tuple[XmlHead | None, list[XmlOutcome], XmlRejected | None]:  # fmt: skip
    """Every document of an XML file, rules checked (``do_map``); a whole-document refusal is
    returned, not raised. Documents are dropped once checked unless mapping was asked for."""
    head: XmlHead | None = None
    outcomes: list[XmlOutcome] = []
    try:
        for item in xml_stream(path, certificates=certificates, do_map=do_map):
            if isinstance(item, XmlHead):
                head = item
                continue
            if item.doc is not None:
                check_rules([item], rule_set, now, {})  # type: ignore[list-item]
            outcomes.append(item)
    except XmlRejected as exc:
        return head, outcomes, exc
    return head, outcomes, None


def validate_result(path: str, head: XmlHead | None, outcomes: list[XmlOutcome],
                    refused: XmlRejected | None) -> dict[str, Any]:  # fmt: skip
    errors = []
    if refused is not None:
        errors.append(_finding(refused.code, refused.text, "document", None, refused.line,
                               refused.column, None))  # fmt: skip
    for o in outcomes:
        for f in o.schema_findings:
            errors.append(_finding(f.code, f.text, "schema", o.index, f.line, f.column, f.xpath))
    rule_findings = [_rule_finding(o, f) for o in outcomes for f in o.findings]
    syntax_valid = not errors
    return {
        "file": path,
        "format": "xml",
        "root": head.name if head else None,
        "namespace": head.namespace if head else None,
        "schema": head.schema if head else None,
        "signed": head.signed if head else False,
        "signer": head.signer if head else None,
        "documents": len(outcomes),
        "message_types": [head.name] if head else [],
        "valid": syntax_valid and not any(f["severity"] == "error" for f in rule_findings),
        "syntax_valid": syntax_valid,
        "errors": errors,
        "rule_findings": rule_findings,
        "rules_checked": sum(1 for o in outcomes if o.rule_set is not None),
        "rules_not_checked": [{"document": o.index, "reason": o.reason} for o in outcomes
                              if o.problem in ("no_mapping", "mapping_failed")],
    }  # fmt: skip


def acknowledgement(path: str, result: dict[str, Any], outcomes: list[XmlOutcome]) -> str:
    """The Acknowledgement the gateway would answer with (unsigned, without a submission id)."""
    data = Path(path).read_bytes()
    now = datetime.now(UTC)
    top = [AckFinding(e["code"], e["text"], line=e["position"]["line"] or 0,
                      column=e["position"]["column"] or 0)
           for e in result["errors"] if e["level"] == "document"]  # fmt: skip
    docs = []
    if not top:
        for o in outcomes:
            findings = [AckFinding(f.code, f.text, f.severity, f.line, f.column, f.xpath)
                        for f in o.schema_findings]  # fmt: skip
            findings += [AckFinding(f.code, f.text, f.severity,
                                    (f.source.line or 0) if f.source else 0, 0,
                                    f.source.xpath if f.source else None, f.path)
                         for f in o.findings]  # fmt: skip
            ok = o.problem is None and not any(f.severity == "error" for f in o.findings)
            docs.append(AckDocument(o.index, "accepted" if ok else "rejected", None, o.name,
                                    findings))  # fmt: skip
    accepted = any(d.outcome == "accepted" for d in docs)
    return render_acknowledgement(
        message_id=secrets.token_hex(16), received=now, issued=now, sender=None,
        payload_sha256=hashlib.sha256(data).hexdigest(), payload_size=len(data),
        outcome="accepted" if accepted else "rejected", findings=top,
        documents=docs).decode("utf-8")  # fmt: skip


def print_text(result: dict[str, Any]) -> None:
    state = "valid" if result["valid"] else "INVALID"
    signed = f", signed by {result['signer']}" if result["signed"] else ""
    print(f"{result['file']}: {state} (XML {result['root'] or '?'} "
          f"{result['namespace'] or ''}, {result['documents']} document(s){signed})")  # fmt: skip
    for e in [*result["errors"]]:
        print(f"  [{e['code']}] {_where(e['position'])}: {e['text']}")
    if result["rule_findings"] or result["rules_not_checked"]:
        print("  business rules:")
    for f in result["rule_findings"]:
        print(f"    [{f['code']} {f['severity']}] {_where(f['position'])}, {f['path']}: "
              f"{f['text']}")  # fmt: skip
    for n in result["rules_not_checked"]:
        print(f"    not checked: document {n['document']}: {n['reason']}")


def _where(p: dict[str, Any]) -> str:
    parts = []
    if p.get("document"):
        parts.append(f"document {p['document']}")
    if p.get("line"):
        parts.append(f"line {p['line']}" + (f", column {p['column']}" if p.get("column") else ""))
    if p.get("xpath"):
        parts.append(p["xpath"])
    return ", ".join(parts) or "document"


def mapped(outcomes: list[XmlOutcome],
           refused: XmlRejected | None) -> tuple[list[tuple[str, CanonicalDocument]], list[str]]:
    """(where, document) for each mapped document, and the problems."""
    docs = [(f"document {o.index} ({o.name}, line {o.line})", o.doc) for o in outcomes
            if o.doc is not None]  # fmt: skip
    problems = [f"document {o.index} ({o.name}, line {o.line}): not mapped: {o.reason}"
                for o in outcomes if o.doc is None]  # fmt: skip
    if refused is not None:
        where = f" (line {refused.line})" if refused.line else ""
        problems.append(f"refused{where}: [{refused.code}] {refused.text}")
    return docs, problems  # type: ignore[return-value]
