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

import csv
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from builders.textbooks.chapters import Chapter, drop_empty_headings, slug
from builders.textbooks.cnxml import read_collection, read_module
from builders.textbooks.epub import epub_chapters
from builders.textbooks.pdf import pdf_chapters
from builders.textbooks.plain import plain_chapters
from medc.errors import UserError
from medc.files.records import read_bytes
from medc.ingest.builder import Builder, FileReport, register_builder
from medc.text.licenses import normalize_license
from medc.text.normalize import normalize_text
from medc.text.sentences import split_blocks


@lru_cache(maxsize=8)
def _licence_rows(path: str, mtime_ns: int) -> list[dict[str, str]]:
    """The rows of a `licenses.csv` (read once per version of the file)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(fh)]


@register_builder("textbooks")
class TextbookBuilder(Builder):
    kind = "knowledge"
    patterns = ("**/*.txt", "**/*.md", "**/*.collection.xml", "**/*.cnxml", "**/*.pdf", "**/*.epub")
    defaults: dict[str, Any] = {"license": "unknown", "max_words": 2000, "min_words": 30}

    @classmethod
    def companions(cls, options: dict[str, Any], folder: str) -> list[str]:
        # A collection reads its modules; a licences table names the licence of each book.
        return [f"{folder}/**/*.collection.xml", f"{folder}/**/*.cnxml", f"{folder}/**/licenses.csv"]

    def __init__(self, source: str, options: dict[str, Any], sources_root: Path):
        super().__init__(source, options, sources_root)
        if not isinstance(self.options["max_words"], int) or self.options["max_words"] < 50:
            raise UserError(f"source {source!r}: option max_words must be an integer >= 50")

    def listed_licence(self, path: Path) -> str | None:
        """The licence a `licenses.csv` beside the book, or in a folder above it up to the
        sources root, gives it (rows `file,license`, the file named relative to the CSV's
        folder; the nearest CSV that lists it wins). It overrides what the book says."""
        if not path.is_relative_to(self.sources_root):
            return None
        for folder in path.parents:
            table = folder / "licenses.csv"
            if table.is_file():
                rel = path.relative_to(folder).as_posix()
                listed = next((r["license"] for r in _licence_rows(str(table), table.stat().st_mtime_ns)
                               if r.get("file") == rel and r.get("license")), None)
                if listed:
                    return normalize_license(listed)
            if folder == self.sources_root:
                break
        return None

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        name = path.name.lower()
        listed = self.listed_licence(path)
        license = listed or self.options["license"]
        if name.endswith(".collection.xml"):
            book, chapters, own = read_collection(path, report, license)
            license = listed or own
            yield from self.documents(path, book, chapters, "cnxml", license, report)
            return
        if name.endswith(".cnxml") and (any(path.parent.glob("*.collection.xml")) or any(path.parent.parent.glob("*.collection.xml"))):
            report.note("module read through its collection")
            return
        report.records += 1
        if name.endswith(".cnxml"):
            title, blocks = read_module(path)
            book, chapters, fmt = title, [(title, blocks)], "cnxml"
        elif name.endswith(".pdf"):
            (book, chapters), fmt = pdf_chapters(path), "pdf"
        elif name.endswith(".epub"):
            epub = epub_chapters(path)
            book, chapters, fmt = epub.title, epub.chapters, "epub"
            for matter, n in epub.left_out.items():
                report.skip(f"page about the edition (epub:type {matter})", n)
            if not listed and epub.rights and normalize_license(epub.rights) != "unknown":  # the book's own dc:rights
                license = normalize_license(epub.rights)
        else:
            book, fmt = path.stem.replace("_", " "), "text"
            chapters = plain_chapters(read_bytes(path).decode("utf-8-sig"))
        yield from self.documents(path, book, chapters, fmt, license, report)

    def documents(self, path: Path, book: str, chapters: list[Chapter], fmt: str, license: str,
                  report: FileReport) -> Iterator[dict[str, Any]]:
        rel = path.relative_to(self.sources_root).as_posix() if path.is_relative_to(self.sources_root) else path.name
        book_id = slug(book) if fmt == "cnxml" else slug(rel)
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
