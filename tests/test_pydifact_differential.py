"""Our tokenizer against pydifact (the reference) on every sample pydifact can parse."""

from __future__ import annotations

import warnings

import pytest

from edigate.edifact.tokenizer import Tokenizer

from .conftest import sample_files


def _pydifact_segments(text: str) -> list[tuple[str, list]] | None:
    from pydifact.parser import Parser

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [(s.tag, list(s.elements)) for s in Parser().parse(text)]
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


PARSEABLE = []
for path in sample_files():
    text = path.read_bytes().decode("latin-1")
    if _pydifact_segments(text) is not None:
        PARSEABLE.append(path)


def test_pydifact_can_parse_several_samples() -> None:
    assert len(PARSEABLE) >= 4, [p.name for p in PARSEABLE]


@pytest.mark.parametrize("path", PARSEABLE, ids=lambda p: p.name)
def test_identical_segments_and_elements(path) -> None:
    data = path.read_bytes()
    theirs = _pydifact_segments(data.decode("latin-1"))
    assert theirs is not None
    ours = [(s.tag, _as_pydifact(s.elements)) for s in Tokenizer().tokenize([data])]
    assert ours == _normalise(theirs)
