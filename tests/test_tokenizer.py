from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edigate.edifact.tokenizer import Tokenizer, TokenizerError

from .conftest import sample_files


def toks(data: bytes, chunk: int | None = None, **kw: int) -> list:
    t = Tokenizer(**kw)
    if chunk is None:
        return list(t.tokenize([data]))
    return list(t.tokenize(data[i : i + chunk] for i in range(0, len(data), chunk)))


def shape(segs: list) -> list:
    return [(s.tag, s.elements, s.repeats, s.offset, s.line, s.interchange, s.group,
             s.message, s.position) for s in segs]  # fmt: skip


SIMPLE = (
    b"UNA:+.? 'UNB+UNOC:3+SENDER:ZZ+RECIPIENT+240101:1200+REF1'"
    b"UNH+1+CUSCAR:D:95B:UN'BGM+85+MAN?+1?:A+9'FTX+AAA+++O?'NEILL ??X:A:'UNT+4+1'UNZ+1+REF1'"
)


def test_segments_elements_and_release_character() -> None:
    segs = toks(SIMPLE)
    assert [s.tag for s in segs] == ["UNB", "UNH", "BGM", "FTX", "UNT", "UNZ"]
    assert segs[0].elements == [["UNOC", "3"], ["SENDER", "ZZ"], ["RECIPIENT"],
                                ["240101", "1200"], ["REF1"]]  # fmt: skip
    # ?+ and ?: are data, not separators
    assert segs[2].elements == [["85"], ["MAN+1:A"], ["9"]]
    # ?' is data, ?? is a literal release character, trailing empty components are kept
    assert segs[3].elements == [["AAA"], [""], [""], ["O'NEILL ?X", "A", ""]]


def test_positions_interchange_message_segment() -> None:
    segs = toks(SIMPLE)
    assert [(s.interchange, s.message, s.position) for s in segs] == [
        (1, 0, 0), (1, 1, 1), (1, 1, 2), (1, 1, 3), (1, 1, 4), (1, 1, 0),
    ]  # fmt: skip
    assert segs[0].offset == 9  # after the UNA
    assert SIMPLE[segs[2].offset : segs[2].offset + 4] == b"BGM+"
    assert [s.number for s in segs] == [1, 2, 3, 4, 5, 6]


def test_whitespace_between_segments_bom_and_lines() -> None:
    data = b"\xef\xbb\xbf" + SIMPLE.replace(b"'", b"'\r\n\t").replace(b"?'\r\n\t", b"?'")
    segs = toks(data)
    assert [s.tag for s in segs] == ["UNB", "UNH", "BGM", "FTX", "UNT", "UNZ"]
    assert [s.line for s in segs] == [2, 3, 4, 5, 6, 7]
    assert data[segs[3].offset : segs[3].offset + 3] == b"FTX"
    assert segs[3].elements[3][0] == "O'NEILL ?X"


def test_several_interchanges_each_with_its_own_una_and_groups() -> None:
    second = (
        b"UNA|^,/ ~\nUNB^UNOA|2^A^B^240101|1200^R2~UNG^CUSCAR^A^B^240101|1200^G1^UN^D|95B~"
        b"UNH^7^CUSCAR|D|95B|UN~BGM^85^X/^Y~UNT^3^7~UNE^1^G1~UNZ^1^R2~"
    )
    segs = toks(SIMPLE + b"\n" + second)
    tags = [s.tag for s in segs]
    assert tags == ["UNB", "UNH", "BGM", "FTX", "UNT", "UNZ",
                    "UNB", "UNG", "UNH", "BGM", "UNT", "UNE", "UNZ"]  # fmt: skip
    bgm2 = segs[9]
    assert bgm2.elements == [["85"], ["X^Y"]]
    assert (bgm2.interchange, bgm2.group, bgm2.message, bgm2.position) == (2, 1, 1, 2)
    assert segs[6].elements[0] == ["UNOA", "2"]


def test_repetition_separator_syntax_4() -> None:
    data = (
        b"UNA:+.?*'UNB+UNOW:4+S+R+20240101:1200+R1'UNH+1+CUSDEC:D:01B:UN'"
        b"LOC+5+HKHKG*CNSZX:139:6+?*STAR'UNT+3+1'UNZ+1+R1'"
    )
    loc = toks(data)[2]
    assert loc.elements[1] == ["HKHKG"]
    assert loc.repeats == {1: [["HKHKG"], ["CNSZX", "139", "6"]]}
    assert loc.elements[2] == ["*STAR"]


def test_repetition_position_is_reserved_before_syntax_4() -> None:
    data = b"UNA:+.?*'UNB+UNOC:3+S+R+240101:1200+R1'UNH+1+X:D:95B:UN'FTX+A*B'UNT+3+1'UNZ+1+R1'"
    ftx = toks(data)[2]
    assert ftx.elements == [["A*B"]] and ftx.repeats is None


def test_level_b_information_separators_without_una() -> None:
    data = b"UNB\x1dUNOB\x1f3\x1dS\x1dR\x1d240101\x1f1200\x1dR1\x1cUNZ\x1d0\x1dR1\x1c"
    segs = toks(data)
    assert [s.tag for s in segs] == ["UNB", "UNZ"]
    assert segs[0].elements[0] == ["UNOB", "3"]


def test_utf8_interchange_decodes_unb_and_data_in_utf8() -> None:
    name = "香港貨運有限公司 Société"
    data = (
        "UNB+UNOW:4+" + name + "+R+20240101:1200+R1'UNH+1+X:D:01B:UN'NAD+CZ++" + name
        + "'UNT+3+1'UNZ+1+R1'"
    ).encode()
    segs = toks(data, chunk=5)
    assert segs[0].elements[1] == [name]
    assert segs[2].elements[2] == [name]


def test_segment_longer_than_the_limit_is_refused() -> None:
    data = b"UNB+UNOA:3+S+R+240101:1200+R1'FTX+" + b"A" * 5000 + b"'"
    with pytest.raises(TokenizerError) as err:
        toks(data, chunk=512, max_segment_bytes=1024)
    assert err.value.offset == data.index(b"FTX")


def test_unterminated_last_segment_is_reported() -> None:
    t = Tokenizer()
    segs = list(t.tokenize([b"UNB+UNOA:3+S+R+240101:1200+R1'UNZ+0+R1"]))
    assert segs[-1].tag == "UNZ" and segs[-1].elements == [["0"], ["R1"]]
    assert t.unterminated == (30, 1)


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_chunking_never_changes_the_result_on_samples(path) -> None:
    data = path.read_bytes()
    whole = shape(toks(data))
    assert whole
    for size in (1, 2, 3, 7, 64):
        assert shape(toks(data, chunk=size)) == whole


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30))
def test_any_chunk_boundaries_give_identical_segments(cuts: list[int]) -> None:
    data = b"\xef\xbb\xbf" + SIMPLE + b"\r\n" + SIMPLE.replace(b"REF1", b"REF2")
    chunks, i = [], 0
    for c in cuts:
        chunks.append(data[i : i + c])
        i += c
    chunks.append(data[i:])
    assert shape(list(Tokenizer().tokenize(chunks))) == shape(toks(data))
