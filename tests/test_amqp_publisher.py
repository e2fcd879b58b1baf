"""Outbox publisher against the real RabbitMQ: every row confirmed once, window, parking of
unroutable messages, nacks, and a connection forcibly closed mid-stream."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pika.adapters.twisted_connection import TwistedChannel
from structlog.testing import capture_logs
from twisted.internet import defer, reactor, task

from edigate import metrics
from edigate.adapters.amqp import UNROUTABLE_HEADER, OutboxPublisher
from edigate.config import Binding, QueueSpec

from .test_amqp_support import (
    AmqpTestCase,
    MemoryOutbox,
    blocking_connection,
    close_named_connection,
    drain_queue,
    in_thread,
    outbox_message,
    sleep,
    wait_for,
)


class WindowProbe:
    """Counts publishes awaiting their confirm on the wire, independently of the publisher's
    own bookkeeping, by wrapping pika's TwistedChannel.basic_publish."""

    def __init__(self) -> None:
        self.outstanding = 0
        self.max_outstanding = 0
        self.publishes = 0

    def install(self, case: AmqpTestCase) -> None:
        original = TwistedChannel.basic_publish

        def basic_publish(channel: TwistedChannel, *args: Any, **kw: Any) -> Any:
            d = original(channel, *args, **kw)
            self.publishes += 1
            self.outstanding += 1
            self.max_outstanding = max(self.max_outstanding, self.outstanding)

            def settled(result: Any) -> Any:
                self.outstanding -= 1
                return result

            return d.addBoth(settled)

        case.patch(TwistedChannel, "basic_publish", basic_publish)


def _published() -> float:
    return metrics.REGISTRY.get_sample_value("edigate_amqp_published_total",
                                             {"result": "confirmed"}) or 0.0


class PublisherTests(AmqpTestCase):
    async def test_thousand_messages_reach_the_queue_once_and_are_marked_delivered(self) -> None:
        n = self.names
        outbox = MemoryOutbox()
        expected = [outbox_message(i, exchange=n.exchange, routing_key=f"cargo.CUSCAR.m{i % 3}")
                    for i in range(1000)]
        seqs = outbox.add(expected)
        probe = WindowProbe()
        probe.install(self)
        confirmed_before = _published()
        conn = self.connection()
        pub = OutboxPublisher(conn, outbox, confirm_window=100, poll_interval=30)
        self.start(conn, pub)
        await wait_for(lambda: outbox.count("delivered") == 1000, 60, "1000 delivered")

        got = await in_thread(drain_queue, n.queue)
        self.assertEqual(len(got), 1000)
        by_id = {m.properties.message_id: m for m in got}
        self.assertEqual(len(by_id), 1000)  # exactly once: no duplicates without a reconnection
        for msg in expected:
            d = by_id[msg.message_id]
            self.assertEqual(d.body, msg.body)
            self.assertEqual(d.routing_key, msg.routing_key)
            self.assertEqual(d.exchange, n.exchange)
            p = d.properties
            self.assertEqual(p.correlation_id, msg.correlation_id)
            self.assertEqual(p.content_type, "application/json")
            self.assertEqual(p.delivery_mode, 2)
            self.assertEqual(p.app_id, "edigate")
            self.assertIsNotNone(p.timestamp)
            self.assertEqual(p.headers, msg.headers)
        self.assertEqual({s for call in outbox.delivered_calls for s in call}, set(seqs))
        # confirms arriving together share one journal write
        self.assertLess(len(outbox.delivered_calls), 500)
        self.assertLessEqual(probe.max_outstanding, 100)
        self.assertLessEqual(pub.stats.max_in_flight, 100)
        self.assertEqual(pub.stats.confirmed, 1000)
        self.assertEqual(probe.publishes, 1000)
        self.assertEqual(pub.in_flight, 0)
        self.assertEqual(_published() - confirmed_before, 1000)
        self.assertEqual(metrics.REGISTRY.get_sample_value("edigate_amqp_in_flight"), 0.0)

    async def test_confirm_window_is_never_exceeded(self) -> None:
        n = self.names
        outbox = MemoryOutbox()
        outbox.add(outbox_message(i, exchange=n.exchange, routing_key="cargo.x",
                                  body=b"x" * 3000) for i in range(600))
        probe = WindowProbe()
        probe.install(self)
        conn = self.connection()
        pub = OutboxPublisher(conn, outbox, confirm_window=8, poll_interval=30)
        self.start(conn, pub)
        await wait_for(lambda: outbox.count("delivered") == 600, 60, "600 delivered")
        self.assertEqual(probe.max_outstanding, 8)  # filled, never exceeded
        self.assertEqual(pub.stats.max_in_flight, 8)
        self.assertEqual(len(await in_thread(drain_queue, n.queue)), 600)

    async def test_wake_publishes_new_rows_without_waiting_for_the_poll(self) -> None:
        n = self.names
        outbox = MemoryOutbox()
        conn = self.connection()
        pub = OutboxPublisher(conn, outbox, poll_interval=30, depth_interval=0.05)
        self.start(conn, pub)
        await conn.when_ready()
        await sleep(0.2)
        outbox.add([outbox_message(1, exchange=n.exchange, routing_key="cargo.a")])
        await wait_for(lambda: metrics.REGISTRY.get_sample_value("edigate_outbox_depth") == 1,
                       5, "depth gauge to show the new row")
        pub.wake()
        await wait_for(lambda: outbox.count("delivered") == 1, 2, "delivery after wake()")
        await wait_for(lambda: metrics.REGISTRY.get_sample_value("edigate_outbox_depth") == 0,
                       5, "depth gauge back to 0")

    async def test_rows_released_behind_the_cursor_are_published(self) -> None:
        """A large submission's outbox rows are staged (not pending) while later submissions'
        rows are published; released with the answer, they keep their lower seqs."""
        n = self.names
        outbox = MemoryOutbox()
        staged = outbox.add([outbox_message(i, exchange=n.exchange, routing_key="cargo.a")
                             for i in range(1, 4)])  # fmt: skip
        for seq in staged:
            outbox.state[seq] = "staged"
        conn = self.connection()
        pub = OutboxPublisher(conn, outbox, poll_interval=30)
        self.start(conn, pub)
        await conn.when_ready()
        later = outbox.add([outbox_message(9, exchange=n.exchange, routing_key="cargo.a")])
        pub.wake()
        await wait_for(lambda: outbox.state[later[0]] == "delivered", 5, "the later row")
        for seq in staged:
            outbox.state[seq] = "pending"
        pub.wake()
        await wait_for(lambda: all(outbox.state[s] == "delivered" for s in staged), 5,
                       "the released rows, behind the cursor")
        got = await in_thread(drain_queue, n.queue)
        assert sorted(d.properties.message_id for d in got) == [
            "sub000001-0", "sub000002-0", "sub000003-0", "sub000009-0"]

    async def test_a_slow_read_never_republishes_rows_settled_meanwhile(self) -> None:
        """A read that saw rows pending may answer after they were confirmed and marked
        delivered: they must not be published a second time."""
        n = self.names

        class SnapshotOutbox(MemoryOutbox):
            def outbox_pending(self, after_seq: int, limit: int) -> Any:
                rows = [self.rows[s] for s in sorted(self.state)
                        if self.state[s] == "pending" and s > after_seq][:limit]
                return task.deferLater(reactor, 0.05, lambda: rows)

        outbox = SnapshotOutbox()
        conn = self.connection()
        pub = OutboxPublisher(conn, outbox, confirm_window=7, poll_interval=0.02)
        self.start(conn, pub)
        await conn.when_ready()
        # rows keep arriving, so reads (and sweeps from the start) overlap publishing
        for batch in range(40):
            outbox.add([outbox_message(batch * 5 + i, exchange=n.exchange,
                                       routing_key="cargo.a") for i in range(5)])
            pub.wake()
            await sleep(0.01)
        await wait_for(lambda: outbox.count("delivered") == 200, 30, "200 delivered")
        await sleep(0.5)  # a few more polls and sweeps
        await pub.stopService()
        await sleep(0.2)  # the last slow read answers
        got = await in_thread(drain_queue, n.queue)
        ids = Counter(d.properties.message_id for d in got)
        assert len(ids) == 200 and max(ids.values()) == 1, ids.most_common(3)

    async def test_unroutable_messages_are_parked_and_alerted(self) -> None:
        n = self.names
        outbox = MemoryOutbox()
        conn = self.connection()
        pub = OutboxPublisher(conn, outbox, confirm_window=16, poll_interval=30)
        with capture_logs() as logs:
            self.start(conn, pub)
            await conn.when_ready()
            routable = [outbox_message(i, exchange=n.exchange, routing_key="cargo.ok")
                        for i in range(20)]
            no_binding = outbox_message(100, exchange=n.exchange, routing_key="nowhere.x")
            no_exchange = outbox_message(101, exchange="no-such-exchange", routing_key="k")
            seqs = outbox.add([*routable[:10], no_binding, *routable[10:], no_exchange])
            pub.wake()
            await wait_for(lambda: outbox.count("pending") == 0, 20, "outbox settled")

        self.assertEqual(outbox.count("delivered"), 20)
        self.assertEqual(outbox.count("parked"), 2)
        self.assertEqual(outbox.state[seqs[10]], "parked")
        self.assertEqual(outbox.state[seqs[-1]], "parked")
        self.assertIn(f"no queue bound for {n.exchange}/nowhere.x", outbox.reasons[seqs[10]])
        self.assertIn("NO_ROUTE", outbox.reasons[seqs[10]])
        self.assertIn("'no-such-exchange' is not declared", outbox.reasons[seqs[-1]])

        parked = {m.properties.message_id: m for m in await in_thread(drain_queue,
                                                                        n.parking_queue)}
        self.assertEqual(set(parked), {no_binding.message_id, no_exchange.message_id})
        p = parked[no_binding.message_id]
        self.assertEqual(p.properties.headers[UNROUTABLE_HEADER], f"{n.exchange}/nowhere.x")
        self.assertEqual(p.properties.headers["x-edigate-n"], "100")  # original headers kept
        self.assertEqual(p.body, no_binding.body)
        self.assertEqual(p.properties.delivery_mode, 2)
        self.assertEqual(parked[no_exchange.message_id].properties.headers[UNROUTABLE_HEADER],
                         "no-such-exchange/k")
        alerts = [e for e in logs if e["event"] == "amqp.unroutable"]
        self.assertEqual(len(alerts), 2)
        self.assertTrue(all(e["log_level"] == "error" for e in alerts))
        self.assertEqual(pub.stats.unroutable, 2)
        self.assertEqual(len(await in_thread(drain_queue, n.queue)), 20)

    async def test_nacked_messages_stay_pending_and_are_retried(self) -> None:
        n = self.names
        # a full queue with reject-publish overflow makes the broker nack publishes
        full = QueueSpec(name=n.queue, bindings=[Binding(exchange=n.exchange,
                                                         routing_key="cargo.#")],
                         arguments={"x-max-length": 5, "x-overflow": "reject-publish"})
        outbox = MemoryOutbox()
        outbox.add(outbox_message(i, exchange=n.exchange, routing_key="cargo.x")
                   for i in range(20))
        conn = self.connection(queues=[full])
        pub = OutboxPublisher(conn, outbox, confirm_window=50, poll_interval=30,
                              retry_delay=0.2)
        self.start(conn, pub)
        received: list[str] = []
        while len(received) < 20:
            await wait_for(lambda: pub.stats.nacked > 0 or outbox.count("pending") == 0, 20,
                           "nacks or completion")
            self.assertLessEqual(outbox.count("delivered"), 5 + len(received))
            await sleep(0.3)
            received += [m.properties.message_id for m in await in_thread(drain_queue, n.queue)]
            self.assertLess(pub.stats.published, 2000, "retry loop without a delay?")
        await wait_for(lambda: outbox.count("delivered") == 20, 20, "all delivered")
        self.assertGreater(pub.stats.nacked, 0)
        self.assertEqual(set(received), {f"sub{i:06d}-0" for i in range(20)})


    async def test_failed_journal_write_republishes_the_rows(self) -> None:
        n = self.names

        class FlakyOutbox(MemoryOutbox):
            failures = 1

            def outbox_delivered(self, seqs: Sequence[int]) -> defer.Deferred[None]:
                if self.failures:
                    self.failures -= 1
                    return defer.fail(OSError("disk I/O error"))
                return super().outbox_delivered(seqs)

        outbox = FlakyOutbox()
        outbox.add(outbox_message(i, exchange=n.exchange, routing_key="cargo.x")
                   for i in range(50))
        conn = self.connection()
        pub = OutboxPublisher(conn, outbox, poll_interval=0.2)
        self.start(conn, pub)
        await wait_for(lambda: outbox.count("delivered") == 50, 20, "all delivered")
        counts = Counter(m.properties.message_id
                         for m in await in_thread(drain_queue, n.queue))
        self.assertEqual(len(counts), 50)
        self.assertGreater(sum(counts.values()), 50)  # the unrecorded ones went out again
        self.assertEqual(self.flushLoggedErrors(), [])


class ReconnectionTests(AmqpTestCase):
    async def test_forced_close_mid_stream_loses_nothing(self) -> None:
        n = self.names
        total = 5000
        # slow reads stretch the stream over seconds so the close lands in the middle of it
        outbox = MemoryOutbox(max_rows=25, delay=0.02)
        expected = [outbox_message(i, exchange=n.exchange, routing_key="cargo.x")
                    for i in range(total)]
        outbox.add(expected)
        conn = self.connection()
        pub = OutboxPublisher(conn, outbox, confirm_window=64, poll_interval=0.5)
        self.start(conn, pub)
        await wait_for(lambda: pub.stats.confirmed >= 300, 30, "300 confirmed")
        closed = await in_thread(close_named_connection, n.connection_name)
        self.assertEqual(closed, 1)
        self.assertLess(outbox.count("delivered"), total, "the stream ended before the close")
        await wait_for(lambda: outbox.count("delivered") == total, 90, "everything delivered")

        self.assertGreaterEqual(conn.connections, 2)
        self.assertGreaterEqual(pub.stats.channels, 2)
        got = await in_thread(drain_queue, n.queue)
        counts = Counter(m.properties.message_id for m in got)
        by_id = {m.message_id: m for m in expected}
        self.assertEqual(set(counts), set(by_id))  # every message arrived, nothing foreign
        for m in got:  # a duplicate is the same message again, same id and content
            self.assertEqual(m.body, by_id[m.properties.message_id].body)
        self.assertLessEqual(sum(counts.values()) - total, 64 + 25,
                             "more duplicates than one window's worth")

    async def test_exchange_deleted_at_runtime_is_redeclared(self) -> None:
        n = self.names
        outbox = MemoryOutbox()
        conn = self.connection()
        pub = OutboxPublisher(conn, outbox, poll_interval=30, retry_delay=0.1)
        self.start(conn, pub)
        await conn.when_ready()
        outbox.add(outbox_message(i, exchange=n.exchange, routing_key="cargo.x")
                   for i in range(10))
        pub.wake()
        await wait_for(lambda: outbox.count("delivered") == 10, 10, "first 10 delivered")
        # an operator deletes the exchange: the next publish gets the channel closed (404)
        await in_thread(_delete_exchange, n.exchange)
        outbox.add(outbox_message(i, exchange=n.exchange, routing_key="cargo.x")
                   for i in range(10, 20))
        pub.wake()
        await wait_for(lambda: outbox.count("delivered") == 20, 20, "all 20 delivered")
        self.assertEqual(conn.connections, 1)  # recovered on the same connection
        self.assertGreaterEqual(pub.stats.channels, 2)
        ids = {m.properties.message_id for m in await in_thread(drain_queue, n.queue)}
        self.assertEqual(ids, {f"sub{i:06d}-0" for i in range(20)})

    async def test_stop_waits_for_confirms_and_journal_writes(self) -> None:
        n = self.names
        outbox = MemoryOutbox()
        outbox.add(outbox_message(i, exchange=n.exchange, routing_key="cargo.x")
                   for i in range(300))
        conn = self.connection()
        pub = OutboxPublisher(conn, outbox, confirm_window=300, poll_interval=30)
        conn.startService()
        pub.startService()
        self.addCleanup(conn.stopService)
        await wait_for(lambda: pub.stats.published >= 300, 10, "300 published")
        await defer.ensureDeferred(_stop(pub))
        # everything published was either confirmed and written before stop returned, or is
        # still pending (never half-way)
        self.assertEqual(pub.in_flight, 0)
        self.assertEqual(outbox.count("delivered") + outbox.count("pending"), 300)
        self.assertEqual(outbox.count("delivered"), pub.stats.confirmed)


async def _stop(service: Any) -> None:
    await service.stopService()


def _delete_exchange(name: str) -> None:
    conn = blocking_connection()
    try:
        conn.channel().exchange_delete(name)
    finally:
        conn.close()
