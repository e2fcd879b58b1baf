"""Runs the real gateway process for end-to-end and fault tests (and the gateway benchmark):
its own configuration with unique AMQP names, free ports, a temporary data directory; an HTTPS
client that trusts the gateway's development CA; helpers to read the real RabbitMQ queues."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika

AMQP = pika.ConnectionParameters("127.0.0.1", 5672, "/", pika.PlainCredentials("guest", "guest"))
DEMO_KEY = "demo-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broker_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=2):
            return True
    except OSError:
        return False


@dataclass
class Gateway:
    """One gateway process and everything it was configured with."""

    root: Path
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    https_port: int = field(default_factory=free_port)
    ops_port: int = field(default_factory=free_port)
    extra: str = ""
    max_body: int = 8 << 20
    large_bytes: int = 1 << 20  # submissions from this size stream through the large path
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def config_path(self) -> Path:
        return self.root / "gateway.toml"

    @property
    def queues(self) -> dict[str, str]:
        s = self.suffix
        return {"cargo": f"t{s}.clearance.cargo", "declarations": f"t{s}.clearance.decl",
                "census": f"t{s}.census", "parked": f"t{s}.parked", "dead": f"t{s}.dead",
                "responses": f"t{s}.responses"}  # fmt: skip

    @property
    def exchanges(self) -> list[str]:
        s = self.suffix
        return [f"t{s}.clearance", f"t{s}.statistics", f"t{s}.parking", f"t{s}.dlx"]

    def write_config(self) -> None:
        s, q = self.suffix, self.queues
        text = f"""
[gateway]
data_dir = "var"
node_id = "test-{s}"
log_level = "info"

[journal]
path = "var/journal.sqlite3"
payload_dir = "var/payloads"

[pipeline]
workers = 1
large_workers = 1
large_submission_bytes = {self.large_bytes}

[signing]
key = "certs/gateway-signing.key"
certificate = "certs/gateway-signing.pem"
ca_certificate = "certs/ca.pem"

[http]
endpoint = "ssl:{self.https_port}:interface=127.0.0.1"
tls_certificate = "certs/tls.pem"
tls_key = "certs/tls.key"
client_ca = "certs/ca.pem"
max_body_bytes = {self.max_body}
public_url = "https://127.0.0.1:{self.https_port}"

[metrics]
endpoint = "tcp:{self.ops_port}:interface=127.0.0.1"

[amqp]
confirm_window = 256
reconnect_initial_delay = 0.2
reconnect_max_delay = 2.0
response_queue = "{q['responses']}"
parking_exchange = "t{s}.parking"
parking_queue = "{q['parked']}"
dead_letter_exchange = "t{s}.dlx"
dead_letter_queue = "{q['dead']}"

[[amqp.exchanges]]
name = "t{s}.clearance"
type = "topic"

[[amqp.exchanges]]
name = "t{s}.statistics"
type = "topic"

[[amqp.queues]]
name = "{q['cargo']}"
bindings = [{{ exchange = "t{s}.clearance", routing_key = "cargo.#" }}]

[[amqp.queues]]
name = "{q['declarations']}"
bindings = [{{ exchange = "t{s}.clearance", routing_key = "declaration.#" }}]

[[amqp.queues]]
name = "{q['census']}"
bindings = [{{ exchange = "t{s}.statistics", routing_key = "#" }}]

[[routes]]
name = "cargo-to-clearance"
message_type = ["CUSCAR", "BAPLIE", "COARRI", "CODECO", "IFTMIN", "IFCSUM", "CargoReport",
                "HouseConsignment", "AdvanceCargoInformation"]
exchange = "t{s}.clearance"
routing_key = "cargo.{{message_type}}.mode{{transport_mode}}"

[[routes]]
name = "declarations-to-clearance"
message_type = ["CUSDEC", "Declaration"]
exchange = "t{s}.clearance"
routing_key = "declaration.{{message_type}}"

[[routes]]
name = "declarations-to-census"
message_type = ["CUSDEC", "Declaration"]
exchange = "t{s}.statistics"
routing_key = "declaration.{{message_type}}.{{partner}}"

[[partners]]
id = "DEMO"
name = "Demo carrier"
api_key_sha256 = ["c48a01f49fd0f2cc404bc3cbbc80e91457a3d41bb429a695243de4c61794155c"]
document_types = ["CUSCAR", "CUSDEC", "BAPLIE", "COARRI", "CODECO", "IFTMIN", "IFCSUM",
                  "CargoReport", "HouseConsignmentBatch", "AdvanceCargoInformation",
                  "Declaration"]

[[partners]]
id = "DECLARANT"
name = "Declarations only"
# key: "declarant-key"
api_key_sha256 = ["{_sha('declarant-key')}"]
document_types = ["CUSDEC"]
client_certificates = ["CN=declarant-client,O=edigate tests"]
{self.extra}
"""
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(text)

    # -- process ------------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> None:
        if not self.config_path.exists():
            self.write_config()
        self.log_path = self.root / f"gateway-{int(time.time() * 1000)}.log"
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edigate.cli", "serve", "--config", str(self.config_path)],
            cwd=self.root, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _ = self.ops_get("/health/ready")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gateway not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:] if self.log_path else ""

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    # -- HTTP ---------------------------------------------------------------------------------

    def ssl_context(self, client_cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.root / "certs" / "ca.pem"))
        if client_cert is not None:
            ctx.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
        return ctx

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, key: str | None = DEMO_KEY,
                client_cert: tuple[Path, Path] | None = None,
                timeout: float = 60.0) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        conn = http.client.HTTPSConnection("127.0.0.1", self.https_port, timeout=timeout,
                                           context=self.ssl_context(client_cert))  # fmt: skip
        h = dict(headers or {})
        if key is not None:
            h.setdefault("X-API-Key", key)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def submit(self, payload: bytes, key: str | None = DEMO_KEY,
               content_type: str = "application/EDIFACT") -> tuple[int, dict[str, Any]]:
        status, _, body = self.request("POST", "/v1/submissions", payload,
                                       {"Content-Type": content_type}, key=key)  # fmt: skip
        return status, json.loads(body)

    def ops_get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.ops_port, timeout=5)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    # -- AMQP ---------------------------------------------------------------------------------

    def drain(self, queue: str, expect: int, timeout: float = 60.0,
              ) -> list[tuple[Any, bytes]]:  # fmt: skip
        """Read (and ack) messages from ``queue`` until ``expect`` arrived or time is up."""
        got: list[tuple[Any, bytes]] = []
        deadline = time.monotonic() + timeout
        with pika.BlockingConnection(AMQP) as conn:
            ch = conn.channel()
            while len(got) < expect and time.monotonic() < deadline:
                method, props, body = ch.basic_get(queue, auto_ack=True)
                if method is None:
                    time.sleep(0.05)
                    continue
                got.append((props, body))
        return got

    def queue_depth(self, queue: str) -> int:
        with pika.BlockingConnection(AMQP) as conn:
            return int(conn.channel().queue_declare(queue, passive=True).method.message_count)

    def publish_response(self, body: bytes, correlation_id: str, message_id: str) -> None:
        with pika.BlockingConnection(AMQP) as conn:
            ch = conn.channel()
            ch.confirm_delivery()
            ch.basic_publish("", self.queues["responses"], body, pika.BasicProperties(
                content_type="application/json", correlation_id=correlation_id,
                message_id=message_id, delivery_mode=2), mandatory=True)

    def cleanup_broker(self) -> None:
        try:
            with pika.BlockingConnection(AMQP) as conn:
                ch = conn.channel()
                for q in self.queues.values():
                    ch.queue_delete(q)
                for x in self.exchanges:
                    ch.exchange_delete(x)
        except pika.exceptions.AMQPError:
            pass


def _sha(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()


def running(root: Path, **kw: Any) -> Iterator[Gateway]:
    gw = Gateway(root, **kw)
    gw.write_config()
    try:
        gw.start()
        yield gw
    finally:
        gw.stop()
        gw.cleanup_broker()
