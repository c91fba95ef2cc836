"""Plain text / Markdown books in the MedQA textbook layout: one paragraph per line or
blank-line separated (wrapped) paragraphs, headings as short bare lines or Markdown `#`
lines; chapters start at "Chapter N" / "Part N" lines or top-level Markdown headings."""

from __future__ import annotations

from builders.textbooks.chapters import CHAPTER_LINE, MD_HEADING, Chapter, is_heading_line
from medc.text.normalize import collapse_spaces, dehyphenate


def plain_chapters(raw: str) -> list[Chapter]:
    """Chapters of a plain text / Markdown book in the MedQA textbook layout."""
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
        if not wrapped or is_heading_line(line) or MD_HEADING.match(line):
            if buf:
                paragraphs.append(dehyphenate("\n".join(buf)).replace("\n", " "))
                buf = []
            paragraphs.append(line)
        else:
            buf.append(line)
    chapters: list[tuple[str, list[str]]] = []
    title, blocks = "", []
    for para in paragraphs:
        md = MD_HEADING.match(para)
        if CHAPTER_LINE.match(para) or (md and len(md.group(1)) == 1):
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
