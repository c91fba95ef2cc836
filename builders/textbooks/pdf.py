"""PDF books (`pypdf` text extraction): running headers and footers (lines repeated on most
pages, page numbers) removed, words hyphenated across lines joined, lines re-flowed into
paragraphs; chapters from the PDF outline when it has one, else from "Chapter N" lines."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from builders.textbooks.chapters import CHAPTER_LINE, END_PUNCT, Chapter, is_heading_line
from medc.text.normalize import collapse_spaces, dehyphenate

_PAGE_NUMBER = re.compile(r"^(?:page\s+)?\d{1,4}$|^[ivxlc]{1,6}$", re.IGNORECASE)


def pdf_chapters(path: Path) -> tuple[str, list[Chapter]]:
    """(title, chapters) of a PDF book."""
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
    chapters: list[Chapter] = []
    chapter, lines_acc = "", []

    def flush() -> None:
        if lines_acc:
            chapters.append((chapter, reflow(lines_acc)))

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
        elif not outline_starts and lines and CHAPTER_LINE.match(lines[0]):
            flush()
            chapter, lines_acc = lines[0], []
            lines = lines[1:]
        lines_acc.extend(lines)
        lines_acc.append("")  # page break: a paragraph may continue, the reflow decides
    flush()
    return title, chapters

def reflow(lines: list[str]) -> list[str]:
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
        if is_heading_line(line) and (not buf or buf[-1].endswith(END_PUNCT)) and (not nxt or nxt[:1].isupper()):
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
