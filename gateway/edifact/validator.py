"""Directory-driven validation of UN/EDIFACT interchanges, streaming.

Segments from the :class:`~edigate.edifact.tokenizer.Tokenizer` are checked one at a time:
envelope (UNA/UNB/UNZ, UNG/UNE, UNH/UNT control counts and references), message structure
(segment order, group nesting, repetitions), and each data element (presence, constituents,
type, length, decimal notation, character set, code lists). Every finding carries its ISO 9735
syntax error code (service code list 0085) and position in CONTRL terms, so the CONTRL writer
can report it at the right level.

Memory: one message's state at a time (plus its segments when ``keep_segments`` is asked for).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .charsets import FALLBACK, repertoire_for
from .directory import (
    DirectoryError,
    MessageSpec,
    Node,
    Profile,
    SegmentSpec,
    ValueSpec,
    apply_profile,
    message_spec,
    service_codes,
    service_segments,
)
from .fastcheck import SegmentPattern, segment_pattern
from .tokenizer import Delimiters, Segment, Tokenizer, TokenizerError
from .tree import GroupInstance, TreeBuilder

ENVELOPE_TAGS = frozenset(("UNA", "UNB", "UNZ", "UNG", "UNE", "UNH", "UNT"))
_TAG = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_DIGIT = re.compile("[0-9]")

LEVELS = ("interchange", "group", "message", "segment", "element")


@dataclass(slots=True)
class Finding:
    """One syntax error with its ISO 9735 code (0085) and position."""

    code: str
    text: str
    level: str
    interchange: int = 0
    group: int = 0
    message: int = 0
    segment_tag: str = ""
    segment_position: int = 0
    element: int = 0
    component: int = 0
    occurrence: int = 0
    offset: int | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "level": self.level,
            "text": self.text,
            "position": {
                "interchange": self.interchange,
                "group": self.group or None,
                "message": self.message or None,
                "segment_tag": self.segment_tag or None,
                "segment_position": self.segment_position or None,
                "element": self.element or None,
                "component": self.component or None,
                "occurrence": self.occurrence or None,
                "offset": self.offset,
                "line": self.line,
            },
        }


#: segments of one message kept for mapping at most (a 24,000 TEU stowage plan has ~200,000)
DEFAULT_MAX_KEPT_SEGMENTS = 400_000
#: findings kept per message, and per interchange for all its messages: a 200 MB body of bad
#: segments would otherwise hold millions of them (a CONTRL reports far fewer anyway)
MAX_FINDINGS_PER_MESSAGE = 100
MAX_FINDINGS_PER_INTERCHANGE = 10_000


class FindingBudget:
    """What an interchange may still keep of its messages' findings."""

    __slots__ = ("remaining",)

    def __init__(self, total: int = MAX_FINDINGS_PER_INTERCHANGE) -> None:
        self.remaining = total


class Findings(list[Finding]):
    """A message's findings, bounded: the first always (it makes the message invalid), then up
    to ``MAX_FINDINGS_PER_MESSAGE`` while the interchange's budget lasts; the rest are only
    counted in ``dropped``."""

    __slots__ = ("budget", "dropped")

    def __init__(self, budget: FindingBudget | None = None) -> None:
        super().__init__()
        self.budget = budget
        self.dropped = 0

    def append(self, finding: Finding) -> None:
        budget = self.budget
        if not self:
            super().append(finding)
        elif budget is not None and budget.remaining > 0 \
                and len(self) < MAX_FINDINGS_PER_MESSAGE:
            budget.remaining -= 1
            super().append(finding)
        else:
            self.dropped += 1

    def extend(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            self.append(f)


@dataclass(slots=True)
class MessageReport:
    index: int
    reference: str
    identifier: list[str]  # S009 components: type, version, release, agency, association...
    group: int
    offset: int
    line: int
    findings: list[Finding] = field(default_factory=list)
    segment_count: int = 0
    segments: list[Segment] | None = None
    spec: MessageSpec | None = None
    #: ``keep_segments`` was asked for but the message had more than ``max_kept_segments``:
    #: validated (streaming) but not kept, so it cannot be mapped
    segments_dropped: bool = False
    #: with ``keep_segments``: the segments filed under their group instances while walking the
    #: segment table (``edigate.edifact.tree``); None when a segment could not be placed
    tree: GroupInstance | None = None

    @property
    def type(self) -> str:
        return self.identifier[0] if self.identifier else ""

    @property
    def directory(self) -> str:
        ident = [*self.identifier, "", "", ""]
        return f"{ident[1]}{ident[2]}".upper()

    @property
    def valid(self) -> bool:
        return not self.findings

    @property
    def finding_count(self) -> int:
        """Every finding, including those counted but not kept (``Findings``)."""
        return len(self.findings) + getattr(self.findings, "dropped", 0)


@dataclass(slots=True)
class GroupReport:
    index: int
    reference: str
    segment: Segment
    findings: list[Finding] = field(default_factory=list)
    message_count: int = 0
    closed: bool = False


@dataclass(slots=True)
class InterchangeReport:
    index: int
    offset: int
    line: int
    delimiters: Delimiters
    una: str | None = None
    header: Segment | None = None
    syntax_identifier: str = ""
    syntax_version: str = ""
    reference: str = ""
    findings: list[Finding] = field(default_factory=list)
    groups: list[GroupReport] = field(default_factory=list)
    messages: list[MessageReport] = field(default_factory=list)
    closed: bool = False

    @property
    def valid(self) -> bool:
        return (
            not self.findings
            and all(g.findings == [] for g in self.groups)
            and all(m.valid for m in self.messages)
        )

    def all_findings(self) -> list[Finding]:
        out = list(self.findings)
        for g in self.groups:
            out.extend(g.findings)
        for m in self.messages:
            out.extend(m.findings)
        out.sort(key=lambda f: (f.offset or 0, LEVELS.index(f.level)))
        return out


# -- structure walking ------------------------------------------------------------------------


class _Table:
    """Precomputed lookups for one node of a message structure."""

    __slots__ = ("children", "mandatory", "matches", "next_mandatory")

    def __init__(self, node: Node) -> None:
        self.children = node.children
        n = len(node.children)
        #: indices of mandatory children
        self.mandatory = [i for i, c in enumerate(node.children) if c.mandatory]
        #: next_mandatory[i]: the first mandatory child after i (n when none)
        self.next_mandatory = [
            next((j for j in self.mandatory if j > i), n) for i in range(n)
        ]
        #: matches[i]: segment tag -> indices j >= i whose segment or group trigger is that tag
        self.matches: list[dict[str, list[int]]] = [{} for _ in range(n + 1)]
        for i in range(n - 1, -1, -1):
            m = {k: list(v) for k, v in self.matches[i + 1].items()}
            m.setdefault(node.children[i].trigger, []).insert(0, i)
            self.matches[i] = m


class _Frame:
    __slots__ = ("counts", "idx", "node", "table")

    def __init__(self, node: Node, table: _Table) -> None:
        self.node = node
        self.table = table
        self.idx = 0
        self.counts = [0] * len(node.children)


_NO_PROBLEMS: list[tuple[str, str, str]] = []


class StructureWalker:
    """Follows one message through its segment table (groups, order, repetitions)."""

    def __init__(self, root: Node, tables: dict[int, _Table] | None = None) -> None:
        self.tables = tables if tables is not None else {}
        self.stack = [_Frame(root, self._table(root))]

    def _table(self, node: Node) -> _Table:
        t = self.tables.get(id(node))
        if t is None:
            t = self.tables[id(node)] = _Table(node)
        return t

    def step(self, tag: str) -> list[tuple[str, str, str]]:
        """Advance over one segment; returns (code, text, missing-or-offending tag) problems."""
        stack = self.stack
        top = stack[-1]
        i = top.idx
        child = top.table.children[i]
        # Fast path: the same segment again, within its repetitions.
        if child.tag == tag and top.counts[i] < child.max:
            top.counts[i] += 1
            return _NO_PROBLEMS
        # Fast path: a later position of the same group, skipping nothing mandatory (positions
        # after idx have not been used yet in this repetition of the group).
        table = top.table
        later = table.matches[i + 1].get(tag)
        if later is not None and table.next_mandatory[i] >= later[0]:
            j = later[0]
            top.idx = j
            top.counts[j] = 1
            child = table.children[j]
            if child.tag is None:
                self._enter(child)
            return _NO_PROBLEMS
        found: tuple[int, int] | None = None
        overflow: tuple[int, int] | None = None
        for level in range(len(stack) - 1, -1, -1):
            frame = stack[level]
            candidates = frame.table.matches[frame.idx].get(tag)
            if not candidates:
                continue
            for i in candidates:
                if i == frame.idx and frame.counts[i] >= frame.table.children[i].max:
                    # A group's trigger repeating is the group repeating: leave that
                    # verdict to the parent level (36, not 35).
                    if overflow is None and not (i == 0 and level > 0):
                        overflow = (level, i)
                    continue
                found = (level, i)
                break
            if found:
                break
        if found is None:
            if overflow is None:
                return [("15", f"segment {tag} is not allowed at this position", tag)]
            level, i = overflow
            child = stack[level].node.children[i]
            problems = self._pop_to(level)
            stack[level].counts[i] += 1
            if child.tag is None:
                self._enter(child)
                problems.append(
                    (
                        "36",
                        f"segment group {child.group} ({child.trigger}) repeated more than "
                        f"{child.max} times",
                        tag,
                    )
                )
            else:
                problems.append(
                    ("35", f"segment {tag} repeated more than {child.max} times", tag)
                )
            return problems
        level, i = found
        problems = self._pop_to(level) if level < len(stack) - 1 else []
        frame = stack[level]
        if i > frame.idx:
            missing = self._missing(frame, frame.idx, i)
            if missing:
                problems = problems + missing if problems else missing
        frame.idx = i
        frame.counts[i] += 1
        child = frame.node.children[i]
        if child.tag is None:
            self._enter(child)
        return problems or _NO_PROBLEMS

    def finish(self) -> list[tuple[str, str, str]]:
        """End of message: every mandatory segment/group not seen yet is missing (UNT aside)."""
        problems = self._pop_to(0)
        frame = self.stack[0]
        children = frame.node.children
        end = len(children) - 1 if children and children[-1].tag == "UNT" else len(children)
        problems.extend(self._missing(frame, frame.idx, end))
        frame.idx = end
        return problems

    def _enter(self, group: Node) -> None:
        frame = _Frame(group, self._table(group))
        frame.counts[0] = 1
        self.stack.append(frame)
        # A nested trigger (group whose first child is a group) is entered down to the segment.
        node = group.children[0]
        while node.tag is None:
            inner = _Frame(node, self._table(node))
            inner.counts[0] = 1
            self.stack.append(inner)
            node = node.children[0]

    def _pop_to(self, level: int) -> list[tuple[str, str, str]]:
        problems: list[tuple[str, str, str]] = []
        while len(self.stack) - 1 > level:
            frame = self.stack.pop()
            problems.extend(self._missing(frame, frame.idx, len(frame.node.children)))
        return problems

    @staticmethod
    def _missing(frame: _Frame, start: int, end: int) -> list[tuple[str, str, str]]:
        problems = []
        children = frame.node.children
        counts = frame.counts
        for j in frame.table.mandatory:
            if j < start or j >= end or counts[j]:
                continue
            child = children[j]
            if child.tag is None:
                text = (
                    f"mandatory segment group {child.group} (starting with "
                    f"{child.trigger}) is missing"
                )
            else:
                text = f"mandatory segment {child.tag} is missing"
            problems.append(("13", text, child.trigger))
        return problems


class _ElementChecker:
    """Checks data elements of one interchange (its syntax version and decimal mark)."""

    def __init__(self, syntax4: bool, decimal: str) -> None:
        self.syntax4 = syntax4
        self.decimal = decimal
        # Syntax 4 accepts comma or point whatever UNA says; earlier versions only UNA's mark.
        self.other_decimal = "" if syntax4 else ("," if decimal == "." else ".")
        self.decimal_chars = ".," if syntax4 else decimal

    def value(self, v: str, spec: ValueSpec) -> tuple[str, str] | None:
        typ = spec.type
        if typ == "n":
            body = v[1:] if v[0] == "-" else v
            mark = ""
            for c in self.decimal_chars:
                if c in body:
                    mark = c
                    break
            digits = body.replace(mark, "", 1) if mark else body
            if not (digits.isascii() and digits.isdigit()):
                if self.other_decimal and self.other_decimal in body:
                    return self._decimal_error(
                        f"decimal mark {self.other_decimal!r} where {self.decimal!r} is declared"
                    )
                return "37", f"{spec.id} is numeric (n); got {v!r}"
            if mark and body.startswith(mark):
                code = "12" if self.syntax4 else "38"
                return code, f"no digit before the decimal mark in {v!r}"
            if mark and body.endswith(mark):
                return self._decimal_error(f"decimal mark at the end of {v!r}")
            length = len(digits)
        else:
            if typ == "a" and _DIGIT.search(v):
                return "37", f"{spec.id} is alphabetic (a); got {v!r}"
            length = len(v)
        if length > spec.max:
            return "39", f"{spec.id} is longer than {spec.max} ({length})"
        if length < spec.min:
            return "40", f"{spec.id} is shorter than {spec.min} ({length})"
        if spec.codes is not None and v not in spec.codes:
            return "12", f"{v!r} is not a code of data element {spec.id}"
        return None

    def _decimal_error(self, text: str) -> tuple[str, str]:
        return ("12" if self.syntax4 else "19"), text

    def segment(
        self, seg: Segment, spec: SegmentSpec
    ) -> list[tuple[str, str, int, int, int]]:
        """Problems as (code, text, element, component, occurrence), positions 1-based."""
        problems: list[tuple[str, str, int, int, int]] = []
        els = seg.elements
        specs = spec.elements
        n = len(els)
        if n > len(specs):
            problems.append(
                ("16", f"{seg.tag} has {n} data elements; the directory defines {len(specs)}",
                 len(specs) + 1, 0, 0)
            )  # fmt: skip
        for i, es in enumerate(specs):
            if i >= n:
                if es.mandatory:
                    problems.append(("13", f"mandatory {es.id} is missing", i + 1, 0, 0))
                continue
            occurrences = [els[i]]
            if seg.repeats is not None and i in seg.repeats:
                occurrences = seg.repeats[i]
                if len(occurrences) > es.repeat:
                    problems.append(
                        ("35", f"{es.id} repeated {len(occurrences)} times (max {es.repeat})",
                         i + 1, 0, es.repeat + 1)
                    )  # fmt: skip
            for occ_no, el in enumerate(occurrences, 1):
                occ = occ_no if len(occurrences) > 1 else 0
                self._element(el, es, i + 1, occ, problems)
        return problems

    def _element(
        self,
        el: list[str],
        es: Any,
        pos: int,
        occ: int,
        problems: list[tuple[str, str, int, int, int]],
    ) -> None:
        comps = es.components
        if comps is None:
            if len(el) > 1:
                problems.append(
                    ("16", f"{es.id} is a simple data element; got {len(el)} components",
                     pos, 2, occ)
                )  # fmt: skip
            v = el[0]
            if not v:
                if es.mandatory:
                    problems.append(("13", f"mandatory {es.id} is missing", pos, 0, occ))
                return
            bad = self.value(v, es.value)
            if bad:
                problems.append((bad[0], bad[1], pos, 0, occ))
            return
        if len(el) > len(comps):
            problems.append(
                ("16", f"composite {es.id} has {len(el)} components; it defines {len(comps)}",
                 pos, len(comps) + 1, occ)
            )  # fmt: skip
        if not any(el):
            if es.mandatory:
                problems.append(("13", f"mandatory composite {es.id} is missing", pos, 0, occ))
            return
        for j, cs in enumerate(comps):
            v = el[j] if j < len(el) else ""
            if not v:
                if cs.mandatory:
                    problems.append(
                        ("13", f"mandatory {cs.id} in {es.id} is missing", pos, j + 1, occ)
                    )
                continue
            bad = self.value(v, cs)
            if bad:
                problems.append((bad[0], bad[1], pos, j + 1, occ))


def _locate_char(seg: Segment, pattern: re.Pattern[str]) -> tuple[int, int, str]:
    """Element/component (1-based) holding the first character the pattern rejects."""
    for i, el in enumerate(seg.elements, 1):
        for j, comp in enumerate(el, 1):
            m = pattern.search(comp)
            if m:
                return i, j, m.group()
    m = pattern.search(seg.tag)
    return 0, 0, m.group() if m else ""


# -- the validator ----------------------------------------------------------------------------


_TABLES: dict[int, tuple[Node, dict[int, _Table]]] = {}


def _tables(root: Node) -> dict[int, _Table]:
    """Lookup tables shared by every message of one structure (the root is kept alive here)."""
    entry = _TABLES.get(id(root))
    if entry is None:
        entry = _TABLES[id(root)] = (root, {})
    return entry[1]


_PROFILED: dict[tuple[str, str, tuple[str, ...]], MessageSpec] = {}


class _MessageState:
    __slots__ = ("known", "report", "scoped_tags", "spec", "tree", "walker")

    def __init__(self, report: MessageReport, spec: MessageSpec | None) -> None:
        self.report = report
        self.spec = spec
        self.scoped_tags = (
            frozenset(s.tag for s in spec.at_position.values()) if spec is not None else frozenset()
        )
        #: tag -> (segment spec, fast acceptor), filled as tags are met
        self.known: dict[str, tuple[SegmentSpec | None, SegmentPattern | None]] = {}
        self.walker = StructureWalker(spec.root, _tables(spec.root)) if spec is not None else None
        #: files kept segments under their group instances as the walker places them
        self.tree: TreeBuilder | None = None


class EdifactValidator:
    """Validate a stream of EDIFACT bytes; yields each message and interchange report.

    ``profiles`` narrow directory messages (implementation guides), keyed by message type.
    """

    def __init__(
        self,
        profiles: Iterable[Profile] = (),
        keep_segments: bool = False,
        max_segment_bytes: int | None = None,
        max_kept_segments: int = DEFAULT_MAX_KEPT_SEGMENTS,
    ) -> None:
        self.profiles: dict[str, list[Profile]] = {}
        for p in profiles:
            self.profiles.setdefault(p.message, []).append(p)
        self.keep_segments = keep_segments
        self.max_kept_segments = max_kept_segments
        self.tokenizer = (
            Tokenizer(max_segment_bytes) if max_segment_bytes is not None else Tokenizer()
        )
        self._ic: InterchangeReport | None = None
        self._group: GroupReport | None = None
        self._msg: _MessageState | None = None
        self._budget = FindingBudget()
        self._interchange_count = 0
        self._refs: set[str] = set()
        self._checker = _ElementChecker(False, ".")
        self._service: dict[str, SegmentSpec] = {}
        self._invalid_chars: re.Pattern[str] = FALLBACK.invalid_pattern("")
        self._messages_outside_group = 0
        self._unreadable = False
        self._syntax4 = False

    # -- public API -------------------------------------------------------------------------

    def validate(self, chunks: Iterable[bytes]) -> Iterator[MessageReport | InterchangeReport]:
        """Yield a MessageReport at each message end and an InterchangeReport at each UNZ/EOF."""
        tok = self.tokenizer
        try:
            for chunk in chunks:
                for seg in tok.feed(chunk):
                    # Hot path: a data segment inside a message needs no dispatch.
                    state = self._msg
                    if state is not None and seg.tag[:2] != "UN":
                        self._message_segment(state, seg)
                    else:
                        yield from self._segment(seg)
            for seg in tok.close():
                yield from self._segment(seg)
        except TokenizerError as exc:
            ic = self._ensure_interchange(tok.offset, tok.line)
            ic.findings.append(
                Finding(exc.code, exc.text, "interchange", ic.index, offset=exc.offset,
                        line=exc.line)
            )  # fmt: skip
            yield from self._end_of_stream(truncated=True)
            return
        if tok.unterminated is not None:
            ic = self._ensure_interchange(*tok.unterminated)
            ic.findings.append(
                Finding("13", "segment terminator missing at the end of the data", "interchange",
                        ic.index, offset=tok.unterminated[0], line=tok.unterminated[1])
            )  # fmt: skip
        yield from self._end_of_stream(truncated=False)

    def validate_bytes(self, data: bytes) -> list[InterchangeReport]:
        return [r for r in self.validate([data]) if isinstance(r, InterchangeReport)]

    @property
    def _ic_index(self) -> int:
        """Index of the interchange being read (0 before any)."""
        return self._ic.index if self._ic else 0

    # -- segment dispatch -------------------------------------------------------------------

    def _segment(self, seg: Segment) -> Iterator[MessageReport | InterchangeReport]:
        tag = seg.tag
        if tag == "UNB":
            if self._ic is not None:
                yield from self._close_interchange(None, missing_unz=True)
            self._open_interchange(seg)
            return
        if self._unreadable:
            if tag == "UNZ" and self._ic is not None:
                self._msg = None
                self._ic.closed = True
                ic, self._ic = self._ic, None
                yield ic
            return
        ic = self._ic
        if ic is None:
            ic = self._ensure_interchange(seg.offset, seg.line)
            ic.findings.append(
                Finding("13", "interchange header UNB is missing", "interchange", ic.index,
                        segment_tag="UNB", offset=seg.offset, line=seg.line)
            )  # fmt: skip
        if tag == "UNH":
            if self._msg is not None:
                yield from self._close_message(None)
            self._open_message(seg)
            return
        msg = self._msg
        if msg is not None:
            if tag in ("UNZ", "UNG", "UNE"):
                yield from self._close_message(None)
            else:
                self._message_segment(msg, seg)
                if tag == "UNT":
                    yield from self._close_message(seg)
                return
        if tag == "UNZ":
            yield from self._close_interchange(seg)
        elif tag == "UNG":
            self._open_group(seg)
        elif tag == "UNE":
            self._close_group(seg)
        else:
            code, text = (
                ("33", f"segment {tag} outside a message")
                if _TAG.match(tag)
                else ("12", f"invalid segment tag {tag[:20]!r} outside a message")
            )
            ic.findings.append(
                Finding(code, text, "interchange", ic.index, self._current_group(),
                        segment_tag=tag[:3], offset=seg.offset, line=seg.line)
            )  # fmt: skip

    # -- interchange ------------------------------------------------------------------------

    def _ensure_interchange(self, offset: int, line: int) -> InterchangeReport:
        if self._ic is None:
            self._interchange_count += 1
            self._ic = InterchangeReport(
                self._interchange_count, offset, line, self.tokenizer.delimiters,
                una=self.tokenizer.una_text,
            )  # fmt: skip
            self._budget = FindingBudget()
            self._configure(self._ic, "3")
        return self._ic

    def _configure(self, ic: InterchangeReport, version: str) -> None:
        syntax4 = version == "4"
        self._service = service_segments("syntax4" if syntax4 else "syntax3")
        self._checker = _ElementChecker(syntax4, ic.delimiters.decimal)
        rep = repertoire_for(ic.syntax_identifier) or FALLBACK
        self._invalid_chars = rep.invalid_pattern(ic.delimiters.chars())
        self._syntax4 = syntax4
        d = ic.delimiters
        self._element_sep, self._component_sep = d.element, d.component
        # Segments holding these take the element-by-element path (escapes, repetitions).
        self._slow_chars = "".join(c for c in (d.release, d.repetition) if c)

    def _open_interchange(self, seg: Segment) -> None:
        tok = self.tokenizer
        self._interchange_count += 1
        env = tok.envelopes.pop(seg.interchange, None)
        delimiters = env.delimiters if env else tok.delimiters
        offset, line = (env.offset, env.line) if env else (seg.offset, seg.line)
        ic = InterchangeReport(
            self._interchange_count, offset, line, delimiters, una=env.una if env else None,
            header=seg, syntax_identifier=seg.value(1, 1), syntax_version=seg.value(1, 2),
            reference=seg.value(5),
        )  # fmt: skip
        self._ic = ic
        self._budget = FindingBudget()
        self._group = None
        self._refs = set()
        self._messages_outside_group = 0
        self._unreadable = False
        version = ic.syntax_version if ic.syntax_version in ("1", "2", "3", "4") else "3"
        self._configure(ic, version)
        f = ic.findings
        if ic.una is not None and self._check_una(ic, ic.una, offset, line):
            # Segments cut with contradictory service characters are noise: the UNA error is
            # the one answer (the interchange is rejected as a whole).
            self._unreadable = True
            return
        ident, known = ic.syntax_identifier, service_codes("syntax4" if version == "4" else
                                                           "syntax3").get("0001", [])  # fmt: skip
        if ident not in known:
            f.append(
                Finding("12", f"{ident!r} is not a syntax identifier (0001)", "interchange",
                        ic.index, segment_tag="UNB", element=1, component=1,
                        offset=seg.offset, line=seg.line)
            )  # fmt: skip
        elif repertoire_for(ident) is None or ic.syntax_version not in ("1", "2", "3", "4"):
            unsupported_level = repertoire_for(ident) is None
            f.append(
                Finding("2", f"syntax identifier {ident!r} version {ic.syntax_version!r} is not "
                        "supported", "interchange", ic.index, segment_tag="UNB", element=1,
                        component=1 if unsupported_level else 2, offset=seg.offset,
                        line=seg.line)
            )  # fmt: skip
        self._service_segment(seg, "interchange", f, unchecked_element=1)
        self._check_chars(seg, "interchange", f)

    def _check_una(self, ic: InterchangeReport, una: str, offset: int, line: int) -> bool:
        comp, elem, decimal, release, repetition, term = una[3:9]
        service = [comp, elem, term] + [c for c in (release, repetition) if c != " "]
        reasons = []
        if len(set(service)) < len(service) or decimal in service:
            reasons.append("the same character is declared for two functions")
        if any(c.isalnum() for c in service):
            reasons.append("a letter or digit is declared as a service character")
        if decimal not in ".,":
            reasons.append(f"decimal mark {decimal!r} is neither point nor comma")
        if reasons:
            ic.findings.append(
                Finding("20", f"UNA {una!r}: " + "; ".join(reasons), "interchange", ic.index,
                        segment_tag="UNA", offset=offset, line=line)
            )  # fmt: skip
        return bool(reasons)

    def _close_interchange(
        self, unz: Segment | None, missing_unz: bool = False
    ) -> Iterator[MessageReport | InterchangeReport]:
        ic = self._ic
        assert ic is not None
        if self._msg is not None:
            yield from self._close_message(None)
        if self._group is not None and not self._group.closed:
            self._group.findings.append(
                Finding("13", "group trailer UNE is missing", "group", ic.index,
                        self._group.index, segment_tag="UNE")
            )  # fmt: skip
            self._group = None
        f = ic.findings
        groups = len(ic.groups)
        messages = len(ic.messages)
        if groups and self._messages_outside_group:
            f.append(
                Finding("30", "groups and messages outside groups are mixed", "interchange",
                        ic.index)
            )  # fmt: skip
        if not groups and not messages and ic.header is not None:
            f.append(
                Finding("32", "interchange contains no message or group", "interchange", ic.index)
            )
        if unz is None:
            what = "before the next UNB" if missing_unz else "at the end of the data"
            f.append(
                Finding("13", f"interchange trailer UNZ is missing {what}", "interchange",
                        ic.index, segment_tag="UNZ")
            )  # fmt: skip
        else:
            self._service_segment(unz, "interchange", f)
            self._check_chars(unz, "interchange", f)
            count = unz.value(1)
            expected = groups if groups else messages
            if count.isdigit() and int(count) != expected:
                f.append(
                    Finding("29", f"UNZ control count {count} but {expected} "
                            f"{'groups' if groups else 'messages'} received", "interchange",
                            ic.index, segment_tag="UNZ", element=1, offset=unz.offset,
                            line=unz.line)
                )  # fmt: skip
            if ic.header is not None and unz.value(2) != ic.reference:
                f.append(
                    Finding("28", f"UNZ reference {unz.value(2)!r} does not match UNB reference "
                            f"{ic.reference!r}", "interchange", ic.index, segment_tag="UNZ",
                            element=2, offset=unz.offset, line=unz.line)
                )  # fmt: skip
        ic.closed = unz is not None
        self._ic = None
        yield ic

    def _end_of_stream(self, truncated: bool) -> Iterator[MessageReport | InterchangeReport]:
        if self._ic is not None and self._unreadable:
            ic, self._ic = self._ic, None
            yield ic
        elif self._ic is not None:
            yield from self._close_interchange(None)
        elif self._interchange_count == 0:
            ic = self._ensure_interchange(0, 1)
            ic.findings.append(Finding("13", "no interchange in the data", "interchange", 1,
                                       segment_tag="UNB"))  # fmt: skip
            self._ic = None
            yield ic

    # -- groups -----------------------------------------------------------------------------

    def _current_group(self) -> int:
        return self._group.index if self._group is not None and not self._group.closed else 0

    def _open_group(self, seg: Segment) -> None:
        ic = self._ic
        assert ic is not None
        if self._group is not None and not self._group.closed:
            self._group.findings.append(
                Finding("13", "group trailer UNE is missing before the next UNG", "group",
                        ic.index, self._group.index, segment_tag="UNE", offset=seg.offset,
                        line=seg.line)
            )  # fmt: skip
        group = GroupReport(len(ic.groups) + 1, seg.value(5), seg)
        ic.groups.append(group)
        self._group = group
        self._service_segment(seg, "group", group.findings)
        self._check_chars(seg, "group", group.findings)

    def _close_group(self, seg: Segment) -> None:
        ic = self._ic
        assert ic is not None
        group = self._group
        if group is None or group.closed:
            ic.findings.append(
                Finding("33", "UNE without a matching UNG", "interchange", ic.index,
                        segment_tag="UNE", offset=seg.offset, line=seg.line)
            )  # fmt: skip
            return
        group.closed = True
        f = group.findings
        self._service_segment(seg, "group", f)
        count = seg.value(1)
        if count.isdigit() and int(count) != group.message_count:
            f.append(
                Finding("29", f"UNE control count {count} but {group.message_count} messages "
                        "received", "group", ic.index, group.index, segment_tag="UNE",
                        element=1, offset=seg.offset, line=seg.line)
            )  # fmt: skip
        if seg.value(2) != group.reference:
            f.append(
                Finding("28", f"UNE reference {seg.value(2)!r} does not match UNG reference "
                        f"{group.reference!r}", "group", ic.index, group.index,
                        segment_tag="UNE", element=2, offset=seg.offset, line=seg.line)
            )  # fmt: skip
        if group.message_count == 0:
            f.append(Finding("32", "group contains no message", "group", ic.index, group.index))

    # -- messages ---------------------------------------------------------------------------

    def _open_message(self, seg: Segment) -> None:
        ic = self._ic
        assert ic is not None
        group = self._group if self._group is not None and not self._group.closed else None
        if group is not None:
            group.message_count += 1
        else:
            self._messages_outside_group += 1
        report = MessageReport(
            seg.message, seg.value(1), list(seg.elements[1]) if len(seg.elements) > 1 else [],
            group.index if group else 0, seg.offset, seg.line, Findings(self._budget),
        )  # fmt: skip
        if self.keep_segments:
            report.segments = [seg]
        f = report.findings
        self._service_segment(seg, "message", f, report)
        self._check_chars(seg, "message", f, report)
        if report.reference in self._refs:
            f.append(self._msg_finding(report, "26", f"message reference {report.reference!r} "
                                       "is used twice in the interchange", seg, element=1))
        self._refs.add(report.reference)
        spec = self._message_spec(report, seg)
        report.spec = spec
        self._msg = state = _MessageState(report, spec)
        report.segment_count = 1
        if state.walker is not None:
            if self.keep_segments:
                state.tree = TreeBuilder(state.walker.stack)
                report.tree = state.tree.root
            state.walker.step("UNH")
            if state.tree is not None:
                state.tree.add(seg, state.walker.stack)

    def _message_spec(self, report: MessageReport, seg: Segment) -> MessageSpec | None:
        ident = [*report.identifier, "", "", ""]
        mtype, version, release = ident[0], ident[1], ident[2]
        try:
            if mtype == "CONTRL":
                spec = message_spec("syntax4" if self._syntax4 else "syntax3", "CONTRL")
            elif version.upper() != "D":
                raise DirectoryError(f"message version {version!r} is not supported")
            else:
                spec = message_spec(report.directory, mtype)
        except DirectoryError as exc:
            component = 1 if "message" in str(exc) and "version" not in str(exc) else (
                2 if "version" in str(exc) else 3)
            report.findings.append(
                self._msg_finding(report, "14", f"{mtype} {version}:{release}: {exc}", seg,
                                  element=2, component=component)
            )
            return None
        profiles = [
            p
            for p in self.profiles.get(mtype, [])
            if not p.directories or spec.directory in p.directories
        ]
        if profiles:
            key = (spec.directory, mtype, tuple(p.fingerprint for p in profiles))
            narrowed = _PROFILED.get(key)
            if narrowed is None:
                narrowed = spec
                for p in profiles:
                    narrowed = apply_profile(narrowed, p)
                _PROFILED[key] = narrowed
            spec = narrowed
        return spec

    def _msg_finding(self, report: MessageReport, code: str, text: str, seg: Segment,
                     element: int = 0, component: int = 0) -> Finding:
        return Finding(code, text, "message", self._ic_index, report.group,
                       report.index, seg.tag, 0, element, component, offset=seg.offset,
                       line=seg.line)  # fmt: skip

    def _message_segment(self, state: _MessageState, seg: Segment) -> None:
        report = state.report
        report.segment_count += 1
        if report.segments is not None:
            report.segments.append(seg)
            if len(report.segments) > self.max_kept_segments:
                # one message held in memory must stay bounded too (a 200 MB body of tiny
                # segments is millions of objects): validation goes on, mapping will not
                report.segments = None
                report.segments_dropped = True
                report.tree = state.tree = None
        tag = seg.tag
        known = state.known.get(tag)
        if known is None:
            known = state.known[tag] = self._segment_kind(state, tag)
        sspec, pattern = known
        if sspec is None and tag != "UNT" and not _TAG.match(tag):
            report.findings.append(
                Finding("12", f"invalid segment tag {tag[:20]!r}", "segment", self._ic_index,
                        report.group, report.index, tag[:3], seg.position, offset=seg.offset,
                        line=seg.line)
            )  # fmt: skip
            report.tree = state.tree = None  # not walked: a mapper must place it itself
            return
        walker = state.walker
        if walker is not None:
            problems = walker.step(tag)
            if state.tree is not None:
                state.tree.add(seg, walker.stack)
            if problems:
                for code, text, subject in problems:
                    # ISO 9735-10 0096: a missing segment (a missing group: its first segment)
                    # is reported at the last segment processed before the place it was
                    # expected; other problems at the segment itself.
                    position = seg.position - 1 if code == "13" else seg.position
                    report.findings.append(
                        Finding(code, text, "segment", self._ic_index, report.group,
                                report.index, subject, position, offset=seg.offset,
                                line=seg.line)
                    )  # fmt: skip
        if state.scoped_tags and tag in state.scoped_tags and walker is not None:
            # A profile narrowed this tag at some positions of the segment table only.
            top = walker.stack[-1]
            node = top.node.children[top.idx]
            scoped = state.spec.at_position.get(node.pos) if state.spec is not None else None
            if scoped is not None and node.tag == tag:
                sspec = scoped
                pattern = segment_pattern(scoped, self._element_sep, self._component_sep,
                                          self._checker.decimal_chars)  # fmt: skip
        raw = seg.raw
        if self._invalid_chars.search(raw) is not None:
            self._check_chars(seg, "segment", report.findings, report, sspec)
        if tag == "UNT":
            self._service_segment(seg, "message", report.findings, report)
            return
        if sspec is None:
            return  # (a segment foreign to the message was reported by the structure walker)
        slow = self._slow_chars
        if (
            pattern is not None
            and not (slow and (slow[0] in raw or (len(slow) > 1 and slow[1] in raw)))
            and pattern.accepts(raw)
        ):
            return
        for code, text, el, comp, occ in self._checker.segment(seg, sspec):
            report.findings.append(
                Finding(code, f"{tag}: {text}", "element", self._ic_index, report.group,
                        report.index, tag, seg.position, el, comp, occ, seg.offset, seg.line)
            )  # fmt: skip

    def _segment_kind(
        self, state: _MessageState, tag: str
    ) -> tuple[SegmentSpec | None, SegmentPattern | None]:
        """The definition of a tag within the current message, and its fast acceptor."""
        if tag == "UNT":
            return self._service.get(tag), None
        sspec = state.spec.segments.get(tag) if state.spec is not None else None
        if sspec is None:
            sspec = self._service.get(tag) if state.spec is not None else None
        if sspec is None:
            return None, None
        pattern = segment_pattern(
            sspec, self._element_sep, self._component_sep, self._checker.decimal_chars
        )
        return sspec, pattern

    def _close_message(self, unt: Segment | None) -> Iterator[MessageReport]:
        state = self._msg
        assert state is not None
        self._msg = None
        report = state.report
        f = report.findings
        ic_index = self._ic_index
        if unt is None:
            f.append(Finding("13", "message trailer UNT is missing", "message", ic_index,
                             report.group, report.index, "UNT", offset=report.offset,
                             line=report.line))  # fmt: skip
            if state.walker is not None:
                for code, text, _ in state.walker.finish():
                    f.append(Finding(code, text, "message", ic_index, report.group,
                                     report.index, offset=report.offset, line=report.line))
        else:
            count = unt.value(1)
            if count.isdigit() and int(count) != report.segment_count:
                f.append(self._msg_finding(report, "29", f"UNT segment count {count} but "
                                           f"{report.segment_count} segments received", unt,
                                           element=1))  # fmt: skip
            if unt.value(2) != report.reference:
                f.append(self._msg_finding(report, "28", f"UNT reference {unt.value(2)!r} does "
                                           f"not match UNH reference {report.reference!r}", unt,
                                           element=2))  # fmt: skip
        if self._ic is not None:
            self._ic.messages.append(report)
        yield report
        if not self.keep_segments:
            report.segments = None

    # -- shared checks ----------------------------------------------------------------------

    def _service_segment(
        self,
        seg: Segment,
        level: str,
        findings: list[Finding],
        report: MessageReport | None = None,
        unchecked_element: int = 0,
    ) -> None:
        spec = self._service.get(seg.tag)
        if spec is None:
            return
        ic_index = self._ic_index
        group = self._current_group()
        for code, text, el, comp, occ in self._checker.segment(seg, spec):
            if el == unchecked_element and code == "12":
                continue
            findings.append(
                Finding(code, f"{seg.tag}: {text}", level, ic_index, group,
                        report.index if report else 0, seg.tag, 0, el, comp, occ, seg.offset,
                        seg.line)
            )  # fmt: skip
        if seg.tag == "UNB" and len(seg.elements) > 3:
            self._check_date_time(seg, findings, ic_index)

    def _check_date_time(self, seg: Segment, findings: list[Finding], ic_index: int) -> None:
        """UNB S004: a real date (YYMMDD, or CCYYMMDD in syntax 4) and time (HHMM)."""
        date, time = seg.value(4, 1), seg.value(4, 2)
        fmt = "%Y%m%d" if self._syntax4 else "%y%m%d"
        for comp, value, pattern in ((1, date, fmt), (2, time, "%H%M")):
            if not value.isdigit() or len(value) != len(datetime.now().strftime(pattern)):
                continue  # a length/type problem, already reported
            try:
                datetime.strptime(value, pattern)
            except ValueError:
                findings.append(
                    Finding("12", f"UNB: {value!r} is not a valid "
                            f"{'date' if comp == 1 else 'time'}", "interchange", ic_index,
                            segment_tag="UNB", element=4, component=comp, offset=seg.offset,
                            line=seg.line)
                )  # fmt: skip

    def _check_chars(
        self,
        seg: Segment,
        level: str,
        findings: list[Finding],
        report: MessageReport | None = None,
        spec: SegmentSpec | None = None,
    ) -> None:
        if self._invalid_chars.search(seg.raw) is None:
            return
        el, comp, char = _locate_char(seg, self._invalid_chars)
        spec = spec or self._service.get(seg.tag)
        if spec is None or not 0 < el <= len(spec.elements):
            comp = comp if el and len(seg.elements[el - 1]) > 1 else 0
        elif spec.elements[el - 1].components is None:
            comp = 0  # a simple data element has no component position
        ic_index = self._ic_index
        if level == "segment":
            level = "element" if el else "segment"
        findings.append(
            Finding("21", f"{seg.tag}: character {char!r} is not allowed by the character set",
                    level, ic_index, self._current_group(), report.index if report else 0,
                    seg.tag, seg.position, el, comp, 0, seg.offset, seg.line)
        )  # fmt: skip


def validate_bytes(data: bytes, profiles: Iterable[Profile] = ()) -> list[InterchangeReport]:
    """Convenience: validate a whole byte string."""
    return EdifactValidator(profiles).validate_bytes(data)
