"""Streaming batches record by record: positions, header access, bounded memory, the xmlsafe
policy while streaming, per-record schema findings."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from edigate.xmlsafe import XmlLimits, XmlRejected
from edigate.xmlstream import Record, header_of, stream_records
from edigate.xmlvalidate import XmlFinding, load_schema

NS = "urn:t:batch"
REC = f"{{{NS}}}Rec"
N = {"b": NS}

SCHEMA_GLOBAL = f"""<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{NS}" xmlns="{NS}"
           elementFormDefault="qualified">
  <xs:element name="Batch"><xs:complexType><xs:sequence>
    <xs:element name="Header"><xs:complexType><xs:sequence>
      <xs:element name="Ref" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
    <xs:element ref="Rec" maxOccurs="unbounded"/>
  </xs:sequence></xs:complexType></xs:element>
  <xs:element name="Rec" type="RecType"/>
  <xs:complexType name="RecType">
    <xs:sequence>
      <xs:element name="Kind"><xs:simpleType><xs:restriction base="xs:string">
        <xs:enumeration value="A"/><xs:enumeration value="B"/>
      </xs:restriction></xs:simpleType></xs:element>
      <xs:element name="Mass" type="xs:decimal"/>
    </xs:sequence>
    <xs:attribute name="seq" type="xs:positiveInteger" use="required"/>
  </xs:complexType>
</xs:schema>
"""
# the same with the record declared locally: validated through a skeleton document
SCHEMA_LOCAL = SCHEMA_GLOBAL.replace('<xs:element ref="Rec" maxOccurs="unbounded"/>',
                                     '<xs:element name="Rec" type="RecType" '
                                     'maxOccurs="unbounded"/>') \
    .replace('<xs:element name="Rec" type="RecType"/>\n', "")  # fmt: skip


def record(i: int, kind: str = "A", mass: str = "1.5") -> bytes:
    return b'  <b:Rec seq="%d"><b:Kind>%s</b:Kind><b:Mass>%s</b:Mass></b:Rec>\n' % (
        i, kind.encode(), mass.encode())


def batch(n: int, *, bad: dict[int, bytes] | None = None) -> bytes:
    """Line 1 declaration, 2 root, 3 header, record i on line 3 + i."""
    bad = bad or {}
    recs = b"".join(bad.get(i, record(i)) for i in range(1, n + 1))
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n<b:Batch xmlns:b="' + NS.encode() + b'">\n'
            b"  <b:Header><b:Ref>BATCH-7</b:Ref></b:Header>\n" + recs + b"</b:Batch>\n")


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("xsd")
    (d / "global.xsd").write_text(SCHEMA_GLOBAL)
    (d / "local.xsd").write_text(SCHEMA_LOCAL)
    return {"global": d / "global.xsd", "local": d / "local.xsd"}


def test_records_indices_lines_and_header_during_iteration(tmp_path: Path) -> None:
    path = tmp_path / "batch.xml"
    path.write_bytes(batch(2000))
    previous: Record | None = None
    seen = 0
    for rec in stream_records(path, REC):
        seen += 1
        assert (rec.index, rec.line, rec.xpath) == (seen, 3 + seen, f"/Batch/Rec[{seen}]")
        assert rec.element.get("seq") == str(seen) and rec.findings == [] and rec.valid
        # absolute XPaths reach the header from the record while it is being mapped
        assert rec.element.xpath("string(/b:Batch/b:Header/b:Ref)", namespaces=N) == "BATCH-7"
        assert header_of(rec) is rec.root and rec.root.tag == f"{{{NS}}}Batch"
        if previous is not None:  # consumed: cleared and detached
            assert previous.element.getparent() is None and len(previous.element) == 0
        previous = rec
    assert seen == 2000


def test_sources_file_object_bytes_and_nested_records() -> None:
    data = batch(3)
    assert [r.index for r in stream_records(io.BytesIO(data), REC)] == [1, 2, 3]
    nested = (b'<x:A xmlns:x="urn:x"><x:H/><x:List><x:R><x:R>inner</x:R></x:R><x:R/></x:List>'
              b"</x:A>")
    recs = [(r.index, r.xpath, len(r.element)) for r in stream_records(nested, "{urn:x}R")]
    assert recs == [(1, "/A/List/R[1]", 1), (2, "/A/List/R[2]", 0)]


def test_a_document_without_records_yields_nothing() -> None:
    assert list(stream_records(b"<a><b/></a>", "{urn:x}R")) == []


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_memory_stays_bounded_for_100000_records(tmp_path: Path) -> None:
    """100,000 records (about 7 MB): streaming's resident memory grows by a small, constant
    amount, far below what the whole tree costs (libxml2 allocates outside Python, so RSS is
    measured, not tracemalloc)."""
    path = tmp_path / "big.xml"
    with open(path, "wb") as f:
        f.write(batch(0).replace(b"</b:Batch>\n", b""))
        for i in range(1, 100_001):
            f.write(record(i))
        f.write(b"</b:Batch>\n")
    before = _rss()
    peak = before
    count = 0
    started = time.perf_counter()
    for rec in stream_records(path, REC):
        count += 1
        if count % 1000 == 0:
            peak = max(peak, _rss())
        assert rec.index == count
    elapsed = time.perf_counter() - started
    stream_growth = peak - before
    tree = etree.parse(str(path))
    whole_growth = _rss() - before
    assert count == 100_000 and len(tree.getroot()) == 100_001
    print(f"\n{os.path.getsize(path)} bytes, {count} records in {elapsed:.2f}s: streaming RSS "
          f"+{stream_growth >> 10} KiB, whole tree +{whole_growth >> 10} KiB")
    assert stream_growth < 8 << 20
    assert stream_growth * 5 < whole_growth


def test_schema_invalid_record_reported_with_its_position(schemas: dict[str, Path]) -> None:
    data = batch(1200, bad={
        700: b'  <b:Rec seq="700"><b:Kind>C</b:Kind><b:Mass>x</b:Mass></b:Rec>\n',
        900: b'  <b:Rec><b:Mass>1</b:Mass></b:Rec>\n',
    })  # fmt: skip
    for kind in ("global", "local"):
        results = {r.index: r.findings for r in stream_records(data, REC, schema=schemas[kind])}
        assert len(results) == 1200
        assert {i for i, f in results.items() if f} == {700, 900}, kind
        assert results[700] == [
            XmlFinding("EDG-X102", "Kind: 'C' is not one of the allowed values 'A', 'B'", 703, 20,
                       "/Batch/Rec[700]/Kind"),
            XmlFinding("EDG-X102", "Mass: 'x' is not a valid decimal number", 703, 38,
                       "/Batch/Rec[700]/Mass"),
        ], kind  # fmt: skip
        assert results[900] == [
            XmlFinding("EDG-X103", "Rec: the required attribute seq is missing", 903, 3,
                       "/Batch/Rec[900]/@seq"),
            XmlFinding("EDG-X101", "Mass is not expected here; expected: Kind", 903, 10,
                       "/Batch/Rec[900]/Mass"),
        ], kind  # fmt: skip
    line = data.splitlines()[702].decode()
    assert line[19:].startswith("<b:Kind>C") and line[37:].startswith("<b:Mass>x")


def test_compiled_schema_accepted_and_findings_capped(schemas: dict[str, Path]) -> None:
    bad = b'  <b:Rec seq="0" x="1"><b:Kind>Z</b:Kind><b:Mass>q</b:Mass></b:Rec>\n'
    data = batch(3, bad={2: bad})
    recs = list(stream_records(data, REC, schema=load_schema(schemas["global"]), max_findings=2))
    assert [len(r.findings) for r in recs] == [0, 2, 0]


def test_lxml_iterparse_schema_is_not_usable_for_positions(schemas: dict[str, Path]) -> None:
    """Why records are validated one by one: lxml's own streaming validation reports the error
    only after the whole document was read, without line or path (re-check on lxml upgrades)."""
    data = batch(50, bad={10: record(10, kind="C")})
    schema = load_schema(schemas["global"])
    seen = 0
    with pytest.raises(etree.XMLSyntaxError) as info:
        for _, element in etree.iterparse(io.BytesIO(data), tag=REC, schema=schema):
            seen += 1
            element.clear()
    assert seen == 50
    assert info.value.error_log.last_error.line == 0


# ---------------------------------------------------------------------------------------------
# hostile input while streaming


def consume(source: object, limits: XmlLimits | None = None) -> tuple[int, XmlRejected]:
    seen = 0
    started = time.perf_counter()
    with pytest.raises(XmlRejected) as info:
        for _ in stream_records(source, REC, limits=limits):  # type: ignore[arg-type]
            seen += 1
    assert time.perf_counter() - started < 2
    return seen, info.value


def test_doctype_with_entities_refused_before_any_record() -> None:
    ents = b'<!ENTITY l0 "lol">' + b"".join(
        b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, 10))
    data = batch(5).replace(b"<b:Batch", b"<!DOCTYPE b:Batch [" + ents + b"]>\n<b:Batch", 1) \
        .replace(b"BATCH-7", b"&l9;")  # fmt: skip
    seen, err = consume(data)
    assert (seen, err.code, err.line) == (0, "EDG-X001", 2)
    seen, err = consume(b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>')
    assert (seen, err.code) == (0, "EDG-X001")


def test_deep_nesting_refused_with_its_line() -> None:
    deep = b"<d>" * 100 + b"</d>" * 100
    data = batch(3, bad={2: b'  <b:Rec seq="2">\n' + deep + b"</b:Rec>\n"})
    seen, err = consume(data)
    assert (seen, err.code, err.line) == (1, "EDG-X003", 6)


def test_oversized_stream_refused_without_reading_it_all() -> None:
    class Endless:
        """A batch that never ends."""

        def __init__(self) -> None:
            self.read_bytes = 0
            self.head = batch(0).replace(b"</b:Batch>\n", b"")

        def read(self, size: int) -> bytes:
            chunk = self.head or b"".join(record(i) for i in range(1, 400))[:size]
            self.head = b""
            self.read_bytes += len(chunk)
            return chunk

    source = Endless()
    seen, err = consume(source, XmlLimits(max_bytes=1 << 20))
    assert err.code == "EDG-X005" and err.line > 1
    assert 0 < seen < 20_000 and source.read_bytes < (1 << 20) + 65536 * 2


def test_bad_encoding_and_malformed_input_have_codes_and_positions() -> None:
    data = batch(3, bad={2: record(2, mass="\xe9").replace(b"\xc3\xa9", b"\xe9")})
    seen, err = consume(data)
    assert (err.code, err.line) == ("EDG-X006", 5) and err.column > 0
    seen, err = consume(b'<?xml version="1.0" encoding="x-nonsense"?><a/>')
    assert err.code == "EDG-X006"
    seen, err = consume(batch(3000).replace(b"</b:Batch>", b"</b:Batsch>"))
    # records before the fault were yielded (libxml2 reads ahead, so not all of them): the caller
    # rejects the batch as a whole
    assert 0 < seen < 3000 and (err.code, err.line, err.column) == ("EDG-X002", 3004, 12)
    seen, err = consume(b"")
    assert err.code == "EDG-X002"


def test_xinclude_refused() -> None:
    _, err = consume(b'<a xmlns:xi="http://www.w3.org/2001/XInclude">'
                        b'<xi:include href="/etc/passwd"/></a>')
    assert err.code == "EDG-X004"


def test_stopping_early_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "b.xml"
    path.write_bytes(batch(10))
    it: Iterator[Record] = stream_records(path, REC)
    assert next(it).index == 1
    it.close()  # the generator's cleanup ran: the file object is closed
    assert list(stream_records(path, REC))[-1].index == 10


BATCH_EXAMPLE = Path(__file__).resolve().parents[1] / "xsd" / "examples" \
    / "house-consignment-batch.xml"


@pytest.mark.skipif(not BATCH_EXAMPLE.exists(), reason="no house consignment batch example yet")
def test_published_batch_streamed_with_its_schema() -> None:
    from edigate import xsd

    text = BATCH_EXAMPLE.read_text()
    root_tag = etree.fromstring(text.encode()).tag
    record_tag = xsd.RECORDS[root_tag]
    start = text.index("<HouseConsignment>")
    end = text.index("</HouseConsignment>") + len("</HouseConsignment>")
    first = text[start:end]
    close = text.rindex("</HouseConsignmentBatch>")
    copies = [first.replace("<SequenceNumeric>1<", f"<SequenceNumeric>{i}<")
              for i in range(1, 2001)]
    copies[1499] = copies[1499].replace("<SequenceNumeric>1500<", "<SequenceNumeric>x<")
    big = (text[:start] + "\n  ".join(copies) + "\n" + text[close:]).encode()
    bad_line = big.decode().index("<SequenceNumeric>x<")
    bad_line = big.decode()[:bad_line].count("\n") + 1
    ns = {"b": xsd.CARGO_REPORT_NS, "c": xsd.COMMON_NS}
    results = {}
    for rec in stream_records(big, record_tag, schema=xsd.schema_path(root_tag)):
        assert rec.element.xpath("string(/b:HouseConsignmentBatch/b:Header/c:ID)",
                                 namespaces=ns)  # fmt: skip
        results[rec.index] = rec.findings
    assert len(results) == 2000
    assert [i for i, f in results.items() if f] == [1500]
    finding = results[1500][0]
    assert (finding.code, finding.line) == ("EDG-X102", bad_line)
    assert finding.xpath == "/HouseConsignmentBatch/HouseConsignment[1500]/SequenceNumeric"
