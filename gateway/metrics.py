"""Prometheus metrics of the gateway, defined once so every stage and adapter shares them.

Served on ``/metrics`` (see edigate.observability). Names follow Prometheus conventions:
``_total`` counters, ``_seconds`` histograms; labels have small fixed value sets.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

#: latency buckets from 1 ms to 60 s: acknowledgements are ms, large interchanges are seconds
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            10.0, 30.0, 60.0)  # fmt: skip

SUBMISSIONS = Counter(
    "edigate_submissions_total", "Submissions by channel and outcome",
    ["channel", "outcome"], registry=REGISTRY)  # outcome: accepted, rejected, duplicate, refused
STAGE_SECONDS = Histogram(
    "edigate_stage_seconds", "Time spent per pipeline stage", ["stage"],
    buckets=_BUCKETS, registry=REGISTRY)
STAGE_OUTCOMES = Counter(
    "edigate_stage_total", "Pipeline stage executions by outcome", ["stage", "outcome"],
    registry=REGISTRY)
ACK_SECONDS = Histogram(
    "edigate_ack_latency_seconds", "Receipt of a submission to its acknowledgement",
    ["channel"], buckets=_BUCKETS, registry=REGISTRY)
DELIVERY_SECONDS = Histogram(
    "edigate_delivery_latency_seconds", "Commit of an outbox message to its broker confirm",
    buckets=_BUCKETS, registry=REGISTRY)
JOURNAL_COMMIT_SECONDS = Histogram(
    "edigate_journal_commit_seconds", "Duration of one group commit (incl. fsync)",
    buckets=_BUCKETS, registry=REGISTRY)
JOURNAL_BATCH_SIZE = Histogram(
    "edigate_journal_batch_operations", "Operations sharing one group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=REGISTRY)
OUTBOX_DEPTH = Gauge(
    "edigate_outbox_depth", "Outbox messages not yet confirmed by the broker", registry=REGISTRY)
AMQP_CONNECTED = Gauge(
    "edigate_amqp_connected", "1 while the AMQP connection is up and the topology declared",
    registry=REGISTRY)
AMQP_PUBLISHED = Counter(
    "edigate_amqp_published_total", "AMQP publishes by result",
    ["result"], registry=REGISTRY)  # result: confirmed, nacked, unroutable, failed
AMQP_IN_FLIGHT = Gauge(
    "edigate_amqp_in_flight", "Published messages awaiting a confirm", registry=REGISTRY)
RESPONSES = Counter(
    "edigate_responses_total", "Backend responses consumed by outcome",
    ["outcome"], registry=REGISTRY)  # outcome: linked, unknown_submission, invalid, duplicate
SUBMISSION_ERRORS = Counter(
    "edigate_submission_errors_total",
    "Journaled submissions refused as a whole, by format and documented error code",
    ["channel", "format", "code"], registry=REGISTRY)  # e.g. xml, EDG-X202 (tampered)
AUDIT_REFUSALS = Counter(
    "edigate_refused_total", "Requests refused before a submission existed, by error code",
    ["channel", "code"], registry=REGISTRY)
READY_CHECK = Gauge(
    "edigate_ready_check", "1 while a readiness check passes, 0 while it fails or times out",
    ["check"], registry=REGISTRY)  # updated each time /health/ready is evaluated
LOG_EVENTS = Counter(
    "edigate_log_events_total", "Log lines written, by level (an error rate to alert on)",
    ["level"], registry=REGISTRY)  # level: debug, info, warning, error, critical
