"""Hostile and malformed XML is refused with a reason, never expanded or fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

from medc.files.records import InputTooLarge, read_bytes
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
