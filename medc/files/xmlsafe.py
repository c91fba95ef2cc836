"""Safe XML loading for untrusted input files: no DTD loading, no network, no entity expansion.

Real JATS/MEDLINE files only carry a DOCTYPE pointing at an external DTD that we never fetch.
A file that declares entities of its own (the "billion laughs" bomb, external-entity
file or URL reads) is refused as a whole, with the reason; its entities are never expanded.
"""

from __future__ import annotations

from lxml import etree


ENTITIES_REFUSED = "document declares its own entities (entity expansion / external entity attack refused)"
_ENTITY_ATTACK = ("amplification factor", "entity reference loop", "Detected an entity reference")


class UnsafeXMLError(ValueError):
    """The document declares entities or is otherwise refused before parsing."""


def parse_xml(data: bytes) -> etree._Element:
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
        remove_comments=True,
        remove_pis=True,
        recover=False,
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        if any(sign in str(exc) for sign in _ENTITY_ATTACK):  # libxml2's own limits stopped an expansion
            raise UnsafeXMLError(ENTITIES_REFUSED) from None
        raise ValueError(f"malformed XML: {exc}") from None
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and next(iter(dtd.iterentities()), None) is not None:
        raise UnsafeXMLError(ENTITIES_REFUSED)
    return root
