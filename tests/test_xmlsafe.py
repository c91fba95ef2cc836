"""Hostile and malformed XML is refused with a reason, never expanded or fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders.medline import MedlineBuilder
from medc.files.records import InputTooLarge, read_bytes
from medc.ingest.builder import FileReport
from medc.files.xmlsafe import UnsafeXMLError, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE article [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<article><front><article-meta><title-group><article-title>&lol9;</article-title></title-group></article-meta></front><body><p>&lol9;</p></body></article>
"""


def xxe(target: Path) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE article [<!ENTITY secret SYSTEM "file://{target}">]>\n'
        "<article><body><p>&secret;</p></body></article>"
    ).encode()


def test_entity_bomb_refused() -> None:
    with pytest.raises(UnsafeXMLError, match="declares its own entities"):
        parse_xml(BILLION_LAUGHS)


def test_external_entity_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    with pytest.raises(UnsafeXMLError):
        parse_xml(xxe(secret))


def test_external_dtd_is_never_loaded() -> None:
    doc = b'<!DOCTYPE article PUBLIC "-//NLM//DTD JATS//EN" "http://127.0.0.1:9/none.dtd"><article><body><p>ok &#x003bb;</p></body></article>'
    root = parse_xml(doc)
    assert "".join(root.itertext()) == "ok \u03bb"


def test_malformed_xml_reason() -> None:
    with pytest.raises(ValueError, match="malformed XML"):
        parse_xml(b"<article><body><p>unclosed</body></article>")


def test_gzip_size_limit(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "big.xml.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"<a>" + b" " * 10_000 + b"</a>")
    assert len(read_bytes(path)) == 10_007
    with pytest.raises(InputTooLarge, match="larger than"):
        read_bytes(path, limit=1000)


# ---------------------------------------------------------------- the streamed reader (MEDLINE files)
def medline(records: str, doctype: str = "") -> bytes:
    return f'<?xml version="1.0"?>\n{doctype}<PubmedArticleSet>{records}</PubmedArticleSet>'.encode()


def article(pmid: int, abstract: str = "An abstract long enough to be a row of its own.") -> str:
    return (f"<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article><ArticleTitle>Title {pmid}</ArticleTitle>"
            f"<Abstract><AbstractText>{abstract}</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle>")


def medline_rows(path: Path) -> tuple[list[dict], FileReport]:
    report = FileReport(path.name)
    return list(MedlineBuilder("pubmed_abstracts", {}, path.parent).parse(path, report)), report


@pytest.mark.parametrize("doc", [
    BILLION_LAUGHS.replace(b"<article>", b"<PubmedArticleSet>" + article(1).encode() + b"<x>").replace(
        b"</article>", b"</x></PubmedArticleSet>").replace(b"DOCTYPE article", b"DOCTYPE PubmedArticleSet"),
    medline(article(1) + article(2, "&secret;"), '<!DOCTYPE PubmedArticleSet [<!ENTITY secret SYSTEM "file:///etc/hostname">]>'),
])
def test_streamed_file_declaring_entities_gives_nothing(doc: bytes, tmp_path: Path) -> None:
    """Refused whole, like parse_xml, though its first record was read before the DOCTYPE's
    entities were judged: nothing of it becomes a row or a count."""
    path = tmp_path / "pubmed25n0001.xml"
    path.write_bytes(doc)
    with pytest.raises(UnsafeXMLError, match="declares its own entities"):
        medline_rows(path)


def test_streamed_file_malformed_part_way_gives_nothing(tmp_path: Path) -> None:
    path = tmp_path / "pubmed25n0001.xml"
    path.write_bytes(medline(article(1) + article(2) + "<PubmedArticle><MedlineCitation>"))
    with pytest.raises(ValueError, match="malformed XML"):
        medline_rows(path)


def test_streamed_file_size_limit_and_gzip(tmp_path: Path) -> None:
    import gzip

    from medc.files.xmlsafe import StreamedXML

    path = tmp_path / "pubmed25n0001.xml.gz"
    path.write_bytes(gzip.compress(medline("".join(article(i) for i in range(1, 201)))))
    rows, report = medline_rows(path)
    assert [r["id"] for r in rows] == [f"pmid:{i}" for i in range(1, 201)] and report.records == 200
    with pytest.raises(InputTooLarge, match="larger than"):
        list(StreamedXML(path, ("PubmedArticle",), limit=5_000).elements())


def test_streamed_records_are_cleared_once_read(tmp_path: Path) -> None:
    """Memory holds about one record: when the reader moves on, the records before are gone
    from the tree (a baseline file's 30,000 records are never one tree; those after it may be
    parsed already, a chunk of the file ahead)."""
    from medc.files.xmlsafe import StreamedXML

    path = tmp_path / "pubmed25n0001.xml"
    path.write_bytes(medline("".join(article(i) for i in range(1, 51))))
    stream = StreamedXML(path, ("PubmedArticle", "MedlineCitation"), limit=1 << 20)
    seen = 0
    for el in stream.elements():
        if el.tag != "PubmedArticle":
            continue
        seen += 1
        assert el.findtext("MedlineCitation/PMID") == str(seen)  # its parts are intact while read
        before = el.getprevious()  # the record before is an empty shell, the ones before it gone
        assert before is None or (len(before) == 0 and before.getprevious() is None)
    assert seen == 50 and stream.root_tag == "PubmedArticleSet"
