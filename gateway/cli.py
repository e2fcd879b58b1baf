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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from . import cli_xml
from .canonical.model import CanonicalDocument, to_json
from .edifact.contrl import build_contrl
from .edifact.directory import DirectoryError, Profile, load_profile
from .edifact.validator import InterchangeReport
from .pipeline.edifact import MessageOutcome, check_rules, file_chunks, interchange_outcomes
from .pipeline.process import SNIFF_BYTES, detect_format
from .rules import (
    RuleFinding,
    RuleSet,
    RuleSetError,
    load_rule_set,
)

CHUNK = 1 << 16


def _chunks(fh: BinaryIO) -> Iterator[bytes]:
    while True:
        chunk = fh.read(CHUNK)
        if not chunk:
            return
        yield chunk


def _is_xml(path: str) -> bool:
    with Path(path).open("rb") as fh:
        return detect_format(fh.read(SNIFF_BYTES)) == "xml"


def interchanges(path: str, profiles: Sequence[Profile] = (), do_map: bool = True,
                 timezone: str | None = None,
                 ) -> Iterator[tuple[InterchangeReport, list[MessageOutcome]]]:  # fmt: skip
    """Validate a file, map what passes: see ``interchange_outcomes``."""
    with Path(path).open("rb") as fh:
        yield from interchange_outcomes(file_chunks(fh), profiles, do_map, timezone)


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
    try:
        certificates = cli_xml.certificates_from(args.certificate)
    except (OSError, ValueError) as exc:
        print(f"edigate: cannot read certificate: {exc}", file=sys.stderr)
        return 2
    for path in args.files:
        try:
            xml = _is_xml(path)
        except OSError as exc:
            print(f"edigate: {path}: {exc.strerror or exc}", file=sys.stderr)
            io_error = True
            continue
        if xml:
            try:
                head, xml_outcomes, refused = cli_xml.read(path, certificates, not args.no_rules,
                                                           rule_set, now)  # fmt: skip
            except RuleSetError as exc:
                print(f"edigate: cannot read rule set: {exc}", file=sys.stderr)
                return 2
            xresult = cli_xml.validate_result(path, head, xml_outcomes, refused)
            any_invalid |= not xresult["valid"]
            if args.ack:
                xresult["ack"] = [cli_xml.acknowledgement(path, xresult, xml_outcomes)]
            if args.json:
                print(json.dumps(xresult, ensure_ascii=False, default=str))
            else:
                cli_xml.print_text(xresult)
                for ack in xresult.get("ack", []):
                    print(ack)
            continue
        reports: list[InterchangeReport] = []
        outcomes: list[MessageOutcome] = []
        try:
            for ic, batch in interchanges(path, profiles, do_map=not args.no_rules,
                                          timezone=args.timezone):  # fmt: skip
                check_rules(batch, rule_set, now, by_sender)
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


def _summary(doc: CanonicalDocument, where: str) -> list[str]:
    """A few readable lines about a mapped document."""
    h = doc.header
    lines = [f"  {where} -> {h.type} {h.identifier or '(no identifier)'}"
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
    try:
        certificates = cli_xml.certificates_from(args.certificate)
    except (OSError, ValueError) as exc:
        print(f"edigate: cannot read certificate: {exc}", file=sys.stderr)
        return 2
    for path in args.files:
        summary: list[str] = []
        problems: list[str] = []
        count = mapped = 0
        try:
            if _is_xml(path):
                _, outcomes, refused = cli_xml.read(path, certificates, True, None,
                                                    datetime.now(UTC))  # fmt: skip
                docs, problems = cli_xml.mapped(outcomes, refused)
                count, mapped = len(outcomes), len(docs)
                for where, doc in docs:
                    if args.json:
                        sys.stdout.write(to_json(doc).decode("utf-8") + "\n")
                    else:
                        summary.extend(_summary(doc, where))
            for ic, batch in [] if _is_xml(path) else interchanges(path, profiles,
                                                                   timezone=args.timezone):
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
                        summary.extend(_summary(m.doc, m.where()))
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


# -- serve, partners ----------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from twisted.internet import reactor

    from .config import ConfigError, load_config
    from .observability import configure_logging, start_twisted_logging
    from .service import build_service

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"edigate: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.gateway.log_level, config.gateway.log_format,
                      node_id=config.gateway.node_id)  # fmt: skip
    start_twisted_logging()
    service = build_service(config, reactor)
    status = {"code": 0}

    def start() -> None:
        d = service.start()
        d.addCallback(lambda _: status.update(code=1) if service.start_error else None)

    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    return status["code"]


def cmd_partners(args: argparse.Namespace) -> int:
    import hashlib

    from .config import ConfigError, load_config

    if args.action == "hash-key":
        print(hashlib.sha256(args.key.encode("utf-8")).hexdigest())
        return 0
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"edigate: {exc}", file=sys.stderr)
        return 2
    rows = [{"id": p.id, "name": p.name, "channels": p.channels,
             "document_types": p.document_types or ["*"],
             "edifact_senders": p.edifact_senders or ["*"],
             "response_format": p.response_format,
             "api_keys": len(p.api_key_sha256),
             "client_certificates": p.client_certificates,
             "rule_set": p.rule_set or config.pipeline.rule_set,
             "timezone": p.timezone,
             "xml_signature": p.xml_signature,
             "xml_signing_certificates": p.xml_signing_certificates,
             "sign_xml_answers": p.sign_xml_answers} for p in config.partners]  # fmt: skip
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    for r in rows:
        print(f"{r['id']}: {r['name'] or '-'}")
        print(f"  channels: {', '.join(r['channels'])}; response format: {r['response_format']}")
        print(f"  document types: {', '.join(r['document_types'])}")
        print(f"  EDIFACT senders: {', '.join(r['edifact_senders'])}")
        print(f"  credentials: {r['api_keys']} API key(s), "
              f"{len(r['client_certificates'])} client certificate subject(s)")
        zone = r["timezone"] or "each mapping's own (Asia/Hong_Kong)"
        print(f"  rules: {r['rule_set']}; EDIFACT times without zone: {zone}")
        print(f"  XML signatures: {r['xml_signature']}, "
              f"{len(r['xml_signing_certificates'])} certificate file(s); answers "
              f"{'signed' if r['sign_xml_answers'] else 'unsigned'}")
    return 0


# -- parser -------------------------------------------------------------------------------------


def _zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ValueError, ZoneInfoNotFoundError):
        raise argparse.ArgumentTypeError(f"{value!r} is not an IANA time zone") from None
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edigate", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser(
        "validate", help="validate EDIFACT or XML files: syntax, then business rules",
        description="Validate EDIFACT files against the UN/EDIFACT directories, XML files against "
                    "the published schemas (xsd/), then check the business rules of every "
                    "message or document that passes and has a mapping. Exit status: "
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
    v.add_argument("--timezone", metavar="ZONE", type=_zone,
                   help="EDIFACT: IANA zone of times written without one (default: the "
                        "mapping's, Asia/Hong_Kong)")
    v.add_argument(
        "--certificate", action="append", default=[], metavar="PEM",
        help="XML: a signing certificate signed files are verified against (repeatable); "
             "without one, a signed file is refused (EDG-X204)",
    )  # fmt: skip
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
    m.add_argument("--timezone", metavar="ZONE", type=_zone,
                   help="EDIFACT: IANA zone of times written without one")
    m.add_argument("--certificate", action="append", default=[], metavar="PEM",
                   help="XML: a signing certificate signed files are verified against")
    m.set_defaults(func=cmd_map)
    sv = sub.add_parser(
        "serve", help="run the gateway",
        description="Run the gateway: HTTPS submissions, durable journal, AMQP routing. Without "
                    "--config, the embedded default configuration (docs/configuration.md).",
    )  # fmt: skip
    sv.add_argument("--config", "-c", metavar="TOML", help="gateway configuration file")
    sv.set_defaults(func=cmd_serve)
    pa = sub.add_parser("partners", help="list configured partners; hash an API key")
    pa_sub = pa.add_subparsers(dest="action", required=True)
    pl = pa_sub.add_parser("list", help="the partners of a configuration")
    pl.add_argument("--config", "-c", metavar="TOML")
    pl.add_argument("--json", action="store_true")
    ph = pa_sub.add_parser("hash-key", help="the api_key_sha256 value for an API key")
    ph.add_argument("key")
    pa.set_defaults(func=cmd_partners)
    from . import certs, receipts

    certs.add_cli(sub)
    receipts.add_cli(sub)
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
