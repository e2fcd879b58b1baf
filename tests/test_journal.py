"""The journal: SQLite store semantics, group commit through AsyncJournal, durability across a
SIGKILL, the payload store."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from twisted.internet import defer, reactor
from twisted.trial import unittest

from edigate.journal.base import (
    Event,
    NewSubmission,
    OutboxMessage,
    ResponseRecord,
    SubmissionOutcome,
)
from edigate.journal.payload_store import PayloadStore
from edigate.journal.store import SqliteJournal
from edigate.journal.writer import AsyncJournal

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def sub(sid: str, partner: str = "P", sha: str = "a" * 64, at: datetime = T0) -> NewSubmission:
    return NewSubmission(id=sid, partner=partner, channel="https", received_at=at, sha256=sha,
                         size=3, payload=b"abc", metadata={"remote": "127.0.0.1:1"})


def outcome(sid: str, state: str = "routed", ref: str | None = "REF1", n: int = 2,
            ) -> SubmissionOutcome:  # fmt: skip
    box = [OutboxMessage(message_id=f"{sid}-{i}", submission_id=sid, exchange="x",
                         routing_key="k", body=b"{}", content_type="application/json",
                         correlation_id=sid, headers={"h": "v"}) for i in range(1, n + 1)]
    return SubmissionOutcome(submission_id=sid, state=state, receipt=b"R", format="edifact",
                             document_type="CUSCAR", interchange_ref=ref, sender_id="S",
                             acknowledgement=b"CONTRL", ack_content_type="application/EDIFACT",
                             events=[Event("parsed", T0, sid, {"messages": n})],
                             outbox=box if state == "routed" else ())  # fmt: skip


def write(j: SqliteJournal, fn: str, *args: object) -> object:
    j.begin()
    try:
        value = getattr(j, fn)(*args)
    except BaseException:
        j.rollback()
        raise
    j.commit()
    return value


@pytest.fixture
def journal(tmp_path: Path) -> SqliteJournal:
    j = SqliteJournal(tmp_path / "j.sqlite3")
    yield j
    j.close()


def test_submission_lifecycle_and_timeline(journal: SqliteJournal) -> None:
    write(journal, "record_received", sub("s1"))
    r = journal.reader()
    rec = r.get_submission("s1")
    assert rec is not None and rec.state == "received" and rec.received_at == T0
    assert rec.metadata == {"remote": "127.0.0.1:1"} and r.payload("s1") == b"abc"
    assert r.unfinished() == ["s1"]
    write(journal, "record_outcome", outcome("s1"))
    rec = r.get_submission("s1")
    assert rec is not None and rec.state == "routed" and rec.receipt == b"R"
    assert rec.acknowledgement == b"CONTRL" and rec.interchange_ref == "REF1"
    assert [e.state for e in r.timeline("s1")] == ["received", "parsed"]
    assert r.unfinished() == []


def test_outcome_is_idempotent(journal: SqliteJournal) -> None:
    """Crash recovery may process again what was committed just before a crash."""
    write(journal, "record_received", sub("s1"))
    write(journal, "record_outcome", outcome("s1"))
    write(journal, "record_outcome", outcome("s1"))
    assert journal.reader().outbox_depth() == 2
    with pytest.raises(KeyError):
        write(journal, "record_outcome", outcome("nope"))


def test_outbox_order_delivery_and_parking(journal: SqliteJournal) -> None:
    for sid in ("s1", "s2"):
        write(journal, "record_received", sub(sid, sha=sid * 32))
        write(journal, "record_outcome", outcome(sid))
    r = journal.reader()
    pending = r.outbox_pending(0, 10)
    assert [m.message_id for m in pending] == ["s1-1", "s1-2", "s2-1", "s2-2"]
    assert [m.seq for m in pending] == sorted(m.seq for m in pending)
    assert pending[0].headers == {"h": "v"} and pending[0].body == b"{}"
    assert [m.message_id for m in r.outbox_pending(pending[1].seq, 10)] == ["s2-1", "s2-2"]
    write(journal, "outbox_delivered", [pending[0].seq])
    assert r.get_submission("s1").state == "routed"  # one of two still pending
    write(journal, "outbox_parked", [pending[1].seq], "no binding")
    assert r.get_submission("s1").state == "delivered"
    assert r.timeline("s1")[-1].state == "delivered"
    assert r.timeline("s1")[-1].detail == {"parked": 1}
    write(journal, "outbox_delivered", [pending[2].seq, pending[3].seq, pending[2].seq])
    assert r.get_submission("s2").state == "delivered" and r.outbox_depth() == 0
    # settling again changes nothing and adds no event
    write(journal, "outbox_delivered", [pending[2].seq])
    assert [e.state for e in r.timeline("s2")].count("delivered") == 1


def test_duplicate_lookup_rules(journal: SqliteJournal) -> None:
    r = journal.reader()
    since = T0 - timedelta(hours=1)
    write(journal, "record_received", sub("s1", sha="d" * 64))
    # still being processed: not an original to point at
    assert r.find_duplicate("P", sha256="d" * 64, since=since) is None
    write(journal, "record_outcome", outcome("s1", ref="R9"))
    assert r.find_duplicate("P", sha256="d" * 64, since=since).id == "s1"
    assert r.find_duplicate("P", interchange_ref="R9", sender_id="S", since=since).id == "s1"
    assert r.find_duplicate("P", interchange_ref="R9", sender_id="OTHER", since=since) is None
    assert r.find_duplicate("Q", sha256="d" * 64, since=since) is None  # other partner
    assert r.find_duplicate("P", sha256="d" * 64, since=T0 + timedelta(seconds=1)) is None
    # a duplicate is never itself the original
    write(journal, "record_received", sub("s2", sha="d" * 64, at=T0 + timedelta(minutes=1)))
    write(journal, "record_outcome", outcome("s2", state="duplicate"))
    assert r.find_duplicate("P", sha256="d" * 64, since=since).id == "s1"


def test_responses_are_stored_once(journal: SqliteJournal) -> None:
    write(journal, "record_received", sub("s1"))
    resp = ResponseRecord(submission_id="s1", response_id="r1", received_at=T0, body=b"{}",
                          rendered=b"UNB...", content_type="application/EDIFACT")
    assert write(journal, "record_response", resp) is True
    assert write(journal, "record_response", resp) is False
    got = journal.reader().get_response("s1")
    assert got is not None and got.rendered == b"UNB..." and got.response_id == "r1"
    assert [e.state for e in journal.reader().timeline("s1")].count("response") == 1


def test_naive_times_are_refused(journal: SqliteJournal) -> None:
    with pytest.raises(ValueError):
        write(journal, "record_received", sub("s1", at=datetime(2026, 1, 1)))


def test_payload_store(tmp_path: Path) -> None:
    store = PayloadStore(tmp_path / "payloads")
    data = os.urandom(3 << 20)
    path, sha, size = store.write_bytes(data)
    assert path.read_bytes() == data and sha == hashlib.sha256(data).hexdigest()
    src = tmp_path / "upload"
    src.write_bytes(data)
    path2, sha2, size2 = store.write_file(src)
    assert (sha2, size2) == (sha, size) and path2 != path and path2.read_bytes() == data
    assert path2.is_relative_to(store.directory)
    assert not list(store.directory.rglob(".*.tmp"))


class AsyncJournalTests(unittest.TestCase):
    """Through the real reactor and real threads."""

    def setUp(self) -> None:
        # not trial's mktemp: under pytest it would write into the working directory
        self.path = Path(tempfile.mkdtemp(prefix="edigate-journal-")) / "j.sqlite3"
        self.addCleanup(shutil.rmtree, self.path.parent, True)
        self.journal = AsyncJournal(lambda: SqliteJournal(self.path), reactor)
        self.journal.startService()

    def tearDown(self) -> defer.Deferred[None]:
        return self.journal.stopService() if self.journal.running else defer.succeed(None)

    async def test_group_commit_shares_transactions(self) -> None:
        # hold the writer so that 300 operations queue up behind one slow operation
        gate = threading.Event()
        j = self.journal._journal
        real = j.record_event

        def slow(event: Event) -> None:
            gate.wait(5)
            real(event)

        j.record_event = slow  # type: ignore[method-assign]
        first = self.journal.record_event(Event("audit", T0, None, {}))
        ds = [self.journal.record_received(sub(f"s{i}", sha=f"{i:064d}")) for i in range(300)]
        gate.set()
        await first
        await defer.gatherResults(ds)
        # 301 operations in at most a handful of commits (one for the held one, then batches)
        assert j.commits <= 4, j.commits
        ids = await self.journal.unfinished()
        assert len(ids) == 300

    async def test_a_failing_operation_fails_alone(self) -> None:
        await self.journal.record_received(sub("dup"))
        results = await defer.DeferredList([
            self.journal.record_received(sub("a")),
            self.journal.record_received(sub("dup")),  # primary key violation
            self.journal.record_received(sub("b")),
        ], consumeErrors=True)
        assert [ok for ok, _ in results] == [True, False, True]
        assert sorted(await self.journal.unfinished()) == ["a", "b", "dup"]

    async def test_stop_drains_queued_writes(self) -> None:
        ds = [self.journal.record_received(sub(f"q{i}", sha=f"{i:064d}")) for i in range(50)]
        await self.journal.stopService()
        await defer.gatherResults(ds)
        again = SqliteJournal(self.path)
        try:
            assert len(again.reader().unfinished()) == 50
        finally:
            again.close()
        self.journal = AsyncJournal(lambda: SqliteJournal(self.path), reactor)
        self.journal.startService()

    async def test_writes_after_stop_fail_cleanly(self) -> None:
        await self.journal.stopService()
        with pytest.raises(RuntimeError):
            await self.journal.record_event(Event("audit", T0, None, {}))
        self.journal.startService()


def test_committed_writes_survive_sigkill(tmp_path: Path) -> None:
    """A child commits through AsyncJournal, reports each acknowledged id, and is killed with
    SIGKILL mid-stream; everything it reported is in the journal afterwards."""
    db = tmp_path / "j.sqlite3"
    script = textwrap.dedent(f"""
        import sys
        from datetime import UTC, datetime
        from twisted.internet import reactor
        from edigate.journal.base import NewSubmission
        from edigate.journal.store import SqliteJournal
        from edigate.journal.writer import AsyncJournal
        j = AsyncJournal(lambda: SqliteJournal({str(db)!r}), reactor)
        def go():
            j.startService()
            def one(i):
                s = NewSubmission(id=f"k{{i}}", partner="P", channel="https",
                                  received_at=datetime.now(UTC), sha256=f"{{i:064d}}", size=1,
                                  payload=b"x")
                d = j.record_received(s)
                d.addCallback(lambda _: (sys.stdout.write(f"k{{i}}\\n"), sys.stdout.flush()))
                d.addCallback(lambda _: reactor.callLater(0, one, i + 1))
            for lane in range(4):
                one(lane * 1_000_000)
        reactor.callWhenRunning(go)
        reactor.run()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            env=dict(os.environ))
    acknowledged = []
    assert proc.stdout is not None
    while len(acknowledged) < 300:
        line = proc.stdout.readline()
        if not line:
            break
        acknowledged.append(line.decode().strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(acknowledged) >= 300
    j = SqliteJournal(db)
    try:
        stored = set(j.reader().unfinished())
    finally:
        j.close()
    assert set(acknowledged) <= stored
