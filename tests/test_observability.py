"""Logging (structlog JSON lines, stdlib and Twisted bridged in), the ops web site.

Reactor technique: resource-level tests drive the readiness logic with a ``MemoryReactorClock``
(deterministic timeouts); the end-to-end tests run a *private* reactor instance (not the global
one) in a thread, listening on 127.0.0.1:0 and queried with urllib. Nothing here starts, crashes
or leaves state in the global reactor, so these tests cannot disturb (or be disturbed by) other
test modules however they use it.
"""

from __future__ import annotations

import gc
import gzip
import io
import json
import logging
import threading
import time
import types
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from twisted.internet.defer import Deferred, succeed
from twisted.internet.selectreactor import SelectReactor
from twisted.internet.testing import MemoryReactorClock
from twisted.internet.threads import blockingCallFromThread
from twisted.logger import ILogObserver, LogBeginner, Logger, LogPublisher, globalLogPublisher
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from edigate import observability as obs
from edigate.config import load_config
from edigate.metrics import LOG_EVENTS, READY_CHECK, REGISTRY, SUBMISSIONS

# --- helpers and fixtures ----------------------------------------------------------------------


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the other test modules."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    pika_level = logging.getLogger("pika").level
    saved = structlog.get_config()
    configured = obs._configured
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    logging.getLogger("pika").setLevel(pika_level)
    structlog.configure(**saved)
    obs._configured = configured
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def buf() -> io.StringIO:
    stream = io.StringIO()
    obs.configure_logging("info", "json", stream=stream)
    return stream


def private_beginner() -> tuple[LogBeginner, LogPublisher]:
    """A LogBeginner of our own: beginning it leaves the global one (and stdio, warnings) be."""
    publisher = LogPublisher()
    stdio = types.SimpleNamespace(stdout=io.StringIO(), stderr=io.StringIO())
    warnings_module = types.SimpleNamespace(showwarning=None)
    return LogBeginner(publisher, io.StringIO(), stdio, warnings_module), publisher


# --- structlog configuration -------------------------------------------------------------------


def test_json_line_fields_and_order() -> None:
    stream = io.StringIO()
    obs.configure_logging("info", "json", stream=stream, node_id="edigate-7")
    obs.get_logger("edigate.test", component="journal").info("committed", operations=4)
    [line] = lines(stream)
    assert list(line)[:4] == ["timestamp", "level", "logger", "event"]
    assert line["level"] == "info"
    assert line["logger"] == "edigate.test"
    assert line["event"] == "committed"
    assert line["component"] == "journal" and line["operations"] == 4
    assert line["node"] == "edigate-7"
    ts = datetime.strptime(line["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(tz=UTC) - ts).total_seconds()) < 60


def test_submission_logger_binds_ids(buf: io.StringIO) -> None:
    log = obs.submission_logger("sub-1", "ACME", "https", message_id="m-9")
    log.info("received", bytes=120)
    log.bind(document_type="CUSDEC").warning("flagged")
    first, second = lines(buf)
    assert first["submission_id"] == "sub-1" and first["partner"] == "ACME"
    assert first["channel"] == "https" and first["message_id"] == "m-9"
    assert "document_type" not in first
    assert second["level"] == "warning" and second["document_type"] == "CUSDEC"
    assert second["submission_id"] == "sub-1"


def test_levels_and_stdlib_routing(buf: io.StringIO) -> None:
    log = obs.get_logger("edigate.test")
    log.debug("dropped at info")
    logging.getLogger("edigate.legacy").info("stdlib %s line", "formatted")
    logging.getLogger("pika.connection").info("pika chatter is dropped")
    logging.getLogger("pika.connection").warning("pika trouble %d", 1)
    out = lines(buf)
    assert [(x["logger"], x["event"]) for x in out] == [
        ("edigate.legacy", "stdlib formatted line"), ("pika.connection", "pika trouble 1")]
    assert all(x["timestamp"].endswith("Z") for x in out)


def test_debug_level_lets_pika_through() -> None:
    stream = io.StringIO()
    obs.configure_logging("debug", "json", stream=stream)
    logging.getLogger("pika.channel").debug("frame sent")
    obs.get_logger().debug("ours too")
    assert [x["event"] for x in lines(stream)] == ["frame sent", "ours too"]


def test_error_level_keeps_pika_at_error() -> None:
    stream = io.StringIO()
    obs.configure_logging("error", "json", stream=stream)
    logging.getLogger("pika").warning("not at error level")
    assert stream.getvalue() == ""


def test_exception_field(buf: io.StringIO) -> None:
    log = obs.get_logger("edigate.test")
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup failed")
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        logging.getLogger("edigate.legacy").exception("stdlib failure")
    ours, stdlib = lines(buf)
    assert ours["level"] == "error" and "KeyError: 'missing'" in ours["exception"]
    assert ours["exception"].startswith("Traceback (most recent call last):")
    assert "ZeroDivisionError" in stdlib["exception"]


def test_console_format() -> None:
    stream = io.StringIO()
    obs.configure_logging("info", "console", stream=stream)
    obs.get_logger("edigate.test").info("started", port=9464)
    text = stream.getvalue()
    assert "started" in text and "port=9464" in text and not text.startswith("{")


def test_reconfiguration_reaches_existing_loggers() -> None:
    early = obs.get_logger("edigate.early")  # as a module-level logger would be
    first, second = io.StringIO(), io.StringIO()
    obs.configure_logging("info", "json", stream=first)
    early.info("one")
    obs.configure_logging("info", "json", stream=second)
    early.info("two")
    assert [x["event"] for x in lines(first)] == ["one"]
    assert [x["event"] for x in lines(second)] == ["two"]  # and not twice: one handler


def test_rejects_unknown_settings() -> None:
    with pytest.raises(ValueError, match="level"):
        obs.configure_logging("verbose")
    with pytest.raises(ValueError, match="format"):
        obs.configure_logging("info", "xml")


def test_accepts_config_values() -> None:
    cfg = load_config()
    stream = io.StringIO()
    obs.configure_logging(cfg.gateway.log_level, cfg.gateway.log_format, stream=stream,
                          node_id=cfg.gateway.node_id)
    obs.get_logger().info("configured")
    assert lines(stream)[0]["node"] == cfg.gateway.node_id


def test_log_events_counted_by_level(buf: io.StringIO) -> None:
    before = REGISTRY.get_sample_value("edigate_log_events_total", {"level": "error"}) or 0.0
    obs.get_logger().error("one")
    logging.getLogger("other").error("two")
    obs.get_logger().debug("filtered lines are not counted")
    assert REGISTRY.get_sample_value("edigate_log_events_total", {"level": "error"}) == before + 2
    assert LOG_EVENTS.labels(level="debug") is not None


# --- context through Deferred chains -----------------------------------------------------------


def test_context_carried_on_logger_through_deferred_chains(buf: io.StringIO) -> None:
    """Two submissions' chains interleave; each line names its own submission."""

    def stage(name: str):
        def run(state: tuple[Any, str]) -> tuple[Any, str]:
            log, payload = state
            log.info("stage done", stage=name)
            return log.bind(message_id=f"{payload}-msg"), payload

        return run

    chains = {}
    for sid in ("sub-A", "sub-B"):
        d: Deferred[tuple[Any, str]] = Deferred()
        d.addCallback(stage("parse")).addCallback(stage("validate")).addCallback(stage("route"))
        chains[sid] = d
    # a context-variable bound meanwhile (as a careless callback might) must not leak in
    structlog.contextvars.bind_contextvars(submission_id="LEAKED")
    chains["sub-B"].callback((obs.submission_logger("sub-B", "P2", "sftp"), "b"))
    chains["sub-A"].callback((obs.submission_logger("sub-A", "P1", "https"), "a"))
    out = lines(buf)
    assert len(out) == 6
    for line in out:
        expected = "sub-A" if line["partner"] == "P1" else "sub-B"
        assert line["submission_id"] == expected
    assert [x.get("message_id") for x in out if x["submission_id"] == "sub-A"] == [
        None, "a-msg", "a-msg"]


# --- Twisted log bridge ------------------------------------------------------------------------


def test_failure_event_is_one_json_line_with_traceback(buf: io.StringIO) -> None:
    beginner, publisher = private_beginner()
    bridge = obs.start_twisted_logging(beginner)
    assert ILogObserver.providedBy(bridge)
    try:
        raise RuntimeError("channel closed by broker")
    except RuntimeError:
        Logger(namespace="edigate.adapters.amqp", observer=publisher).failure(
            "publish of {msg_id} failed", msg_id="m-1")
    [line] = lines(buf)
    assert line["logger"] == "edigate.adapters.amqp"
    assert line["level"] == "critical"  # Logger.failure's default level
    assert line["event"] == "publish of m-1 failed"
    assert line["msg_id"] == "m-1"
    assert line["exception"].startswith("Traceback")
    assert "RuntimeError: channel closed by broker" in line["exception"]
    assert "raise RuntimeError" in line["exception"]  # the frames, not only the message


def test_bridge_levels_fields_and_filtering(buf: io.StringIO) -> None:
    beginner, publisher = private_beginner()
    early = Logger(namespace="twisted.web.server", observer=publisher)
    early.info("buffered before logging began")
    obs.start_twisted_logging(beginner)
    obs.start_twisted_logging(beginner)  # idempotent: still one observer
    log = Logger(namespace="twisted.conch.ssh", observer=publisher)
    log.debug("dropped at info level")
    log.warn("connection lost from {peer}", peer="10.0.0.9", transport=object())
    log.error("auth failed for {user}", user="acme")
    out = lines(buf)
    assert [(x["level"], x["event"]) for x in out] == [
        ("info", "buffered before logging began"),
        ("warning", "connection lost from 10.0.0.9"),
        ("error", "auth failed for acme")]
    assert out[1]["logger"] == "twisted.conch.ssh" and out[1]["peer"] == "10.0.0.9"
    assert "transport" not in out[1]  # objects are not serialised


def test_bridge_uses_event_time(buf: io.StringIO) -> None:
    obs.TwistedLogBridge()({"log_format": "old", "log_time": 0.0, "log_namespace": "t"})
    assert lines(buf)[0]["timestamp"] == "1970-01-01T00:00:00.000000Z"


def test_bridge_legacy_events(buf: io.StringIO) -> None:
    # twisted.python.log.msg/err, still used inside Twisted, reach observers as legacy events
    from twisted.python import log as legacy_log

    bridge = obs.TwistedLogBridge()
    globalLogPublisher.addObserver(bridge)
    try:
        try:
            raise ZeroDivisionError("division by zero")
        except ZeroDivisionError:
            legacy_log.err(None, "legacy error")
        legacy_log.msg("hello", "world", system="HTTPChannel,0")
    finally:
        globalLogPublisher.removeObserver(bridge)
    error, hello = lines(buf)
    assert error["level"] == "critical" and error["event"] == "legacy error"
    assert error["exception"].startswith("Traceback") and "ZeroDivisionError" in error["exception"]
    assert hello["event"] == "hello world" and hello["system"] == "HTTPChannel,0"
    assert hello["logger"] == "log_legacy" and hello["level"] == "info"


def test_unhandled_error_in_deferred(buf: io.StringIO) -> None:
    bridge = obs.TwistedLogBridge()
    globalLogPublisher.addObserver(bridge)
    try:
        d: Deferred[None] = Deferred()
        d.errback(ValueError("nobody handled this"))
        del d
        gc.collect()
    finally:
        globalLogPublisher.removeObserver(bridge)
    # Twisted writes two events: the headline, then the failure (we name it after the error)
    headline, failure = lines(buf)
    assert headline["event"] == "Unhandled error in Deferred:"
    assert headline["logger"] == failure["logger"] == "twisted.internet.defer"
    assert failure["level"] == "critical" and failure["event"] == "ValueError: nobody handled this"
    assert "ValueError: nobody handled this" in failure["exception"]


def test_twistd_observer(buf: io.StringIO) -> None:
    try:
        observer = obs.twistd_observer()
        assert ILogObserver.providedBy(observer)
        assert obs.twistd_observer() is observer
        assert obs.start_twisted_logging() is observer  # twistd begins with it, not us again
        observer({"log_format": "twistd {v} starting up", "v": "26", "log_namespace": "twistd",
                  "log_level": obs.LogLevel.info, "log_time": time.time()})
        # configure_logging (as the plugin's makeService calls it) was kept, not overridden
        assert lines(buf)[0]["event"] == "twistd 26 starting up"
    finally:
        obs._bridges.pop(obs.globalLogBeginner, None)


# --- readiness logic on a memory reactor -------------------------------------------------------


class _Clock(MemoryReactorClock):
    def getThreadPool(self) -> ThreadPool:
        return ThreadPool()  # never started: only the metrics resource keeps a reference


def get(site: Any, *path: bytes) -> DummyRequest:
    request = DummyRequest(list(path))
    resource = site.getResourceFor(request)
    result = resource.render(request)
    if result is not NOT_DONE_YET:
        request.write(result)
        request.finish()
    return request


def body(request: DummyRequest) -> dict[str, Any]:
    return json.loads(b"".join(request.written))


def test_ready_waits_for_deferred_checks_and_times_out_hanging_ones() -> None:
    clock = _Clock()
    later: Deferred[bool] = Deferred()
    hanging: Deferred[bool] = Deferred()
    site = obs.build_ops_site(checks={"journal": lambda: later, "amqp": lambda: hanging},
                              timeout=2.0, reactor=clock)
    request = get(site, b"health", b"ready")
    assert request.finished == 0
    later.callback(True)
    clock.advance(1.9)
    assert request.finished == 0
    clock.advance(0.2)
    assert request.finished == 1 and request.responseCode == 503
    assert body(request) == {"status": "unavailable", "checks": {"journal": True, "amqp": False},
                             "errors": {"amqp": "timed out after 2 s"}}
    assert hanging.called  # cancelled, so whatever it waited on can be released
    assert REGISTRY.get_sample_value("edigate_ready_check", {"check": "amqp"}) == 0
    assert REGISTRY.get_sample_value("edigate_ready_check", {"check": "journal"}) == 1


def test_ready_check_kinds() -> None:
    async def coroutine_check() -> bool:
        return True

    def broken() -> bool:
        raise OSError("disk gone")

    clock = _Clock()
    checks = {"plain": lambda: True, "fired": lambda: succeed(True),
              "coroutine": coroutine_check}
    ready = get(obs.build_ops_site(checks=checks, reactor=clock), b"health", b"ready")
    assert ready.responseCode == 200
    assert body(ready) == {"status": "ok", "checks": dict.fromkeys(checks, True)}
    assert ready.responseHeaders.getRawHeaders(b"content-type") == [b"application/json"]
    unready = get(obs.build_ops_site(checks={**checks, "journal": broken, "amqp": lambda: 0},
                                     reactor=clock), b"health", b"ready")
    assert unready.responseCode == 503
    result = body(unready)
    assert result["checks"]["journal"] is False and result["checks"]["amqp"] is False
    assert result["errors"] == {"journal": "OSError: disk gone"}


def test_ready_without_checks_and_live() -> None:
    site = obs.build_ops_site(reactor=_Clock())
    assert get(site, b"health", b"ready").responseCode == 200
    live = get(site, b"health", b"live")
    assert live.responseCode == 200 and body(live) == {"status": "ok"}
    assert get(site, b"nothing").responseCode == 404
    assert get(site, b"health", b"nothing").responseCode == 404
    index = get(site, b"")
    assert index.responseCode == 200 and "/health/ready" in body(index)["endpoints"]


def test_ready_state_changes_are_logged_once(buf: io.StringIO) -> None:
    state = {"ok": False}
    site = obs.build_ops_site(checks={"amqp": lambda: state["ok"]}, reactor=_Clock())
    for ok in (False, False, True, True):
        state["ok"] = ok
        get(site, b"health", b"ready")
    assert [(x["level"], x["event"], x["check"]) for x in lines(buf)] == [
        ("warning", "readiness check fails", "amqp"),
        ("info", "readiness check passes again", "amqp")]


def test_ready_client_gone_before_answer() -> None:
    clock = _Clock()
    hanging: Deferred[bool] = Deferred()
    site = obs.build_ops_site(checks={"amqp": lambda: hanging}, reactor=clock)
    request = get(site, b"health", b"ready")
    request.processingFailed(Failure(ConnectionError("client went away")))
    assert hanging.called  # checks cancelled at once, nothing written afterwards
    clock.advance(5)
    assert request.written == []


# --- the ops site on a real socket -------------------------------------------------------------


@pytest.fixture
def reactor() -> Iterator[SelectReactor]:
    """A real reactor of our own, run in a thread, stopped afterwards."""
    r = SelectReactor()
    thread = threading.Thread(target=r.run, kwargs={"installSignalHandlers": False},
                              daemon=True)
    thread.start()
    yield r
    r.callFromThread(r.stop)
    thread.join(10)
    assert not thread.is_alive()


def serve(reactor: SelectReactor, **kwargs: Any) -> tuple[str, Any]:
    def start() -> tuple[str, Any]:
        site = obs.build_ops_site(reactor=reactor, **kwargs)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        return f"http://127.0.0.1:{port.getHost().port}", port

    return blockingCallFromThread(reactor, start)


def fetch(url: str, **headers: str) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_metrics_endpoint(reactor: SelectReactor) -> None:
    base, port = serve(reactor)
    labels = {"channel": "test-ops", "outcome": "accepted"}
    before = REGISTRY.get_sample_value("edigate_submissions_total", labels) or 0.0
    SUBMISSIONS.labels(**labels).inc(3)
    status, headers, text = fetch(base + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    page = text.decode()
    assert f'edigate_submissions_total{{channel="test-ops",outcome="accepted"}} {before + 3}' \
        in page
    for name in ("# TYPE edigate_stage_seconds histogram", "edigate_outbox_depth",
                 "edigate_journal_commit_seconds_count", "edigate_log_events_total"):
        assert name in page
    status, headers, zipped = fetch(base + "/metrics", **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert b"edigate_submissions_total" in gzip.decompress(zipped)
    status, headers, text = fetch(base + "/metrics?name[]=edigate_outbox_depth")
    assert b"edigate_outbox_depth" in text and b"edigate_submissions_total" not in text
    blockingCallFromThread(reactor, port.stopListening)


def test_health_endpoints(reactor: SelectReactor) -> None:
    state = {"amqp": True}

    def amqp() -> Deferred[bool]:
        # answers a little later, from the reactor, like a real broker round trip
        d: Deferred[bool] = Deferred()
        reactor.callLater(0.05, d.callback, state["amqp"])
        return d

    def hanging() -> Deferred[bool]:
        return Deferred()

    base, port = serve(reactor, checks={"journal": lambda: True, "amqp": amqp}, timeout=0.3)
    status, _, text = fetch(base + "/health/live")
    assert (status, json.loads(text)) == (200, {"status": "ok"})
    status, _, text = fetch(base + "/health/ready")
    assert (status, json.loads(text)) == (200, {"status": "ok",
                                                "checks": {"journal": True, "amqp": True}})
    state["amqp"] = False
    status, _, text = fetch(base + "/health/ready")
    assert status == 503 and json.loads(text)["checks"] == {"journal": True, "amqp": False}
    blockingCallFromThread(reactor, port.stopListening)

    base, port = serve(reactor, checks={"journal": lambda: True, "backend": hanging},
                       timeout=0.3)
    started = time.monotonic()
    status, _, text = fetch(base + "/health/ready")
    elapsed = time.monotonic() - started
    assert status == 503 and 0.25 < elapsed < 3
    assert json.loads(text)["errors"] == {"backend": "timed out after 0.3 s"}
    assert READY_CHECK.labels(check="backend")._value.get() == 0
    blockingCallFromThread(reactor, port.stopListening)
