"""The block renderer: walks an article's abstract, body and back matter and collects text
blocks (Markdown headings, paragraphs, lists, figure and table captions, table rows,
formulas), skipping boilerplate sections. Each block element has its method in `HANDLERS`."""

from __future__ import annotations

import re
from collections.abc import Callable

from lxml import etree

from builders.pmc_jats.citations import clean_inline, clean_many
from builders.pmc_jats.inline import inline_text
from builders.pmc_jats.markup import BLOCK_IN_P, SKIP_BLOCKS, all_text, localname
from builders.pmc_jats.mathml import render_formula
from medc.text.headings import consistent_heading
from medc.text.normalize import collapse_spaces

# Back-matter and administrative sections that are not knowledge (matched on title or sec-type).
BOILERPLATE_SECTION = re.compile(
    r"^\W*(competing interests?|conflicts? of interests?|declaration of (competing )?interests?|"
    r"disclosures?|funding( information| sources?)?|financial (support|disclosure)|"
    r"acknowledge?ments?|author'?s'? contributions?|contributors?|authors' information|"
    r"supplementary (material|data|information)|supporting information|additional files?|"
    r"electronic supplementary material|pre-?publication history|data availability( statement)?|"
    r"availability of data( and materials?)?|ethics (approval|statement)( and consent to participate)?|"
    r"consent for publication|abbreviations|list of abbreviations|footnotes|notes)\W*$",
    re.IGNORECASE,
)
BOILERPLATE_SEC_TYPES = frozenset(
    {"supplementary-material", "coi-statement", "funding", "funding-information", "data-availability",
     "ethics-statement", "author-contributions", "acknowledgment", "acknowledgement", "abbreviations"}
)
_CELL_END, _ROW_END = "\ue010", "\ue011"  # table separators written into the tree (not white space)
# Tables are XHTML (`table/tr/td|th`) or OASIS CALS (`oasis:table/tgroup/.../row/entry`: Copernicus,
# "Journal Publishing with OASIS Tables"), whose namespace is OASIS' own in NLM 3.0 and NISO's in
# JATS 1.x; all are read the same way. (Tags are named, not matched with `{*}`: a wildcard walk is slower.)
_OASIS = ("{http://docs.oasis-open.org/ns/oasis-exchange/table}", "{http://www.niso.org/standards/z39-96/ns/oasis-exchange/table}")
TABLES = ("table", *(f"{ns}table" for ns in _OASIS))
ROWS = ("tr", *(f"{ns}row" for ns in _OASIS))
CELLS = ("td", "th", *(f"{ns}entry" for ns in _OASIS))
# Parents under which a title, label or caption is the heading of a section (rendered with it).
HEADED = frozenset({"sec", "app", "boxed-text", "abstract", "trans-abstract", "body", "app-group"})
ORDERED_LISTS = frozenset({"order", "arabic", "alpha-lower", "alpha-upper", "roman-lower", "roman-upper"})


class Renderer:
    """Walks article blocks and collects text lines (headings, paragraphs, captions).

    Paragraph-like blocks are kept raw and cleaned together in `text()`; `collapsed` turns
    false when a block keeps its own line layout (code), so that the final normalisation
    knows whether it must tidy white space."""

    def __init__(self, tables: str, parts: list[etree._Element]):
        """`parts`: the subtrees that will be walked (abstracts, body, appendices, floats)."""
        self.tables = tables
        # Paragraphs that hold block elements (lists, figures, tables), found with one
        # tag-filtered walk in C per part; asking each paragraph instead costs more than
        # reading its text. (A set of elements: lxml gives the same proxy for a node while
        # one is held.)
        self.paragraphs_with_blocks = {el.getparent() for part in parts for el in part.iter(*BLOCK_IN_P)}
        self.blocks: list[str] = []
        self.raw: list[int] = []  # indexes of blocks still to be cleaned
        self.sections: list[str] = []
        self.collapsed = True

    def add(self, text: str) -> None:
        self.raw.append(len(self.blocks))
        self.blocks.append(text)

    def text(self) -> str:
        for i, cleaned in zip(self.raw, clean_many([self.blocks[i] for i in self.raw])):
            self.blocks[i] = cleaned
        self.raw = []
        return "\n\n".join(b for b in self.blocks if b)

    def heading(self, title: str, level: int) -> str:
        """Add a heading; returns it as written (empty when the title has no text)."""
        title = consistent_heading(clean_inline(title))
        if title:
            self.blocks.append(f"{'#' * min(level, 6)} {title}")
        return title

    def walk(self, el: etree._Element, level: int) -> None:
        for child in el:
            self.block(child, level)

    def block(self, el: etree._Element, level: int) -> None:
        handler = HANDLERS.get(el.tag)  # (most tags are plain names: no local-name lookup)
        if handler is None:
            name = localname(el)
            if not name or name in SKIP_BLOCKS:
                return
            handler = HANDLERS.get(name, Renderer.other)
        handler(self, el, level)

    def section(self, el: etree._Element, level: int) -> None:
        """A section (or appendix, box): its heading, then its blocks one level down;
        boilerplate sections (funding, competing interests, ...) are left out."""
        title = el.find("title")
        if title is None:
            title = el.find("caption/title")
        if (el.get("sec-type") or "").lower() in BOILERPLATE_SEC_TYPES:
            return
        if title is not None:
            text = inline_text(title)
            if BOILERPLATE_SECTION.match(clean_inline(text)):
                return
            label = el.find("label")
            if label is not None and localname(el) == "app":
                text = f"{inline_text(label)} {text}"
            written = self.heading(text, level)
            if level == 2 and written:
                self.sections.append(written)
        self.walk(el, level + 1)

    def heading_part(self, el: etree._Element, level: int) -> None:
        """A title, label or caption: rendered with its section's heading, else as a paragraph.
        The paragraphs of a box's caption are its text (eLife writes a whole box, figures
        included, as `boxed-text/caption/p`): they are rendered under the caption's title."""
        if localname(el.getparent()) not in HEADED:
            self.other(el, level)
        elif localname(el) == "caption":
            for child in el:
                if localname(child) != "title":
                    self.block(child, level)

    def list_block(self, el: etree._Element, level: int) -> None:
        self.list(el, level, depth=0)

    def def_list(self, el: etree._Element, level: int) -> None:
        for item in el.iter("def-item"):
            term = item.find("term")
            definition = item.find("def")
            t = inline_text(term) if term is not None else ""
            d = " ".join(inline_text(p) for p in definition) if definition is not None else ""
            self.add(f"{t}: {d}" if t and d else t or d)

    def figure(self, el: etree._Element, level: int) -> None:
        self.caption(el, "Figure")

    def table_block(self, el: etree._Element, level: int) -> None:
        self.table(el)

    def formula(self, el: etree._Element, level: int) -> None:
        self.add(render_formula(el))

    def code(self, el: etree._Element, level: int) -> None:
        text = all_text(el).strip()
        if text:
            self.blocks.append(text)
            self.collapsed = False

    def other(self, el: etree._Element, level: int) -> None:
        """An unknown wrapper: walked if it holds blocks, else read as a paragraph."""
        if any(localname(k) in ("p", "sec", "list", "fig", "table-wrap") for k in el):
            self.walk(el, level)
        else:
            self.add(inline_text(el))

    def paragraph(self, p: etree._Element, level: int) -> None:
        """A paragraph; block elements nested in it (lists, figures, tables) become own blocks."""
        if p not in self.paragraphs_with_blocks:  # the common case
            self.add(all_text(p))
            return
        parts: list[str] = [p.text or ""]
        for child in p:
            if localname(child) in BLOCK_IN_P:
                self.add("".join(parts))
                parts = []
                self.block(child, level)
                parts.append(child.tail or "")
            else:
                parts.append(inline_text(child, with_tail=True))
        self.add("".join(parts))

    def list(self, el: etree._Element, level: int, depth: int) -> None:
        ordered = el.get("list-type") in ORDERED_LISTS
        n = 0
        for item in el:
            if localname(item) != "list-item":
                continue
            n += 1
            texts: list[str] = [item.text] if item.text and item.text.strip() else []
            marked = False  # the item's first line carries its marker, a line after a nested block none
            for sub in item:
                if localname(sub) == "label":
                    continue
                if localname(sub) == "list":
                    marked = self._list_line(texts, ordered, n, marked) or marked
                    texts = []
                    self.list(sub, level, depth + 1)
                elif sub in self.paragraphs_with_blocks:  # a paragraph holding a list (or a figure, a table)
                    parts = [sub.text or ""]
                    for child in sub:
                        if localname(child) in BLOCK_IN_P:
                            marked = self._list_line([*texts, "".join(parts)], ordered, n, marked) or marked
                            texts, parts = [], []
                            if localname(child) == "list":
                                self.list(child, level, depth + 1)
                            else:
                                self.block(child, level)
                            parts.append(child.tail or "")
                        else:
                            parts.append(inline_text(child, with_tail=True))
                    texts.append("".join(parts))
                else:
                    texts.append(inline_text(sub))
            self._list_line(texts, ordered, n, marked)

    def _list_line(self, texts: list[str], ordered: bool, n: int, marked: bool) -> bool:
        """Write an item's line (with its marker unless already `marked`); False when it had no text.
        Nested items are not indented: lines of the text are stripped."""
        body = clean_inline(" ".join(texts))
        if body:
            self.blocks.append(body if marked else f"{n}. {body}" if ordered else f"- {body}")
        return bool(body)

    def caption(self, el: etree._Element, kind: str) -> str:
        label = el.find("label")
        cap = el.find("caption")
        label_text = clean_inline(inline_text(label)) if label is not None else kind
        cap_text = ""
        if cap is not None:
            cap_text = " ".join(clean_inline(inline_text(c)) for c in cap if localname(c) in ("title", "p"))
        sep = " " if label_text.endswith((".", ":")) else ": "
        text = f"{label_text}{sep}{cap_text}".strip() if cap_text else ""
        if text:
            self.blocks.append(collapse_spaces(text))
        return text

    def table(self, el: etree._Element) -> None:
        if self.tables == "drop":
            return
        self.caption(el, "Table")
        if self.tables != "full":
            return
        # Cells and rows are read with one C-level call per table: separators (private-use
        # characters, which lxml accepts in text) are written into the tree as the tails of
        # cells and rows, where no cell text lives. Should a table contain them already, the
        # counts disagree and it is read cell by cell instead.
        cells = rows_n = 0
        for table in el.iter(*TABLES):  # paragraphs and list items inside a cell are apart, not glued
            for part in table.iter("p", "list-item"):
                part.tail = " " + (part.tail or "")
        for cell in el.iter(*CELLS):  # (a cell is a row's child: one filtered walk, not one per row)
            cell.tail = _CELL_END
            cells += 1
        for row in el.iter(*ROWS):
            row.tail = _ROW_END
            rows_n += 1
        tables = [all_text(t) for t in el.iter(*TABLES)]
        raw = _ROW_END.join(tables)
        if raw.count(_CELL_END) != cells or raw.count(_ROW_END) != rows_n + max(0, len(tables) - 1):
            raw = _ROW_END.join(_CELL_END.join("".join(c.itertext()).replace(_CELL_END, "").replace(_ROW_END, "")
                                               for c in row.iterchildren(*CELLS)) for row in el.iter(*ROWS))
        rows = []
        for line in clean_inline(raw).split(_ROW_END):
            texts = [" ".join(c.split()) for c in line.split(_CELL_END)]  # (a line break inside a cell is a space)
            if any(texts):
                rows.append(" | ".join(c for c in texts if c))
        if rows:
            self.blocks.append("\n".join(rows))


HANDLERS: dict[str, Callable[[Renderer, etree._Element, int], None]] = {
    "p": Renderer.paragraph,
    **dict.fromkeys(("sec", "app", "boxed-text", "ack-sec"), Renderer.section),
    **dict.fromkeys(("title", "label", "sec-meta", "caption"), Renderer.heading_part),
    "list": Renderer.list_block,
    "def-list": Renderer.def_list,
    "fig": Renderer.figure,
    "table-wrap": Renderer.table_block,
    "disp-formula": Renderer.formula,
    # Wrappers whose blocks are rendered at the same level.
    **dict.fromkeys(("fig-group", "table-wrap-group", "disp-formula-group", "disp-quote", "statement", "speech", "verse-group",
                     "question", "answer"),
                    Renderer.walk),
    **dict.fromkeys(("code", "preformat"), Renderer.code),
}
