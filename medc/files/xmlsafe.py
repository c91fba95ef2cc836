"""Safe XML loading for untrusted input files: no DTD loading, no network, no entity expansion.

Real JATS/MEDLINE files only carry a DOCTYPE pointing at an external DTD that we never fetch.
A file that declares entities of its own (the "billion laughs" bomb, external-entity
file or URL reads) is refused as a whole, with the reason, before it is parsed.
"""

from __future__ import annotations

from lxml import etree


class UnsafeXMLError(ValueError):
    """The document declares entities or is otherwise refused before parsing."""


def _prolog(data: bytes) -> bytes:
    """The bytes before the root element (XML declaration, comments, DOCTYPE with subset)."""
    i = 0
    n = len(data)
    while i < n:
        j = data.find(b"<", i)
        if j < 0 or j + 1 >= n:
            return data
        nxt = data[j + 1 : j + 2]
        if nxt == b"?":
            end = data.find(b"?>", j)
        elif data.startswith(b"<!--", j):
            end = data.find(b"-->", j)
        elif nxt == b"!":
            # DOCTYPE: may hold an internal subset in [ ... ]
            close_bracket = data.find(b"]", j)
            gt = data.find(b">", j)
            lb = data.find(b"[", j)
            end = close_bracket if 0 <= lb < gt and close_bracket >= 0 else gt
        else:
            return data[:j]
        if end < 0:
            return data
        i = end + 1
    return data


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted XML bytes into an element tree; raise ValueError with a reason."""
    if b"<!ENTITY" in _prolog(data):
        raise UnsafeXMLError("document declares its own entities (entity expansion / external entity attack refused)")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=False,
    )
    try:
        return etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"malformed XML: {exc}") from None
