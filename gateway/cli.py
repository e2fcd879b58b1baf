"""Command line: ``edigate validate`` and ``edigate map`` (docs/canonical.md, "Command line").

``validate`` checks syntax (ISO 9735 and the UN/EDIFACT directories) and, for messages that pass
it and have a mapping, the business rules of the canonical document (``edigate.rules``). Rule
findings are reported apart from the syntax findings; an error-severity rule finding makes the
file invalid (exit status 1), a warning does not.

``map`` prints the canonical document of every message that passes the syntax checks and has a
mapping. Messages that fail syntax validation, or whose interchange or group does, are not
mapped; neither are messages without a mapping; both are reported and give exit status 1.

Exit status of both: 0 when every file is fine, 1 when any is not, 2 on usage or I/O errors
(and unreadable profiles or rule sets).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from .canonical.model import CanonicalDocument, to_json
from .edifact.contrl import build_contrl
from .edifact.directory import DirectoryError, Profile, load_profile
from .edifact.validator import EdifactValidator, Finding, InterchangeReport, MessageReport
from .mappings.engine import map_message, mapping_for
from .rules import (
    RuleFinding,
    RuleSet,
    RuleSetError,
    check_document,
    load_rule_set,
    rule_set_for_partner,
)

CHUNK = 1 << 16


def _chunks(fh: BinaryIO) -> Iterator[bytes]:
    while True:
        chunk = fh.read(CHUNK)
        if not chunk:
            return
        yield chunk


# -- syntax, then mapping, per message ----------------------------------------------------------


@dataclass(slots=True)
class MessageOutcome:
    """One message of a file: its syntax report and, when it could be mapped, its document."""

    report: MessageReport
    interchange: int = 0
    doc: CanonicalDocument | None = None
    #: why there is no document: "syntax", "envelope", "no_mapping" or "mapping_failed"
    problem: str | None = None
    reason: str = ""
    rule_set: str | None = None
    findings: list[RuleFinding] = field(default_factory=list)

    @property
    def label(self) -> str:
        return ":".join(self.report.identifier[:4]) or "?"

    def where(self) -> str:
        return (f"interchange {self.interchange}, message {self.report.index} "
                f"({self.report.reference or '?'}, {self.label})")  # fmt: skip


def _position(f: Finding) -> str:
    where = []
    if f.segment_tag:
        where.append(f.segment_tag + (f" (segment {f.segment_position})"
                                      if f.segment_position else ""))  # fmt: skip
    if f.element:
        where.append(f"element {f.element}" + (f".{f.component}" if f.component else ""))
    if f.line:
        where.append(f"line {f.line}")
    return ", ".join(where)


def _map(r: MessageReport) -> tuple[CanonicalDocument | None, str | None, str]:
    """Map a message that passed its own syntax checks: (document, problem, reason)."""
    try:
        mapping = mapping_for(r.type, r.directory)
    except (ValueError, DirectoryError, OSError) as exc:
        return None, "mapping_failed", f"its mapping cannot be loaded: {exc}"
    if mapping is None:
        return None, "no_mapping", f"no mapping for {r.type} in directory {r.directory or '?'}"
    assert r.segments is not None and r.spec is not None
    prov = {"message_reference": r.reference, "message_version": ":".join(r.identifier[1:4])}
    try:
        return map_message(r.segments, r.spec, mapping, prov), None, ""
    except ValueError as exc:
        return None, "mapping_failed", f"mapping {mapping.name} failed: {exc}"


def interchanges(path: str, profiles: Sequence[Profile] = (),
                 do_map: bool = True) -> Iterator[tuple[InterchangeReport, list[MessageOutcome]]]:
    """Validate a file; map each message that passes (``do_map``); yield each interchange with
    its messages' outcomes. Mapping happens at the end of each message (its segments are dropped
    afterwards); whether its interchange and group pass too is known at the end of the
    interchange, which also fills in the UNB sender, recipient and reference in the provenance.
    Memory: one message's segments, one interchange's documents."""
    validator = EdifactValidator(profiles, keep_segments=do_map)
    pending: list[MessageOutcome] = []
    with Path(path).open("rb") as fh:
        for r in validator.validate(_chunks(fh)):
            if isinstance(r, MessageReport):
                m = MessageOutcome(r)
                if not r.valid:
                    first = r.findings[0]
                    pos = _position(first)
                    m.problem = "syntax"
                    m.reason = (f"{len(r.findings)} syntax error(s); first: [{first.code}] "
                                f"{pos + ': ' if pos else ''}{first.text}")  # fmt: skip
                elif do_map:
                    m.doc, m.problem, m.reason = _map(r)
                r.segments = None
                pending.append(m)
                continue
            bad_groups = {g.index for g in r.groups if g.findings}
            header = r.header
            for m in pending:
                m.interchange = r.index
                if m.problem is None and (r.findings or m.report.group in bad_groups):
                    level = "interchange" if r.findings else "group"
                    errors = r.findings or next(g.findings for g in r.groups
                                                if g.index == m.report.group)  # fmt: skip
                    m.doc, m.problem = None, "envelope"
                    m.reason = (f"its {level} has {len(errors)} syntax error(s); first: "
                                f"[{errors[0].code}] {errors[0].text}")  # fmt: skip
                if m.doc is not None and m.doc.provenance is not None and header is not None:
                    prov = m.doc.provenance
                    prov.sender = header.value(2) or None
                    prov.recipient = header.value(3) or None
                    prov.interchange_reference = r.reference or header.value(5) or None
            yield r, pending
            pending = []


def _check_rules(outcomes: list[MessageOutcome], rule_set: RuleSet | None, now: datetime,
                 by_sender: dict[str | None, RuleSet]) -> None:  # fmt: skip
    """Business rules on every mapped document; without ``rule_set``, each interchange's
    sender selects a partner profile (else the default rule set), remembered in ``by_sender``.
    Raises RuleSetError when a rule set cannot be read."""
    for m in outcomes:
        if m.doc is None:
            continue
        sender = m.doc.provenance.sender if m.doc.provenance else None
        rs = rule_set or by_sender.get(sender)
        if rs is None:
            try:
                rs = by_sender[sender] = rule_set_for_partner(sender)
            except OSError as exc:
                raise RuleSetError(str(exc)) from exc
        m.rule_set = rs.name
        m.findings = check_document(m.doc, rs, now)


# -- validate -----------------------------------------------------------------------------------


def _rule_finding(m: MessageOutcome, f: RuleFinding) -> dict[str, Any]:
    d = f.as_dict()
    s = d.pop("source") or {}
    d["rule_set"] = m.rule_set
    d["position"] = {
        "interchange": m.interchange,
        "group": m.report.group or None,
        "message": m.report.index,
        "message_reference": m.report.reference or None,
        "segment_tag": s.get("segment_tag"),
        "segment_position": s.get("segment_position"),
        "element": s.get("element"),
        "component": s.get("component"),
        "line": s.get("line"),
    }
    return d


def _file_result(path: str, reports: list[InterchangeReport],
                 outcomes: list[MessageOutcome]) -> dict[str, Any]:  # fmt: skip
    types: list[str] = []
    errors = []
    for ic in reports:
        for m in ic.messages:
            label = ":".join(m.identifier[:4])
            if label not in types:
                types.append(label)
        for f in ic.all_findings():
            d = f.as_dict()
            errors.append(
                {
                    "code": d["code"],
                    "level": d["level"],
                    "segment_tag": d["position"]["segment_tag"],
                    "position": d["position"],
                    "text": d["text"],
                }
            )
    rule_findings = [_rule_finding(m, f) for m in outcomes for f in m.findings]
    syntax_valid = all(ic.valid for ic in reports)
    not_checked = [
        {"interchange": m.interchange, "message": m.report.index,
         "message_reference": m.report.reference or None, "reason": m.reason}
        for m in outcomes if m.problem in ("no_mapping", "mapping_failed")
    ]  # fmt: skip
    return {
        "file": path,
        "format": "edifact",
        "interchanges": len(reports),
        "messages": sum(len(ic.messages) for ic in reports),
        "message_types": types,
        "valid": syntax_valid and not any(f["severity"] == "error" for f in rule_findings),
        "syntax_valid": syntax_valid,
        "errors": errors,
        "rule_findings": rule_findings,
        "rules_checked": sum(1 for m in outcomes if m.rule_set is not None),
        "rules_not_checked": not_checked,
    }


def _where(p: dict[str, Any]) -> list[str]:
    where = [f"interchange {p['interchange']}"]
    if p["group"]:
        where.append(f"group {p['group']}")
    if p["message"]:
        where.append(f"message {p['message']}")
    if p["segment_tag"]:
        seg = p["segment_tag"]
        if p["segment_position"]:
            seg += f" (segment {p['segment_position']})"
        where.append(seg)
    if p["element"]:
        comp = f".{p['component']}" if p["component"] else ""
        where.append(f"element {p['element']}{comp}")
    if p["line"]:
        where.append(f"line {p['line']}")
    return where


def _print_text(result: dict[str, Any], outcomes: list[MessageOutcome]) -> None:
    state = "valid" if result["valid"] else "INVALID"
    print(
        f"{result['file']}: {state} ({result['interchanges']} interchange(s), "
        f"{result['messages']} message(s): {', '.join(result['message_types']) or '-'})"
    )
    for e in result["errors"]:
        print(f"  [{e['code']}] {', '.join(_where(e['position']))}: {e['text']}")
    failed = [m for m in outcomes if m.problem == "mapping_failed"]
    if not result["rule_findings"] and not failed:
        return
    print("  business rules:")
    for f in result["rule_findings"]:
        print(f"    [{f['code']} {f['severity']}] {', '.join(_where(f['position']))}, "
              f"{f['path']}: {f['text']}")  # fmt: skip
    for m in failed:
        print(f"    not checked: {m.where()}: {m.reason}")


def _load_profiles(paths: Sequence[str]) -> list[Profile] | None:
    try:
        return [load_profile(p) for p in paths]
    except (OSError, KeyError, ValueError, DirectoryError) as exc:
        print(f"edigate: cannot read profile: {exc}", file=sys.stderr)
        return None


def cmd_validate(args: argparse.Namespace) -> int:
    profiles = _load_profiles(args.profile)
    if profiles is None:
        return 2
    rule_set = None
    if args.rules and not args.no_rules:
        try:
            rule_set = load_rule_set(args.rules)
        except (OSError, RuleSetError) as exc:
            print(f"edigate: cannot read rule set: {exc}", file=sys.stderr)
            return 2
    any_invalid = False
    io_error = False
    now = datetime.now(UTC)
    by_sender: dict[str | None, RuleSet] = {}
    for path in args.files:
        reports: list[InterchangeReport] = []
        outcomes: list[MessageOutcome] = []
        try:
            for ic, batch in interchanges(path, profiles, do_map=not args.no_rules):
                _check_rules(batch, rule_set, now, by_sender)
                for m in batch:
                    m.doc = None  # checked: the findings are all that is needed
                reports.append(ic)
                outcomes.extend(batch)
        except OSError as exc:
            print(f"edigate: {path}: {exc.strerror or exc}", file=sys.stderr)
            io_error = True
            continue
        except RuleSetError as exc:
            print(f"edigate: cannot read rule set: {exc}", file=sys.stderr)
            return 2
        result = _file_result(path, reports, outcomes)
        any_invalid |= not result["valid"]
        if args.ack:
            stamp = datetime.now(UTC)
            acks = []
            for ic in reports:
                # an..14 interchange control reference, unique per CONTRL
                contrl = build_contrl(ic, secrets.token_hex(7).upper(), stamp)
                if contrl is not None:
                    acks.append(contrl.decode("utf-8" if ic.syntax_identifier in ("UNOW", "UNOY")
                                              else "latin-1"))
            result["ack"] = acks
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            _print_text(result, outcomes)
            for ack in result.get("ack", []):
                print(ack)
    if io_error:
        return 2
    return 1 if any_invalid else 0


# -- map ----------------------------------------------------------------------------------------


def _summary(m: MessageOutcome) -> list[str]:
    """A few readable lines about a mapped document."""
    doc = m.doc
    assert doc is not None
    h = doc.header
    lines = [f"  {m.where()} -> {h.type} {h.identifier or '(no identifier)'}"
             + (f", issued {h.issue_time.isoformat()}" if h.issue_time else "")]  # fmt: skip
    btm = doc.border_transport_means
    if btm is not None:
        means = [btm.name or btm.identifier or "?"]
        if btm.identifier and btm.name:
            means.append(f"({btm.identifier_type or 'id'} {btm.identifier})")
        if btm.journey_id:
            means.append(f"journey {btm.journey_id}")
        if btm.eta:
            means.append(f"ETA {btm.eta.isoformat()}")
        lines.append(f"    transport: {' '.join(means)}")
    counts = [f"{len(doc.consignments)} consignment(s)",
              f"{sum(len(c.items) for c in doc.consignments)} item(s)",
              f"{len(doc.transport_equipment)} equipment"]  # fmt: skip
    lines.append(f"    {', '.join(counts)}")
    for n, c in enumerate(doc.consignments, 1):
        parts = []
        if c.transport_document:
            parts.append(f"{c.transport_document.type} {c.transport_document.identifier}")
        if c.total_packages is not None:
            parts.append(f"{c.total_packages} package(s)")
        if c.total_gross_mass is not None:
            parts.append(f"{c.total_gross_mass.value} {c.total_gross_mass.unit}")
        if parts:
            lines.append(f"    consignment {n}: {', '.join(parts)}")
    if doc.declaration is not None:
        d = doc.declaration
        decl = [d.declaration_type]
        if d.shipment_date:
            decl.append(f"shipment {d.shipment_date.isoformat()}")
        if d.due_date:
            decl.append(f"due {d.due_date.isoformat()}")
        lines.append(f"    declaration: {', '.join(decl)}")
    return lines


def cmd_map(args: argparse.Namespace) -> int:
    profiles = _load_profiles(args.profile)
    if profiles is None:
        return 2
    any_unmapped = False
    io_error = False
    for path in args.files:
        summary: list[str] = []
        problems: list[str] = []
        count = mapped = 0
        try:
            for ic, batch in interchanges(path, profiles):
                count += len(batch)
                if not batch:  # e.g. an empty file, or no UNH: the interchange's errors
                    first = ic.all_findings()[:1]
                    reason = f": [{first[0].code}] {first[0].text}" if first else ""
                    problems.append(f"interchange {ic.index}: no message{reason}")
                for m in batch:
                    if m.doc is None:
                        problems.append(f"{m.where()}: not mapped: {m.reason}")
                        continue
                    mapped += 1
                    if args.json:
                        sys.stdout.write(to_json(m.doc).decode("utf-8") + "\n")
                    else:
                        summary.extend(_summary(m))
                    m.doc = None
        except OSError as exc:
            print(f"edigate: {path}: {exc.strerror or exc}", file=sys.stderr)
            io_error = True
            continue
        any_unmapped |= bool(problems) or count == 0
        if args.json:
            for p in problems:
                print(f"edigate: {path}: {p}", file=sys.stderr)
            continue
        print(f"{path}: {count} message(s), {mapped} mapped")
        for line in [*summary, *(f"  {p}" for p in problems)]:
            print(line)
    if io_error:
        return 2
    return 1 if any_unmapped else 0


# -- parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edigate", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser(
        "validate", help="validate EDIFACT files: syntax, then business rules",
        description="Validate EDIFACT files against the UN/EDIFACT directories, then check the "
                    "business rules of every message that passes and has a mapping. Exit status: "
                    "0 valid, 1 a syntax error or an error-severity rule finding (warnings do not "
                    "count), 2 usage or I/O error.",
    )  # fmt: skip
    v.add_argument("files", nargs="+", metavar="FILE")
    v.add_argument("--json", action="store_true", help="one JSON object per file")
    v.add_argument("--ack", action="store_true", help="print the CONTRL answering each interchange")
    v.add_argument(
        "--profile", action="append", default=[], metavar="TOML",
        help="implementation-guide profile narrowing a message (repeatable)",
    )  # fmt: skip
    v.add_argument(
        "--rules", metavar="NAME|TOML",
        help="business-rule set or partner profile (a name in gateway/rules or a file); "
             "default: the profile listing the interchange sender, else 'default'",
    )  # fmt: skip
    v.add_argument("--no-rules", action="store_true", help="syntax checks only")
    v.set_defaults(func=cmd_validate)
    m = sub.add_parser(
        "map", help="print the canonical document of each message",
        description="Map each message that passes the syntax checks to the canonical cargo "
                    "model. Exit status: 0 every message mapped, 1 a message not mapped (syntax "
                    "errors or no mapping), 2 usage or I/O error.",
    )  # fmt: skip
    m.add_argument("files", nargs="+", metavar="FILE")
    m.add_argument(
        "--json", action="store_true",
        help="one canonical JSON document per line on stdout; problems on stderr",
    )  # fmt: skip
    m.add_argument(
        "--profile", action="append", default=[], metavar="TOML",
        help="implementation-guide profile narrowing a message (repeatable)",
    )  # fmt: skip
    m.set_defaults(func=cmd_map)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
