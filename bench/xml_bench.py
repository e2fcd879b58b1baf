"""XML benchmark (a benchmark, not a test): validation with lxml (libxml2) and with xmlschema side
by side, validate + map throughput through the workers' own XML stage, and peak memory of a
large house-consignment batch streamed versus parsed whole.

    .venv/bin/python bench/xml_bench.py                    # 20,000-record batch (~24 MB)
    .venv/bin/python bench/xml_bench.py --records 100000   # the issue's 100,000 records

Figures are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).parent))
from edifact_bench import best_of

from edigate.pipeline.xml import XmlOutcome, xml_stream
from edigate.xmlsafe import XmlLimits, parse_untrusted
from edigate.xmlvalidate import load_schema, validate, validate_xmlschema
from edigate.xsd import EXAMPLES_DIR, XSD_DIR

CARGO = XSD_DIR / "cargo-report-1.xsd"


def batch(records: int) -> bytes:
    """The example batch with its first record repeated ``records`` times (sequence numbers
    1..n), the shape forwarders send."""
    data = (EXAMPLES_DIR / "house-consignment-batch.xml").read_bytes()
    start = data.index(b"  <HouseConsignment>")
    end = data.index(b"</HouseConsignmentBatch>")
    record = data[start:data.index(b"</HouseConsignment>", start) + len(b"</HouseConsignment>\n")]
    one, two = record.split(b"<SequenceNumeric>1</SequenceNumeric>")
    body = b"".join(b"%s<SequenceNumeric>%d</SequenceNumeric>%s" % (one, i, two)
                    for i in range(1, records + 1))  # fmt: skip
    return data[:start] + body + data[end:]


def stream(path: str, do_map: bool) -> int:
    n = 0
    for item in xml_stream(path, do_map=do_map):
        if isinstance(item, XmlOutcome):
            assert item.problem is None, item.reason
            n += 1
    return n


def _status_mb(field: str) -> float:
    """VmHWM (peak) or VmRSS (now) of this process, MB. Not ru_maxrss: Linux carries that over
    an exec from the forking parent, so a child would report the benchmark's own peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb() -> float:
    return _status_mb("VmHWM")


def child(mode: str, path: str) -> None:
    """Run one mode in a fresh process and print seconds and peak RSS."""
    base = _status_mb("VmRSS")  # after the imports
    t = time.perf_counter()
    if mode == "stream-map":
        n = stream(path, True)
    elif mode == "lazy-xmlschema":
        import xmlschema

        from edigate.xmlvalidate import xmlschema_compat

        xmlschema_compat()
        schema = xmlschema.XMLSchema(str(CARGO), allow="local")
        # xmlschema's own bounded-memory mode: the document read lazily, elements released
        resource = xmlschema.XMLResource(path, allow="local", defuse="always", lazy=True)
        n = sum(1 for _ in schema.iter_errors(resource))
    elif mode == "whole-lxml":
        data = Path(path).read_bytes()
        tree = parse_untrusted(data, XmlLimits(max_bytes=1 << 31, max_elements=1 << 31))
        n = len(validate(tree, load_schema(CARGO)))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(n, time.perf_counter() - t, _peak_rss_mb(), base)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--xmlschema-records", type=int, default=2_000,
                    help="xmlschema is pure Python: a smaller batch for it")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    print(f"python {sys.version.split()[0]}, lxml {etree.__version__} (libxml2 "
          f"{'.'.join(map(str, etree.LIBXML_VERSION))}), {os.cpu_count()} cores")  # fmt: skip

    # one document: parse + validate (+ map, through the workers' stage)
    sea = (EXAMPLES_DIR / "cargo-report-sea.xml").read_bytes()
    kb = len(sea) / 1e3
    n = 300
    t_lxml, _ = best_of(lambda: [validate(parse_untrusted(sea), load_schema(CARGO))
                                 for _ in range(n)], args.repeat)  # fmt: skip
    t_xs, _ = best_of(lambda: [validate_xmlschema(sea, CARGO) for _ in range(n // 10)],
                      args.repeat)  # fmt: skip
    t_full, _ = best_of(lambda: [list(xml_stream(sea)) for _ in range(n)], args.repeat)
    print(f"cargo-report-sea.xml ({kb:.1f} kB), one document at a time:")
    print(f"  parse + validate, lxml         {n / t_lxml:8.0f} docs/s  "
          f"{n * kb / 1e3 / t_lxml:6.2f} MB/s")  # fmt: skip
    print(f"  parse + validate, xmlschema    {n / 10 / t_xs:8.0f} docs/s  "
          f"{n / 10 * kb / 1e3 / t_xs:6.2f} MB/s")  # fmt: skip
    print(f"  parse + validate + map (lxml)  {n / t_full:8.0f} docs/s  "
          f"{n * kb / 1e3 / t_full:6.2f} MB/s")  # fmt: skip

    # a batch: lxml and xmlschema on the same (smaller) batch, whole
    small = batch(args.xmlschema_records)
    smb = len(small) / 1e6
    t_l, _ = best_of(lambda: validate(parse_untrusted(small, XmlLimits(max_bytes=1 << 31)),
                                      load_schema(CARGO)), args.repeat)  # fmt: skip
    t_x, _ = best_of(lambda: validate_xmlschema(small, CARGO), 1)
    print(f"batch of {args.xmlschema_records} records ({smb:.1f} MB), whole document:")
    print(f"  parse + validate, lxml         {args.xmlschema_records / t_l:8.0f} records/s  "
          f"{smb / t_l:6.2f} MB/s")  # fmt: skip
    print(f"  parse + validate, xmlschema    {args.xmlschema_records / t_x:8.0f} records/s  "
          f"{smb / t_x:6.2f} MB/s")  # fmt: skip

    # the large batch: streamed (validate + map per record) vs parsed whole, each in a child
    with tempfile.NamedTemporaryFile(suffix=".xml", delete=False) as fh:
        fh.write(batch(args.records))
        path = fh.name
    try:
        mb = os.path.getsize(path) / 1e6
        print(f"batch of {args.records} records ({mb:.1f} MB), separate processes:")
        for mode, label in (("stream-map", "streamed, validate + map"),
                            ("whole-lxml", "whole tree, validate only"),
                            ("lazy-xmlschema", "xmlschema lazy, validate only")):  # fmt: skip
            out = subprocess.run([sys.executable, __file__, "--child", mode, path], check=True,
                                 capture_output=True, text=True).stdout.split()  # fmt: skip
            n, secs, peak, base = int(out[0]), float(out[1]), float(out[2]), float(out[3])
            rate = f"{args.records / secs:8.0f} records/s  {mb / secs:6.2f} MB/s"
            print(f"  {label:30} {rate}  peak RSS {peak:.0f} MB (after imports {base:.0f} MB)"
                  + (f", {n} documents" if mode == "stream-map" else f", {n} errors"))
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
