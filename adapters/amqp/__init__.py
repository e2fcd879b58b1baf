"""AMQP adapter (RabbitMQ, pika under Twisted): one connection with the declared topology, the
outbox publisher (publisher confirms, parking of unroutable messages) and the response consumer.
Protocol code only: it publishes what the outbox holds and hands responses to a handler.
See docs/amqp.md."""

from .connection import AmqpConnectionService, ConnectionObserver
from .consumer import OUTCOMES, ResponseConsumer, ResponseHandler
from .publisher import UNROUTABLE_HEADER, OutboxPublisher, OutboxSource, PublisherStats
from .topology import Topology, TopologyError, declare_topology, topology_from_settings

__all__ = [
    "OUTCOMES",
    "UNROUTABLE_HEADER",
    "AmqpConnectionService",
    "ConnectionObserver",
    "OutboxPublisher",
    "OutboxSource",
    "PublisherStats",
    "ResponseConsumer",
    "ResponseHandler",
    "Topology",
    "TopologyError",
    "declare_topology",
    "topology_from_settings",
]
