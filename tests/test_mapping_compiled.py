"""Compiled mappings give exactly what the reference interpreter gives, provenance included."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import pytest

from edigate.canonical.model import CanonicalDocument
from edigate.edifact.validator import EdifactValidator, MessageReport
from edigate.mappings.engine import map_message, mapping_for
from edigate.mappings.tree import GroupInstance, build_tree

from .conftest import FIXTURES, REPO, sample_files

sys.path.insert(0, str(REPO / "bench"))
from gen_cuscar import interchange

FILES = sorted(FIXTURES.glob("*.edi")) + sample_files()


def _pairs(data: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    for r in EdifactValidator(keep_segments=True).validate([data]):
        if not isinstance(r, MessageReport) or r.spec is None or not r.segments:
            continue
        mapping = mapping_for(r.type, r.directory)
        if mapping is None:
            continue
        compiled = map_message(r.segments, r.spec, mapping)
        reference = map_message(r.segments, r.spec, mapping, interpret=True)
        assert isinstance(compiled, CanonicalDocument)
        out.append((msgspec.json.encode(compiled), msgspec.json.encode(reference)))
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).name)
def test_compiled_equals_interpreter(path: Path) -> None:
    pairs = _pairs(path.read_bytes())
    for compiled, reference in pairs:
        assert compiled == reference


def test_every_mapping_is_exercised() -> None:
    """The comparison above is worth something only if it maps messages of every mapping."""
    used = set()
    for path in FILES:
        for r in EdifactValidator(keep_segments=True).validate([path.read_bytes()]):
            if isinstance(r, MessageReport) and r.spec is not None and r.segments:
                m = mapping_for(r.type, r.directory)
                if m is not None and _pairs(path.read_bytes()):
                    used.add(m.name)
    assert {"cuscar_d95b", "cuscar_d96b", "cusdec_d96b", "cusdec_d01b", "baplie_d95b",
            "baplie_d04b", "coarri_d95b", "codeco_d96b", "iftmin_d01b",
            "ifcsum_d01b"} <= used  # fmt: skip


def test_generated_interchange_with_provenance() -> None:
    """The benchmark's random CUSCAR (optional segments present or not, varied lengths)."""
    data = "".join(interchange(60, None, seed=7)).encode()
    pairs = _pairs(data)
    assert len(pairs) == 60
    for compiled, reference in pairs:
        assert compiled == reference
        assert b'"provenance"' in compiled and b'"segment_tag"' in compiled


def test_generated_source_is_kept_for_tracebacks() -> None:
    import linecache

    m = mapping_for("CUSCAR", "D95B")
    assert m is not None
    data = "".join(interchange(1, None)).encode()
    _pairs(data)
    source = m.compiled.__source__
    filename = m.compiled.__code__.co_filename
    assert "".join(linecache.getlines(filename)) == source


def _shape(inst: GroupInstance) -> tuple[object, ...]:
    return (inst.group, [id(s) for s in inst.segments],
            {g: [_shape(i) for i in insts] for g, insts in inst.groups.items()})


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).name)
def test_validator_tree_equals_a_fresh_walk(path: Path) -> None:
    """The tree the validator files while walking equals the one build_tree walks again, and
    mapping from it gives the same document."""
    for r in EdifactValidator(keep_segments=True).validate([path.read_bytes()]):
        if not isinstance(r, MessageReport) or r.spec is None or not r.segments or not r.valid:
            continue
        assert r.tree is not None
        assert _shape(r.tree) == _shape(build_tree(r.spec, r.segments))
        mapping = mapping_for(r.type, r.directory)
        if mapping is not None:
            assert msgspec.json.encode(map_message(r.segments, r.spec, mapping, tree=r.tree)) \
                == msgspec.json.encode(map_message(r.segments, r.spec, mapping))


def test_validator_trees_cover_the_corpus() -> None:
    trees = sum(1 for path in FILES
                for r in EdifactValidator(keep_segments=True).validate([path.read_bytes()])
                if isinstance(r, MessageReport) and r.valid and r.tree is not None)  # fmt: skip
    assert trees >= 20
