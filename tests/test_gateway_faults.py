"""Fault tests against the real gateway process and the real RabbitMQ: the broker stopped and
restarted mid-stream, the gateway killed with SIGKILL mid-stream and restarted. Every acknowledged
submission's documents reach their queue; a redelivery carries the same message_id and body."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import FIXTURES
from .gateway_harness import Gateway

CUSCAR = (FIXTURES / "cuscar_d95b_sea.edi").read_bytes()  # 2 messages per submission
OLD_REF = b"POC240617001"


def _payload(n: int) -> bytes:
    return CUSCAR.replace(OLD_REF, f"F{n:011d}".encode())


def rabbitmqctl(*args: str, timeout: float = 120) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=timeout)


class Submitter(threading.Thread):
    """Submits numbered interchanges one after another; records which were acknowledged."""

    def __init__(self, gw: Gateway, start: int, count: int, pause: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.gw, self.n, self.count, self.pause = gw, start, count, pause
        self.acked: dict[str, int] = {}  # submission id -> n
        self.failed = 0
        self.halt = threading.Event()

    def run(self) -> None:
        for n in range(self.n, self.n + self.count):
            if self.halt.is_set():
                return
            try:
                status, answer = self.gw.submit(_payload(n))
            except (OSError, json.JSONDecodeError, ValueError):
                self.failed += 1  # the gateway is down: not acknowledged, so not promised
                time.sleep(0.1)
                continue
            if status == 202:
                self.acked[answer["submission_id"]] = n
            else:
                self.failed += 1
            time.sleep(self.pause)


def _check_delivery(gw: Gateway, acked: set[str], extra_allowed: bool = False) -> None:
    expected = {f"{sid}-{i}" for sid in acked for i in (1, 2)}
    got = gw.drain(gw.queues["cargo"], len(expected), timeout=90)
    # a little more time for redeliveries still on their way
    got += gw.drain(gw.queues["cargo"], 10_000, timeout=2)
    bodies: dict[str, bytes] = {}
    for props, body in got:
        mid = props.message_id
        if mid in bodies:
            assert bodies[mid] == body, f"redelivery of {mid} with another body"
        bodies[mid] = body
    missing = expected - bodies.keys()
    assert not missing, f"{len(missing)} acknowledged documents lost: {sorted(missing)[:5]}"
    if not extra_allowed:
        assert bodies.keys() == expected


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Gateway]:
    g = Gateway(tmp_path / "gw")
    g.write_config()
    g.start()
    try:
        yield g
    finally:
        g.stop()
        g.cleanup_broker()


def test_broker_outage_mid_stream_loses_nothing(gw: Gateway) -> None:
    s = Submitter(gw, 1, 60)
    s.start()
    try:
        while len(s.acked) < 15:
            time.sleep(0.05)
        rabbitmqctl("stop_app")
        during = len(s.acked)
        time.sleep(3)
        # still accepting (journaled, acknowledged) while the broker is away; not ready
        assert len(s.acked) > during, "submissions stopped being accepted while the broker was down"
        code, body = gw.ops_get("/health/ready")
        assert code == 503 and json.loads(body)["checks"]["amqp"] is False
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
    s.join(120)
    assert s.failed == 0
    _check_delivery(gw, set(s.acked))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and gw.ops_get("/health/ready")[0] != 200:
        time.sleep(0.2)
    assert gw.ops_get("/health/ready")[0] == 200


def test_gateway_sigkill_mid_stream_loses_nothing(gw: Gateway) -> None:
    s = Submitter(gw, 1000, 100_000, pause=0.0)
    s.start()
    while len(s.acked) < 40:
        time.sleep(0.02)
    assert gw.proc is not None
    pid = gw.proc.pid
    workers = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    assert workers, "no worker processes?"
    gw.kill()  # SIGKILL: no cleanup, whatever was in flight
    # its worker processes die with it (no orphans holding memory)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.1)
    assert not [w for w in workers if Path(f"/proc/{w}").exists()]
    s.halt.set()
    s.join(60)
    before = set(s.acked)
    gw.start()
    s2 = Submitter(gw, 500_000, 20)
    s2.run()
    assert s2.failed == 0
    # submissions journaled but not acknowledged when the process died are finished by the
    # restarted gateway and routed too: allowed extra documents, never a missing one
    _check_delivery(gw, before | set(s2.acked), extra_allowed=True)
    # nothing is left half-done: a submission journaled but cut off by the kill was finished
    # by the restarted gateway (recover), whether or not its sender got an answer
    import sqlite3

    db = sqlite3.connect(f"file:{gw.root / 'var' / 'journal.sqlite3'}?mode=ro", uri=True)
    try:
        states = dict(db.execute("SELECT state, count(*) FROM submissions GROUP BY state"))
        recovered = db.execute("SELECT count(*) FROM events WHERE state = 'parsed' AND "
                               "submission_id NOT IN (" + ",".join("?" * len(before)) + ")",
                               tuple(before)).fetchone()[0]  # fmt: skip
    finally:
        db.close()
    assert "received" not in states, states
    assert recovered >= len(s2.acked)  # the second run's, plus any recovered ones
    # the journal agrees: nothing acknowledged is stuck
    for sid in list(before)[:10]:
        _, _, body = gw.request("GET", f"/v1/submissions/{sid}")
        assert json.loads(body)["state"] == "delivered"


def test_submission_cut_off_by_a_crash_is_finished_on_restart(gw: Gateway) -> None:
    """Killed after the payload was journaled and before the answer: the restarted gateway
    processes it (recover) and routes its documents; its sender got no answer, and a resubmission
    is answered as a duplicate of it, not routed twice."""
    import sqlite3
    import sys

    from .conftest import REPO

    sys.path.insert(0, str(REPO / "bench"))
    from gen_cuscar import interchange

    payload = "".join(interchange(150, None, seed=3)).replace("BENCH1", "CRASH01").encode()
    db_path = gw.root / "var" / "journal.sqlite3"
    answer: list[object] = []

    def send() -> None:
        try:
            answer.append(gw.submit(payload))
        except (OSError, ValueError) as exc:  # the gateway died under the request
            answer.append(exc)

    t = threading.Thread(target=send, daemon=True)
    t.start()

    def received() -> bool:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            return db.execute("SELECT count(*) FROM submissions WHERE state = 'received'"
                              ).fetchone()[0] == 1  # fmt: skip
        finally:
            db.close()

    deadline = time.monotonic() + 30
    while not received():
        assert time.monotonic() < deadline, "the submission was never journaled"
        time.sleep(0.01)
    gw.kill()
    t.join(10)
    # the sender was told nothing (the connection died with the gateway)
    assert len(answer) == 1 and isinstance(answer[0], OSError | ValueError)
    gw.start()
    got = gw.drain(gw.queues["cargo"], 150, timeout=90)
    ids = {p.message_id for p, _ in got}
    assert len(ids) == 150
    sid = next(iter(ids)).rsplit("-", 1)[0]
    _, _, body = gw.request("GET", f"/v1/submissions/{sid}")
    assert json.loads(body)["state"] in ("routed", "delivered")
    status, again = gw.submit(payload)
    assert status == 200 and again["outcome"] == "duplicate" and again["duplicate_of"] == sid
    assert gw.drain(gw.queues["cargo"], 1, timeout=2) == []
