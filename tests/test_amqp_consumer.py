"""Response consumer against the real RabbitMQ: ack after the handler, dead-letter on failure,
prefetch, re-subscription after a reconnection."""

from __future__ import annotations

import json
from typing import Any

from pika.spec import BasicProperties
from twisted.internet import defer

from edigate import metrics
from edigate.adapters.amqp import ResponseConsumer

from .test_amqp_support import (
    AmqpTestCase,
    blocking_connection,
    close_named_connection,
    drain_queue,
    in_thread,
    publish,
    rabbitmqctl,
    sleep,
    wait_for,
)


def _responses(outcome: str) -> float:
    return metrics.REGISTRY.get_sample_value("edigate_responses_total",
                                             {"outcome": outcome}) or 0.0


def queue_counts(queue: str) -> tuple[int, int]:
    """(ready, unacknowledged) as the broker sees them."""
    rows = json.loads(rabbitmqctl("list_queues", "name", "messages_ready",
                                  "messages_unacknowledged", "--formatter", "json", "-q"))
    for r in rows:
        if r["name"] == queue:
            return int(r["messages_ready"]), int(r["messages_unacknowledged"])
    raise AssertionError(f"no queue {queue}")


class HeldHandler:
    """A handler whose answers the test releases by hand."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, BasicProperties, defer.Deferred[str]]] = []

    def __call__(self, body: bytes, properties: BasicProperties) -> defer.Deferred[str]:
        d: defer.Deferred[str] = defer.Deferred()
        self.calls.append((body, properties, d))
        return d


class ConsumerTests(AmqpTestCase):
    async def test_acks_only_after_the_handler_fires(self) -> None:
        n = self.names
        handler = HeldHandler()
        conn = self.connection()
        consumer = ResponseConsumer(conn, None, handler)
        self.start(conn, consumer)
        await conn.when_ready()
        linked_before = _responses("linked")
        for i in range(5):
            await in_thread(publish, "", n.response_queue, f'{{"r": {i}}}'.encode(),
                            message_id=f"resp-{i}", correlation_id=f"sub{i}")
        await wait_for(lambda: len(handler.calls) == 5, 10, "5 handler calls")
        self.assertEqual(handler.calls[0][1].message_id, "resp-0")
        self.assertEqual(handler.calls[0][0], b'{"r": 0}')
        await sleep(0.3)
        # handed over but not acknowledged while the handler works
        self.assertEqual(await in_thread(queue_counts, n.response_queue), (0, 5))
        self.assertEqual(consumer.acked, 0)
        for _, _, d in handler.calls:
            d.callback("linked")
        await wait_for(lambda: consumer.acked == 5, 10, "5 acks")
        for _ in range(20):  # the broker counts the acks a moment later
            if await in_thread(queue_counts, n.response_queue) == (0, 0):
                break
            await sleep(0.2)
        self.assertEqual(await in_thread(queue_counts, n.response_queue), (0, 0))
        self.assertEqual(_responses("linked") - linked_before, 5)
        self.assertEqual(await in_thread(drain_queue, n.dlq), [])

    async def test_handler_failure_dead_letters_the_message(self) -> None:
        n = self.names
        outcomes = {b"good": "linked", b"dup": "duplicate", b"unknown": "unknown_submission"}

        def handler(body: bytes, properties: BasicProperties) -> Any:
            if body == b"bad":
                raise ValueError("not a canonical customs response")
            if body == b"broken":
                return defer.fail(RuntimeError("journal unavailable"))
            return defer.succeed(outcomes[body])

        conn = self.connection()
        consumer = ResponseConsumer(conn, None, handler)
        self.start(conn, consumer)
        await conn.when_ready()
        before = {k: _responses(k) for k in ("linked", "duplicate", "unknown_submission",
                                            "invalid", "failed")}
        for body in (b"good", b"bad", b"dup", b"broken", b"unknown"):
            await in_thread(publish, "", n.response_queue, body, message_id=body.decode())
        await wait_for(lambda: consumer.acked + consumer.nacked == 5, 10, "5 settled")
        self.assertEqual((consumer.acked, consumer.nacked), (3, 2))
        dead: list[Any] = []

        async def collect() -> bool:
            dead.extend(await in_thread(drain_queue, n.dlq))
            return len(dead) >= 2

        for _ in range(50):
            if await collect():
                break
            await sleep(0.1)
        self.assertEqual(sorted(m.body for m in dead), [b"bad", b"broken"])
        death = dead[0].properties.headers["x-death"][0]
        self.assertEqual(death["queue"], n.response_queue)
        self.assertEqual(death["reason"], "rejected")
        self.assertEqual(await in_thread(queue_counts, n.response_queue), (0, 0))
        after = {k: _responses(k) - v for k, v in before.items()}
        self.assertEqual(after, {"linked": 1, "duplicate": 1, "unknown_submission": 1,
                                 "invalid": 1, "failed": 1})

    async def test_prefetch_bounds_concurrent_handlers(self) -> None:
        n = self.names
        handler = HeldHandler()
        conn = self.connection()
        consumer = ResponseConsumer(conn, None, handler, prefetch=3)
        self.start(conn, consumer)
        await conn.when_ready()
        for i in range(10):
            await in_thread(publish, "", n.response_queue, b"x", message_id=f"m{i}")
        await wait_for(lambda: len(handler.calls) == 3, 10, "3 handler calls")
        await sleep(0.3)
        self.assertEqual(len(handler.calls), 3)
        released = 0
        while released < 10:
            await wait_for(lambda r=released: len(handler.calls) > r, 10, "next delivery")
            handler.calls[released][2].callback("linked")
            released += 1
        await wait_for(lambda: consumer.acked == 10, 10, "10 acks")

    async def test_resubscribes_after_reconnection(self) -> None:
        n = self.names
        seen: list[bytes] = []

        def handler(body: bytes, properties: BasicProperties) -> str:
            seen.append(body)
            return "linked"

        conn = self.connection()
        consumer = ResponseConsumer(conn, None, handler)
        self.start(conn, consumer)
        await conn.when_ready()
        await in_thread(publish, "", n.response_queue, b"before")
        await wait_for(lambda: seen == [b"before"], 10, "first response")
        self.assertEqual(await in_thread(close_named_connection, n.connection_name), 1)
        await wait_for(lambda: conn.connections >= 2 and conn.is_ready(), 20, "reconnection")
        await in_thread(publish, "", n.response_queue, b"after")
        await wait_for(lambda: seen == [b"before", b"after"], 10, "response after reconnect")
        self.assertEqual(consumer.acked, 2)


    async def test_resubscribes_when_the_queue_is_deleted_under_it(self) -> None:
        n = self.names
        seen: list[bytes] = []

        def handler(body: bytes, properties: BasicProperties) -> str:
            seen.append(body)
            return "linked"

        conn = self.connection()
        consumer = ResponseConsumer(conn, None, handler, retry_delay=0.1)
        self.start(conn, consumer)
        await conn.when_ready()
        await in_thread(_delete_queue, n.response_queue)  # the broker cancels our consumer
        await wait_for(lambda: consumer._channel is not None and consumer._gen > 0, 10,
                       "re-subscription")
        await in_thread(publish, "", n.response_queue, b"after")
        await wait_for(lambda: seen == [b"after"], 10, "response after the queue came back")
        self.assertEqual(conn.connections, 1)


def _delete_queue(name: str) -> None:
    conn = blocking_connection()
    try:
        conn.channel().queue_delete(name)
    finally:
        conn.close()
