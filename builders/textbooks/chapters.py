"""What every textbook format is read into: chapters (title, blocks), blocks being
paragraphs and Markdown headings; and the rules they share (chapter lines, heading lines,
empty headings)."""

from __future__ import annotations

import re

from lxml import etree

from medc.text.headings import consistent_heading
from medc.text.normalize import collapse_spaces

Chapter = tuple[str, list[str]]  # (title, blocks)

_NUMBER_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty"
CHAPTER_LINE = re.compile(rf"^(?:#\s+)?(?:chapter|part|unit)\s+(?:\d+|[ivxlc]+|{_NUMBER_WORDS})\b", re.IGNORECASE)
MD_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
END_PUNCT = (".", ":", ";", ",", "?", "!", "\"", "”", ")")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "book"


def local_name(el: etree._Element) -> str:
    tag = el.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def inline_text(el: etree._Element) -> str:
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
    return 0 < len(words) <= 12 and not line.rstrip().endswith(END_PUNCT) and line[:1].isupper() or bool(CHAPTER_LINE.match(line))
