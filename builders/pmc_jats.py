"""PubMed Central full text in JATS / NLM XML (`.nxml`, `.xml`, optionally `.gz`) → MedC-K rows.

Text: title, abstract(s) and body sections with their headings (Markdown `#` levels),
paragraphs, lists, figure and table captions (table cells per the `tables` option),
formulas (TeX kept, MathML linearised, graphic-only as a placeholder). Never in the text:
the reference list, in-text citation markers, authors, affiliations, acknowledgements,
footnotes, supplementary-material boilerplate. Handles JATS 1.x, NLM 2.3 and the
`<pmc-articleset>` wrapper (one row per article).
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from medc.ingest.builder import Builder, FileReport, register_builder
from medc.schema import stable_id
from medc.text.headings import consistent_heading
from medc.text.licenses import normalize_license
from medc.text.normalize import collapse_spaces, normalize_text
from medc.errors import UserError
from medc.files.records import MAX_INPUT_BYTES, read_bytes
from medc.files.xmlsafe import parse_xml

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"

# Elements whose content is never article prose.
SKIP_BLOCKS = frozenset(
    {
        "ref-list", "fn-group", "ack", "contrib-group", "aff", "author-notes", "glossary",
        "supplementary-material", "notes", "sig-block", "permissions", "alt-text",
        "long-desc", "object-id", "graphic", "media", "inline-graphic", "table-wrap-foot",
        "attrib", "counts", "custom-meta-group", "kwd-group", "funding-group",
    }
)
# Elements laid out as separate blocks when they appear inside a paragraph.
BLOCK_IN_P = frozenset(
    {"list", "fig", "fig-group", "table-wrap", "table-wrap-group", "boxed-text", "disp-quote",
     "def-list", "statement", "speech", "verse-group", "code", "preformat"}
)
INLINE_SKIP = frozenset({"inline-graphic", "fn", "alt-text", "object-id", "graphic", "media"})
ABSTRACT_TYPES_KEPT = {None, "", "summary", "author-summary", "executive-summary", "structured", "short"}
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
RETRACTION_TYPES = {"retraction", "correction", "expression-of-concern", "addendum", "removal"}

_CITE_OPEN, _CITE_CLOSE = "\ue001", "\ue002"
_CITE = f"{_CITE_OPEN}[^{_CITE_OPEN}{_CITE_CLOSE}]*{_CITE_CLOSE}"
_SEP = r"\s*(?:[,;\u2013\u2014\-]|and|&)?\s*"
# A bracketed group of citations; one pattern per opening bracket, so that each starts with a
# literal (the regex engine then skips ahead to candidate positions in C).
_CITE_GROUPS = tuple(re.compile(rf"\{b}\s*{_CITE}(?:{_SEP}{_CITE})*\s*[\])]") for b in "[(")
_NUM_CITE = f"{_CITE_OPEN}[^{_CITE_OPEN}{_CITE_CLOSE}A-Za-z]*{_CITE_CLOSE}"
_NUM_CITE_RUN = re.compile(rf"{_NUM_CITE}(?:{_SEP}{_NUM_CITE})*")
_EMPTY_BRACKETS = (re.compile(r"\[\s*\]"), re.compile(r"\(\s*\)"))  # literal starts: fast scans
_GONE = "\ue003"  # where a citation was: the white space before it goes too
_LOCALNAMES: dict[str, str] = {}


def all_text(el: etree._Element) -> str:
    """The text of an element and its descendants (not its tail), as `"".join(el.itertext())`
    but serialised by libxml2 in one call: several times faster on paragraphs with markup."""
    return etree.tostring(el, method="text", encoding=str, with_tail=False)


def localname(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    name = _LOCALNAMES.get(tag)
    if name is None:
        name = _LOCALNAMES[tag] = tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag.split(":")[-1]
    return name


def strip_citations(text: str) -> str:
    """Remove citation markers (marked during rendering) without leaving "[, ]" debris.

    Bracketed groups made only of citations go, numeric citation runs go (superscript
    style), and narrative author-year citations ("as Smith et al. (2001) showed") keep
    their words.
    """
    if _CITE_OPEN not in text:
        return text
    # Patterns start at a bracket or a marker (no leading white space to try at every
    # position); the space before a removed citation is dropped with plain string work.
    for group in _CITE_GROUPS:
        text = group.sub(_GONE, text)
    text = _NUM_CITE_RUN.sub(_GONE, text)
    text = text.replace(_CITE_OPEN, "").replace(_CITE_CLOSE, "")
    if "[]" in text or "()" in text or "[ " in text or "( " in text:
        for empty in _EMPTY_BRACKETS:
            text = empty.sub(_GONE, text)
    pieces = text.split(_GONE)
    return "".join(p.rstrip() for p in pieces[:-1]) + pieces[-1]


# ---------------------------------------------------------------------------- MathML
_MATH_GROUPS = {"mrow", "mstyle", "mpadded", "mphantom", "menclose", "semantics", "math", "mtd"}


def linearize_mathml(el: etree._Element) -> str:
    """Readable one-line text of a MathML tree: a/b, x^2, x_i, sqrt(x)."""
    name = localname(el)
    kids = [k for k in el if isinstance(k.tag, str) and localname(k) not in ("annotation", "annotation-xml")]
    if name in ("mi", "mn", "mo", "mtext", "ms"):
        return collapse_spaces("".join(el.itertext()))
    if name == "mspace":
        return " "
    parts = [linearize_mathml(k) for k in kids]

    def group(s: str) -> str:
        return s if len(s) <= 1 or re.fullmatch(r"\w+", s) else f"({s})"

    if name == "mfrac" and len(parts) == 2:
        return f"{group(parts[0])}/{group(parts[1])}"
    if name == "msup" and len(parts) == 2:
        return f"{parts[0]}^{group(parts[1])}"
    if name == "msub" and len(parts) == 2:
        return f"{parts[0]}_{group(parts[1])}"
    if name == "msubsup" and len(parts) == 3:
        return f"{parts[0]}_{group(parts[1])}^{group(parts[2])}"
    if name in ("munder", "munderover", "mover"):
        return " ".join(parts)
    if name == "msqrt":
        return f"sqrt({''.join(parts)})"
    if name == "mroot" and len(parts) == 2:
        return f"root{group(parts[1])}({parts[0]})"
    if name == "mfenced":
        return f"{el.get('open', '(')}{', '.join(parts)}{el.get('close', ')')}"
    if name == "mtr":
        return " ".join(parts)
    if name == "mtable":
        return "; ".join(parts)
    return "".join(parts) if name in _MATH_GROUPS else " ".join(parts)


def render_formula(el: etree._Element) -> str:
    """TeX kept as TeX, MathML linearised, graphic-only formulas as a placeholder."""
    if el.get(_RENDERED):
        return (el.text or "").strip()
    tex = next((d for d in el.iter() if localname(d) == "tex-math"), None)
    if tex is not None:
        body = collapse_spaces("".join(tex.itertext()))
        body = re.sub(r"^\\documentclass.*?\\begin\{document\}|\\end\{document\}$", "", body, flags=re.S).strip()
        return body
    math = next((d for d in el.iter() if localname(d) == "math"), None)
    if math is not None:
        return collapse_spaces(linearize_mathml(math))
    return "[formula]"


# ---------------------------------------------------------------------------- inline text
_RENDERED = "medc-rendered"  # marks a formula element whose text is already its rendering


def prepare_inline(root: etree._Element) -> None:
    """Rewrite the inline markup of a subtree once, in place, so that every inline run is
    then read in one C-level call (`all_text`): non-text elements (graphics, footnotes) are
    removed with their tails kept, formulas are replaced by their rendering (TeX kept,
    MathML linearised), citation `xref`s become marked spans (removed later without
    debris), line breaks become spaces."""
    # Tag-filtered iteration and stripping run in C: Python only sees the matching elements.
    etree.strip_elements(root, *INLINE_SKIP, with_tail=False)
    for el in list(root.iter("inline-formula", "disp-formula")):
        if el.getparent() is not None or el is root:
            _replace_text(el, f" {render_formula(el)} ", rendered=True)
    for el in list(root.iter("{*}math", "tex-math")):
        if el.getparent() is None or _inside_formula(el):
            continue
        target = el.getparent() if localname(el) == "tex-math" else el
        _replace_text(target, f" {render_formula(target)} ", rendered=True)
    for el in list(root.iter("xref")):
        if el.get("ref-type") == "bibr":
            if len(el):
                _replace_text(el, _CITE_OPEN + "".join(el.itertext()) + _CITE_CLOSE)
            else:  # the common case: a plain marker ("12", "Smith et al., 2001")
                el.text = _CITE_OPEN + (el.text or "") + _CITE_CLOSE
    for el in list(root.iter("break", "hr")):
        _replace_text(el, " ")


def _inside_formula(el: etree._Element) -> bool:
    for anc in el.iterancestors():
        if localname(anc) in ("inline-formula", "disp-formula"):
            return True
    return False


def _replace_text(el: etree._Element, text: str, rendered: bool = False) -> None:
    tail = el.tail
    for child in list(el):
        el.remove(child)
    el.text = text
    el.tail = tail
    if rendered:
        el.set(_RENDERED, "1")


def inline_text(el: etree._Element, *, with_tail: bool = False) -> str:
    """The text of an element (of a subtree passed through `prepare_inline`), inline markup
    flattened; citations marked for removal."""
    text = all_text(el)
    if with_tail and el.tail:
        text += el.tail
    return text


def clean_inline(text: str) -> str:
    return collapse_spaces(strip_citations(text))


# ---------------------------------------------------------------------------- blocks
_BLOCK_SEP = "\x00"  # not white space for str.split(), never in XML text
_CELL_END, _ROW_END = "\ue010", "\ue011"  # table separators written into the tree (not white space either)


def clean_many(texts: list[str]) -> list[str]:
    """`clean_inline` of each text, done on all of them at once: one citation pass and one
    white-space pass over the joined text instead of two Python calls per text."""
    if not texts:
        return []
    joined = " ".join(strip_citations(_BLOCK_SEP.join(texts)).split())
    return joined.replace(" " + _BLOCK_SEP, _BLOCK_SEP).replace(_BLOCK_SEP + " ", _BLOCK_SEP).split(_BLOCK_SEP)


class Renderer:
    """Walks article blocks and collects text lines (headings, paragraphs, captions).

    Paragraph-like blocks are kept raw and cleaned together in `text()`; `collapsed` turns
    false when a block keeps its own line layout (code), so that the final normalisation
    knows whether it must tidy white space."""

    def __init__(self, tables: str):
        self.tables = tables
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

    def heading(self, title: str, level: int) -> None:
        title = consistent_heading(clean_inline(title))
        if title:
            self.blocks.append(f"{'#' * min(level, 6)} {title}")

    def walk(self, el: etree._Element, level: int) -> None:
        for child in el:
            self.block(child, level)

    def block(self, el: etree._Element, level: int) -> None:
        name = localname(el)
        if name == "p":  # the most common block first
            self.paragraph(el, level)
            return
        if not name or name in SKIP_BLOCKS:
            return
        if name in ("sec", "app", "boxed-text", "ack-sec"):
            title = el.find("title") if el.find("title") is not None else el.find("caption/title")
            if (el.get("sec-type") or "").lower() in BOILERPLATE_SEC_TYPES or (
                title is not None and BOILERPLATE_SECTION.match(clean_inline(inline_text(title)))
            ):
                return
            label = el.find("label")
            if title is not None:
                text = inline_text(title)
                if label is not None and name == "app":
                    text = f"{inline_text(label)} {text}"
                self.heading(text, level)
                if level == 2 and clean_inline(text):
                    self.sections.append(consistent_heading(clean_inline(text)))
            self.walk(el, level + 1)
        elif name in ("title", "label", "sec-meta", "caption") and localname(el.getparent()) in (
            "sec", "app", "boxed-text", "abstract", "trans-abstract", "body", "app-group",
        ):
            return  # rendered as the heading above
        elif name == "list":
            self.list(el, level, depth=0)
        elif name == "def-list":
            for item in el.iter("def-item"):
                term = item.find("term")
                definition = item.find("def")
                t = inline_text(term) if term is not None else ""
                d = " ".join(inline_text(p) for p in definition) if definition is not None else ""
                self.add(f"{t}: {d}" if t and d else t or d)
        elif name in ("fig", "fig-group"):
            if name == "fig-group":
                self.walk(el, level)
            else:
                self.caption(el, "Figure")
        elif name in ("table-wrap", "table-wrap-group"):
            if name == "table-wrap-group":
                self.walk(el, level)
            else:
                self.table(el)
        elif name == "disp-formula":
            self.add(render_formula(el))
        elif name in ("disp-quote", "statement", "speech", "verse-group", "question", "answer"):
            self.walk(el, level)
        elif name in ("code", "preformat"):
            text = all_text(el).strip()
            if text:
                self.blocks.append(text)
                self.collapsed = False
        else:
            # Unknown wrapper: recurse if it holds blocks, else treat as a paragraph.
            if any(localname(k) in ("p", "sec", "list", "fig", "table-wrap") for k in el):
                self.walk(el, level)
            else:
                self.add(inline_text(el))

    def paragraph(self, p: etree._Element, level: int) -> None:
        """A paragraph; block elements nested in it (lists, figures, tables) become own blocks."""
        if next(p.iterchildren(*BLOCK_IN_P), None) is None:  # the common case, found in C
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
        ordered = el.get("list-type") in ("order", "arabic", "alpha-lower", "alpha-upper", "roman-lower", "roman-upper")
        n = 0
        for item in el:
            if localname(item) != "list-item":
                continue
            n += 1
            texts: list[str] = []
            for sub in item:
                if localname(sub) == "list":
                    if texts:
                        self._list_line(texts, ordered, n, depth)
                        texts = []
                    self.list(sub, level, depth + 1)
                elif localname(sub) == "label":
                    continue
                else:
                    texts.append(inline_text(sub))
            if item.text and item.text.strip():
                texts.insert(0, item.text)
            if texts:
                self._list_line(texts, ordered, n, depth)

    def _list_line(self, texts: list[str], ordered: bool, n: int, depth: int) -> None:
        body = clean_inline(" ".join(texts))
        if body:  # (nested items are not indented: lines of the text are stripped)
            self.blocks.append(f"{n}. {body}" if ordered else f"- {body}")

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
        for row in el.iter("tr"):
            for cell in row.iterchildren("td", "th"):
                cell.tail = _CELL_END
                cells += 1
            row.tail = _ROW_END
            rows_n += 1
        tables = [all_text(t) for t in el.iter("table")]
        raw = _ROW_END.join(tables)
        if raw.count(_CELL_END) != cells or raw.count(_ROW_END) != rows_n + max(0, len(tables) - 1):
            raw = _ROW_END.join(_CELL_END.join("".join(c.itertext()).replace(_CELL_END, "").replace(_ROW_END, "")
                                               for c in row.iterchildren("td", "th")) for row in el.iter("tr"))
        rows = []
        for line in clean_inline(raw).split(_ROW_END):
            texts = [c.strip() for c in line.split(_CELL_END)]
            if any(texts):
                rows.append(" | ".join(c for c in texts if c))
        if rows:
            self.blocks.append("\n".join(rows))


# ---------------------------------------------------------------------------- metadata
def _text(el: etree._Element | None) -> str:
    return clean_inline(inline_text(el)) if el is not None else ""


def article_ids(meta: etree._Element) -> dict[str, str]:
    ids: dict[str, str] = {}
    for aid in meta.findall("article-id"):
        kind = (aid.get("pub-id-type") or "").lower()
        value = collapse_spaces(all_text(aid))
        if not value:
            continue
        if kind in ("pmc", "pmcid"):
            ids["pmcid"] = value if value.upper().startswith("PMC") else f"PMC{value}"
        elif kind == "pmid":
            ids["pmid"] = value
        elif kind == "doi":
            ids["doi"] = value.lower()
    return ids


def publication_year(meta: etree._Element) -> int | None:
    dates = {(d.get("pub-type") or d.get("date-type") or ""): d for d in meta.findall("pub-date")}
    for kind in ("epub", "ppub", "collection", "pmc-release", "epub-ppub", "pub", ""):
        date = dates.get(kind)
        if date is not None and (year := date.findtext("year")):
            if year.strip().isdigit():
                return int(year.strip())
    for date in meta.findall("pub-date"):
        if (year := date.findtext("year")) and year.strip().isdigit():
            return int(year.strip())
    return None


def article_license(meta: etree._Element) -> str:
    perms = meta.find("permissions")
    if perms is None:
        return "unknown"
    statements: list[str | None] = []
    for lic in perms.findall("license"):
        statements.extend([lic.get(XLINK_HREF), lic.get("license-type")])
        for ref in lic.iter():
            if localname(ref) in ("ali:license_ref", "license_ref"):
                statements.insert(0, "".join(ref.itertext()))
            if ref.get(XLINK_HREF):
                statements.append(ref.get(XLINK_HREF))
        statements.append(" ".join(lic.itertext()))
    statements.append(perms.findtext("copyright-statement"))
    # license-type="open-access" says nothing about the licence itself
    return normalize_license(*[s for s in statements if s and s.strip().lower() not in ("open-access", "open access")])


def _file_list(path: Path) -> dict[str, dict[str, str]]:
    """The OA file list that goes with a bulk package: `<package>.filelist.csv` beside it, or
    `oa_file_list.csv` / `*file_list*.csv` in its folder. Keyed by member path and by PMCID."""
    import csv

    base = path.name.removesuffix(".gz").removesuffix(".tar").removesuffix(".tgz")
    candidates = [path.with_name(base + ".filelist.csv"), path.parent / "oa_file_list.csv",
                  *sorted(path.parent.glob("*file_list*.csv")), *sorted(path.parent.glob("*filelist*.csv"))]
    for cand in candidates:
        if cand.is_file():
            index: dict[str, dict[str, str]] = {}
            with open(cand, newline="", encoding="utf-8-sig") as fh:
                for row in csv.DictReader(fh):
                    row = {(k or "").strip().split(" (")[0].lower(): (v or "").strip() for k, v in row.items()}
                    if row.get("article file"):
                        index[row["article file"]] = row
                    if row.get("accessionid"):
                        index[row["accessionid"].upper()] = row
            return index
    return {}


@register_builder("pmc_jats")
class PMCJatsBuilder(Builder):
    """JATS articles from single files, `<pmc-articleset>` files, or PMC OA bulk packages
    (`oa_comm` / `oa_noncomm` / `oa_other` `.tar.gz`), streamed member by member without
    unpacking to disk and joined with the OA file list CSV (`Article File, Article Citation,
    AccessionID, LastUpdated, PMID, License, Retracted`): the licence comes from the list and
    articles it marks retracted are skipped (counted). Members with an absolute path or `..`
    are never read."""

    citations = ("pmcoa",)

    kind = "knowledge"
    patterns = ("**/*.nxml", "**/*.xml", "**/*.nxml.gz", "**/*.xml.gz", "**/*.tar.gz", "**/*.tgz")
    defaults: dict[str, Any] = {
        "tables": "full",  # drop | caption | full
        "skip_retractions": True,  # article-type retraction/correction/... (and file-list Retracted=yes) are skipped, counted
        "min_chars": 1,  # articles whose text is shorter are reported as records without text
    }

    @classmethod
    def companions(cls, options: dict[str, Any], folder: str) -> list[str]:
        return [f"{folder}/**/*file_list*.csv", f"{folder}/**/*filelist*.csv"]  # OA file lists (see _file_list)

    def __init__(self, source: str, options: dict[str, Any], sources_root: Path):
        super().__init__(source, options, sources_root)
        if self.options["tables"] not in ("drop", "caption", "full"):
            raise UserError(f"source {source!r}: option 'tables' must be drop, caption or full, not {self.options['tables']!r}")

    def parse(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        if path.name.endswith((".tar.gz", ".tgz")):
            yield from self.parse_package(path, report)
            return
        yield from self.parse_document(read_bytes(path), report)

    def parse_package(self, path: Path, report: FileReport) -> Iterator[dict[str, Any]]:
        file_list = _file_list(path)
        try:
            with tarfile.open(path, mode="r|gz") as tar:  # a stream: members are read in order, never extracted
                for member in tar:
                    if not member.isfile() or not member.name.endswith((".nxml", ".xml")):
                        continue
                    parts = member.name.split("/")
                    if member.name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                        report.records += 1
                        report.error("unsafe member path (absolute or with ..): not read", member.name)
                        continue
                    if member.size > MAX_INPUT_BYTES:
                        report.records += 1
                        report.error(f"member is larger than {MAX_INPUT_BYTES} bytes", member.name)
                        continue
                    fh = tar.extractfile(member)
                    data = fh.read() if fh is not None else b""
                    listed = file_list.get(member.name)
                    yield from self.parse_document(data, report, member=member.name, listed=listed, file_list=file_list)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ValueError(f"broken tar.gz package after {report.records} articles: {exc}") from None

    def parse_document(self, data: bytes, report: FileReport, member: str | None = None,
                       listed: dict[str, str] | None = None, file_list: dict[str, dict[str, str]] | None = None
                       ) -> Iterator[dict[str, Any]]:
        try:
            root = parse_xml(data)
        except ValueError as exc:
            if member is None:
                raise
            report.records += 1
            report.error(str(exc), member)
            return
        name = localname(root)
        if name == "article":
            articles = [root]
        elif name in ("pmc-articleset", "articles", "article-set"):
            articles = [a for a in root.iter() if localname(a) == "article"]
        else:
            if member is not None:
                report.records += 1
                report.error(f"root element <{name}> is not a JATS <article>", member)
                return
            raise ValueError(f"root element <{name}> is not a JATS <article> or <pmc-articleset>")
        for i, article in enumerate(articles):
            report.records += 1
            key = f"article {i + 1}" if len(articles) > 1 else "article"
            if member is not None:
                key = member if len(articles) == 1 else f"{member} {key}"
            try:
                row = self.article_row(article, report)
            except ValueError as exc:
                report.error(str(exc), key)
                continue
            if row is not None and file_list:
                entry = listed or file_list.get(row["meta"].get("pmcid", "").upper())
                if entry is None:
                    row["meta"]["oa_file_list"] = False  # kept, with the licence the article states
                else:
                    if entry.get("retracted", "").lower() in ("yes", "y", "true", "1"):
                        if self.options["skip_retractions"]:
                            report.skip("retracted (OA file list)")
                            continue
                        row["meta"]["retracted"] = True
                    if entry.get("license"):
                        row["license"] = normalize_license(entry["license"])
                        row["meta"]["license_from"] = "oa_file_list"
                    if entry.get("lastupdated"):
                        row["meta"]["last_updated"] = entry["lastupdated"]
            if row is not None:
                yield row

    def article_row(self, article: etree._Element, report: FileReport) -> dict[str, Any] | None:
        meta = article.find("front/article-meta")
        if meta is None:
            raise ValueError("no front/article-meta")
        ids = article_ids(meta)
        article_type = article.get("article-type") or ""
        if article_type in RETRACTION_TYPES and self.options["skip_retractions"]:
            report.skip(f"article-type {article_type}")
            return None
        title = _text(meta.find("title-group/article-title"))
        journal_meta = article.find("front/journal-meta")
        journal = ""
        if journal_meta is not None:
            journal = _text(journal_meta.find("journal-title-group/journal-title")) or _text(
                journal_meta.find("journal-title")
            )

        for part in (*meta.findall("abstract"), article.find("body"), article.find("back")):
            if part is not None:
                prepare_inline(part)
        r = Renderer(self.options["tables"])
        if title:
            r.blocks.append(f"# {title}")
        for abstract in meta.findall("abstract"):
            if abstract.get("abstract-type") not in ABSTRACT_TYPES_KEPT:
                continue
            heading = _text(abstract.find("title")) or (
                "Author Summary" if abstract.get("abstract-type") in ("summary", "author-summary") else "Abstract"
            )
            r.heading(heading, 2)
            r.walk(abstract, 3)
        body = article.find("body")
        if body is not None:
            r.walk(body, 2)
        back = article.find("back")
        if back is not None:
            for group in back:
                if localname(group) in ("app-group", "app", "sec"):
                    r.block(group, 2) if localname(group) != "app-group" else r.walk(group, 2)
        text = normalize_text(r.text(), collapsed=r.collapsed)
        has_content = body is not None or meta.find("abstract") is not None
        if not has_content or len(text) - len(title) - 2 < self.options["min_chars"]:
            raise ValueError("article has neither abstract nor body text")

        row_id = (
            f"pmc:{ids['pmcid']}" if "pmcid" in ids else f"pmid:{ids['pmid']}" if "pmid" in ids
            else f"doi:{ids['doi']}" if "doi" in ids else None
        )
        if row_id is None:
            row_id = stable_id("jats", title, text[:2000])
        subjects = [
            _text(s) for s in meta.findall("article-categories/subj-group/subject")
        ]
        return {
            "id": row_id,
            "source": self.source,
            "title": title or None,
            "text": text,
            "license": article_license(meta),
            "meta": {
                **ids,
                "journal": journal,
                "year": publication_year(meta),
                "article_type": article_type,
                "subjects": subjects,
                "sections": r.sections,
                "retracted": article_type in RETRACTION_TYPES or None,
            },
        }
