"""Safe XML loading for untrusted input files: no DTD loading, no network, no entity expansion.

Real JATS/MEDLINE files only carry a DOCTYPE pointing at an external DTD that we never fetch.
A file that declares entities of its own (the "billion laughs" bomb, external-entity
file or URL reads) is refused as a whole, with the reason; its entities are never expanded.
Character names that such an external DTD would define (`&eacute;`, `&ndash;`, `&nbsp;`: the
HTML and ISO 8879 sets that JATS and XHTML use) are read as the characters they name: without
the DTD, lxml dropped them without a word where the file had a DOCTYPE ("Caf -helixtext"), and
refused the file where it had none.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from html.entities import html5
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from medc.files.records import InputTooLarge


ENTITIES_REFUSED = "document declares its own entities (entity expansion / external entity attack refused)"
_ENTITY_ATTACK = ("amplification factor", "entity reference loop", "Detected an entity reference")


# A reference to a named entity other than XML's own five.
_NAMED_REFERENCE = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos);)([A-Za-z][A-Za-z0-9]{1,31});")


def _as_number(m: re.Match[bytes]) -> bytes:
    chars = html5.get(m.group(1).decode("ascii") + ";")
    return "".join(f"&#{ord(c)};" for c in chars).encode("ascii") if chars else m.group(0)


def character_names_as_numbers(data: bytes) -> bytes:
    """`data` with each HTML / ISO character name (`&eacute;`) written as its numeric reference
    (`&#233;`); XML's own five and unknown names are left. Not inside a document with CDATA
    sections, where such text is literal (nor in UTF-16 documents, which the byte pattern misses)."""
    if _NAMED_REFERENCE.search(data) is None or b"<![CDATA[" in data:
        return data
    return _NAMED_REFERENCE.sub(_as_number, data)


class UnsafeXMLError(ValueError):
    """The document declares entities or is otherwise refused before parsing."""


def parse_xml(data: bytes, keep_comments: bool = False) -> etree._Element:
    """Parse untrusted XML bytes into an element tree; raise ValueError with a reason.

    Entities are never expanded and no DTD or URL is ever loaded; a document whose own
    DOCTYPE declares entities (the "billion laughs" bomb, external-entity reads) is refused
    whole, judged from the parser's own reading of the DOCTYPE, not from the bytes."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=not keep_comments,  # (kept only for a caller that reads them)
        remove_pis=True,
        recover=False,
    )
    try:
        root = etree.fromstring(character_names_as_numbers(data), parser=parser)
    except etree.XMLSyntaxError as exc:
        if any(sign in str(exc) for sign in _ENTITY_ATTACK):  # libxml2's own limits stopped an expansion
            raise UnsafeXMLError(ENTITIES_REFUSED) from None
        raise ValueError(f"malformed XML: {exc}") from None
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and next(iter(dtd.iterentities()), None) is not None:
        raise UnsafeXMLError(ENTITIES_REFUSED)
    return root


class StreamedXML:
    """An untrusted XML file read as a stream, element by element, with `parse_xml`'s safety
    (no DTD, network or entity expansion; a document declaring entities is refused whole).

    `elements()` yields every element whose tag is in `tags`, complete, in document order;
    once the caller moves on it is cleared, with the siblings before it, so that memory holds
    about one record, not the file's tree (a 300 MB PubMed baseline file is a ~1.5 GB tree).
    `.gz` is read transparently; more than `limit` decompressed bytes are refused. The reasons
    an unreadable file is refused are `parse_xml`'s, raised when the stream reaches the fault,
    or, for declared entities, once the whole file is read: callers hold what they build until
    `elements()` is exhausted, so that a refused file gives nothing. `root_tag` is the root
    element's tag (set once the first element is read)."""

    def __init__(self, path: Path, tags: tuple[str, ...], limit: int, keep_comments: bool = False):
        self.path = path
        self.tags = tags
        self.limit = limit
        self.keep_comments = keep_comments  # comments are dropped unless a caller reads them
        self.root_tag = ""

    def elements(self) -> Iterator[etree._Element]:
        with gzip.open(self.path, "rb") if self.path.name.endswith(".gz") else open(self.path, "rb") as raw:
            stream = _Capped(raw, self.limit)
            context = etree.iterparse(stream, events=("end",), tag=self.tags, resolve_entities=False, no_network=True,
                                      load_dtd=False, dtd_validation=False, huge_tree=False, remove_comments=not self.keep_comments,
                                      remove_pis=True, recover=False)
            try:
                for _, el in context:
                    self.root_tag = el.getroottree().getroot().tag
                    yield el
                    if el.getparent() is not None and el.getparent().tag not in self.tags:  # a record, not a part of one
                        el.clear(keep_tail=True)
                        while el.getprevious() is not None:
                            del el.getparent()[0]
            except etree.XMLSyntaxError as exc:
                if any(sign in str(exc) for sign in _ENTITY_ATTACK):
                    raise UnsafeXMLError(ENTITIES_REFUSED) from None
                raise ValueError(f"malformed XML: {exc}") from None
            root = context.root
            if root is None:  # (lxml sets it once the whole document is read)
                raise ValueError("malformed XML: no root element")
            self.root_tag = root.tag
            dtd = root.getroottree().docinfo.internalDTD
            if dtd is not None and next(iter(dtd.iterentities()), None) is not None:
                raise UnsafeXMLError(ENTITIES_REFUSED)


class _Capped:
    """A binary stream that refuses to be read past `limit` bytes."""

    def __init__(self, raw: BinaryIO, limit: int):
        self.raw = raw
        self.limit = limit
        self.total = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.total += len(data)
        if self.total > self.limit:
            raise InputTooLarge(f"document is larger than {self.limit} bytes")
        return data
