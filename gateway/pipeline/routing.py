"""Routing: which exchange and routing key each canonical document goes to. Rules are data
(``[[routes]]`` in the configuration); every matching rule yields one message, so one declaration
can reach the clearance backend and the Census statistics backend. A document no rule matches is
not dropped: it goes to the parking exchange with the reason, and the operator is alerted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..config import Route
from .process import DocumentResult


@dataclass(frozen=True, slots=True)
class Destination:
    route: str  # rule name, or "unrouted"
    exchange: str
    routing_key: str


def _matches(wanted: list[str] | str, value: str | None) -> bool:
    if wanted == "*" or wanted == ["*"]:
        return True
    if isinstance(wanted, str):
        return value == wanted
    return value in wanted


class _Keys(dict[str, str]):
    def __missing__(self, key: str) -> str:  # an unknown placeholder stays visible, not a crash
        return "{" + key + "}"


def document_outcome(doc: DocumentResult) -> str:
    """"flagged" when business rules found errors (routed with the flag), else "accepted"."""
    return "flagged" if doc.rule_errors else "accepted"


def destinations(routes: Sequence[Route], doc: DocumentResult, partner: str,
                 parking_exchange: str) -> list[Destination]:  # fmt: skip
    outcome = document_outcome(doc)
    mode = doc.transport_mode or "unknown"
    keys = _Keys(document_type=doc.document_type, message_type=doc.message_type,
                 transport_mode=mode, partner=partner, outcome=outcome)  # fmt: skip
    found = [
        Destination(r.name, r.exchange, r.routing_key.format_map(keys))
        for r in routes
        if _matches(r.document_type, doc.document_type)
        and _matches(r.message_type, doc.message_type)
        and _matches(r.transport_mode, mode)
        and _matches(r.partner, partner)
        and _matches(r.outcome, outcome)
    ]
    return found or [Destination("unrouted", parking_exchange,
                                 f"unrouted.{doc.message_type}.{partner}")]  # fmt: skip
