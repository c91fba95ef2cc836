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


def epub_chapters(path: Path) -> tuple[str, list[Chapter]]:
    """(title, chapters) of an EPUB: its XHTML documents in spine order; each with a heading
    starts a chapter."""
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
        manifest = {item.get("id"): item.get("href") for item in opf.iter("{*}item")}
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
            if doc is None:
                continue
            heading, blocks = "", []
            for el in doc.iter("{*}h1", "{*}h2", "{*}h3", "{*}h4", "{*}p", "{*}li"):
                tag = local_name(el)
                text = inline_text(el)
                if not text:
                    continue
                if tag in ("h1", "h2") and not heading:
                    heading = text
                elif tag.startswith("h"):
                    blocks.append(f"{'#' * (int(tag[1]) + 1)} {text}")
                elif tag == "li":
                    blocks.append(f"- {text}")
                else:
                    blocks.append(text)
            if heading or not chapters:
                chapters.append((heading, blocks))
            else:
                chapters[-1][1].extend(blocks)
    return title, chapters
