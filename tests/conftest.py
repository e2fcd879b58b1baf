"""Shared paths: our fixtures and the third-party samples in ../shared (present in CI too)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "edifact"
SHARED = REPO.parent / "shared"
SAMPLES = SHARED / "samples" / "edifact"
UNEDIFACT = SHARED / "unedifact"


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix.lower() in (".edi",))


@pytest.fixture(scope="session")
def samples() -> dict[str, bytes]:
    files = sample_files()
    assert files, f"no EDIFACT samples under {SAMPLES}"
    return {p.name: p.read_bytes() for p in files}


# CI runs a fixed (derandomized) set of generated examples so that a run is reproducible;
# developers' runs explore new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
