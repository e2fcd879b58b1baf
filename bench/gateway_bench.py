"""Gateway benchmark: HTTPS submit → journal → workers → receipt → outbox → RabbitMQ → consumer.

Starts the real gateway process (its own config, unique queues) against the local RabbitMQ, then
offers one-message 3 KB CUSCAR interchanges at several loads (concurrent keep-alive HTTPS clients,
each paced to its share of the offered rate) and reports, per load:

- throughput (acknowledged submissions/s) and delivered messages/s;
- acknowledgement latency p50/p99 (POST sent → answer with CONTRL + receipt received);
- end-to-end latency p50/p99 (POST sent → the document consumed from the queue);
- CPU seconds of the gateway process tree per message.

``--xml`` offers the published 9 kB XML sea cargo report (one document) instead.

``--large MB`` adds the head-of-line test: one interchange of that size is submitted while small
submissions are offered; their acknowledgement p99 shows whether the reactor stalls.

    .venv/bin/python bench/gateway_bench.py --loads 100,200,400,max --seconds 10
    .venv/bin/python bench/gateway_bench.py --loads 50 --seconds 20 --large 100

Not a test: it measures; figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import pika

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from gen_cuscar import interchange, message  # noqa: E402

from tests.gateway_harness import AMQP, Gateway  # noqa: E402


def one_message(n: int, rnd: random.Random) -> bytes:
    ref = f"B{n:012d}"
    return (f"UNA:+.? 'UNB+UNOA:3+MSCU:ZZZ+HKCED:ZZZ+241123:0800+{ref}'\n" + message(1, rnd)
            + f"UNZ+1+{ref}'\n").encode("ascii")  # fmt: skip


SEA_XML = (HERE.parent / "xsd" / "examples" / "cargo-report-sea.xml").read_bytes()


def one_xml(n: int, rnd: random.Random) -> bytes:
    """The published sea cargo report (9 kB, one document) with its own reference, so no two
    submissions have the same digest."""
    return SEA_XML.replace(b"OOLU-HKG-2024-0312-041E", f"BENCH-{n:012d}".encode(), 1)


def ack_histogram(gw: Gateway) -> dict[float, float]:
    """Cumulative bucket counts of the gateway's own acknowledgement latency histogram."""
    _, body = gw.ops_get("/metrics")
    out: dict[float, float] = {}
    for line in body.decode().splitlines():
        if line.startswith('edigate_ack_latency_seconds_bucket{channel="https"'):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def server_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """Upper bound of the bucket holding the q-quantile of the acknowledgements in between
    (measured inside the gateway: receipt of the request to the answer written)."""
    total = after.get(float("inf"), 0) - before.get(float("inf"), 0)
    for le in sorted(after):
        if after[le] - before.get(le, 0) >= q * total:
            return le
    return float("inf")


def tree_cpu(pid: int) -> float:
    """utime+stime (s) of a process and its live descendants (the worker processes)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    pids += [int(c) for c in children]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError):
            pass
    return total


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Consumer(threading.Thread):
    """Consumes the cargo queue and records when each message_id arrived."""

    def __init__(self, queue: str) -> None:
        super().__init__(daemon=True)
        self.queue = queue
        self.arrived: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        conn = pika.BlockingConnection(AMQP)
        ch = conn.channel()
        ch.basic_qos(prefetch_count=500)
        for method, props, _ in ch.consume(self.queue, inactivity_timeout=0.2):
            if self.stop.is_set():
                break
            if method is None:
                continue
            self.arrived.setdefault(props.message_id, time.monotonic())
            ch.basic_ack(method.delivery_tag)
        ch.cancel()
        conn.close()


def run_load(gw: Gateway, rate: float | None, seconds: float, clients: int, start_n: int,
             xml: bool = False) -> tuple[list[tuple[str, float, float]], int]:  # fmt: skip
    """Offer ``rate`` submissions/s (None: as fast as possible) for ``seconds``; returns
    [(submission_id, sent, acked)] and the number of errors."""
    results: list[tuple[str, float, float]] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    counter = [start_n]

    def client(i: int) -> None:
        rnd = random.Random(i)
        conn = http.client.HTTPSConnection("127.0.0.1", gw.https_port, timeout=60,
                                           context=gw.ssl_context())  # fmt: skip
        interval = clients / rate if rate else 0.0
        next_at = time.monotonic() + rnd.random() * interval
        while True:
            now = time.monotonic()
            if now >= stop_at:
                break
            if interval and now < next_at:
                time.sleep(next_at - now)
            next_at += interval
            with lock:
                counter[0] += 1
                n = counter[0]
            body = one_xml(n, rnd) if xml else one_message(n, rnd)
            ctype = "application/xml" if xml else "application/EDIFACT"
            sent = time.monotonic()
            try:
                conn.request("POST", "/v1/submissions", body,
                             {"X-API-Key": "demo-key", "Content-Type": ctype})
                r = conn.getresponse()
                data = r.read()
                acked = time.monotonic()
                if r.status != 202:
                    errors[0] += 1
                    continue
                sid = json.loads(data)["submission_id"]
                with lock:
                    results.append((sid, sent, acked))
            except (OSError, http.client.HTTPException):
                errors[0] += 1
                conn.close()
                conn = http.client.HTTPSConnection("127.0.0.1", gw.https_port, timeout=60,
                                                   context=gw.ssl_context())  # fmt: skip
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--loads", default="100,200,400,max",
                    help="offered submissions/s, comma separated; 'max' = closed loop")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--large", type=float, default=0.0, help="MB of a concurrent large interchange")
    ap.add_argument("--xml", action="store_true",
                    help="submit the 9 kB XML sea cargo report instead of the 3 KB CUSCAR")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="edigate-bench-"))
    gw = Gateway(root, max_body=512 << 20,
                 extra="")  # the harness config, with the pipeline sized below
    gw.write_config()
    text = gw.config_path.read_text().replace("workers = 1\nlarge_workers = 1",
                                              f"workers = {args.workers}\nlarge_workers = 1")
    assert f"workers = {args.workers}" in text
    text = text.replace('log_level = "info"', 'log_level = "warning"')
    gw.config_path.write_text(text)
    gw.start()
    consumer = Consumer(gw.queues["cargo"])
    consumer.start()
    print(f"gateway pid {gw.proc.pid if gw.proc else '?'}, {args.workers} worker(s), "
          f"{args.clients} clients, {args.seconds:.0f} s per load")
    print(f"{'offered/s':>10} {'acked/s':>8} {'deliv/s':>8} {'ack p50':>8} {'ack p99':>8} "
          f"{'e2e p50':>8} {'e2e p99':>8} {'CPU ms/msg':>10} {'errors':>6}")
    n = 0
    large_thread = None
    try:
        # warm-up: worker processes, TLS sessions, SQLite pages
        run_load(gw, None, 2.0, 4, 10_000_000, args.xml)
        time.sleep(1.0)
        for load in args.loads.split(","):
            rate = None if load.strip() == "max" else float(load)
            if args.large:
                path = root / "large.edi"
                with path.open("w") as fh:
                    for part in interchange(None, args.large):
                        fh.write(part)
                big = path.read_bytes()

                def submit_large(big: bytes = big) -> None:
                    t0 = time.monotonic()
                    status, _, _ = gw.request("POST", "/v1/submissions", big,
                                              {"Content-Type": "application/EDIFACT"},
                                              timeout=900)  # fmt: skip
                    print(f"  large interchange ({len(big) / 1e6:.0f} MB): HTTP {status} after "
                          f"{time.monotonic() - t0:.1f} s")

                large_thread = threading.Thread(target=submit_large)
                large_thread.start()
                time.sleep(1.0)
            assert gw.proc is not None
            cpu0 = tree_cpu(gw.proc.pid)
            hist0 = ack_histogram(gw)
            t0 = time.monotonic()
            results, errors = run_load(gw, rate, args.seconds, args.clients, n, args.xml)
            elapsed = time.monotonic() - t0
            cpu = tree_cpu(gw.proc.pid) - cpu0
            hist = ack_histogram(gw)
            n += len(results) + errors + 1000
            deadline = time.monotonic() + 60
            ids = {f"{sid}-1" for sid, _, _ in results}
            while time.monotonic() < deadline and not ids <= consumer.arrived.keys():
                time.sleep(0.1)
            delivered = [consumer.arrived[i] for i in ids if i in consumer.arrived]
            acks = [a - s for _, s, a in results]
            e2e = [consumer.arrived[f"{sid}-1"] - s for sid, s, _ in results
                   if f"{sid}-1" in consumer.arrived]  # fmt: skip
            span = (max(delivered) - t0) if delivered else float("nan")
            print(f"{load:>10} {len(results) / elapsed:8.0f} {len(delivered) / span:8.0f} "
                  f"{pct(acks, .5) * 1e3:7.1f}ms {pct(acks, .99) * 1e3:7.1f}ms "
                  f"{pct(e2e, .5) * 1e3:7.1f}ms {pct(e2e, .99) * 1e3:7.1f}ms "
                  f"{cpu / max(1, len(results)) * 1e3:10.2f} {errors:6d}")
            if acks:
                print(f"{'':>10} ack mean {statistics.mean(acks) * 1e3:.1f} ms, "
                      f"{len(results)} acknowledged, {len(delivered)} delivered; inside the "
                      f"gateway: p50 <= {server_quantile(hist0, hist, .5) * 1e3:g} ms, "
                      f"p99 <= {server_quantile(hist0, hist, .99) * 1e3:g} ms")
            if large_thread is not None:
                large_thread.join()
                large_thread = None
    finally:
        consumer.stop.set()
        gw.stop()
        gw.cleanup_broker()


if __name__ == "__main__":
    main()
