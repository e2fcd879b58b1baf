"""AMQP publisher benchmark (a benchmark, not a test): outbox rows published with publisher
confirms by the real OutboxPublisher over the real AmqpConnectionService to a local RabbitMQ,
from an in-memory outbox (so the figure is the AMQP side alone, not the journal's).

    .venv/bin/python bench/amqp_bench.py                       # 20,000 x 3 KB, window 512
    .venv/bin/python bench/amqp_bench.py --messages 50000 --window 64 --size 1024

Timed from the first read of the outbox to the last ``outbox_delivered`` call; persistent
messages into one durable queue (bound by a topic exchange), which nothing consumes during the
run. Names are unique per run and deleted afterwards. Figures are recorded in docs/amqp.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pika
from twisted.internet import defer, task

from edigate.adapters.amqp import AmqpConnectionService, OutboxPublisher
from edigate.config import AmqpSection, Binding, ExchangeSpec, QueueSpec
from edigate.journal.base import OutboxMessage


class Outbox:
    """Answers at once: the benchmark measures the broker round trips, not a database."""

    def __init__(self, messages: list[OutboxMessage]) -> None:
        self.rows = messages
        self.pending = {m.seq for m in messages}
        self.first_read: float | None = None
        self.done = defer.Deferred[float]()
        self.writes = 0

    def outbox_pending(self, after_seq: int, limit: int) -> list[OutboxMessage]:
        if self.first_read is None:
            self.first_read = time.perf_counter()
        out = []
        # seqs are 1..n in order, so the rows after after_seq start at index after_seq
        for m in self.rows[after_seq:]:
            if m.seq in self.pending:
                out.append(m)
                if len(out) == limit:
                    break
        return out

    def outbox_delivered(self, seqs: Sequence[int]) -> None:
        self.writes += 1
        self.pending.difference_update(seqs)
        if not self.pending and not self.done.called:
            self.done.callback(time.perf_counter())

    def outbox_parked(self, seqs: Sequence[int], reason: str) -> None:
        raise AssertionError(f"parked: {reason}")

    def outbox_depth(self) -> int:
        return len(self.pending)


async def run_once(reactor: Any, args: argparse.Namespace) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    exchange, queue = f"edigate-bench-{tag}.x", f"edigate-bench-{tag}.q"
    settings = AmqpSection(
        host=args.host, port=args.port, confirm_window=args.window,
        response_queue=f"edigate-bench-{tag}.responses",
        parking_exchange=f"edigate-bench-{tag}.parking",
        parking_queue=f"edigate-bench-{tag}.parked",
        dead_letter_exchange=f"edigate-bench-{tag}.dlx",
        dead_letter_queue=f"edigate-bench-{tag}.dlq",
        exchanges=[ExchangeSpec(name=exchange)],
        queues=[QueueSpec(name=queue, bindings=[Binding(exchange=exchange,
                                                        routing_key="cargo.#")])])
    body = b"x" * args.size
    headers = {"x-edigate-submission-id": "bench", "x-edigate-document-type": "cargo_report"}
    rows = [OutboxMessage(message_id=f"bench-{tag}-{i}", submission_id=f"bench-{i}",
                          exchange=exchange, routing_key="cargo.CUSCAR", body=body,
                          content_type="application/json", correlation_id=f"bench-{i}",
                          headers=headers, seq=i + 1)
            for i in range(args.messages)]
    outbox = Outbox(rows)
    conn = AmqpConnectionService(settings, connection_name=f"edigate-bench-{tag}")
    pub = OutboxPublisher(conn, outbox, poll_interval=0.5, depth_interval=60)
    conn.startService()
    try:
        await conn.when_ready()
        pub.startService()
        end = await outbox.done
        assert outbox.first_read is not None
        seconds = end - outbox.first_read
    finally:
        await pub.stopService()
        await conn.stopService()
        cleanup(settings, exchange, queue)
    return {"seconds": seconds, "rate": args.messages / seconds,
            "journal_writes": outbox.writes, "max_in_flight": pub.stats.max_in_flight}


def cleanup(s: AmqpSection, exchange: str, queue: str) -> None:
    c = pika.BlockingConnection(pika.ConnectionParameters(
        s.host, s.port, s.virtual_host, pika.PlainCredentials(s.username, s.password)))
    ch = c.channel()
    for q in (queue, s.response_queue, s.parking_queue, s.dead_letter_queue):
        ch.queue_delete(q)
    for x in (exchange, s.parking_exchange, s.dead_letter_exchange):
        ch.exchange_delete(x)
    c.close()


async def main(reactor: Any, args: argparse.Namespace) -> None:
    rates = []
    for i in range(args.repeat):
        r = await run_once(reactor, args)
        rates.append(r["rate"])
        print(f"run {i + 1}: {args.messages} x {args.size} B, window {args.window}: "
              f"{r['seconds']:.2f} s, {r['rate']:,.0f} msg/s "
              f"({r['rate'] * args.size / 1e6:.1f} MB/s), {r['journal_writes']} delivered "
              f"writes, max in flight {r['max_in_flight']}")
    print(f"median {statistics.median(rates):,.0f} msg/s over {args.repeat} runs")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--size", type=int, default=3072, help="body bytes")
    p.add_argument("--window", type=int, default=512, help="confirm window")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5672)
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse()
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, arguments)))
