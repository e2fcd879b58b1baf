"""Command line: ``edigate validate``, and the gateway's other entry points as they come."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from .edifact.contrl import build_contrl
from .edifact.directory import DirectoryError, load_profile
from .edifact.validator import EdifactValidator, InterchangeReport

CHUNK = 1 << 16


def _chunks(fh: BinaryIO) -> Iterator[bytes]:
    while True:
        chunk = fh.read(CHUNK)
        if not chunk:
            return
        yield chunk


def _validate_file(path: str, validator: EdifactValidator) -> list[InterchangeReport]:
    with Path(path).open("rb") as fh:
        return [r for r in validator.validate(_chunks(fh)) if isinstance(r, InterchangeReport)]


def _file_result(path: str, reports: list[InterchangeReport]) -> dict[str, Any]:
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
    return {
        "file": path,
        "format": "edifact",
        "interchanges": len(reports),
        "messages": sum(len(ic.messages) for ic in reports),
        "message_types": types,
        "valid": all(ic.valid for ic in reports),
        "errors": errors,
    }


def _print_text(result: dict[str, Any]) -> None:
    state = "valid" if result["valid"] else "INVALID"
    print(
        f"{result['file']}: {state} ({result['interchanges']} interchange(s), "
        f"{result['messages']} message(s): {', '.join(result['message_types']) or '-'})"
    )
    for e in result["errors"]:
        p = e["position"]
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
        print(f"  [{e['code']}] {', '.join(where)}: {e['text']}")


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        profiles = [load_profile(p) for p in args.profile]
    except (OSError, KeyError, ValueError, DirectoryError) as exc:
        print(f"edigate: cannot read profile: {exc}", file=sys.stderr)
        return 2
    any_invalid = False
    io_error = False
    for path in args.files:
        try:
            reports = _validate_file(path, EdifactValidator(profiles))
        except OSError as exc:
            print(f"edigate: {path}: {exc.strerror or exc}", file=sys.stderr)
            io_error = True
            continue
        result = _file_result(path, reports)
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
            _print_text(result)
            for ack in result.get("ack", []):
                print(ack)
    if io_error:
        return 2
    return 1 if any_invalid else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edigate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="validate EDIFACT files against the UN/EDIFACT directories")
    v.add_argument("files", nargs="+", metavar="FILE")
    v.add_argument("--json", action="store_true", help="one JSON object per file")
    v.add_argument("--ack", action="store_true", help="print the CONTRL answering each interchange")
    v.add_argument(
        "--profile", action="append", default=[], metavar="TOML",
        help="implementation-guide profile narrowing a message (repeatable)",
    )  # fmt: skip
    v.set_defaults(func=cmd_validate)
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
