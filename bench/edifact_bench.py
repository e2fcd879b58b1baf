"""EDIFACT engine benchmark (a benchmark, not a test): tokenizer vs pydifact, validation
throughput, peak memory on a large interchange.

    .venv/bin/python bench/edifact_bench.py                 # 2,000-message CUSCAR + 200 MB RSS run
    .venv/bin/python bench/edifact_bench.py --rss-megabytes 0   # skip the large-file run

Figures are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from gen_cuscar import interchange

from edigate.edifact.tokenizer import Tokenizer
from edigate.edifact.validator import EdifactValidator, InterchangeReport, MessageReport

CHUNK = 1 << 16


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def tokenize_only(data: bytes) -> int:
    tok = Tokenizer()
    n = 0
    for c in chunks(data):
        n += len(tok.feed(c))
    return n + len(tok.close())


def tokenize_all_components(data: bytes) -> int:
    n = 0
    for seg in Tokenizer().tokenize(chunks(data)):
        n += len(seg.elements)
    return n


def pydifact_parse(text: str) -> int:
    from pydifact.parser import Parser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # pydifact hands out UNA as a segment of its own; we do not count it.
        return sum(1 for s in Parser().parse(text) if s.tag != "UNA")


def validate(data: bytes) -> tuple[int, bool]:
    messages, valid = 0, True
    for r in EdifactValidator().validate(chunks(data)):
        if isinstance(r, MessageReport):
            messages += 1
        elif isinstance(r, InterchangeReport):
            valid &= r.valid
    return messages, valid


def validate_and_map(data: bytes) -> int:
    """Parse + validate + map every message to the canonical model, exactly as the pipeline's
    workers do (``message_stream``: one message's segments alive at a time)."""
    from edigate.pipeline.edifact import MessageOutcome, message_stream

    return sum(1 for m in message_stream(chunks(data))
               if isinstance(m, MessageOutcome) and m.doc is not None)  # fmt: skip


def map_only(data: bytes, interpret: bool, limit: int = 400) -> tuple[float, int]:
    """Mapping alone (tree + rules + model conversion) over the first ``limit`` messages,
    compiled or with the reference interpreter: seconds, messages."""
    from edigate.mappings.engine import map_message, mapping_for

    kept = []
    for r in EdifactValidator(keep_segments=True).validate(chunks(data)):
        if isinstance(r, MessageReport) and r.spec is not None and r.segments:
            kept.append((r.segments, r.spec, mapping_for(r.type, r.directory)))
            if len(kept) == limit:
                break
    start = time.perf_counter()
    for segments, spec, mapping in kept:
        map_message(segments, spec, mapping, interpret=interpret)
    return time.perf_counter() - start, len(kept)


def _timed_map(data: bytes) -> tuple[int, float]:
    start = time.perf_counter()
    n = validate_and_map(data)
    return n, time.perf_counter() - start


def _peak_rss_mb() -> float:
    """Peak RSS of this process image. VmHWM is reset by exec; ru_maxrss is not (on Linux a
    child started by a big parent would report the parent's peak)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(path: str) -> None:
    """Validate a file streamed from disk; print messages, validity, seconds, peak RSS (MB)."""
    t = time.perf_counter()
    messages, valid = 0, True
    with open(path, "rb") as fh:
        for r in EdifactValidator().validate(iter(lambda: fh.read(CHUNK), b"")):
            if isinstance(r, MessageReport):
                messages += 1
            elif isinstance(r, InterchangeReport):
                valid &= r.valid
    dt = time.perf_counter() - t
    peak = _peak_rss_mb()
    print(messages, valid, f"{dt:.2f}", f"{peak:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rss-megabytes", type=float, default=200)
    ap.add_argument("--processes", type=int, default=2,
                    help="also run tokenize + validate + map in this many processes at once")
    ap.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return

    data = "".join(interchange(args.messages, None)).encode("latin-1")
    mb = len(data) / 1e6
    print(f"CUSCAR D.95B interchange: {args.messages} messages, {mb:.2f} MB, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cores")  # fmt: skip

    # The machine's speed drifts between runs (shared host), so the three are measured
    # interleaved, round after round, and each ratio is the median of per-round ratios.
    rounds: list[tuple[float, float, float]] = []
    nseg = nseg_py = 0
    for _ in range(args.repeat):
        t_tok, nseg = best_of(lambda: tokenize_only(data), 1)
        t_full, _ = best_of(lambda: tokenize_all_components(data), 1)
        t_py, nseg_py = best_of(lambda: pydifact_parse(data.decode("latin-1")), 1)
        rounds.append((t_tok, t_full, t_py))
    assert nseg == nseg_py, (nseg, nseg_py)
    t_tok = min(r[0] for r in rounds)
    t_full = min(r[1] for r in rounds)
    t_py = min(r[2] for r in rounds)
    ratio_tok = statistics.median(r[2] / r[0] for r in rounds)
    ratio_full = statistics.median(r[2] / r[1] for r in rounds)
    print(f"segments: {nseg}; {args.repeat} interleaved rounds (best throughput, median ratio)")
    print(f"pydifact Parser.parse            {mb / t_py:8.2f} MB/s  {nseg / t_py:10.0f} seg/s")
    print(f"edigate tokenizer (elements)     {mb / t_tok:8.2f} MB/s  {nseg / t_tok:10.0f} seg/s"
          f"  = {ratio_tok:5.1f}x pydifact")  # fmt: skip
    print(f"edigate tokenizer (+components)  {mb / t_full:8.2f} MB/s  {nseg / t_full:10.0f} seg/s"
          f"  = {ratio_full:5.1f}x pydifact")  # fmt: skip

    t_val, (msgs, valid) = best_of(lambda: validate(data), args.repeat)  # type: ignore[misc]
    print(f"tokenize + validate              {mb / t_val:8.2f} MB/s  {msgs / t_val:10.0f} msg/s"
          f"  (valid={valid})")  # fmt: skip

    t_map, mapped = best_of(lambda: validate_and_map(data), args.repeat)
    print(f"tokenize + validate + map        {mb / t_map:8.2f} MB/s  {mapped / t_map:10.0f} msg/s"
          f"  ({mapped} canonical documents)")  # fmt: skip
    for label, interpret in (("compiled", False), ("interpreter", True)):
        t_only, n = min(map_only(data, interpret) for _ in range(args.repeat))
        print(f"map alone ({label:11})                        {n / t_only:10.0f} msg/s")
    if args.processes > 1:
        # the same work in N processes at once, as the gateway's workers do it: the aggregate
        with ProcessPoolExecutor(args.processes) as pool:
            list(pool.map(_timed_map, [data] * args.processes))  # warm: directories, mappings
            runs = list(pool.map(_timed_map, [data] * args.processes))
        wall = max(t for _, t in runs)
        total = sum(n for n, _ in runs) / wall
        print(f"tokenize + validate + map, {args.processes} processes "
              f"{mb * args.processes / wall:8.2f} MB/s  {total:10.0f} msg/s  (all together)")

    if args.rss_megabytes:
        with tempfile.NamedTemporaryFile("w", suffix=".edi", delete=False,
                                         encoding="latin-1") as fh:  # fmt: skip
            for part in interchange(None, args.rss_megabytes, seed=7):
                fh.write(part)
            path = fh.name
        try:
            size = os.path.getsize(path) / 1e6
            out = subprocess.run([sys.executable, __file__, "--rss-child", path],
                                 check=True, capture_output=True, text=True).stdout.split()
            msgs, valid, secs, peak = int(out[0]), out[1], float(out[2]), float(out[3])
            print(f"large interchange: {size:.0f} MB, {msgs} messages, valid={valid}, "
                  f"{secs:.1f} s ({size / secs:.2f} MB/s), peak RSS {peak:.0f} MB")  # fmt: skip
        finally:
            os.unlink(path)


if __name__ == "__main__":
    main()
