"""EPUB books: the XHTML documents in spine order, headings, paragraphs and list items."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from lxml import etree

from builders.textbooks.chapters import Chapter, inline_text, local_name
from medc.files.xmlsafe import parse_xml
from medc.text.normalize import collapse_spaces


MAX_MEMBER_BYTES = 64 << 20  # an XHTML chapter larger than this is refused (a zip bomb, not a book)


def read_member(zf: zipfile.ZipFile, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """A member's bytes, refused above `limit` whatever its header claims (read at most limit + 1)."""
    if zf.getinfo(name).file_size > limit:
        raise ValueError(f"EPUB member {name} is larger than {limit} bytes")
    with zf.open(name) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"EPUB member {name} is larger than {limit} bytes")
    return data


HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


def document_chapters(doc: etree._Element) -> list[Chapter]:
    """The chapters of one XHTML document: each heading at the document's top heading level
    starts one (a file may hold several chapters: "Chapter 2" is never a section of chapter 1);
    deeper headings become sections, `##` for the level below the top. Text before the first
    heading is a chapter without a heading (it continues the book's previous chapter)."""
    elements = [el for el in doc.iter("{*}h1", "{*}h2", "{*}h3", "{*}h4", "{*}h5", "{*}h6", "{*}p", "{*}li")]
    levels = [int(local_name(el)[1]) for el in elements if local_name(el) in HEADINGS and inline_text(el)]
    top = min(levels, default=1)
    chapters: list[Chapter] = [("", [])]
    for el in elements:
        tag = local_name(el)
        text = inline_text(el)
        if not text:
            continue
        if tag in HEADINGS and int(tag[1]) == top:
            chapters.append((text, []))
        elif tag in HEADINGS:
            chapters[-1][1].append(f"{'#' * min(int(tag[1]) - top + 1, 6)} {text}")
        elif tag == "li":
            chapters[-1][1].append(f"- {text}")
        else:
            chapters[-1][1].append(text)
    return [c for i, c in enumerate(chapters) if i or c[1]]


def epub_chapters(path: Path) -> tuple[str, list[Chapter], str]:
    """(title, chapters, rights) of an EPUB: its XHTML documents in spine order, cut into
    chapters at their top-level headings (navigation documents, the EPUB 3 `nav` table of
    contents, are not text), and its `dc:rights` statement ("" when it has none)."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not an EPUB (zip) file: {exc}") from None
    with zf:
        try:
            container = parse_xml(read_member(zf, "META-INF/container.xml"))
        except KeyError:
            raise ValueError("EPUB without META-INF/container.xml") from None
        rootfile = next((e.get("full-path") for e in container.iter("{*}rootfile")), None)
        if not rootfile:
            raise ValueError("EPUB container names no rootfile")
        opf = parse_xml(read_member(zf, rootfile))
        base = PurePosixPath(rootfile).parent
        title = collapse_spaces("".join(next(opf.iter("{http://purl.org/dc/elements/1.1/}title")).itertext())) \
            if next(opf.iter("{http://purl.org/dc/elements/1.1/}title"), None) is not None else path.stem
        rights = " ".join(collapse_spaces("".join(r.itertext())) for r in opf.iter("{http://purl.org/dc/elements/1.1/}rights"))
        manifest = {item.get("id"): item.get("href") for item in opf.iter("{*}item")
                    if "nav" not in (item.get("properties") or "").split()}
        chapters: list[Chapter] = []
        for ref in opf.iter("{*}itemref"):
            href = manifest.get(ref.get("idref"))
            if not href:
                continue
            name = str(base / href) if str(base) != "." else href
            if ".." in PurePosixPath(name).parts:
                continue
            try:
                doc = etree.fromstring(read_member(zf, name), etree.XMLParser(resolve_entities=False, no_network=True, recover=True))
            except KeyError:
                continue
            if doc is None or any(nav.get("{http://www.idpf.org/2007/ops}type") == "toc" for nav in doc.iter("{*}nav")):
                continue
            for heading, blocks in document_chapters(doc):
                if heading or not chapters:
                    chapters.append((heading, blocks))
                else:
                    chapters[-1][1].extend(blocks)
    return title, chapters, rights
