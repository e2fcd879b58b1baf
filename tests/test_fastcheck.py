"""The fast acceptor must never accept what the element-by-element checker rejects."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edigate.edifact.directory import SegmentSpec, message_spec
from edigate.edifact.fastcheck import segment_pattern
from edigate.edifact.tokenizer import Tokenizer
from edigate.edifact.validator import _ElementChecker

SPECS: list[SegmentSpec] = []
for directory, message in [("D95B", "CUSCAR"), ("D96B", "CUSDEC"), ("D01B", "CUSDEC"),
                           ("D13B", "BAPLIE"), ("D95B", "COARRI")]:  # fmt: skip
    SPECS.extend(message_spec(directory, message).segments.values())

VALUE_ALPHABET = "AB9 0.,-Z"


@st.composite
def raw_segment(draw: st.DrawFn) -> tuple[SegmentSpec, str]:
    spec = draw(st.sampled_from(SPECS))
    n = draw(st.integers(0, len(spec.elements) + 1))
    elements = []
    for i in range(n):
        es = spec.elements[i] if i < len(spec.elements) else None
        ncomp = len(es.components) if es is not None and es.components else 1
        comps = []
        for j in range(draw(st.integers(0, ncomp + 1))):
            vs = (es.components[j] if es and es.components and j < ncomp else
                  es.value if es else None)  # fmt: skip
            if vs is not None and vs.codes and draw(st.booleans()):
                comps.append(draw(st.sampled_from(sorted(vs.codes))))
            else:
                size = draw(st.integers(0, (vs.max + 1) if vs else 4))
                comps.append(draw(st.text(VALUE_ALPHABET, min_size=size, max_size=size)))
        elements.append(":".join(comps))
    return spec, "+".join([spec.tag, *elements])


@settings(max_examples=1500, deadline=None)
@given(raw_segment(), st.booleans())
def test_fast_acceptance_implies_no_checker_problem(case: tuple[SegmentSpec, str],
                                                    syntax4: bool) -> None:  # fmt: skip
    spec, raw = case
    checker = _ElementChecker(syntax4, ".")
    pattern = segment_pattern(spec, "+", ":", checker.decimal_chars)
    (seg,) = list(Tokenizer().tokenize([raw.encode() + b"'"]))
    problems = checker.segment(seg, spec)
    if pattern.accepts(seg.raw):
        assert problems == [], (raw, problems)


def test_fast_path_accepts_ordinary_valid_segments() -> None:
    spec = message_spec("D95B", "CUSCAR").segments
    checker = _ElementChecker(False, ".")
    for raw in ["BGM+85+MF00000001+9", "LOC+5+CNSHA:139:6", "MEA+AAE+G+KGM:12000.5",
                "GID+1+320:CT", "DTM+137:202411230800:203", "CNI+1+MSCU847144854"]:  # fmt: skip
        s = spec[raw[:3]]
        assert segment_pattern(s, "+", ":", checker.decimal_chars).accepts(raw), raw
