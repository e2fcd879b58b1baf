"""Compile the UNECE directory text files into the JSON definitions the validator loads.

Output (under ``--out``, one folder per directory)::

    <VER>/segments.json          elements, composites, segments, qualifier code lists, names
    <VER>/messages/<TYPE>.json   the segment table of each compiled message
    syntax4/segments.json        service segments of syntax version 4 (Ss40000.txt) + UNSL codes
    syntax4/messages/CONTRL.json
    syntax3/segments.json        service segments of syntax versions 1-3 (our transcription) +
    syntax3/messages/CONTRL.json UNSL codes of D.99A

See docs/edifact-directories.md for the format.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    from edigate.edifact.dirgen import dirparse, segtable, textfiles
except ImportError:  # run as a plain script: the sibling modules are on sys.path
    import dirparse  # type: ignore[no-redef]
    import segtable  # type: ignore[no-redef]
    import textfiles  # type: ignore[no-redef]

__all__ = ["Report", "compile_all", "main", "message_list"]

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = PACKAGE_DIR.parent / "directories"
MESSAGES_FILE = PACKAGE_DIR / "messages.toml"
SYNTAX3_SEGMENTS_FILE = PACKAGE_DIR / "syntax3_service_segments.txt"
CONTRL_FILE = PACKAGE_DIR / "contrl_structure.txt"
# how the transcriptions are named in "sources" (their path in the repository)
_PACKAGE_LABEL = "gateway/edifact/dirgen"

SYNTAX4_SEGMENTS = "syntax4/Ss40000.txt"
SYNTAX4_CODES = "syntax4/sl40210.txt"
SYNTAX3_CODE_DIRECTORY = "d99a"  # the last directory that has UNSL (syntax versions 1 to 3)
CODE_NAME_ELEMENTS = ("0083", "0085")  # code names kept for the CONTRL writer
CONTRL_VERSIONS = {"syntax4": ("4", "1"), "syntax3": ("D", "3")}

_DIRECTORY_RE = re.compile(r"^d\d\d[a-z]$", re.IGNORECASE)

Json = dict[str, Any]


@dataclass
class Report:
    """What a run found: printed by the command line, checked by the tests."""

    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # message/directory combinations not compiled
    compiled: dict[str, list[str]] = field(default_factory=dict)  # folder -> message types
    stats: dict[str, dict[str, int]] = field(default_factory=dict)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def message_list(path: Path = MESSAGES_FILE) -> list[str]:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    messages = [str(m).upper() for m in data["messages"]]
    if len(set(messages)) != len(messages):
        raise ValueError(f"{path}: a message type is listed twice")
    return messages


def _rel(path: Path, source: Path) -> str:
    return path.resolve().relative_to(source.resolve()).as_posix()


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _has_lower(text: str) -> bool:
    return any(ch.islower() for ch in text)


# --------------------------------------------------------------------------- UN directories


def compile_directory(
    folder: Path, source: Path, messages: list[str], service_tags: set[str], report: Report
) -> dict[str, Json]:
    """Compile one UN/EDIFACT directory folder (d95b ... d13b). Returns path -> JSON object."""
    ver = folder.name.upper()
    release = ver[1:]

    def warn(text: str) -> None:
        report.warn(f"{ver}: {text}")

    chapters = {name: textfiles.find_chapter(folder, name) for name in ("SD", "CD", "ED", "UNCL")}
    problems = [
        f"{name}: {len(files)} files"
        for name, files in chapters.items()
        if not files or (name != "UNCL" and len(files) != 1)
    ]
    if problems:
        report.errors.append(f"{ver}: directory chapters not found ({'; '.join(problems)})")
        report.absent.extend(f"{m} {ver}: the directory chapters are missing" for m in messages)
        return {}

    try:
        elements = dirparse.parse_elements(textfiles.read_text(chapters["ED"][0]), warn)
        composites = dirparse.parse_composites(textfiles.read_text(chapters["CD"][0]), warn)
        segments, _ = dirparse.parse_segments(textfiles.read_text(chapters["SD"][0]), warn)
        code_lists: dict[str, dirparse.CodeList] = {}
        for path in chapters["UNCL"]:
            code_lists.update(dirparse.parse_code_lists(textfiles.read_text(path), warn))
    except dirparse.ParseError as exc:
        report.errors.append(f"{ver}: {exc}")
        report.absent.extend(f"{m} {ver}: the directory chapters fail to parse" for m in messages)
        return {}
    _cross_check(segments, composites, elements, code_lists, warn)

    outputs: dict[str, Json] = {}
    sources = [_rel(chapters[name][0], source) for name in ("SD", "CD", "ED")]
    sources += [_rel(path, source) for path in chapters["UNCL"]]
    used_tags: list[str] = []
    compiled: list[str] = []
    for message in messages:
        path = textfiles.find_message(folder, message)
        if path is None:
            report.absent.append(f"{message} {ver}: no {message}_D.{release} in the directory")
            continue
        label = f"{message} {ver}"
        try:
            spec = segtable.parse_message(textfiles.read_text(path), warn, label)
        except dirparse.ParseError as exc:
            report.absent.append(f"{message} {ver}: fails to parse: {exc}")
            report.errors.append(f"{label}: {exc}")
            continue
        found = (spec.message, spec.version, spec.release, spec.agency)
        if found != (message, "D", release, "UN"):
            warn(f"{message}: the file identifies itself as {':'.join(found)}")
        for tag in spec.tags:
            if tag not in segments and tag not in service_tags:
                report.errors.append(f"{label}: segment {tag} is not in the segment directory")
        outputs[f"{ver}/messages/{message}.json"] = spec.to_json()
        sources.append(_rel(path, source))
        used_tags.extend(spec.tags)
        compiled.append(message)
    report.compiled[ver] = compiled

    used_segments = sorted(t for t in _unique(used_tags) if t in segments)
    seg_json: dict[str, list[list[Any]]] = {}
    used_composites: set[str] = set()
    used_elements: set[str] = set()
    inline_reprs: dict[str, dirparse.Repr] = {}
    inline_names: dict[str, str] = {}
    for tag in used_segments:
        segment = segments[tag]
        seg_json[tag] = [[item, status, rep] for item, status, rep in segment.entries]
        inline_reprs.update(segment.inline_reprs)
        for key, value in segment.inline_names.items():
            inline_names.setdefault(key, value)
        for item, _, _ in segment.entries:
            (used_composites if item[0].isalpha() else used_elements).add(item)
    comp_json: dict[str, list[list[str]]] = {}
    comp_names: dict[str, str] = {}
    for comp_id in sorted(used_composites):
        if comp_id in composites:
            comps = composites[comp_id].components
            comp_names[comp_id] = composites[comp_id].name
        else:
            warn(f"composite {comp_id} is not in the composite directory: taken from the segments")
            owner = next(
                segments[t] for t in used_segments if comp_id in segments[t].inline_composites
            )
            comps = owner.inline_composites[comp_id]
            comp_names[comp_id] = owner.composite_names.get(comp_id, "")
        comp_json[comp_id] = [[element, status] for element, status in comps]
        used_elements.update(element for element, _ in comps)
    elem_json: dict[str, list[Any]] = {}
    elem_names: dict[str, str] = {}
    for element_id in sorted(used_elements):
        if element_id in elements:
            kind, low, high = elements[element_id].repr
            elem_names[element_id] = elements[element_id].name
        elif element_id in inline_reprs:
            warn(
                f"data element {element_id} is not in the data element directory: "
                "representation taken from the segment directory"
            )
            kind, low, high = inline_reprs[element_id]
            elem_names[element_id] = inline_names.get(element_id, "")
        else:
            report.errors.append(f"{ver}: data element {element_id} has no representation")
            continue
        elem_json[element_id] = [kind, low, high]
    codes: dict[str, list[str]] = {}
    for element_id in sorted(elem_json):
        code_list = code_lists.get(element_id)
        if "qualifier" in elem_names[element_id].lower() and code_list and code_list.codes:
            codes[element_id] = code_list.codes
    outputs[f"{ver}/segments.json"] = {
        "directory": ver,
        "sources": sources,
        "elements": elem_json,
        "composites": comp_json,
        "segments": seg_json,
        "codes": codes,
        "names": {
            "elements": elem_names,
            "composites": comp_names,
            "segments": {tag: segments[tag].name for tag in used_segments},
        },
    }
    report.stats[ver] = {
        "messages": len(compiled),
        "segments": len(seg_json),
        "composites": len(comp_json),
        "elements": len(elem_json),
        "code lists": len(codes),
    }
    return outputs


def _cross_check(
    segments: dict[str, dirparse.SegmentDef],
    composites: dict[str, dirparse.CompositeDef],
    elements: dict[str, dirparse.ElementDef],
    code_lists: dict[str, dirparse.CodeList],
    warn: Any,
) -> None:
    """The segment chapter repeats composites and representations: they must agree with the
    composite and data element chapters. Codes must fit their element's representation."""
    for segment in segments.values():
        for comp_id, comps in segment.inline_composites.items():
            if comp_id in composites and composites[comp_id].components != comps:
                warn(
                    f"segment {segment.tag}: composite {comp_id} differs from the composite "
                    "directory"
                )
        for element_id, rep in segment.inline_reprs.items():
            if element_id in elements and elements[element_id].repr != rep:
                warn(
                    f"segment {segment.tag}: {element_id} is {rep} there but "
                    f"{elements[element_id].repr} in the data element directory"
                )
    for code_list in code_lists.values():
        rep = elements[code_list.id].repr if code_list.id in elements else code_list.repr
        if rep is None:
            continue
        bad = [code for code in code_list.codes if not _fits(code, rep)]
        if bad:
            warn(f"code list {code_list.id}: codes do not fit {rep}: {bad[:5]}")


def _fits(value: str, rep: dirparse.Repr) -> bool:
    kind, low, high = rep
    if not low <= len(value) <= high:
        return False
    if kind == "n":
        return value.isdigit()
    if kind == "a":
        return value.isalpha()
    return True


# --------------------------------------------------------------------------- service directories


def compile_syntax(
    name: str,
    segment_text: str,
    segment_label: str,
    code_text: str,
    code_label: str,
    contrl_text: str,
    report: Report,
) -> dict[str, Json]:
    """Compile a service directory (syntax3 / syntax4) and its CONTRL message."""

    def warn(text: str) -> None:
        report.warn(f"{name}: {text}")

    segments = dirparse.parse_service_segments(segment_text, warn)
    code_lists = dirparse.parse_code_lists(code_text, warn)
    composites: dict[str, list[tuple[str, str]]] = {}
    comp_names: dict[str, str] = {}
    reprs: dict[str, dirparse.Repr] = {}
    names: dict[str, str] = {}
    for tag in sorted(segments):
        segment = segments[tag]
        for comp_id, comps in segment.inline_composites.items():
            if comp_id in composites and composites[comp_id] != comps:
                warn(
                    f"composite {comp_id} in {tag} differs from its first definition; "
                    "the first is kept"
                )
            composites.setdefault(comp_id, comps)
            comp_names.setdefault(comp_id, segment.composite_names[comp_id])
        for element_id, rep in segment.inline_reprs.items():
            if element_id in reprs and reprs[element_id] != rep:
                warn(f"data element {element_id} in {tag} is {rep}, elsewhere {reprs[element_id]}")
            reprs.setdefault(element_id, rep)
        for element_id, element_name in segment.inline_names.items():
            # prefer a component's name (small letters) to a stand-alone one (capitals)
            known = names.get(element_id)
            if known is None or (_has_lower(element_name) and not _has_lower(known)):
                names[element_id] = element_name
    for element_id, code_list in code_lists.items():
        if element_id in names:
            names[element_id] = code_list.name
        rep = reprs.get(element_id)
        if rep and code_list.repr and rep != code_list.repr:
            warn(
                f"data element {element_id} is {rep} in the segments, {code_list.repr} in the "
                "code list"
            )
        if rep:
            bad = [code for code in code_list.codes if not _fits(code, rep)]
            if bad:
                warn(f"code list {element_id}: codes do not fit {rep}: {bad[:5]}")
    outputs: dict[str, Json] = {
        f"{name}/segments.json": {
            "directory": name,
            "sources": [segment_label, code_label, f"{_PACKAGE_LABEL}/{CONTRL_FILE.name}"],
            "elements": {k: list(v) for k, v in sorted(reprs.items())},
            "composites": {k: [list(c) for c in v] for k, v in sorted(composites.items())},
            "segments": {
                tag: [[item, status, rep] for item, status, rep in segments[tag].entries]
                for tag in sorted(segments)
            },
            "codes": {k: v.codes for k, v in sorted(code_lists.items()) if v.codes},
            "code_names": {k: code_lists[k].names for k in CODE_NAME_ELEMENTS if k in code_lists},
            "names": {
                "elements": dict(sorted(names.items())),
                "composites": dict(sorted(comp_names.items())),
                "segments": {tag: segments[tag].name for tag in sorted(segments)},
            },
        }
    }
    spec = segtable.parse_message(contrl_text, warn, f"CONTRL {name}")
    for tag in spec.tags:
        if tag not in segments:
            report.errors.append(f"{name}: CONTRL uses {tag}, which is not a service segment")
    contrl = spec.to_json()
    contrl["version"], contrl["release"] = CONTRL_VERSIONS[name]
    outputs[f"{name}/messages/CONTRL.json"] = contrl
    report.compiled[name] = ["CONTRL"]
    report.stats[name] = {
        "messages": 1,
        "segments": len(segments),
        "composites": len(composites),
        "elements": len(reprs),
        "code lists": sum(1 for v in code_lists.values() if v.codes),
    }
    return outputs


# --------------------------------------------------------------------------- the whole run


def compile_all(source: Path, report: Report, messages: list[str] | None = None) -> dict[str, str]:
    """Compile everything under ``source``. Returns output path (relative) -> file text."""
    messages = message_list() if messages is None else messages
    outputs: dict[str, Json] = {}

    ss4_text = textfiles.read_text(source / SYNTAX4_SEGMENTS)
    outputs.update(
        compile_syntax(
            "syntax4",
            ss4_text,
            SYNTAX4_SEGMENTS,
            textfiles.read_text(source / SYNTAX4_CODES),
            SYNTAX4_CODES,
            CONTRL_FILE.read_text(encoding="utf-8"),
            report,
        )
    )
    unsl = textfiles.find_chapter(source / SYNTAX3_CODE_DIRECTORY, "UNSL")
    if len(unsl) != 1:
        report.errors.append(f"syntax3: no UNSL file in {SYNTAX3_CODE_DIRECTORY}")
    else:
        outputs.update(
            compile_syntax(
                "syntax3",
                SYNTAX3_SEGMENTS_FILE.read_text(encoding="utf-8"),
                f"{_PACKAGE_LABEL}/{SYNTAX3_SEGMENTS_FILE.name}",
                textfiles.read_text(unsl[0]),
                _rel(unsl[0], source),
                CONTRL_FILE.read_text(encoding="utf-8"),
                report,
            )
        )
    service_tags = set(outputs["syntax4/segments.json"]["segments"])
    folders = sorted(
        (p for p in source.iterdir() if p.is_dir() and _DIRECTORY_RE.match(p.name)),
        key=lambda p: _release_order(p.name),
    )
    if not folders:
        report.errors.append(f"no directory folders (d95b, d99a, ...) in {source}")
    for folder in folders:
        outputs.update(compile_directory(folder, source, messages, service_tags, report))
    return {path: _dump(obj) for path, obj in sorted(outputs.items())}


def _release_order(name: str) -> tuple[int, str]:
    year = int(name[1:3])
    return (year + (1900 if year >= 80 else 2000), name[3:].upper())


def _dump(obj: Json) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False) + "\n"


def write_outputs(out: Path, files: dict[str, str]) -> tuple[int, list[Path]]:
    """Write the files that changed; delete stale message files. Returns (written, deleted)."""
    written = 0
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written += 1
    deleted = [path for path in _stale(out, files)]
    for path in deleted:
        path.unlink()
    return written, deleted


def _stale(out: Path, files: dict[str, str]) -> list[Path]:
    folders = {rel.split("/", 1)[0] for rel in files}
    stale = []
    for folder in sorted(folders):
        for path in sorted((out / folder).rglob("*.json")):
            if path.relative_to(out).as_posix() not in files:
                stale.append(path)
    return stale


def check_outputs(out: Path, files: dict[str, str]) -> list[str]:
    """Differences between the files on disk and a fresh compilation."""
    diffs = []
    for rel, text in files.items():
        path = out / rel
        if not path.exists():
            diffs.append(f"missing {rel}")
        elif path.read_text(encoding="utf-8") != text:
            diffs.append(f"differs {rel}")
    diffs.extend(f"stale {p.relative_to(out).as_posix()}" for p in _stale(out, files))
    return diffs


def _print_report(report: Report, files: dict[str, str], out: str) -> None:
    print(f"compiled into {out}:")
    for folder, stats in report.stats.items():
        mine = [text for rel, text in files.items() if rel.startswith(f"{folder}/")]
        size = sum(len(text.encode()) for text in mine)
        count = len(mine)
        print(
            f"  {folder:8} {stats['messages']:2} messages, {stats['segments']:3} segments, "
            f"{stats['composites']:3} composites, {stats['elements']:3} elements, "
            f"{stats['code lists']:3} code lists; {count} files, {size:,} bytes"
        )
    total = sum(len(text.encode()) for text in files.values())
    print(f"  total    {len(files)} files, {total:,} bytes")
    print("message/directory combinations absent or failing to parse:", len(report.absent))
    for line in report.absent:
        print(f"  {line}")
    print(f"warnings: {len(report.warnings)}")
    for line in report.warnings:
        print(f"  {line}")
    if report.errors:
        print(f"errors: {len(report.errors)}")
        for line in report.errors:
            print(f"  {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edigate.edifact.dirgen",
        description="Compile the UNECE UN/EDIFACT directory text files into JSON definitions.",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=Path("../shared/unedifact"),
        help="folder with d95b/ ... d13b/ and syntax4/ (default: ../shared/unedifact)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="output folder (default: the package's directories/ folder)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the output folder differs from a fresh compilation",
    )
    parser.add_argument("--quiet", action="store_true", help="print only problems")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        parser.error(f"source folder not found: {args.source}")
    report = Report()
    files = compile_all(args.source, report)
    if args.check:
        diffs = check_outputs(args.out, files)
        for line in diffs:
            print(line)
        print("up to date" if not diffs else f"{len(diffs)} files out of date")
        return 1 if diffs or report.errors else 0
    written, deleted = write_outputs(args.out, files)
    if not args.quiet or report.errors:
        _print_report(report, files, str(args.out))
        print(f"{written} files written, {len(deleted)} stale files deleted")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
