"""Our tokenizer against pydifact (the reference) on every sample pydifact can parse."""

from __future__ import annotations

import warnings

import pytest

from edigate.edifact.tokenizer import Tokenizer

from .conftest import FIXTURES, sample_files


def _pydifact_segments(text: str) -> list[tuple[str, list]] | None:
    from pydifact.parser import Parser

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # pydifact hands out the UNA service string advice as a segment; we do not.
            return [(s.tag, list(s.elements)) for s in Parser().parse(text) if s.tag != "UNA"]
    except Exception:
        return None


def _as_pydifact(elements: list[list[str]]) -> list:
    """pydifact's shape: one component -> str, trailing empty components dropped."""
    out: list = []
    for el in elements:
        comps = list(el)
        while len(comps) > 1 and comps[-1] == "":
            comps.pop()
        out.append(comps[0] if len(comps) == 1 else comps)
    return out


def _normalise(segments: list[tuple[str, list]]) -> list[tuple[str, list]]:
    return [(tag, _as_pydifact([e if isinstance(e, list) else [e] for e in els]))
            for tag, els in segments]  # fmt: skip


def _text(data: bytes) -> str:
    """pydifact takes text: decode it as the UNB declares (UTF-8 for UNOW/UNOY)."""
    head = data[:300]
    return data.decode("utf-8" if b"UNOW" in head or b"UNOY" in head else "latin-1")


def _ours(data: bytes) -> list[tuple[str, list]]:
    out = []
    for seg in Tokenizer().tokenize([data]):
        elements = list(seg.elements)
        # pydifact knows no repetition separator: it sees "A:B*C:D" as components A, B*C, D.
        for i, occurrences in (seg.repeats or {}).items():
            elements[i] = "*".join(":".join(o) for o in occurrences).split(":")
        out.append((seg.tag, _as_pydifact(elements)))
    return out


PARSEABLE = []
for path in sample_files() + sorted(FIXTURES.glob("*.edi")):
    if _pydifact_segments(_text(path.read_bytes())) is not None:
        PARSEABLE.append(path)


def test_pydifact_can_parse_several_samples() -> None:
    assert len([p for p in PARSEABLE if "fixtures" not in p.parts]) >= 4, PARSEABLE
    assert len([p for p in PARSEABLE if "fixtures" in p.parts]) >= 10, PARSEABLE


@pytest.mark.parametrize("path", PARSEABLE, ids=lambda p: p.name)
def test_identical_segments_and_elements(path) -> None:
    data = path.read_bytes()
    theirs = _pydifact_segments(_text(data))
    assert theirs is not None
    assert _ours(data) == _normalise(theirs)
