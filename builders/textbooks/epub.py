"""EPUB books: the XHTML documents in spine order, headings, paragraphs and list items."""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from lxml import etree

from builders.textbooks.chapters import Chapter, inline_text, local_name
from medc.files.xmlsafe import character_names_as_numbers, parse_xml
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
EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"
# A table-of-contents entry is a part's title page ("Part I. Core"), whose entries are the book's
# chapters, when its own document holds fewer words than this and it is named a part, or the
# entries under it have entries of their own (chapters with sections).
PART_PAGE_WORDS = 150
PART_TITLE = re.compile(r"^(part|unit|book|volume)\b", re.IGNORECASE)

Piece = tuple[str, list[str], set[str]]  # (heading, blocks, ids that point at its heading)
TocEntry = tuple[str, str | None, str, list["TocEntry"]]  # (document, fragment, title, entries under it)


def document_pieces(doc: etree._Element) -> list[Piece]:
    """One XHTML document cut at its top heading level: each heading at the document's top
    level starts a piece; deeper headings become sections, `##` for the level below the top.
    Text before the first heading is a piece without a heading. Each piece carries the ids a
    table of contents may point at: its heading's, and its heading's parent's (a `section`)."""
    elements = [el for el in doc.iter("{*}h1", "{*}h2", "{*}h3", "{*}h4", "{*}h5", "{*}h6", "{*}p", "{*}li")]
    levels = [int(local_name(el)[1]) for el in elements if local_name(el) in HEADINGS and inline_text(el)]
    top = min(levels, default=1)
    pieces: list[Piece] = [("", [], set())]
    for el in elements:
        tag = local_name(el)
        text = inline_text(el)
        if not text:
            continue
        if tag in HEADINGS and int(tag[1]) == top:
            holders = [el.getparent(), *el.iter()]  # its section, itself and anchors inside it
            pieces.append((text, [], {x.get("id") for x in holders if x is not None and x.get("id")}))
        elif tag in HEADINGS:
            pieces[-1][1].append(f"{'#' * min(int(tag[1]) - top + 1, 6)} {text}")
        elif tag == "li":
            pieces[-1][1].append(f"- {text}")
        else:
            pieces[-1][1].append(text)
    return [piece for i, piece in enumerate(pieces) if i or piece[1]]


def is_navigation(doc: etree._Element) -> bool:
    """A table of contents, not text: the EPUB 3 `nav`, or a page typed `toc` (a "Brief
    Contents" page in the spine)."""
    return any("toc" in (el.get(EPUB_TYPE) or "").split() for el in doc.iter("{*}nav", "{*}section", "{*}body", "{*}div"))


# Pages of a book that are about the edition, not its content (EPUB 3 Structural Semantics): left
# out and counted. A page typed as content too (a chapter that is also an index) is kept.
MATTER_LEFT_OUT = frozenset({"cover", "titlepage", "halftitlepage", "seriespage", "copyright-page", "colophon", "imprint",
                             "imprimatur", "index", "loi", "lot", "loa", "lov", "landmarks", "page-list"})
CONTENT_TYPES = frozenset({"chapter", "part", "division", "volume", "appendix", "preface", "foreword", "introduction",
                           "prologue", "epilogue", "afterword", "conclusion", "glossary"})


def edition_matter(doc: etree._Element) -> str | None:
    """The EPUB type of a page about the edition (an imprint, a colophon, a copyright page, an
    index: `MATTER_LEFT_OUT`), read from its `body` and the sections directly in it; None for
    a page of the book's content."""
    body = next(doc.iter("{*}body"), None)
    if body is None:
        return None
    types = {t.split(":")[-1] for el in (body, *(k for k in body if local_name(k) in ("section", "div")))
             for t in (el.get(EPUB_TYPE) or "").split()}
    matter = sorted(types & MATTER_LEFT_OUT)
    return matter[0] if matter and not types & CONTENT_TYPES else None


def _target(href: str, folder: PurePosixPath) -> tuple[str, str | None]:
    path, _, fragment = href.partition("#")
    return posixpath.normpath(str(folder / path)) if path else "", fragment or None


def _nav_entries(ol: etree._Element, folder: PurePosixPath) -> list[TocEntry]:
    entries: list[TocEntry] = []
    for li in ol.iterfind("{*}li"):
        link = next(li.iter("{*}a"), None)
        sub = li.find("{*}ol")
        if link is None or not link.get("href"):
            continue
        doc, fragment = _target(link.get("href"), folder)
        entries.append((doc, fragment, inline_text(link), _nav_entries(sub, folder) if sub is not None else []))
    return entries


def _ncx_entries(parent: etree._Element, folder: PurePosixPath) -> list[TocEntry]:
    entries: list[TocEntry] = []
    for point in parent.iterfind("{*}navPoint"):
        content = point.find("{*}content")
        if content is None or not content.get("src"):
            continue
        label = point.find("{*}navLabel")
        doc, fragment = _target(content.get("src"), folder)
        entries.append((doc, fragment, inline_text(label) if label is not None else "", _ncx_entries(point, folder)))
    return entries


def read_document(zf: zipfile.ZipFile, name: str) -> etree._Element | None:
    """A member parsed as (X)HTML or XML, leniently; None when the member is missing or empty."""
    try:
        return etree.fromstring(character_names_as_numbers(read_member(zf, name)),
                                etree.XMLParser(resolve_entities=False, no_network=True, recover=True))
    except KeyError:
        return None


def toc_entries(zf: zipfile.ZipFile, opf: etree._Element, base: PurePosixPath) -> list[TocEntry]:
    """The book's table of contents, top-level entries with the entries under them: the EPUB 3
    `nav` (epub:type toc), else the EPUB 2 NCX; [] when it has neither."""
    items = list(opf.iter("{*}item"))
    nav = next((i.get("href") for i in items if "nav" in (i.get("properties") or "").split()), None)
    if nav and (doc := read_document(zf, name := posixpath.normpath(str(base / nav)))) is not None:
        toc = next((n for n in doc.iter("{*}nav") if "toc" in (n.get(EPUB_TYPE) or "").split()), None)
        if toc is not None and (ol := toc.find("{*}ol")) is not None:
            return _nav_entries(ol, PurePosixPath(name).parent)
    spine = next(opf.iter("{*}spine"), None)
    ncx = next((i.get("href") for i in items if spine is not None and i.get("id") == spine.get("toc")), None)
    if ncx and (doc := read_document(zf, name := posixpath.normpath(str(base / ncx)))) is not None:
        if (nav_map := next(doc.iter("{*}navMap"), None)) is not None:
            return _ncx_entries(nav_map, PurePosixPath(name).parent)
    return []


def chapter_starts(entries: list[TocEntry], words: dict[str, int]) -> dict[tuple[str, str | None], str]:
    """Where the book's chapters start, (document, fragment) → title: the top-level entries of
    its table of contents, and the entries under a part's title page (see `PART_TITLE`)."""
    starts: dict[tuple[str, str | None], str] = {}
    for doc, fragment, title, children in entries:
        starts[(doc, fragment)] = title
        part = PART_TITLE.match(title) or any(grandchildren for *_, grandchildren in children)
        if children and part and words.get(doc, 0) < PART_PAGE_WORDS:
            starts.update({(d, f): t for d, f, t, _ in children})
    return starts


class EpubBook(NamedTuple):
    title: str
    chapters: list[Chapter]
    rights: str  # its `dc:rights` statement ("" when it has none)
    left_out: Counter[str]  # pages about the edition, by EPUB type (imprint, colophon, copyright page, index)


def epub_chapters(path: Path) -> EpubBook:
    """An EPUB's title, chapters and rights: its XHTML documents in spine order (tables of
    contents and pages about the edition left out), cut into chapters where its own table of contents starts one (a book
    split into one file per section, O'Reilly's or Beezer's, keeps its sections within their
    chapter); without a usable table of contents, at each document's top-level headings
    (a file may hold several chapters)."""
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
        documents: list[tuple[str, list[Piece]]] = []
        left_out: Counter[str] = Counter()
        for ref in opf.iter("{*}itemref"):
            href = manifest.get(ref.get("idref"))
            if not href:
                continue
            name = posixpath.normpath(str(base / href))
            if ".." in PurePosixPath(name).parts:
                continue
            doc = read_document(zf, name)
            if doc is None or is_navigation(doc):
                continue
            if matter := edition_matter(doc):
                left_out[matter] += 1
                continue
            documents.append((name, document_pieces(doc)))
        words = {name: sum(len(t.split()) for h, blocks, _ in pieces for t in (h, *blocks)) for name, pieces in documents}
        starts = chapter_starts(toc_entries(zf, opf, base), words)
        in_spine = {name for name, _ in documents}
        by_toc = sum(doc in in_spine for doc, _ in starts) >= 2
    chapters: list[Chapter] = []
    for name, pieces in documents:
        for i, (heading, blocks, ids) in enumerate(pieces):
            if by_toc:
                opens = (name, None) in starts and i == 0 or any((name, x) in starts for x in ids)
            else:
                opens = bool(heading)
            if opens or not chapters:
                chapters.append((heading or starts.get((name, None), ""), blocks))
            elif by_toc:  # a section of the chapter (its own file, or a later heading of the file)
                chapters[-1][1].extend(([f"## {heading}"] if heading else []) + [f"#{b}" if b.startswith("#") else b for b in blocks])
            else:
                chapters[-1][1].extend(blocks)
    return EpubBook(title, chapters, rights, left_out)
