"""Helpers for the AMQP adapter tests (no tests here).

The tests are ``twisted.trial.unittest.TestCase`` classes: pytest runs them through its unittest
support, and trial's own ``run`` spins the global reactor until a test's Deferred (or coroutine)
has fired, then checks that the test left no timers or connections behind. So the adapter runs
on the real reactor against the real RabbitMQ (127.0.0.1:5672, guest/guest), and every test uses
names of its own and deletes them afterwards. The test side inspects the broker with pika's
BlockingConnection and ``rabbitmqctl``, always in a thread (``deferToThread``) so the reactor, and
the connection under test with it, keeps running meanwhile.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pika
from twisted.internet import defer, reactor, task, threads
from twisted.trial import unittest

from edigate.adapters.amqp import AmqpConnectionService
from edigate.config import AmqpSection, Binding, ExchangeSpec, QueueSpec
from edigate.journal.base import OutboxMessage

HOST, PORT = "127.0.0.1", 5672


def blocking_connection() -> pika.BlockingConnection:
    try:
        return pika.BlockingConnection(pika.ConnectionParameters(
            HOST, PORT, "/", pika.PlainCredentials("guest", "guest")))
    except pika.exceptions.AMQPConnectionError as exc:
        raise RuntimeError(f"RabbitMQ is not reachable at {HOST}:{PORT} (these tests need a real "
                           "broker: `rabbitmq-server -detached`)") from exc


@dataclass(frozen=True)
class Delivered:
    """A message read back from a queue."""

    body: bytes
    properties: pika.BasicProperties
    exchange: str
    routing_key: str
    redelivered: bool


class Names:
    """Unique broker names for one test, with the settings that use them and their cleanup."""

    def __init__(self) -> None:
        self.suffix = uuid.uuid4().hex[:10]
        p = f"edigate-test-{self.suffix}"
        self.exchange = f"{p}.clearance"
        self.queue = f"{p}.cargo"
        self.response_queue = f"{p}.responses"
        self.parking_exchange = f"{p}.parking"
        self.parking_queue = f"{p}.parked"
        self.dlx = f"{p}.dlx"
        self.dlq = f"{p}.dead-letter"
        self.connection_name = p

    @property
    def queues(self) -> list[str]:
        return [self.queue, self.response_queue, self.parking_queue, self.dlq]

    @property
    def exchanges(self) -> list[str]:
        return [self.exchange, self.parking_exchange, self.dlx]

    def settings(self, **over: Any) -> AmqpSection:
        values: dict[str, Any] = dict(
            host=HOST, port=PORT, heartbeat=10, reconnect_initial_delay=0.1,
            reconnect_max_delay=1.0, response_queue=self.response_queue,
            parking_exchange=self.parking_exchange, parking_queue=self.parking_queue,
            dead_letter_exchange=self.dlx, dead_letter_queue=self.dlq,
            exchanges=[ExchangeSpec(name=self.exchange, type="topic")],
            queues=[QueueSpec(name=self.queue,
                              bindings=[Binding(exchange=self.exchange, routing_key="cargo.#")])])
        values.update(over)
        return AmqpSection(**values)

    def delete_all(self) -> None:
        conn = blocking_connection()
        try:
            ch = conn.channel()
            for q in self.queues:
                ch.queue_delete(q)
            for x in self.exchanges:
                ch.exchange_delete(x)
        finally:
            conn.close()


def drain_queue(queue: str) -> list[Delivered]:
    """Every message in ``queue``, removed (blocking: call it in a thread)."""
    conn = blocking_connection()
    out: list[Delivered] = []
    try:
        ch = conn.channel()
        while True:
            method, props, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            out.append(Delivered(body, props, method.exchange, method.routing_key,
                                 method.redelivered))
    finally:
        conn.close()


def publish(exchange: str, routing_key: str, body: bytes, **props: Any) -> None:
    """Publish one message from the test side, with confirms (blocking: call it in a thread)."""
    conn = blocking_connection()
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish(exchange, routing_key, body, pika.BasicProperties(**props),
                         mandatory=True)
    finally:
        conn.close()


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60,
                          check=True)
    return done.stdout


def list_queues() -> dict[str, dict[str, Any]]:
    rows = json.loads(rabbitmqctl("list_queues", "name", "durable", "arguments",
                                  "--formatter", "json", "-q") or "[]")
    return {r["name"]: r for r in rows}


def queue_arguments(row: dict[str, Any]) -> dict[str, Any]:
    """rabbitmqctl prints arguments as [name, type, value] triples."""
    return {a[0]: a[2] for a in row.get("arguments") or []}


def list_exchanges() -> dict[str, dict[str, Any]]:
    rows = json.loads(rabbitmqctl("list_exchanges", "name", "type", "durable",
                                  "--formatter", "json", "-q") or "[]")
    return {r["name"]: r for r in rows}


def close_named_connection(name: str) -> int:
    """Force-close (as an operator would) only the connections whose client-provided name is
    ``name``; returns how many were closed."""
    # the table output, not JSON: close_connection only accepts the pid as printed here
    out = rabbitmqctl("list_connections", "pid", "client_properties", "-s")
    closed = 0
    for line in out.splitlines():
        pid, _, props = line.partition("\t")
        if f'{{"connection_name","{name}"}}' in props:
            rabbitmqctl("close_connection", pid, "edigate test: forced close")
            closed += 1
    return closed


def in_thread(fn: Callable[..., Any], *args: Any, **kw: Any) -> defer.Deferred[Any]:
    return threads.deferToThread(fn, *args, **kw)


def sleep(seconds: float) -> defer.Deferred[None]:
    return task.deferLater(reactor, seconds, lambda: None)


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str,
                   interval: float = 0.02) -> None:  # fmt: skip
    deadline = reactor.seconds() + timeout
    while not predicate():
        if reactor.seconds() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await sleep(interval)


class MemoryOutbox:
    """An OutboxSource in memory. Answers on a later reactor turn, like the journal's thread
    pool; ``max_rows``/``delay`` slow reads down (to stretch a stream over seconds)."""

    def __init__(self, *, max_rows: int | None = None, delay: float = 0.0) -> None:
        self.rows: dict[int, OutboxMessage] = {}
        self.state: dict[int, str] = {}  # pending, delivered, parked
        self.reasons: dict[int, str] = {}
        self.max_rows = max_rows
        self.delay = delay
        self.delivered_calls: list[list[int]] = []
        self.parked_calls: list[tuple[list[int], str]] = []
        self.pending_calls = 0
        self._next = 1

    def add(self, messages: Iterable[OutboxMessage]) -> list[int]:
        seqs = []
        for m in messages:
            seq = self._next
            self._next += 1
            self.rows[seq] = replace(m, seq=seq)
            self.state[seq] = "pending"
            seqs.append(seq)
        return seqs

    def _later(self, fn: Callable[[], Any]) -> defer.Deferred[Any]:
        return task.deferLater(reactor, self.delay, fn)

    def outbox_pending(self, after_seq: int, limit: int) -> defer.Deferred[list[OutboxMessage]]:
        self.pending_calls += 1
        n = min(limit, self.max_rows or limit)

        def read() -> list[OutboxMessage]:
            out = []
            for seq in sorted(s for s, st in self.state.items() if st == "pending"):
                if seq > after_seq:
                    out.append(self.rows[seq])
                    if len(out) >= n:
                        break
            return out

        return self._later(read)

    def outbox_delivered(self, seqs: Sequence[int]) -> defer.Deferred[None]:
        self.delivered_calls.append(list(seqs))

        def write() -> None:
            for s in seqs:
                if self.state[s] == "pending":
                    self.state[s] = "delivered"

        return task.deferLater(reactor, 0, write)

    def outbox_parked(self, seqs: Sequence[int], reason: str) -> defer.Deferred[None]:
        self.parked_calls.append((list(seqs), reason))

        def write() -> None:
            for s in seqs:
                if self.state[s] == "pending":
                    self.state[s] = "parked"
                    self.reasons[s] = reason

        return task.deferLater(reactor, 0, write)

    def outbox_depth(self) -> defer.Deferred[int]:
        return task.deferLater(reactor, 0, lambda: self.count("pending"))

    def count(self, state: str) -> int:
        return sum(1 for st in self.state.values() if st == state)


def outbox_message(i: int, *, exchange: str, routing_key: str, body: bytes | None = None,
                   headers: dict[str, str] | None = None) -> OutboxMessage:  # fmt: skip
    sid = f"sub{i:06d}"
    return OutboxMessage(
        message_id=f"{sid}-0", submission_id=sid, exchange=exchange, routing_key=routing_key,
        body=body if body is not None else f'{{"n": {i}}}'.encode(),
        content_type="application/json", correlation_id=sid,
        headers=headers if headers is not None else {"x-edigate-submission-id": sid,
                                                     "x-edigate-n": str(i)})


class AmqpTestCase(unittest.TestCase):
    """Unique names per test, deleted afterwards; services stopped in reverse order."""

    timeout = 120

    def setUp(self) -> defer.Deferred[None] | None:
        self.names = Names()
        self.addCleanup(in_thread, self.names.delete_all)
        return None

    def connection(self, **over: Any) -> AmqpConnectionService:
        conn = AmqpConnectionService(self.names.settings(**over),
                                     connection_name=self.names.connection_name)
        return conn

    def start(self, *services: Any) -> None:
        """Start ``services`` in order; cleanups stop them in reverse order."""
        for s in services:
            s.startService()
            self.addCleanup(s.stopService)
