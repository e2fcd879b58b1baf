"""SQLite implementation of the journal (the embedded default).

WAL mode with ``synchronous=FULL``: a COMMIT returns only after the WAL is fsynced, so what was
committed survives a crash or power loss; readers never block the writer. Times are stored as ISO
8601 UTC text, metadata and event details as JSON text, payloads inline (BLOB) or as a path in the
payload store for large ones.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .base import (
    Event,
    NewSubmission,
    OutboxMessage,
    ResponseRecord,
    SubmissionOutcome,
    SubmissionRecord,
)

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY,
    partner TEXT NOT NULL,
    channel TEXT NOT NULL,
    received_at TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    format TEXT,
    document_type TEXT,
    interchange_ref TEXT,
    sender_id TEXT,
    duplicate_of TEXT,
    receipt BLOB,
    acknowledgement BLOB,
    ack_content_type TEXT,
    payload BLOB,
    payload_path TEXT
);
CREATE INDEX IF NOT EXISTS submissions_digest ON submissions (partner, sha256, received_at);
CREATE INDEX IF NOT EXISTS submissions_ref
    ON submissions (partner, interchange_ref, received_at) WHERE interchange_ref IS NOT NULL;
CREATE INDEX IF NOT EXISTS submissions_unfinished ON submissions (state) WHERE state = 'received';

CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id TEXT,
    state TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_submission ON events (submission_id, id);

CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    exchange TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    body BLOB NOT NULL,
    content_type TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    headers TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    parked_reason TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS outbox_submission ON outbox (submission_id);

CREATE TABLE IF NOT EXISTS responses (
    response_id TEXT PRIMARY KEY,
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    received_at TEXT NOT NULL,
    body BLOB NOT NULL,
    rendered BLOB NOT NULL,
    content_type TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_submission ON responses (submission_id, received_at);
"""


def _ts(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("journal times must be timezone-aware")
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                           timeout=30.0)  # fmt: skip
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: every COMMIT fsyncs the WAL (NORMAL would only fsync at checkpoints)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


_SUBMISSION_COLUMNS = ("id, partner, channel, received_at, sha256, size, state, content_type, "
                       "metadata, format, document_type, interchange_ref, sender_id, "
                       "duplicate_of, receipt, acknowledgement, ack_content_type")  # fmt: skip


def _submission(row: Sequence[Any]) -> SubmissionRecord:
    return SubmissionRecord(
        id=row[0], partner=row[1], channel=row[2], received_at=_dt(row[3]), sha256=row[4],
        size=row[5], state=row[6], content_type=row[7], metadata=json.loads(row[8]),
        format=row[9], document_type=row[10], interchange_ref=row[11], sender_id=row[12],
        duplicate_of=row[13], receipt=row[14], acknowledgement=row[15],
        ack_content_type=row[16])


class SqliteJournalReader:
    """Read access on its own connection (WAL readers see the last committed state)."""

    def __init__(self, path: Path) -> None:
        self._db = _connect(path)

    def close(self) -> None:
        self._db.close()

    def get_submission(self, submission_id: str) -> SubmissionRecord | None:
        row = self._db.execute(f"SELECT {_SUBMISSION_COLUMNS} FROM submissions WHERE id = ?",
                               (submission_id,)).fetchone()  # fmt: skip
        return _submission(row) if row else None

    def timeline(self, submission_id: str) -> list[Event]:
        rows = self._db.execute(
            "SELECT state, at, detail FROM events WHERE submission_id = ? ORDER BY id",
            (submission_id,)).fetchall()
        return [Event(r[0], _dt(r[1]), submission_id, json.loads(r[2])) for r in rows]

    def audit_events(self, limit: int = 100) -> list[Event]:
        rows = self._db.execute(
            "SELECT state, at, detail FROM events WHERE submission_id IS NULL "
            "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [Event(r[0], _dt(r[1]), None, json.loads(r[2])) for r in rows]

    def payload(self, submission_id: str) -> bytes | None:
        row = self._db.execute("SELECT payload, payload_path FROM submissions WHERE id = ?",
                               (submission_id,)).fetchone()  # fmt: skip
        if row is None:
            return None
        if row[0] is not None:
            return bytes(row[0])
        return Path(row[1]).read_bytes() if row[1] else None

    def payload_path(self, submission_id: str) -> str | None:
        row = self._db.execute("SELECT payload_path FROM submissions WHERE id = ?",
                               (submission_id,)).fetchone()  # fmt: skip
        return row[0] if row else None

    def find_duplicate(self, partner: str, *, sha256: str | None = None,
                       interchange_ref: str | None = None, sender_id: str | None = None,
                       since: datetime) -> SubmissionRecord | None:  # fmt: skip
        """The newest earlier submission of ``partner`` since ``since`` that got an answer of its
        own (not one still being processed, not itself a duplicate) with the same digest, or the
        same interchange reference (and sender, when given)."""
        where, args = [], []
        if sha256 is not None:
            where.append("sha256 = ?")
            args.append(sha256)
        if interchange_ref is not None:
            if sender_id is not None:
                where.append("(interchange_ref = ? AND sender_id = ?)")
                args += [interchange_ref, sender_id]
            else:
                where.append("interchange_ref = ?")
                args.append(interchange_ref)
        if not where:
            return None
        row = self._db.execute(
            f"SELECT {_SUBMISSION_COLUMNS} FROM submissions WHERE partner = ? "
            f"AND received_at >= ? AND state NOT IN ('received', 'duplicate') "
            f"AND ({' OR '.join(where)}) ORDER BY received_at DESC LIMIT 1",
            (partner, _ts(since), *args)).fetchone()
        return _submission(row) if row else None

    def unfinished(self) -> list[str]:
        rows = self._db.execute("SELECT id FROM submissions WHERE state = 'received' "
                                "ORDER BY received_at").fetchall()  # fmt: skip
        return [r[0] for r in rows]

    def outbox_pending(self, after_seq: int, limit: int) -> list[OutboxMessage]:
        rows = self._db.execute(
            "SELECT seq, message_id, submission_id, exchange, routing_key, body, content_type, "
            "correlation_id, headers FROM outbox WHERE state = 'pending' AND seq > ? "
            "ORDER BY seq LIMIT ?", (after_seq, limit)).fetchall()
        return [OutboxMessage(message_id=r[1], submission_id=r[2], exchange=r[3],
                              routing_key=r[4], body=bytes(r[5]), content_type=r[6],
                              correlation_id=r[7], headers=json.loads(r[8]), seq=r[0])
                for r in rows]  # fmt: skip

    def outbox_depth(self) -> int:
        return int(self._db.execute(
            "SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0])

    def get_response(self, submission_id: str) -> ResponseRecord | None:
        row = self._db.execute(
            "SELECT submission_id, response_id, received_at, body, rendered, content_type "
            "FROM responses WHERE submission_id = ? ORDER BY received_at DESC LIMIT 1",
            (submission_id,)).fetchone()
        if row is None:
            return None
        return ResponseRecord(submission_id=row[0], response_id=row[1],
                              received_at=_dt(row[2]), body=bytes(row[3]),
                              rendered=bytes(row[4]), content_type=row[5])  # fmt: skip


class SqliteJournal:
    """The writer side (one thread), see ``Journal`` in base.py."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = _connect(self.path)
        self.commits = 0  # for tests and the benchmark: group commit means few of these
        self._init_schema()
        self._local = threading.local()

    def _init_schema(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: journal schema {version} is newer than this "
                               f"gateway's ({SCHEMA_VERSION})")  # fmt: skip
        self._db.executescript("BEGIN;" + SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};"
                               "COMMIT;")  # fmt: skip

    # -- transactions
    def begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._db.execute("COMMIT")
        self.commits += 1

    def rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def savepoint(self, name: str) -> None:
        self._db.execute(f"SAVEPOINT {name}")

    def release(self, name: str) -> None:
        self._db.execute(f"RELEASE {name}")

    def rollback_to(self, name: str) -> None:
        self._db.execute(f"ROLLBACK TO {name}")
        self._db.execute(f"RELEASE {name}")

    def close(self) -> None:
        self._db.close()

    def reader(self) -> SqliteJournalReader:
        return SqliteJournalReader(self.path)

    # -- writes
    def _event(self, e: Event) -> None:
        self._db.execute("INSERT INTO events (submission_id, state, at, detail) "
                         "VALUES (?, ?, ?, ?)",
                         (e.submission_id, e.state, _ts(e.at),
                          json.dumps(e.detail, default=str, ensure_ascii=False)))  # fmt: skip

    def record_received(self, s: NewSubmission) -> None:
        self._db.execute(
            "INSERT INTO submissions (id, partner, channel, received_at, sha256, size, "
            "content_type, metadata, state, payload, payload_path) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'received', ?, ?)",
            (s.id, s.partner, s.channel, _ts(s.received_at), s.sha256, s.size, s.content_type,
             json.dumps(s.metadata, ensure_ascii=False), s.payload, s.payload_path))
        self._event(Event("received", s.received_at, s.id,
                          {"size": s.size, "sha256": s.sha256, "channel": s.channel}))

    def record_outcome(self, o: SubmissionOutcome) -> None:
        # idempotent: crash recovery may process a submission whose outcome was committed just
        # before the crash (only 'received' submissions are updated, once)
        cur = self._db.execute(
            "UPDATE submissions SET state = ?, format = ?, document_type = ?, "
            "interchange_ref = ?, sender_id = ?, duplicate_of = ?, receipt = ?, "
            "acknowledgement = ?, ack_content_type = ? WHERE id = ? AND state = 'received'",
            (o.state, o.format, o.document_type, o.interchange_ref, o.sender_id, o.duplicate_of,
             o.receipt, o.acknowledgement, o.ack_content_type, o.submission_id))
        if cur.rowcount == 0:
            exists = self._db.execute("SELECT 1 FROM submissions WHERE id = ?",
                                      (o.submission_id,)).fetchone()  # fmt: skip
            if exists is None:
                raise KeyError(f"no submission {o.submission_id}")
            return
        for e in o.events:
            self._event(e)
        if o.state == "routed":
            # a large submission's outbox was staged in chunks: released with the answer
            self._db.execute("UPDATE outbox SET state = 'pending' WHERE submission_id = ? "
                             "AND state = 'staged'", (o.submission_id,))
        if o.outbox:
            self._insert_outbox(o.outbox, "pending")

    def _insert_outbox(self, rows: Sequence[OutboxMessage], state: str) -> None:
        now = _ts(datetime.now(UTC))
        self._db.executemany(
            "INSERT INTO outbox (message_id, submission_id, exchange, routing_key, body, "
            "content_type, correlation_id, headers, created_at, state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(m.message_id, m.submission_id, m.exchange, m.routing_key, m.body,
              m.content_type, m.correlation_id, json.dumps(m.headers, ensure_ascii=False),
              now, state) for m in rows])  # fmt: skip

    def stage_outbox(self, rows: Sequence[OutboxMessage]) -> None:
        """Outbox rows of a submission still without an outcome: invisible to the publisher
        until record_outcome releases them (or discard_staged drops them on recovery)."""
        self._insert_outbox(rows, "staged")

    def discard_staged(self, submission_id: str) -> None:
        self._db.execute("DELETE FROM outbox WHERE submission_id = ? AND state = 'staged'",
                         (submission_id,))

    def record_event(self, event: Event) -> None:
        self._event(event)

    def _finish_delivered(self, seqs: Sequence[int]) -> None:
        """Submissions all of whose outbox rows are settled become 'delivered'."""
        marks = ",".join("?" * len(seqs))
        rows = self._db.execute(
            f"SELECT DISTINCT submission_id FROM outbox WHERE seq IN ({marks})",
            tuple(seqs)).fetchall()
        now = datetime.now(UTC)
        for (sid,) in rows:
            left = self._db.execute("SELECT 1 FROM outbox WHERE submission_id = ? "
                                    "AND state = 'pending' LIMIT 1", (sid,)).fetchone()
            if left is None:
                cur = self._db.execute("UPDATE submissions SET state = 'delivered' "
                                       "WHERE id = ? AND state = 'routed'", (sid,))
                if cur.rowcount:
                    parked = self._db.execute(
                        "SELECT count(*) FROM outbox WHERE submission_id = ? "
                        "AND state = 'parked'", (sid,)).fetchone()[0]
                    self._event(Event("delivered", now, sid, {"parked": parked}))

    def _settle(self, seqs: Sequence[int], state: str, column: str, value: str) -> None:
        for i in range(0, len(seqs), 500):  # SQLite's bound-parameter limit
            chunk = list(seqs[i:i + 500])
            marks = ",".join("?" * len(chunk))
            self._db.execute(f"UPDATE outbox SET state = ?, {column} = ? "
                             f"WHERE seq IN ({marks}) AND state = 'pending'",
                             (state, value, *chunk))  # fmt: skip
            self._finish_delivered(chunk)

    def outbox_delivered(self, seqs: Sequence[int]) -> None:
        self._settle(seqs, "delivered", "delivered_at", _ts(datetime.now(UTC)))

    def outbox_parked(self, seqs: Sequence[int], reason: str) -> None:
        self._settle(seqs, "parked", "parked_reason", reason)

    def record_response(self, r: ResponseRecord) -> bool:
        cur = self._db.execute(
            "INSERT OR IGNORE INTO responses (response_id, submission_id, received_at, body, "
            "rendered, content_type) VALUES (?, ?, ?, ?, ?, ?)",
            (r.response_id, r.submission_id, _ts(r.received_at), r.body, r.rendered,
             r.content_type))
        if cur.rowcount == 0:
            return False
        self._event(Event("response", r.received_at, r.submission_id,
                          {"response_id": r.response_id, "content_type": r.content_type}))
        return True
