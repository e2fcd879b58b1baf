"""EDIFACT stage of the pipeline: validate an interchange stream, map each message that passes,
check business rules. Shared by the gateway's workers and the command line (``edigate validate``,
``edigate map``); pure (no I/O beyond the chunks it is given)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

from ..canonical.model import CanonicalDocument
from ..edifact.directory import DirectoryError, Profile
from ..edifact.validator import (
    DEFAULT_MAX_KEPT_SEGMENTS,
    EdifactValidator,
    Finding,
    InterchangeReport,
    MessageReport,
)
from ..mappings.engine import map_message, mapping_for
from ..rules import RuleFinding, RuleSet, RuleSetError, check_document, rule_set_for_partner

CHUNK = 1 << 16
#: segments of one message held for mapping at most (more: validated, answered, not mapped)
MAX_MESSAGE_SEGMENTS = DEFAULT_MAX_KEPT_SEGMENTS


def file_chunks(fh: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    while True:
        chunk = fh.read(size)
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


def position_text(f: Finding) -> str:
    where = []
    if f.segment_tag:
        where.append(f.segment_tag + (f" (segment {f.segment_position})"
                                      if f.segment_position else ""))  # fmt: skip
    if f.element:
        where.append(f"element {f.element}" + (f".{f.component}" if f.component else ""))
    if f.line:
        where.append(f"line {f.line}")
    return ", ".join(where)


def map_report(r: MessageReport, timezone: str | None = None,
               ) -> tuple[CanonicalDocument | None, str | None, str]:  # fmt: skip
    """Map a message that passed its own syntax checks: (document, problem, reason).
    ``timezone``: the sender's zone for times without one (else the mapping's)."""
    try:
        mapping = mapping_for(r.type, r.directory, timezone)
    except (ValueError, DirectoryError, OSError) as exc:
        return None, "mapping_failed", f"its mapping cannot be loaded: {exc}"
    if mapping is None:
        return None, "no_mapping", f"no mapping for {r.type} in directory {r.directory or '?'}"
    if r.segments_dropped:
        return None, "too_large", (f"the message has {r.segment_count} segments, more than the "
                                   "gateway maps in one message")  # fmt: skip
    assert r.segments is not None and r.spec is not None
    prov = {"message_reference": r.reference, "message_version": ":".join(r.identifier[1:4])}
    try:
        # the validator's tree of a valid message (it walked every segment in place)
        tree = r.tree if r.valid else None
        return map_message(r.segments, r.spec, mapping, prov, tree=tree), None, ""
    except ValueError as exc:
        return None, "mapping_failed", f"mapping {mapping.name} failed: {exc}"


def interchange_outcomes(chunks: Iterable[bytes], profiles: Sequence[Profile] = (),
                         do_map: bool = True, timezone: str | None = None,
                         ) -> Iterator[tuple[InterchangeReport, list[MessageOutcome]]]:
    """Validate a chunk stream; map each message that passes (``do_map``); yield each
    interchange with its messages' outcomes, the documents of a failed interchange or group
    withdrawn. Memory: one message's segments, one interchange's documents (``message_stream``
    is the streaming form)."""
    pending: list[MessageOutcome] = []
    for item in message_stream(chunks, profiles, do_map, timezone):
        if isinstance(item, MessageOutcome):
            pending.append(item)
            continue
        r = item.report
        for m in pending:
            if m.problem is None and (r.findings or m.report.group in item.bad_groups):
                level = "interchange" if r.findings else "group"
                errors = r.findings or next(g.findings for g in r.groups
                                            if g.index == m.report.group)  # fmt: skip
                m.doc, m.problem = None, "envelope"
                m.reason = (f"its {level} has {len(errors)} syntax error(s); first: "
                            f"[{errors[0].code}] {errors[0].text}")  # fmt: skip
        yield r, pending
        pending = []


@dataclass(slots=True)
class InterchangeEnd:
    """End of an interchange in ``message_stream``: its report and the groups with errors."""

    report: InterchangeReport
    bad_groups: set[int]


def message_stream(chunks: Iterable[bytes], profiles: Sequence[Profile] = (),
                   do_map: bool = True, timezone: str | None = None,
                   ) -> Iterator[MessageOutcome | InterchangeEnd]:  # fmt: skip
    """Like ``interchange_outcomes`` but yields each message as soon as it is mapped (memory:
    one message), then an ``InterchangeEnd``; a consumer voids the messages of an interchange
    or group that turns out to be in error. The provenance is complete when a message is
    yielded (UNB is the interchange's first segment)."""
    validator = EdifactValidator(profiles, keep_segments=do_map,
                                 max_kept_segments=MAX_MESSAGE_SEGMENTS)
    for r in validator.validate(chunks):
        if isinstance(r, MessageReport):
            m = MessageOutcome(r)
            # the interchange being read (private to the validator, read-only here)
            ic = validator._ic
            m.interchange = ic.index if ic is not None else 0
            if not r.valid:
                first = r.findings[0]
                pos = position_text(first)
                m.problem = "syntax"
                m.reason = (f"{r.finding_count} syntax error(s); first: [{first.code}] "
                            f"{pos + ': ' if pos else ''}{first.text}")  # fmt: skip
            elif do_map:
                m.doc, m.problem, m.reason = map_report(r, timezone)
            header = ic.header if ic is not None else None
            if m.doc is not None and m.doc.provenance is not None and header is not None:
                prov = m.doc.provenance
                prov.sender = header.value(2) or None
                prov.recipient = header.value(3) or None
                prov.interchange_reference = (ic.reference if ic else "") or header.value(5) \
                    or None
            r.segments = r.tree = None  # the interchange report keeps r: let the message go
            yield m
            continue
        yield InterchangeEnd(r, {g.index for g in r.groups if g.findings})


def check_rules(outcomes: list[MessageOutcome], rule_set: RuleSet | None, now: datetime,
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
