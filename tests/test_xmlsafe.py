"""Hostile XML is refused with its code, quickly, without touching files or the network."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from edigate.xmlsafe import CODES, XmlLimits, XmlRejected, parse_untrusted

from .conftest import REPO


def billion_laughs(levels: int = 10) -> bytes:
    ents = [b'<!ENTITY l0 "lol">']
    ents += [b'<!ENTITY l%d "%s">' % (i, (b"&l%d;" % (i - 1)) * 10) for i in range(1, levels)]
    return (b'<?xml version="1.0"?><!DOCTYPE r [' + b"".join(ents) + b"]><r>&l%d;</r>"
            % (levels - 1))  # fmt: skip


def rejected(data: bytes, limits: XmlLimits | None = None) -> XmlRejected:
    """Refused, and fast: expanding the billion laughs would take GBs and many seconds (libxml2
    allocates outside Python, so time is the measurable bound here)."""
    started = time.perf_counter()
    with pytest.raises(XmlRejected) as info:
        parse_untrusted(data, limits)
    assert time.perf_counter() - started < 0.5
    return info.value


def test_a_plain_document_parses() -> None:
    tree = parse_untrusted(b'<?xml version="1.0" encoding="UTF-8"?>\n<c:Report xmlns:c="urn:x">'
                           b"<c:Ref>A&amp;B</c:Ref></c:Report>")
    assert tree.getroot().tag == "{urn:x}Report"
    assert tree.getroot()[0].text == "A&B" and tree.getroot()[0].sourceline == 2


@pytest.mark.parametrize("name,data", [
    ("billion laughs", billion_laughs()),
    ("quadratic blow-up", b'<!DOCTYPE a [<!ENTITY x "' + b"X" * 100_000 + b'">]><a>'
     + b"&x;" * 100_000 + b"</a>"),
    ("external entity (file)", b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'),
    ("external DTD", b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>'),
    ("parameter entity", b'<!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><a/>'),
    ("harmless doctype", b"<!DOCTYPE a><a/>"),
])
def test_every_doctype_is_refused(name: str, data: bytes) -> None:
    err = rejected(data)
    assert err.code == "EDG-X001", (name, err)
    assert "root:" not in str(err)  # /etc/passwd was never read into anything


def test_no_network_access_is_attempted() -> None:
    """External entities and DTDs pointing at a listening socket: nobody connects."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    connected: list[object] = []

    def accept() -> None:
        with contextlib.suppress(OSError):  # the timeout: nobody came
            connected.append(server.accept())

    t = threading.Thread(target=accept)
    t.start()
    for data in (b'<!DOCTYPE a SYSTEM "http://127.0.0.1:%d/a.dtd"><a/>' % port,
                 b'<!DOCTYPE a [<!ENTITY x SYSTEM "http://127.0.0.1:%d/x">]><a>&x;</a>' % port,
                 b'<a xmlns:xi="http://www.w3.org/2001/XInclude">'
                 b'<xi:include href="http://127.0.0.1:%d/x"/></a>' % port):
        with pytest.raises(XmlRejected):
            parse_untrusted(data)
    t.join()
    server.close()
    assert connected == []


def test_xinclude_is_refused() -> None:
    err = rejected(b'<a xmlns:xi="http://www.w3.org/2001/XInclude">\n'
                   b'<xi:include href="/etc/passwd" parse="text"/></a>')
    assert err.code == "EDG-X004" and err.line == 2


def test_depth_and_size_limits() -> None:
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    err = rejected(deep)
    assert err.code == "EDG-X003"
    assert parse_untrusted(b"<a>" * 64 + b"</a>" * 64).getroot().tag == "a"
    assert rejected(b"<a>" * 65 + b"</a>" * 65).code == "EDG-X003"
    assert rejected(b"<a>" + b"x" * 2000 + b"</a>", XmlLimits(max_bytes=1000)).code == "EDG-X005"


@pytest.mark.parametrize("data,code,line,column", [
    (b"<a>\n  <b></a>", "EDG-X002", 2, 10),  # libxml2 stops after "</a>"
    (b"<a>&nope;</a>", "EDG-X002", 1, 10),
    (b"", "EDG-X002", 0, 0),
    (b'<?xml version="1.0" encoding="UTF-8"?><a>\xff</a>', "EDG-X006", 1, None),
    (b'<?xml version="1.0" encoding="X-NOT-AN-ENCODING"?><a/>', "EDG-X006", 1, None),
])
def test_malformed_documents_have_positions(data: bytes, code: str, line: int,
                                            column: int | None) -> None:  # fmt: skip
    err = rejected(data)
    assert (err.code, err.line) == (code, line), err
    if column is not None:
        assert err.column == column, err


def test_codes_are_documented() -> None:
    docs = (REPO / "docs" / "errors.md").read_text()
    assert all(f"| {code} |" in docs for code in CODES)


def test_element_count_limit() -> None:
    from edigate.xmlsafe import XmlLimits

    data = b"<r>" + b"<a/>" * 101 + b"</r>"
    with pytest.raises(XmlRejected) as caught:
        parse_untrusted(data, XmlLimits(max_elements=100))
    assert caught.value.code == "EDG-X005" and "more than 100 elements" in caught.value.text
    assert len(parse_untrusted(data, XmlLimits(max_elements=102)).getroot()) == 101
