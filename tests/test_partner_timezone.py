"""A partner's own time zone for EDIFACT times written without one (DTM 102/203...): the same
interchange read for a Genoa terminal and for a Hong Kong carrier gives the instants each meant."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edigate.cli import main
from edigate.edifact.validator import EdifactValidator, MessageReport
from edigate.mappings.engine import map_message, mapping_for
from edigate.pipeline.process import ReceiptContext, process_submission

from .conftest import FIXTURES

SEA = FIXTURES / "cuscar_d95b_sea.edi"  # DTM+137:202406171030:203 (no zone)


def _issue_times(timezone: str | None) -> list[datetime]:
    out = []
    for r in EdifactValidator(keep_segments=True).validate([SEA.read_bytes()]):
        if isinstance(r, MessageReport):
            mapping = mapping_for(r.type, r.directory, timezone)
            assert mapping is not None and r.spec is not None and r.segments
            doc = map_message(r.segments, r.spec, mapping)
            assert doc.header.issue_time is not None
            out.append(doc.header.issue_time)
    return out


def test_partner_zone_changes_the_instant_not_the_wall_clock() -> None:
    hong_kong = _issue_times(None)  # the mapping's own zone
    rome = _issue_times("Europe/Rome")
    assert [t.replace(tzinfo=None) for t in rome] == [t.replace(tzinfo=None) for t in hong_kong]
    assert hong_kong[0].utcoffset() == timedelta(hours=8)
    assert rome[0].utcoffset() == timedelta(hours=2)  # June: CEST
    # the same wall clock in Genoa is six hours later than in Hong Kong
    assert rome[0] - hong_kong[0] == timedelta(hours=6)
    # compiled once per zone: the default stays the default
    assert mapping_for("CUSCAR", "D95B") is mapping_for("CUSCAR", "D95B", None)
    assert mapping_for("CUSCAR", "D95B") is not mapping_for("CUSCAR", "D95B", "Europe/Rome")


def test_worker_uses_the_partner_zone() -> None:
    ctx = ReceiptContext(submission_id="a" * 32, partner_id="GOA", channel="https",
                         received_at=datetime.now(UTC), payload_sha256="0" * 64,
                         payload_size=1, node_id="t", timezone="Europe/Rome")  # fmt: skip
    result = process_submission(SEA.read_bytes(), None, context=ctx)
    doc = json.loads(result.documents[0].canonical)
    assert doc["header"]["issue_time"] == "2024-06-17T10:30:00+02:00"
    assert doc["border_transport_means"]["eta"].endswith("+02:00")


def test_cli_timezone(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["map", "--json", "--timezone", "America/New_York", str(SEA)]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["header"]["issue_time"] == "2024-06-17T10:30:00-04:00"
