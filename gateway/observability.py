"""Logs, metrics and health endpoints of the gateway.

Logging: structlog renders one JSON object per line (or a console line) to one stream for three
sources: our structlog loggers, stdlib ``logging`` (pika, paramiko...) and Twisted's
``twisted.logger`` events (conch, twisted.web, twistd, unhandled errors in Deferreds), the last
through :class:`TwistedLogBridge`. Everything funnels into one stdlib handler, so its lock keeps
lines from interleaving across threads and a reconfiguration (new level, new stream) reaches
loggers created earlier.

Context (submission id, partner...) is bound on logger objects carried with the work
(:func:`submission_logger`), never in contextvars: those leak from one submission to the next in
plain Deferred callback chains, and a wrong id on an audit line is worse than none.

Ops web site (:func:`build_ops_site`): ``/metrics`` (Prometheus exposition of
:data:`edigate.metrics.REGISTRY`, generated in the reactor's thread pool), ``/health/live`` and
``/health/ready`` (every check true, each bounded by a timeout so a probe never hangs).

The reactor is never imported at module level: twistd imports this module (``--logger``) before
it installs the reactor the user chose.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
import weakref
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import make_wsgi_app
from structlog.stdlib import ProcessorFormatter
from structlog.typing import EventDict, Processor, WrappedLogger
from twisted.application.service import IService
from twisted.internet.defer import Deferred, DeferredList, TimeoutError, maybeDeferred
from twisted.logger import (
    ILogObserver,
    LogBeginner,
    LogEvent,
    LogLevel,
    formatEvent,
    globalLogBeginner,
)
from twisted.python.failure import Failure
from twisted.web.pages import notFound
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site
from twisted.web.wsgi import WSGIResource
from zope.interface import implementer

from edigate.metrics import LOG_EVENTS, READY_CHECK, REGISTRY

__all__ = [
    "HealthCheck",
    "OpsSite",
    "TwistedLogBridge",
    "build_ops_site",
    "configure_logging",
    "get_logger",
    "ops_service",
    "start_twisted_logging",
    "submission_logger",
    "twistd_observer",
]

#: A readiness check: true when the component can do its work. May return a Deferred or be an
#: ``async def``; must not block the reactor. Called afresh on every probe.
HealthCheck = Callable[[], bool | Deferred[bool] | Coroutine[Any, Any, bool]]

_LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
#: keys written first, in this order, so lines are easy to scan
_FRONT_KEYS = ("timestamp", "level", "logger", "event")

_configured = False


# --- logging ---------------------------------------------------------------------------------


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _timestamper(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # setdefault: bridged Twisted events carry their own time; stdlib records theirs
    if "timestamp" not in event_dict:
        record = event_dict.get("_record")
        created = record.created if record is not None else datetime.now(tz=UTC).timestamp()
        event_dict["timestamp"] = _iso(created)
    return event_dict


def _order_keys(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    ordered = {k: event_dict.pop(k) for k in _FRONT_KEYS if k in event_dict}
    ordered.update(event_dict)
    return ordered


#: children created once (cheaper per line, and every level shows up as 0 before its first use)
_LEVEL_COUNTERS = {name: LOG_EVENTS.labels(level=name) for name in _LEVELS}


def _count(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    counter = _LEVEL_COUNTERS.get(event_dict.get("level", ""))
    if counter is not None:
        counter.inc()
    return event_dict


def _add_node(node_id: str) -> Processor:
    def add_node(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("node", node_id)
        return event_dict

    return add_node


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Our handler on the root logger, marked so a reconfiguration replaces only it."""


def configure_logging(level: str = "info", fmt: str = "json", stream: TextIO | None = None,
                      node_id: str | None = None) -> None:
    """Configure structlog and stdlib logging to write ``fmt`` lines to ``stream`` (stdout).

    ``fmt`` is ``json`` (one object a line: timestamp ISO UTC, level, logger, event, node, bound
    keys, ``exception`` with a traceback) or ``console`` (for people at a terminal). Safe to call
    again (tests, reload): it replaces its own handler and nothing else.
    """
    global _configured
    try:
        levelno = _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; expected one of {list(_LEVELS)}") from None
    if fmt not in ("json", "console"):
        raise ValueError(f"unknown log format {fmt!r}; expected 'json' or 'console'")
    stream = sys.stdout if stream is None else stream

    # run for stdlib records (pika...); structlog's own events get the same in its chain below
    foreign_chain: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _timestamper,
    ]
    final: list[Processor] = [ProcessorFormatter.remove_processors_meta, _count]
    if node_id:
        final.append(_add_node(node_id))
    if fmt == "json":
        final += [structlog.processors.format_exc_info, _order_keys,
                  structlog.processors.JSONRenderer()]
    else:
        isatty = getattr(stream, "isatty", None)
        final.append(structlog.dev.ConsoleRenderer(colors=bool(isatty and isatty())))

    handler = _Handler(stream)
    handler.setFormatter(ProcessorFormatter(processors=final, foreign_pre_chain=foreign_chain))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(levelno)
    # pika logs every frame and reconnect attempt at INFO/DEBUG: only worth it when debugging
    logging.getLogger("pika").setLevel(levelno if levelno == logging.DEBUG
                                       else max(levelno, logging.WARNING))

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            _timestamper,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # no caching: a module-level logger used before this call would otherwise keep
        # structlog's default (unconfigured) pipeline for the life of the process
        cache_logger_on_first_use=False,
    )
    _configured = True


def _configure_from_environment() -> None:
    """Defaults for processes that log before (or without) reading the gateway config."""
    if not _configured:
        configure_logging(os.environ.get("EDIGATE_LOG_LEVEL", "info"),
                          os.environ.get("EDIGATE_LOG_FORMAT", "json"),
                          node_id=os.environ.get("EDIGATE_NODE_ID") or None)


def get_logger(name: str = "edigate", /, **bound: Any) -> structlog.stdlib.BoundLogger:
    """A logger named ``name`` with ``bound`` keys on every line.

    Lazy: fine at module level, it picks up :func:`configure_logging` whenever that runs.
    """
    return structlog.stdlib.get_logger(name, **bound)


def submission_logger(submission_id: str, partner: str | None, channel: str, *,
                      name: str = "edigate.submission", **extra: Any,
                      ) -> structlog.stdlib.BoundLogger:
    """A logger bound to one submission; pass it along with the work (callbacks, stages).

    Add later ids with ``log = log.bind(message_id=...)``: binding returns a new logger, so
    a stage never changes what another submission's logger writes.
    """
    return get_logger(name).bind(submission_id=submission_id, partner=partner, channel=channel,
                                 **extra)


# --- Twisted's logging -----------------------------------------------------------------------

_TWISTED_LEVELS: dict[LogLevel, int] = {
    LogLevel.debug: logging.DEBUG,
    LogLevel.info: logging.INFO,
    LogLevel.warn: logging.WARNING,
    LogLevel.error: logging.ERROR,
    LogLevel.critical: logging.CRITICAL,
}
#: keys of legacy (twisted.python.log) events and of our own line that an event must not set
_RESERVED = frozenset({
    "event", "level", "logger", "timestamp", "exception", "exc_info", "stack_info", "node",
    "message", "format", "isError", "system", "time", "failure", "why", "printed",
})


@implementer(ILogObserver)
class TwistedLogBridge:
    """A ``twisted.logger`` observer writing each event as a line through structlog.

    The message is :func:`twisted.logger.formatEvent`'s, the logger name the event's namespace,
    the level mapped from its ``LogLevel``; a failure's traceback goes in ``exception``. String,
    number and boolean fields of the event are kept (e.g. ``{peer}``); objects are not.
    """

    def __call__(self, event: LogEvent) -> None:
        try:
            self._emit(event)
        except Exception:
            # an observer that raises gets disabled by Twisted, and the error would loop back
            # here: report it on the real stderr and carry on
            traceback.print_exc(file=sys.__stderr__)

    def _emit(self, event: LogEvent) -> None:
        level = _TWISTED_LEVELS.get(event.get("log_level", LogLevel.info), logging.INFO)
        namespace = event.get("log_namespace") or "twisted"
        stdlib_logger = logging.getLogger(namespace)
        # checked before formatting: a dropped debug event costs no formatEvent or traceback
        if stdlib_logger.disabled or level < stdlib_logger.getEffectiveLevel():
            return
        fields: dict[str, Any] = {}
        for key, value in event.items():
            if (isinstance(value, str | int | float | bool) and value != ""
                    and not key.startswith(("log_", "_")) and key not in _RESERVED):
                fields[key] = value
        log_time = event.get("log_time")
        if isinstance(log_time, int | float):
            fields["timestamp"] = _iso(log_time)
        system = event.get("log_system")
        if system and system != "-":
            fields["system"] = system
        failure = event.get("log_failure")
        legacy = event.get("failure")
        if failure is None and isinstance(legacy, Failure):
            # twisted.python.log.err: the text would repeat the traceback; "why" is the message
            failure, message = legacy, event.get("why") or "Unhandled Error"
        else:
            message = formatEvent(event)
        if isinstance(failure, Failure):
            fields["exception"] = failure.getTraceback()
            if not message:  # e.g. the second of Twisted's two "Unhandled error" events
                message = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        structlog.stdlib.get_logger(namespace).log(level, message, **fields)


#: one bridge per beginner, so repeated starts (tests, serve + plugin code) add nothing twice
_bridges: weakref.WeakKeyDictionary[LogBeginner, TwistedLogBridge] = weakref.WeakKeyDictionary()


def start_twisted_logging(beginner: LogBeginner | None = None) -> TwistedLogBridge:
    """Send Twisted's log events through structlog (for ``edigate serve``; twistd: see
    :func:`twistd_observer`). Idempotent. Call :func:`configure_logging` first; without it
    the ``EDIGATE_LOG_LEVEL``/``EDIGATE_LOG_FORMAT`` environment (default info, json) applies.

    Standard output is not redirected into the log: our handler writes to it, and a stray
    ``print`` should not become a log event. Events logged before this call are replayed.
    """
    _configure_from_environment()
    beginner = globalLogBeginner if beginner is None else beginner
    bridge = _bridges.get(beginner)
    if bridge is None:
        bridge = _bridges[beginner] = TwistedLogBridge()
        beginner.beginLoggingTo([bridge], redirectStandardIO=False)
    return bridge


def twistd_observer() -> TwistedLogBridge:
    """Observer factory for ``twistd --logger=edigate.observability.twistd_observer``.

    twistd then logs only through this bridge (no ``twistd.log`` text file, no duplicate
    lines). It calls this after the plugin's ``makeService``, so a ``configure_logging`` call
    there (with the config file's level and format) is kept; otherwise the environment applies.
    """
    _configure_from_environment()
    bridge = _bridges.get(globalLogBeginner)
    if bridge is None:
        # twistd itself begins logging to it; remembered so start_twisted_logging won't again
        bridge = _bridges[globalLogBeginner] = TwistedLogBridge()
    return bridge


# --- ops web site ----------------------------------------------------------------------------

_log = get_logger("edigate.observability")


def _json(request: Request, code: int, body: Mapping[str, Any]) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


class _Dir(Resource):
    def getChild(self, path: bytes, request: Request) -> Resource:
        # "/" is the directory itself; Resource's own 404 page is deprecated (unescaped HTML)
        return self if path == b"" else notFound()


class _Index(_Dir):
    def render_GET(self, request: Request) -> bytes:
        return _json(request, 200, {"endpoints": ["/metrics", "/health/live", "/health/ready"]})


class _Live(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        # answering at all is the point: it proves the reactor is turning
        return _json(request, 200, {"status": "ok"})


class _Ready(Resource):
    isLeaf = True

    def __init__(self, checks: Mapping[str, HealthCheck], timeout: float, clock: Any) -> None:
        super().__init__()
        self._checks = dict(checks)
        self._timeout = timeout
        self._clock = clock
        self._last: dict[str, bool] = {}

    def _run(self, check: HealthCheck) -> Deferred[tuple[bool, str | None]]:
        d: Deferred[Any] = maybeDeferred(check)
        # cancels the check's Deferred on expiry; a check must return a fresh one each call
        d.addTimeout(self._timeout, self._clock)

        def failed(f: Failure) -> tuple[bool, str | None]:
            if f.check(TimeoutError):
                return False, f"timed out after {self._timeout:g} s"
            return False, f"{f.type.__name__}: {f.getErrorMessage()}"

        return d.addCallbacks(lambda ok: (bool(ok), None), failed)

    def evaluate(self) -> Deferred[dict[str, tuple[bool, str | None]]]:
        """Run every check at once; never fails (a failure or timeout is a false check)."""
        names = list(self._checks)
        d = DeferredList([self._run(self._checks[n]) for n in names], consumeErrors=True)

        def collect(results: list[tuple[bool, Any]]) -> dict[str, tuple[bool, str | None]]:
            # _run never fails, so every result is (True, (ok, reason))
            return {name: r for name, (_, r) in zip(names, results, strict=True)}

        return d.addCallback(collect)

    def _record(self, states: Mapping[str, tuple[bool, str | None]]) -> None:
        for name, (ok, reason) in states.items():
            READY_CHECK.labels(check=name).set(1 if ok else 0)
            # transitions only: a probe every few seconds must not flood the log
            if self._last.get(name, True) != ok:
                if ok:
                    _log.info("readiness check passes again", check=name)
                else:
                    _log.warning("readiness check fails", check=name, reason=reason)
            self._last[name] = ok

    def render_GET(self, request: Request) -> int:
        gone = False
        d = self.evaluate()

        def client_gone(_: Failure) -> None:
            nonlocal gone
            gone = True
            d.cancel()

        request.notifyFinish().addErrback(client_gone)

        def respond(states: dict[str, tuple[bool, str | None]]) -> None:
            if gone:
                return
            self._record(states)
            ready = all(ok for ok, _ in states.values())
            body: dict[str, Any] = {
                "status": "ok" if ready else "unavailable",
                "checks": {name: ok for name, (ok, _) in states.items()},
            }
            errors = {name: why for name, (ok, why) in states.items() if not ok and why}
            if errors:
                body["errors"] = errors
            request.write(_json(request, 200 if ready else 503, body))
            request.finish()

        d.addCallback(respond)
        d.addErrback(lambda f: _log.error("readiness endpoint failed",
                                          exception=f.getTraceback()))
        return NOT_DONE_YET


class OpsSite(Site):
    """The ops site. No access log by default: probes and scrapes every few seconds would
    drown the log in access lines."""

    access_log = False
    noisy = False  # "Starting factory" would repeat the "OpsSite starting on <port>" line
    displayTracebacks = False

    def log(self, request: Request) -> None:
        if self.access_log:
            super().log(request)


def build_ops_site(registry: CollectorRegistry = REGISTRY,
                   checks: Mapping[str, HealthCheck] | None = None, *,
                   timeout: float = 2.0, reactor: Any = None, access_log: bool = False) -> OpsSite:
    """The ops web site: ``/metrics``, ``/health/live``, ``/health/ready``.

    ``checks`` name the readiness checks (e.g. ``{"journal": ..., "amqp": ...}``); each gets
    ``timeout`` seconds. ``reactor`` defaults to the global one (imported only then).
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    health = _Dir()
    health.putChild(b"live", _Live())
    health.putChild(b"ready", _Ready(checks or {}, timeout, reactor))
    root = _Index()
    # prometheus_client's WSGI app: content negotiation (OpenMetrics), gzip, ?name[]= filters;
    # WSGIResource runs it in the reactor's thread pool so a big exposition never stalls I/O
    root.putChild(b"metrics", WSGIResource(reactor, reactor.getThreadPool(),
                                           make_wsgi_app(registry)))
    root.putChild(b"health", health)
    site = OpsSite(root, reactor=reactor)
    site.access_log = access_log
    return site


def ops_service(endpoint: str, site: Site, reactor: Any = None) -> IService:
    """A service listening with ``site`` on ``endpoint`` (``[metrics] endpoint`` of the config,
    e.g. ``tcp:9464:interface=127.0.0.1``), for the gateway's MultiService."""
    from twisted.application import strports

    return strports.service(endpoint, site, reactor=reactor)
