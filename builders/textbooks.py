"""Textbooks → MedC-K rows. Users bring their own books (they cannot be redistributed):

* **Plain text / Markdown** (`.txt`, `.md`) in the MedQA textbook layout: one paragraph per
  line or blank-line separated paragraphs, headings as short bare lines (no final
  punctuation) or Markdown `#` lines; chapters start at "Chapter N" / "Part N" lines or
  top-level Markdown headings.
* **OpenStax CNXML collections**: the `*.collection.xml` file gives the book title, licence
  and the module order; each sub-collection is a chapter, read from its module files
  (`mNNNNN.index.cnxml` or `mNNNNN/index.cnxml`) in that order. Module files reached through a
  collection are counted as such and not read twice; a module with no collection is a
  document of its own. Exercises and solutions are left out.
* **PDF** (`pypdf` text extraction): running headers / footers (lines repeated on most
  pages, page numbers) removed, words hyphenated across lines joined, lines re-flowed into
  paragraphs; chapters from the PDF outline when it has one, else from "Chapter N" lines.
* **EPUB**: the XHTML documents in spine order, headings and paragraphs; each spine document
  with a heading starts a chapter.

Every chapter becomes one or more documents of at most `max_words` words, cut between
paragraphs (or between sentences, with scispaCy's pysbd sentencizer, for a paragraph longer
than that), never mid-sentence. The default licence is `unknown` (books are copyrighted:
the publish step refuses such rows unless allowed); a CNXML collection's own licence is used.
"""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from lxml import etree

from medc.text.headings import consistent_heading
from medc.ingest.builder import Builder, FileReport, register_builder
from medc.errors import UserError
from medc.text.licenses import normalize_license
from medc.text.normalize import collapse_spaces, dehyphenate, normalize_text
from medc.text.sentences import split_blocks
from medc.files.records import read_bytes
from medc.files.xmlsafe import parse_xml

_NUMBER_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty"
_CHAPTER = re.compile(rf"^(?:#\s+)?(?:chapter|part|unit)\s+(?:\d+|[ivxlc]+|{_NUMBER_WORDS})\b", re.IGNORECASE)
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?\d{1,4}$|^[ivxlc]{1,6}$", re.IGNORECASE)
_END_PUNCT = (".", ":", ";", ",", "?", "!", "\"", "”", ")")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "book"


def _local(el: etree._Element) -> str:
    tag = el.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _inline(el: etree._Element) -> str:
    return collapse_spaces("".join(el.itertext()))


def _level(block: str) -> int:
    return len(block) - len(block.lstrip("#")) if block.startswith("#") else 0


def drop_empty_headings(blocks: list[str]) -> list[str]:
    """Headings with nothing under them (e.g. an exercises section whose exercises are left
    out) go; heading case is made consistent ("CRITICAL THINKING" → "Critical thinking")."""
    out: list[str] = []
    for i, block in enumerate(blocks):
        level = _level(block)
        if level:
            nxt = next((b for b in blocks[i + 1:]), None)
            if nxt is None or 0 < _level(nxt) <= level:
                continue
            block = "#" * level + " " + consistent_heading(block[level:].strip())
        out.append(block)
    return out


def is_heading_line(line: str) -> bool:
    """A short bare line: a heading in the MedQA textbook layout."""
    words = line.split()
    return 0 < len(words) <= 12 and not line.rstrip().endswith(_END_PUNCT) and line[:1].isupper() or bool(_CHAPTER.match(line))


@register_builder("textbooks")
class TextbookBuilder(Builder):
    kind = "knowledge"
    patterns = ("**/*.txt", "**/*.md", "**/*.collection.xml", "**/*.cnxml", "**/*.pdf", "**/*.epub")
    defaults: dict[str, Any] = {"license": "unknown", "max_words": 2000, "min_words": 30}

    @classmethod
    def companions(cls, options: dict[str, Any], folder: str) -> list[str]:
        return [f"{folder}/**/*.collection.xml", f"{folder}/**/*.cnxml"]  # a collection reads its modules

    def __init__(self, source: str, options: dict[str, Any], sources_root: Path):
        super().__init__(source, options, sources_root)
        if not isinstance(self.options["max_words"], int) or self.options["max_words"] < 50:
            raise UserError(f"source {source!r}: option max_words must be an integer >= 50")

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        name = path.name.lower()
        if name.endswith(".collection.xml"):
            yield from self.collection(path, report)
        elif name.endswith(".cnxml"):
            if any(path.parent.glob("*.collection.xml")) or any(path.parent.parent.glob("*.collection.xml")):
                report.skip("module read through its collection")
                return
            report.records += 1
            title, blocks = self.cnxml_module(path)
            yield from self.documents(path, title, [(title, blocks)], "cnxml", self.options["license"], report)
        elif name.endswith(".pdf"):
            report.records += 1
            title, chapters = self.pdf(path)
            yield from self.documents(path, title, chapters, "pdf", self.options["license"], report)
        elif name.endswith(".epub"):
            report.records += 1
            title, chapters = self.epub(path)
            yield from self.documents(path, title, chapters, "epub", self.options["license"], report)
        else:
            report.records += 1
            raw = read_bytes(path).decode("utf-8-sig")
            title = path.stem.replace("_", " ")
            yield from self.documents(path, title, self.plain_chapters(raw), "text", self.options["license"], report)

    # --------------------------------------------------------------- documents
    def documents(self, path: Path, book: str, chapters: list[tuple[str, list[str]]], fmt: str, license: str,
                  report: FileReport) -> Iterator[dict[str, Any]]:
        rel = path.relative_to(self.sources_root).as_posix() if path.is_relative_to(self.sources_root) else path.name
        book_id = _slug(book) if fmt == "cnxml" else _slug(rel)
        n_chapters = 0
        for ci, (chapter, blocks) in enumerate(chapters, start=1):
            blocks = drop_empty_headings([b for b in (normalize_text(b) for b in blocks) if b])
            if sum(len(b.split()) for b in blocks if not b.startswith("#")) < self.options["min_words"]:
                if blocks:
                    report.skip("chapter shorter than min_words")
                continue
            n_chapters += 1
            pieces = split_blocks(blocks, self.options["max_words"])
            for pi, piece in enumerate(pieces, start=1):
                heading = f"# {chapter}" if chapter else ""
                body = piece if not heading or (piece and piece[0] == heading) else [heading, *piece]
                text = normalize_text("\n\n".join(body))
                yield {
                    "id": f"book:{book_id}:{ci:03d}-{pi:03d}",
                    "source": self.source,
                    "title": f"{book}: {chapter}" if chapter and chapter != book else book,
                    "text": text,
                    "license": license,
                    "meta": {"book": book, "chapter": chapter, "chapter_index": ci, "part": pi, "parts": len(pieces),
                             "format": fmt, "file": rel, "article_type": "textbook",
                             "sections": [b.lstrip("#").strip() for b in piece if b.startswith("##")]},
                }
        if not n_chapters:
            raise ValueError("no chapter with text")

    # --------------------------------------------------------------- plain text / Markdown
    def plain_chapters(self, raw: str) -> list[tuple[str, list[str]]]:
        lines = [collapse_spaces(line) for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
        paragraphs: list[str] = []
        buf: list[str] = []
        # Blank-line separated paragraphs may wrap over several lines; one paragraph per line otherwise.
        wrapped = sum(1 for a, b in zip(lines, lines[1:]) if a and b) > len(lines) // 4
        for line in lines + [""]:
            if not line:
                if buf:
                    paragraphs.append(dehyphenate("\n".join(buf)).replace("\n", " "))
                    buf = []
                continue
            if not wrapped or is_heading_line(line) or _MD_HEADING.match(line):
                if buf:
                    paragraphs.append(dehyphenate("\n".join(buf)).replace("\n", " "))
                    buf = []
                paragraphs.append(line)
            else:
                buf.append(line)
        chapters: list[tuple[str, list[str]]] = []
        title, blocks = "", []
        for para in paragraphs:
            md = _MD_HEADING.match(para)
            if _CHAPTER.match(para) or (md and len(md.group(1)) == 1):
                if blocks:
                    chapters.append((title, blocks))
                title, blocks = (md.group(2) if md else para).strip(), []
                continue
            if md:
                blocks.append(f"{'#' * max(2, len(md.group(1)))} {md.group(2).strip()}")
            elif is_heading_line(para) and len(para.split()) <= 12:
                blocks.append(f"## {para}")
            else:
                blocks.append(para)
        if blocks:
            chapters.append((title, blocks))
        return chapters

    # --------------------------------------------------------------- OpenStax CNXML
    def collection(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        root = parse_xml(read_bytes(path))
        ns = {"col": "http://cnx.rice.edu/collxml", "md": "http://cnx.rice.edu/mdml"}
        meta = root.find("metadata") if root.find("metadata") is not None else root.find("col:metadata", ns)
        book = (meta.findtext("md:title", namespaces=ns) if meta is not None else None) or path.name.split(".")[0]
        lic_el = meta.find("md:license", ns) if meta is not None else None
        license = self.options["license"]
        if lic_el is not None and (lic_el.get("url") or (lic_el.text or "").strip()):
            license = normalize_license(lic_el.get("url") or lic_el.text or "")
        chapters: list[tuple[str, list[str]]] = []
        missing = 0

        def module_file(doc: str) -> Path | None:
            for cand in (path.parent / f"{doc}.index.cnxml", path.parent / doc / "index.cnxml",
                         path.parent.parent / "modules" / doc / "index.cnxml", path.parent / f"{doc}.cnxml"):
                if cand.is_file():
                    return cand
            return None

        def walk(content: etree._Element, chapter: str | None, blocks: list[str], depth: int) -> None:
            nonlocal missing
            for child in content:
                name = _local(child)
                if name == "module":
                    report.records += 1
                    f = module_file(child.get("document") or "")
                    if f is None:
                        missing += 1
                        continue
                    title, body = self.cnxml_module(f)
                    blocks.extend([f"## {title}", *body] if title else body)
                elif name == "subcollection":
                    title = collapse_spaces(child.findtext("md:title", namespaces=ns) or "")
                    inner = child.find("col:content", ns)
                    if inner is None:
                        continue
                    has_sub = inner.find("col:subcollection", ns) is not None
                    if has_sub:  # a unit / part: its sub-collections are the chapters
                        walk(inner, None, blocks, depth + 1)
                    else:
                        chap_blocks: list[str] = []
                        walk(inner, title, chap_blocks, depth + 1)
                        chapters.append((title, chap_blocks))

        content = root.find("col:content", ns)
        if content is None:
            raise ValueError("collection has no col:content")
        front: list[str] = []
        walk(content, None, front, 0)
        if front:
            chapters.insert(0, (book, front))
        if missing:
            report.skip("module file not present", missing)
        yield from self.documents(path, book, chapters, "cnxml", license, report)

    def cnxml_module(self, path: Path) -> tuple[str, list[str]]:
        root = parse_xml(read_bytes(path))
        title = collapse_spaces("".join(t.itertext())) if (t := next((c for c in root if _local(c) == "title"), None)) is not None else ""
        content = next((c for c in root if _local(c) == "content"), None)
        blocks: list[str] = []
        if content is not None:
            self._cnxml_walk(content, blocks, 3)
        glossary = next((c for c in root if _local(c) == "glossary"), None)
        if glossary is not None:
            defs = []
            for d in glossary:
                if _local(d) == "definition":
                    term = next((_inline(c) for c in d if _local(c) == "term"), "")
                    meaning = next((_inline(c) for c in d if _local(c) == "meaning"), "")
                    if term and meaning:
                        defs.append(f"- {term}: {meaning}")
            if defs:
                blocks += ["### Glossary", "\n".join(defs)]
        return title, blocks

    def _cnxml_walk(self, el: etree._Element, blocks: list[str], level: int) -> None:
        for child in el:
            name = _local(child)
            if name in ("exercise", "solution", "problem", "media", "image"):
                continue
            if name == "section":
                title = next((_inline(c) for c in child if _local(c) == "title"), "")
                if title:
                    blocks.append(f"{'#' * min(level, 6)} {title}")
                self._cnxml_walk(child, blocks, level + 1)
            elif name == "para":
                text = self._para_text(child)
                if text:
                    blocks.append(text)
            elif name == "list":
                items = [self._para_text(i) for i in child if _local(i) == "item"]
                items = [i for i in items if i]
                if items:
                    blocks.append("\n".join(f"- {i}" for i in items))
            elif name == "figure":
                cap = next((self._para_text(c) for c in child if _local(c) == "caption"), "")
                title = next((_inline(c) for c in child if _local(c) == "title"), "")
                if cap or title:
                    blocks.append("Figure: " + ". ".join(x for x in (title, cap) if x))
            elif name in ("note", "example"):
                title = next((_inline(c) for c in child if _local(c) == "title"), "")
                inner: list[str] = []
                self._cnxml_walk(child, inner, level + 1)
                if inner:
                    blocks += ([title] if title else []) + inner
            elif name == "table":
                rows = [" | ".join(_inline(e) for e in row if _local(e) == "entry") for row in child.iter("{*}row")]
                rows = [r for r in rows if r.strip(" |")]
                if rows:
                    blocks.append("\n".join(rows))
            elif name in ("title", "label"):
                continue
            else:
                self._cnxml_walk(child, blocks, level)

    def _para_text(self, el: etree._Element) -> str:
        out: list[str] = []

        def rec(e: etree._Element) -> None:
            if e.text:
                out.append(e.text)
            for c in e:
                name = _local(c)
                if name == "link" and not "".join(c.itertext()).strip() and c.get("target-id", "").startswith("fig"):
                    out.append("Figure ")
                elif name not in ("media", "image", "footnote"):
                    rec(c)
                if c.tail:
                    out.append(c.tail)

        rec(el)
        return collapse_spaces("".join(out)).replace("( ", "(").replace(" )", ")")

    # --------------------------------------------------------------- PDF
    def pdf(self, path: Path) -> tuple[str, list[tuple[str, list[str]]]]:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(str(path))
            pages = [page.extract_text() or "" for page in reader.pages]
        except (PdfReadError, ValueError, KeyError) as exc:
            raise ValueError(f"unreadable PDF: {exc}") from None
        title = collapse_spaces(str((reader.metadata or {}).get("/Title") or "")) or path.stem.replace("_", " ")
        # Running headers / footers: first / last lines repeated on at least 40% of pages.
        firsts: Counter[str] = Counter()
        lasts: Counter[str] = Counter()
        page_lines = []
        for text in pages:
            lines = [collapse_spaces(x) for x in text.replace("\r", "\n").split("\n")]
            lines = [x for x in lines if x]
            page_lines.append(lines)
            if lines:
                firsts[re.sub(r"\d+", "#", lines[0])] += 1
                lasts[re.sub(r"\d+", "#", lines[-1])] += 1
        limit = max(2, int(0.4 * len(pages)))
        running = {k for k, n in (firsts + lasts).items() if n >= limit}
        # Chapter starts from the outline (page index → title), if any.
        outline_starts: dict[int, str] = {}
        try:
            for item in reader.outline:
                if not isinstance(item, list):
                    outline_starts.setdefault(reader.get_destination_page_number(item), collapse_spaces(item.title))
        except Exception:  # a broken outline is not worth failing the book for
            outline_starts = {}
        chapters: list[tuple[str, list[str]]] = []
        chapter, lines_acc = "", []

        def flush() -> None:
            if lines_acc:
                chapters.append((chapter, self._reflow(lines_acc)))

        for i, lines in enumerate(page_lines):
            while lines and re.sub(r"\d+", "#", lines[0]) in running or (lines and _PAGE_NUMBER.match(lines[0])):
                lines = lines[1:]
            while lines and (re.sub(r"\d+", "#", lines[-1]) in running or _PAGE_NUMBER.match(lines[-1])):
                lines = lines[:-1]
            if i in outline_starts:
                flush()
                chapter, lines_acc = outline_starts[i], []
                if lines and collapse_spaces(lines[0]).lower() == chapter.lower():
                    lines = lines[1:]
            elif not outline_starts and lines and _CHAPTER.match(lines[0]):
                flush()
                chapter, lines_acc = lines[0], []
                lines = lines[1:]
            lines_acc.extend(lines)
            lines_acc.append("")  # page break: a paragraph may continue, the reflow decides
        flush()
        return title, chapters

    @staticmethod
    def _reflow(lines: list[str]) -> list[str]:
        """PDF lines → paragraphs. A line ending a sentence and clearly shorter than the usual
        line ends its paragraph; a short bare line followed by a capitalised line is a heading;
        a hyphenated line end joins the next line's word (also across a page break)."""
        text = "\n".join(lines)
        text = dehyphenate(re.sub(r"-\n\n(?=[a-z])", "-\n", text))
        rows = [x for x in text.split("\n") if x]
        lengths = sorted(len(x) for x in rows)
        usual = lengths[len(lengths) // 2] if lengths else 0
        blocks: list[str] = []
        buf: list[str] = []
        for i, line in enumerate(rows):
            nxt = rows[i + 1] if i + 1 < len(rows) else ""
            if is_heading_line(line) and (not buf or buf[-1].endswith(_END_PUNCT)) and (not nxt or nxt[:1].isupper()):
                if buf:
                    blocks.append(" ".join(buf))
                    buf = []
                blocks.append(f"## {line}")
                continue
            buf.append(line)
            if line.endswith((".", "?", "!", ".”", '."', ":")) and len(line) < 0.8 * usual:
                blocks.append(" ".join(buf))
                buf = []
        if buf:
            blocks.append(" ".join(buf))
        return blocks

    # --------------------------------------------------------------- EPUB
    def epub(self, path: Path) -> tuple[str, list[tuple[str, list[str]]]]:
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise ValueError(f"not an EPUB (zip) file: {exc}") from None
        with zf:
            try:
                container = parse_xml(zf.read("META-INF/container.xml"))
            except KeyError:
                raise ValueError("EPUB without META-INF/container.xml") from None
            rootfile = next((e.get("full-path") for e in container.iter("{*}rootfile")), None)
            if not rootfile:
                raise ValueError("EPUB container names no rootfile")
            opf = parse_xml(zf.read(rootfile))
            base = PurePosixPath(rootfile).parent
            title = collapse_spaces("".join(next(opf.iter("{http://purl.org/dc/elements/1.1/}title")).itertext())) \
                if next(opf.iter("{http://purl.org/dc/elements/1.1/}title"), None) is not None else path.stem
            manifest = {item.get("id"): item.get("href") for item in opf.iter("{*}item")}
            chapters: list[tuple[str, list[str]]] = []
            for ref in opf.iter("{*}itemref"):
                href = manifest.get(ref.get("idref"))
                if not href:
                    continue
                name = str(base / href) if str(base) != "." else href
                if ".." in PurePosixPath(name).parts:
                    continue
                try:
                    doc = etree.fromstring(zf.read(name), etree.XMLParser(resolve_entities=False, no_network=True, recover=True))
                except KeyError:
                    continue
                if doc is None:
                    continue
                heading, blocks = "", []
                for el in doc.iter("{*}h1", "{*}h2", "{*}h3", "{*}h4", "{*}p", "{*}li"):
                    tag = _local(el)
                    text = _inline(el)
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
