"""Every mapping file under mappings/edifact compiles for every directory it lists, against the
directory (segments, groups, data elements) and the canonical model (targets): a broken mapping
fails here, in CI, not on the first message a partner sends."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import get_args

import pytest

from edigate.canonical.model import DocumentType
from edigate.edifact.directory import available_directories
from edigate.mappings.engine import MAPPINGS, load_mapping, mapping_files, mapping_for

FILES = mapping_files()
PAIRS = [(path, d) for path, meta in FILES.items() for d in meta["directories"]]


def test_the_mappings_asked_for_are_there() -> None:
    claimed = [(meta["message"], d) for meta in FILES.values() for d in meta["directories"]]
    assert len(claimed) == len(set(claimed)), "two files claim one message and directory"
    assert set(claimed) >= {
        ("BAPLIE", "D04B"), ("BAPLIE", "D95B"), ("COARRI", "D95B"), ("CODECO", "D96B"),
        ("CUSCAR", "D95B"), ("CUSCAR", "D96B"), ("CUSDEC", "D01B"), ("CUSDEC", "D96B"),
        ("IFCSUM", "D01B"), ("IFTMIN", "D01B"),
    }  # fmt: skip
    # one file per message type and directory version, named after them
    for path, meta in FILES.items():
        assert path.stem == f"{meta['message'].lower()}_{meta['directories'][0].lower()}"


@pytest.mark.parametrize(("path", "directory"), PAIRS, ids=[f"{p.stem}-{d}" for p, d in PAIRS])
def test_mapping_compiles(path: Path, directory: str) -> None:
    meta = FILES[path]
    assert directory in available_directories()
    assert meta["document_type"] in get_args(DocumentType)
    mapping = load_mapping(path, directory)
    assert (mapping.message, mapping.document_type) == (meta["message"], meta["document_type"])
    found = mapping_for(meta["message"], directory)
    assert found is not None and found.name == path.stem


def test_other_toml_files_are_not_mappings() -> None:
    others = [p for p in MAPPINGS.glob("*.toml") if p not in FILES]
    for p in others:  # e.g. the CUSRES renderer's settings
        with p.open("rb") as fh:
            assert "mapping" not in tomllib.load(fh)
    assert mapping_for("CUSRES", "D96B") is None
    assert mapping_for("CUSCAR", "D13B") is None
