"""CONTRL (syntax and service report, ISO 9735-4 / UN/EDIFACT CONTRL D:3) from validation reports.

Positions: UCS 0096 counts UNH as segment 1; S011 0098 counts the segment tag as position 1
(ISO 9735-10), so the first data element after the tag is 2 (our findings number data elements
from 1, after the tag, and add one here). A missing segment is reported at the position of the
last segment processed before the place it was expected (ISO 9735-10, 0096).

One CONTRL interchange answers one subject interchange, in the subject's syntax version:
UCI for the interchange (UNA/UNB/UNZ errors), UCF per group when the subject used groups, UCM
per message, UCS per erroneous segment and UCD per erroneous data element. Action codes
(0083): 4 = this level and all lower levels rejected; 7 = this level acknowledged, next lower
level acknowledged if not explicitly rejected.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .charsets import FALLBACK, repertoire_for
from .tokenizer import Delimiters, Segment
from .validator import Finding, GroupReport, InterchangeReport, MessageReport
from .writer import SegmentWriter

ACTION_REJECTED = "4"
ACTION_ACKNOWLEDGED = "7"
ACTION_RECEIVED = "8"

_SERVICE_TAGS = frozenset(("UNA", "UNB", "UNG", "UNH", "UNT", "UNE", "UNZ"))
MAX_UCS = 999
MAX_UCD = 99


def _error_elements(f: Finding | None, syntax4: bool, with_tag: bool) -> list[str | list[str]]:
    """0085, 0135/0013 and S011 of a UCI/UCF/UCM error (empty when no finding)."""
    if f is None:
        return []
    tag = f.segment_tag if with_tag and f.segment_tag in _SERVICE_TAGS else ""
    s011: list[str] = []
    if tag and f.element:
        s011 = [str(f.element + 1), str(f.component) if f.component else ""]
        if syntax4 and f.occurrence:
            s011.append(str(f.occurrence))
    out: list[str | list[str]] = [f.code]
    if tag:
        out.append(tag)
        if s011:
            out.append(s011)
    return out


def _first(findings: list[Finding], levels: tuple[str, ...]) -> Finding | None:
    for f in findings:
        if f.level in levels:
            return f
    return None


def _message(w: SegmentWriter, m: MessageReport, limit: int) -> None:
    syntax4 = w.syntax4
    s009 = m.identifier[: 7 if syntax4 else 5]
    # Positionless structural problems (e.g. found at a missing UNT) are message-level.
    msg_level = [f for f in m.findings if f.level == "message" or not f.segment_position]
    seg_level = [f for f in m.findings if f not in msg_level]
    action = ACTION_REJECTED if m.findings else ACTION_ACKNOWLEDGED
    w.seg("UCM", m.reference, s009, action, *_error_elements(_first(msg_level, ("message",
          "segment", "element")), syntax4, True))  # fmt: skip
    by_position: dict[int, list[Finding]] = {}
    for f in seg_level:
        by_position.setdefault(f.segment_position, []).append(f)
    for position in sorted(by_position)[:limit]:
        fs = by_position[position]
        seg_error = _first(fs, ("segment",))
        if seg_error is not None:
            w.seg("UCS", str(position), seg_error.code)
        else:
            w.seg("UCS", str(position))
        for f in [f for f in fs if f.level == "element"][:MAX_UCD]:
            s011 = [str(f.element + 1), str(f.component) if f.component else ""]
            if syntax4 and f.occurrence:
                s011.append(str(f.occurrence))
            w.seg("UCD", f.code, s011)


def _clean(ic: InterchangeReport, values: list[str]) -> bool:
    """Values can be copied into the CONTRL: every character allowed by the character set
    (a finding reports only the first bad character of a segment, so look at each value)."""
    rep = repertoire_for(ic.syntax_identifier) or FALLBACK
    invalid = rep.invalid_pattern("")
    return all(invalid.search(v) is None for v in values)


def _copyable(header: Segment, ic: InterchangeReport) -> bool:
    """ISO 9735-4 5.3.4: UNB sender, recipient and reference must be present and valid."""
    for f in ic.findings:
        if f.segment_tag == "UNA" or (f.segment_tag == "UNB" and f.element in (1, 2, 3, 5)):
            return False
    copied = [*header.elements[1], *header.elements[2], header.value(5)]
    return bool(header.value(2) and header.value(3) and header.value(5)) and _clean(ic, copied)


def _message_copyable(ic: InterchangeReport, m: MessageReport) -> bool:
    for f in m.findings:
        # 14 (type not supported) and 26 (duplicate) leave the identifiers themselves intact.
        if f.segment_tag == "UNH" and f.element in (1, 2) and f.code not in ("14", "26"):
            return False
    return (bool(m.reference) and all(m.identifier[:4]) and len(m.identifier) >= 4
            and _clean(ic, [m.reference, *m.identifier]))  # fmt: skip


def _group_copyable(ic: InterchangeReport, g: GroupReport) -> bool:
    for f in g.findings:
        if f.segment_tag == "UNG" and f.element in (2, 3, 5):
            return False
    seg = g.segment
    return bool(g.reference and seg.value(2) and seg.value(3)) and _clean(
        ic, [g.reference, *seg.elements[1], *seg.elements[2]]
    )


def build_contrl(
    ic: InterchangeReport,
    control_reference: str,
    now: datetime | None = None,
    report_accepted_messages: bool = True,
) -> bytes | None:
    """Render the CONTRL interchange answering ``ic``; None when the subject has no UNB.

    ISO 9735-4 5.3.4: the CONTRL copies identifiers from the subject's UNB; without a UNB there
    is nothing to copy and the error must be reported by other means (the CLI/JSON report).
    """
    header = ic.header
    if header is None or not _copyable(header, ic):
        return None
    if ic.messages and all(m.type == "CONTRL" for m in ic.messages):
        return None  # ISO 9735-4 5.3.7: no CONTRL in answer to CONTRL messages only
    syntax4 = ic.syntax_version == "4"
    delimiters = Delimiters(repetition="*" if syntax4 else None)
    w = SegmentWriter(delimiters, syntax4)
    now = now or datetime.now(UTC)
    ident = ic.syntax_identifier if ic.syntax_identifier.startswith("UNO") else "UNOC"
    version = ic.syntax_version if ic.syntax_version in ("1", "2", "3", "4") else "3"
    if not ident[3:].isalpha() or len(ident) != 4:
        ident = "UNOC"
    n_comp = 4 if syntax4 else 3
    sender = header.elements[1][:n_comp] if len(header.elements) > 1 else [""]
    recipient = header.elements[2][:n_comp] if len(header.elements) > 2 else [""]
    w.unb((ident, version), recipient, sender, now, control_reference)
    w.seg("UNH", "1", ["CONTRL", "4", "1", "UN"] if syntax4 else ["CONTRL", "D", "3", "UN"])
    first = len(w.segments) - 1
    ic_error = _first(ic.findings, ("interchange",))
    uncopyable: list[GroupReport | MessageReport] = [
        g for g in ic.groups if not _group_copyable(ic, g)
    ]
    uncopyable += [m for m in ic.messages if not _message_copyable(ic, m)]
    if ic_error is None and uncopyable:
        # A group or message whose identifiers cannot be copied into a UCF/UCM is reported by
        # rejecting the interchange with its first error.
        ic_error = uncopyable[0].findings[0] if uncopyable[0].findings else None
    action = ACTION_REJECTED if ic.findings or uncopyable else ACTION_ACKNOWLEDGED
    w.seg("UCI", ic.reference, sender, recipient, action,
          *_error_elements(ic_error, syntax4, True))  # fmt: skip
    if action == ACTION_ACKNOWLEDGED:
        if ic.groups:
            for g in ic.groups:
                _group(w, g, [m for m in ic.messages if m.group == g.index],
                       report_accepted_messages)  # fmt: skip
        else:
            for m in ic.messages:
                if m.findings or report_accepted_messages:
                    _message(w, m, MAX_UCS)
    count = len(w.segments) - first + 1
    w.seg("UNT", str(count), "1")
    w.seg("UNZ", "1", control_reference)
    text = w.text()
    codec = "utf-8" if ident in ("UNOW", "UNOY") else "latin-1"
    return text.encode(codec, "replace")


def _group(
    w: SegmentWriter, g: GroupReport, messages: list[MessageReport], report_all: bool
) -> None:
    seg = g.segment
    app_sender = seg.elements[1][:2] if len(seg.elements) > 1 else [""]
    app_recipient = seg.elements[2][:2] if len(seg.elements) > 2 else [""]
    rejected = bool(g.findings)
    action = ACTION_REJECTED if rejected else ACTION_ACKNOWLEDGED
    # UCF: 0048 group reference, S006, S007, 0083, then the error (0085, 0013/0135, S011).
    w.seg("UCF", g.reference, app_sender, app_recipient, action,
          *_error_elements(_first(g.findings, ("group",)), w.syntax4, True))  # fmt: skip
    if not rejected:
        for m in messages:
            if m.findings or report_all:
                _message(w, m, MAX_UCS)
