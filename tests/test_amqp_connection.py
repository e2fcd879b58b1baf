"""AMQP connection service against the real RabbitMQ: topology, readiness, reconnection."""

from __future__ import annotations

from typing import Any

from twisted.python.failure import Failure

from edigate import metrics
from edigate.adapters.amqp import AmqpConnectionService, topology_from_settings
from edigate.config import AmqpSection, QueueSpec

from .test_amqp_support import (
    AmqpTestCase,
    blocking_connection,
    close_named_connection,
    drain_queue,
    in_thread,
    list_exchanges,
    list_queues,
    publish,
    queue_arguments,
    sleep,
    wait_for,
)


class Recorder:
    """A connection observer that writes down what it is told."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def amqp_ready(self, connection: Any) -> None:
        self.events.append("ready")

    def amqp_lost(self, reason: Failure) -> None:
        self.events.append("lost")


class TopologyTests(AmqpTestCase):
    async def test_topology_declared_durable_and_dead_lettered(self) -> None:
        n = self.names
        extra = QueueSpec(name=f"{n.queue}-prio", arguments={"x-max-priority": 5})
        conn = self.connection(queues=[*n.settings().queues, extra])
        self.addCleanup(in_thread, _delete_queue, extra.name)
        self.start(conn)
        await conn.when_ready()
        self.assertTrue(conn.is_ready())
        self.assertEqual(metrics.REGISTRY.get_sample_value("edigate_amqp_connected"), 1.0)

        queues = await in_thread(list_queues)
        for name in (*n.queues, extra.name):
            self.assertIn(name, queues)
            self.assertTrue(queues[name]["durable"], name)
        # our queues dead-letter to the DLX; the end-of-line queues do not
        for name in (n.queue, n.response_queue, extra.name):
            self.assertEqual(queue_arguments(queues[name]).get("x-dead-letter-exchange"), n.dlx)
        self.assertEqual(queue_arguments(queues[extra.name]).get("x-max-priority"), 5)
        for name in (n.parking_queue, n.dlq):
            self.assertNotIn("x-dead-letter-exchange", queue_arguments(queues[name]))

        exchanges = await in_thread(list_exchanges)
        self.assertEqual(exchanges[n.exchange]["type"], "topic")
        self.assertEqual(exchanges[n.parking_exchange]["type"], "fanout")
        self.assertEqual(exchanges[n.dlx]["type"], "fanout")
        for name in n.exchanges:
            self.assertTrue(exchanges[name]["durable"], name)

        # the bindings route: configured binding, parking and dead-letter fanouts
        await in_thread(publish, n.exchange, "cargo.CUSCAR", b"a")
        await in_thread(publish, n.parking_exchange, "whatever", b"p")
        await in_thread(publish, n.dlx, "whatever", b"d")
        self.assertEqual([m.body for m in await in_thread(drain_queue, n.queue)], [b"a"])
        self.assertEqual([m.body for m in await in_thread(drain_queue, n.parking_queue)], [b"p"])
        self.assertEqual([m.body for m in await in_thread(drain_queue, n.dlq)], [b"d"])

    def test_queue_argument_overrides_dead_letter_exchange(self) -> None:
        s = self.names.settings(queues=[QueueSpec(name="q", arguments={
            "x-dead-letter-exchange": "elsewhere"})])
        decl = {q.name: q for q in topology_from_settings(s).queues}
        self.assertEqual(decl["q"].arguments["x-dead-letter-exchange"], "elsewhere")
        self.assertEqual(decl[s.response_queue].arguments["x-dead-letter-exchange"],
                         s.dead_letter_exchange)

    async def test_conflicting_queue_retried_until_fixed(self) -> None:
        n = self.names
        # an operator created the response queue by hand, without dead-lettering
        await in_thread(_declare_plain_queue, n.response_queue)
        conn = self.connection()
        self.start(conn)
        await sleep(0.8)
        self.assertFalse(conn.is_ready())
        self.assertGreaterEqual(conn._failures, 2)  # retried with backoff, not given up
        await in_thread(_delete_queue, n.response_queue)
        await conn.when_ready().addTimeout(10, _reactor())
        self.assertTrue(conn.is_ready())


class ReconnectionTests(AmqpTestCase):
    async def test_reconnects_and_redeclares_after_forced_close(self) -> None:
        n = self.names
        conn = self.connection()
        rec = Recorder()
        conn.subscribe(rec)
        self.start(conn)
        await conn.when_ready()
        self.assertEqual(rec.events, ["ready"])
        # the queue is gone while we are away: it must be back after the reconnection
        await in_thread(_delete_queue, n.queue)
        self.assertEqual(await in_thread(close_named_connection, n.connection_name), 1)
        await wait_for(lambda: conn.connections >= 2 and conn.is_ready(), 20, "reconnection")
        self.assertEqual(rec.events, ["ready", "lost", "ready"])
        self.assertIn(n.queue, await in_thread(list_queues))
        self.assertEqual(metrics.REGISTRY.get_sample_value("edigate_amqp_connected"), 1.0)

    async def test_refused_credentials_keep_retrying_then_stop_cleanly(self) -> None:
        conn = self.connection(password="wrong-password")
        self.start(conn)
        await sleep(1.0)
        self.assertFalse(conn.is_ready())
        self.assertGreaterEqual(conn._failures, 2)
        self.assertEqual(metrics.REGISTRY.get_sample_value("edigate_amqp_connected"), 0.0)

    def test_backoff_is_exponential_and_capped(self) -> None:
        conn = AmqpConnectionService(AmqpSection(reconnect_initial_delay=0.5,
                                                 reconnect_max_delay=4.0))
        delays = [conn._retry_delay(1) for _ in range(6)]
        bases = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
        for d, b in zip(delays, bases, strict=True):
            self.assertTrue(b <= d <= b * 1.25, (d, b))


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _declare_plain_queue(name: str) -> None:
    conn = blocking_connection()
    try:
        conn.channel().queue_declare(name, durable=True)
    finally:
        conn.close()


def _delete_queue(name: str) -> None:
    conn = blocking_connection()
    try:
        conn.channel().queue_delete(name)
    finally:
        conn.close()
