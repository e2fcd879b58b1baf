"""The broker topology the gateway relies on, derived from ``[amqp]`` and declared on every
(re)connection, so a broker that lost its definitions (new node, deleted queue) is repaired before
anything is published.

Everything is durable. Queues the gateway declares dead-letter to ``dead_letter_exchange`` (a
queue's own ``x-dead-letter-exchange`` argument wins), so a message a backend rejects is kept,
not dropped. Declaring is idempotent; declaring an existing queue with different arguments fails
(PRECONDITION_FAILED) and is reported, never silently worked around.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer

from ...config import AmqpSection

#: the default exchange: every queue is bound to it by name; it needs no declaration
DEFAULT_EXCHANGE = ""


@dataclass(frozen=True, slots=True)
class ExchangeDecl:
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class QueueDecl:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    #: (exchange, routing key) pairs
    bindings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Topology:
    exchanges: tuple[ExchangeDecl, ...]
    queues: tuple[QueueDecl, ...]

    @property
    def exchange_names(self) -> frozenset[str]:
        """Exchanges a message may be published to (the declared ones and the default one)."""
        return frozenset(e.name for e in self.exchanges) | {DEFAULT_EXCHANGE}


def topology_from_settings(settings: AmqpSection) -> Topology:
    """Dead-letter and parking first: the other queues refer to the dead-letter exchange."""
    dlx = settings.dead_letter_exchange
    dead_lettered = {"x-dead-letter-exchange": dlx}
    exchanges = [
        ExchangeDecl(dlx, "fanout"),
        ExchangeDecl(settings.parking_exchange, "fanout"),
        *(ExchangeDecl(e.name, e.type) for e in settings.exchanges),
    ]
    queues = [
        # the end of the line: dead-lettering these again would loop
        QueueDecl(settings.dead_letter_queue, {}, ((dlx, ""),)),
        QueueDecl(settings.parking_queue, {}, ((settings.parking_exchange, ""),)),
        QueueDecl(settings.response_queue, dict(dead_lettered)),
        *(
            QueueDecl(q.name, {**dead_lettered, **q.arguments},
                      tuple((b.exchange, b.routing_key) for b in q.bindings))
            for q in settings.queues
        ),
    ]
    return Topology(tuple(exchanges), tuple(queues))


class TopologyError(Exception):
    """The broker refused a declaration; the message names the object."""


@defer.inlineCallbacks
def declare_topology(channel: Any, topology: Topology) -> Any:
    """Declare ``topology`` on ``channel`` (a pika ``TwistedChannel``), one RPC after another so
    a failure names the object that failed (the broker closes the channel on the first error)."""
    what = ""
    try:
        for e in topology.exchanges:
            what = f"exchange {e.name!r}"
            yield channel.exchange_declare(exchange=e.name, exchange_type=e.type, durable=True)
        for q in topology.queues:
            what = f"queue {q.name!r}"
            yield channel.queue_declare(queue=q.name, durable=True,
                                        arguments=q.arguments or None)
            for exchange, routing_key in q.bindings:
                what = f"binding {exchange!r} -> {q.name!r} ({routing_key!r})"
                yield channel.queue_bind(queue=q.name, exchange=exchange,
                                         routing_key=routing_key)
    except Exception as exc:
        raise TopologyError(f"{what}: {exc!r}") from exc


__all__ = ["DEFAULT_EXCHANGE", "ExchangeDecl", "QueueDecl", "Topology", "TopologyError",
           "declare_topology", "topology_from_settings"]
