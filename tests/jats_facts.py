"""Ground truth for the JATS conformance tests, read with lxml and XPath alone: no code shared
with `builders/`. Per file: title, ids, licence, abstracts, body paragraphs, figure and table
captions, table rows and the reference-list titles that must not reach the text.

Facts are compared as lower-case word sequences (`words`), so markup rendering (headings,
table separators, formula text) does not matter; `arrives` checks that a fact's words stand in
the row's text in order.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from html.entities import html5
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

XLINK = "{http://www.w3.org/1999/xlink}href"
# Elements rendered as blocks of their own when they sit inside a paragraph: their text is
# checked as its own fact (captions, table rows), not as part of the paragraph around it.
BLOCKS = ("fig", "fig-group", "table-wrap", "table-wrap-group", "disp-formula", "list", "boxed-text", "p",
          "supplementary-material", "media", "disp-quote", "code", "preformat", "graphic", "array", "statement",
          "def-list", "speech", "verse-group", "chem-struct-wrap")
# Never prose.
DROPPED = ("object-id", "supplementary-material", "media", "label")
# Formulas: the builder renders them (TeX kept, MathML linearised) into any number of words, so a
# fact is cut at each formula into segments that must each arrive. MathML also stands bare in
# paragraphs, outside any formula element (Wiley).
FORMULAS = ("inline-formula", "disp-formula", "math")
CUT = "\ue000"
# Administrative sections, not knowledge: left out by policy (README, "Article types and sections").
ADMIN_SEC_TYPES = {"coi-statement", "funding", "funding-information", "data-availability", "ethics-statement",
                   "author-contributions", "acknowledgment", "acknowledgement", "abbreviations", "supplementary-material"}
ADMIN_TITLES = re.compile(r"(competing|conflicts?) of interests?|competing interests?|declaration of interests?|"
                          r"authors?'? ?contributions?|funding|acknowledge?ments?|data availability|availability of data|"
                          r"ethics|pre-?publication history|abbreviations|(electronic )?supplementary|supporting information|"
                          r"additional files?|disclosures?|consent for publication", re.IGNORECASE)
# Parts of an article whose paragraphs are not body text.
NOT_BODY = ("caption", "table-wrap-foot", "ref-list", "sub-article", "response", "fn-group", "fig", "table-wrap",
            "supplementary-material", "glossary", "notes", "ack", "bio")
# Creative Commons URL → licence id, written here from the URL scheme alone.
_CC = re.compile(r"creativecommons\.org/licenses/([a-z-]+)/(\d\.\d)")
_CC0 = re.compile(r"creativecommons\.org/publicdomain/zero/(\d\.\d)")
# Licences named in words (a licence paragraph without a link, or a copyright statement).
_CC0_WORDS = re.compile(r"\bCC0\b", re.I)
_CC_BY_WORDS = re.compile(r"Creative Commons Attribution(?: (\d\.\d))?(?: Unported)? Licen[cs]e|\(CC BY(?: (\d\.\d))?\)", re.I)
_PUBLIC_DOMAIN = re.compile(r"public domain", re.I)


def read_licence(meta: etree._Element) -> str | None:
    """The article's licence as a short id, read by these rules alone: a Creative Commons URL in
    a `<license>` (link or text); else CC0, "Creative Commons Attribution [N.N] License" / "(CC BY
    N.N)" or "public domain" in its words, or, with no `<license>`, in the copyright statement;
    "unknown" when there is no `<license>` and the statement names none; None (not checked) when
    a `<license>` says something these rules do not read."""
    licences = meta.findall(".//{*}permissions/{*}license")
    for lic in licences:
        texts = [v for el in lic.iter() if isinstance(el.tag, str) for v in el.attrib.values()] + ["".join(lic.itertext())]
        for text in texts:
            if m := _CC.search(text):
                return f"cc-{m.group(1)}-{m.group(2)}"
            if m := _CC0.search(text):
                return f"cc0-{m.group(1)}"
    words_of = [" ".join("".join(lic.itertext()).split()) for lic in licences] or [
        " ".join(" ".join(s.itertext()).split()) for s in meta.iterfind(".//{*}permissions/{*}copyright-statement")]
    for text in words_of:
        if _CC0_WORDS.search(text):
            return "cc0-1.0"
        if m := _CC_BY_WORDS.search(text):
            version = m.group(1) or m.group(2)
            return f"cc-by-{version}" if version else "cc-by"
        if _PUBLIC_DOMAIN.search(text):
            return "public-domain"
    return None if licences else "unknown"


_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")  # soft hyphen, zero-width: no word break


def words(text: str) -> list[str]:
    """Lower-case words only: the fact reader and the builder agree on these whatever the markup.
    A soft hyphen or zero-width character inside a word ("dis\u00adadvantaging") does not cut it,
    and both sides are compared in NFKC form: a ligature ("ﬂuids") or a letter written with a
    combining accent ("I\u0302") is the same word however it is encoded."""
    return re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", _INVISIBLE.sub("", text)).lower())


def local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


@dataclass
class Facts:
    title: list[str] = field(default_factory=list)
    title_parts: list[list[str]] = field(default_factory=list)  # with a formula in the title: the words around it
    doi: str | None = None
    pmid: str | None = None
    pmcid: str | None = None
    licence: str | None = None          # an id when the file gives a Creative Commons URL
    # abstract paragraphs, body paragraphs and captions: each a list of segments (cut at formulas)
    abstracts: list[list[list[str]]] = field(default_factory=list)
    paragraphs: list[list[list[str]]] = field(default_factory=list)
    captions: list[list[list[str]]] = field(default_factory=list)
    table_rows: list[list[list[str]]] = field(default_factory=list)  # each row's segments
    table_cells: int = 0
    reference_entries: list[list[str]] = field(default_factory=list)
    publisher: str = ""
    dtd: str = ""


def segments(text: str) -> list[list[str]]:
    """A fact's words, cut where a formula stood; empty when it has no words."""
    parts = [w for part in text.split(CUT) if (w := words(part))]
    return parts


def _own_text(el: etree._Element) -> str:
    """`el`'s text without the blocks nested in it (they are facts of their own, and stand
    between the text before them and the text after them: a cut)."""
    parts = [el.text or ""]
    for child in el:
        parts.append(_own_text(child) if local(child) not in BLOCKS else CUT)
        parts.append(child.tail or "")
    return "".join(parts)


def _is_main(el: etree._Element) -> bool:
    return not any(local(a) in ("sub-article", "response") for a in el.iterancestors())


def _named_characters(raw: bytes) -> bytes:
    """HTML / ISO character names (`&eacute;`) as numeric references: the DTD that defines them
    is never loaded (written here, not taken from medc)."""
    def number(m: re.Match[bytes]) -> bytes:
        chars = html5.get(m.group(1).decode() + ";")
        return b"".join(b"&#%d;" % ord(c) for c in chars) if chars else m.group(0)
    return re.sub(rb"&(?!(?:amp|lt|gt|quot|apos);)([A-Za-z][A-Za-z0-9]*);", number, raw)


def read_facts(path: Path) -> Facts:
    raw = _named_characters(path.read_bytes())
    root = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True, recover=False, huge_tree=True))
    facts = Facts()
    # the DOCTYPE's public id, or where PMC / Europe PMC record the source's (`<?DTDIdentifier.IdentifierValue ...?>`)
    doctype = re.search(rb'<!DOCTYPE[^>]*?"(-//[^"]+)"', raw[:2000]) or re.search(rb"<\?DTDIdentifier\.IdentifierValue (-//[^?]+)\?>", raw[:3000])
    first = root if local(root) == "article" else root.find(".//{*}article")
    version = first.get("dtd-version") or ""
    namespace = etree.QName(first).namespace
    facts.dtd = ((doctype.group(1).decode() if doctype else "") or (f"dtd-version {version}" if version else "")
                 or (f"no DOCTYPE, namespace {namespace}" if namespace else "no DOCTYPE"))
    etree.strip_elements(root, etree.Comment, etree.ProcessingInstruction, with_tail=False)
    etree.strip_elements(root, *[f"{{*}}{n}" for n in DROPPED], with_tail=False)
    for br in root.iter("{*}break"):  # a line break separates words
        br.tail = " " + (br.tail or "")
    for formula in list(root.iter(*[f"{{*}}{n}" for n in FORMULAS])):
        cut = etree.Element("cut")
        cut.text, cut.tail = CUT, formula.tail
        formula.getparent().replace(formula, cut)
    for sec in list(root.iter("{*}sec")):
        title = sec.find("{*}title")
        if (sec.get("sec-type") or "").lower() in ADMIN_SEC_TYPES or (
                title is not None and ADMIN_TITLES.match(" ".join("".join(title.itertext()).split()))):
            sec.getparent().remove(sec)
    for xref in root.iter("{*}xref"):  # footnote markers are not text; a citation may stay (author-year) or go
        if xref.get("ref-type") in ("bibr", "table-fn", "fn"):
            xref.text = CUT if xref.get("ref-type") == "bibr" else ""
            for child in list(xref):
                xref.remove(child)
    for table in root.iter("{*}table-wrap"):  # bare footnote marks in tables (`<sup>a</sup>`)
        for sup in list(table.iter("{*}sup")):
            only_formatting = all(local(d) in ("italic", "bold") for d in sup.iterdescendants())  # <sup><italic>a</italic></sup>
            if only_formatting and re.fullmatch(r"[a-z]{1,2}|[*†‡§¶#]{1,3}", "".join(sup.itertext()).strip()):
                for child in list(sup):
                    sup.remove(child)
                sup.text = ""
    article = root if local(root) == "article" else root.find(".//{*}article")
    meta = article.find("{*}front/{*}article-meta")
    facts.publisher = " ".join((article.findtext("{*}front/{*}journal-meta/{*}publisher/{*}publisher-name") or "").split())
    title = meta.find("{*}title-group/{*}article-title")
    facts.title = words("".join(title.itertext())) if title is not None else []
    if title is not None and CUT in "".join(title.itertext()):
        facts.title_parts = segments("".join(title.itertext()))
    for aid in meta.findall("{*}article-id"):
        kind, value = (aid.get("pub-id-type") or "").lower(), "".join(aid.itertext()).strip()
        if kind == "doi":
            facts.doi = value
        elif kind == "pmid":
            facts.pmid = value
        elif kind in ("pmc", "pmcid"):
            facts.pmcid = value if value.upper().startswith("PMC") else "PMC" + value
    facts.licence = read_licence(meta)
    for ab in meta.findall("{*}abstract"):
        if ab.get("abstract-type") in ("toc", "teaser", "graphical", "web-summary", "precis", "executive-summary"):
            continue
        facts.abstracts.extend(w for p in ab.iter("{*}p") if (w := segments(_own_text(p))))
    # Reference-list entries by DOI: a body paragraph that links to an entry's DOI and holds its
    # title writes the entry out (eLife Insights' "Related research article"): bibliography.
    entries = {}
    for ref in article.iterfind(".//{*}ref-list/{*}ref"):
        title = ref.find(".//{*}article-title")
        dois = [d.text or "" for d in ref.iterfind(".//{*}pub-id[@pub-id-type='doi']")] + [
            m.group(0).rstrip(".,;)") for link in ref.iter("{*}ext-link") if (m := re.search(r"10\.\d{4,9}/\S+", link.get(XLINK) or ""))]
        for doi in filter(None, (d.strip().lower() for d in dois)):
            if title is not None:
                entries[doi] = " ".join(words("".join(title.itertext())))
    scope = [article.find("{*}body"), *article.findall("{*}back/{*}app-group"), *article.findall("{*}back/{*}app"),
             article.find("{*}floats-group")]
    for part in filter(lambda e: e is not None, scope):
        for p in part.iter("{*}p"):
            # (a box's caption holds the box's own text: eLife's `boxed-text/caption/p`)
            ancestors = [a for a in p.iterancestors() if not (local(a) == "caption" and local(a.getparent()) == "boxed-text")]
            if any(local(a) in NOT_BODY for a in ancestors) or not _is_main(p):
                continue
            linked = [entries.get(m.group(0).rstrip(".,;)").lower()) for link in p.iter("{*}ext-link")
                      if (m := re.search(r"10\.\d{4,9}/\S+", link.get(XLINK) or ""))]
            if any(t and t in " ".join(words("".join(p.itertext()))) for t in linked):
                continue
            if w := segments(_own_text(p)):
                facts.paragraphs.append(w)
    for el in article.iter("{*}fig", "{*}table-wrap"):
        if not _is_main(el):
            continue
        cap = el.find("{*}caption")
        if cap is not None:
            text = " ".join("".join(c.itertext()) for c in cap if local(c) in ("title", "p"))
            if w := segments(text):
                facts.captions.append(w)
        if local(el) == "table-wrap":
            for block in el.iter("{*}p", "{*}list-item"):  # paragraphs in a cell are separate words
                if any(local(a) in ("td", "th", "entry") for a in block.iterancestors()):
                    block.tail = " " + (block.tail or "")
            for tr in el.iter("{*}tr", "{*}row"):  # XHTML rows, or OASIS CALS rows of entries
                texts = ["".join(c.itertext()) for c in tr if local(c) in ("td", "th", "entry")]
                facts.table_cells += sum(1 for t in texts if words(t))
                if row := segments(" ".join(texts)):  # (cut where a formula stood, as paragraphs are)
                    facts.table_rows.append(row)
    for ref in article.iterfind(".//{*}ref-list/{*}ref"):
        # A bibliography entry as it would be written out: its title followed by its source. (A
        # title alone may be named in prose: "Slade and Spencer published the Oral Health Impact Profile".)
        for cit in ref.iter("{*}element-citation", "{*}mixed-citation", "{*}citation", "{*}nlm-citation"):
            title = cit.find("{*}article-title")
            source = cit.find("{*}source")
            if title is not None and source is not None and len(w := words("".join(title.itertext()))) >= 6:
                facts.reference_entries.append(w + words("".join(source.itertext())))
    # An entry the article's own prose or captions write out (a figure's data sources, PLOS NTDs)
    # is the article's text there.
    own = " " + " ".join(" ".join(w for part in fact for w in part) for fact in (*facts.paragraphs, *facts.captions)) + " "
    facts.reference_entries = [e for e in facts.reference_entries if f" {' '.join(e)} " not in own]
    return facts


class WordIndex:
    """Positions of every word of a text, to find word sequences in order quickly."""

    def __init__(self, text_words: list[str]) -> None:
        self.words = text_words
        self.at: dict[str, list[int]] = {}
        for i, w in enumerate(text_words):
            self.at.setdefault(w, []).append(i)

    def _next(self, word: str, start: int, slack: int) -> int | None:
        pos = self.at.get(word)
        if not pos:
            return None
        k = bisect_left(pos, start)
        return pos[k] if k < len(pos) and pos[k] <= start + slack else None

    def arrives(self, fact: list[str], slack: int = 12, missing: float = 0.02) -> bool:
        """`fact`'s words stand in the text in order, at most `slack` other words between two of
        them (a narrative citation the builder keeps, a rendered formula), and at most `missing`
        of them (at least one) absent from that run (a symbol the builder renders differently)."""
        allowed = max(1, int(len(fact) * missing)) if len(fact) > 4 else 0
        for skipped in range(min(allowed, len(fact) - 1) + 1):  # the first words may be the missing ones
            for start in self.at.get(fact[skipped], [])[:5000]:
                j, lost = start + 1, skipped
                for word in fact[skipped + 1:]:
                    nxt = self._next(word, j, slack)
                    if nxt is None:
                        lost += 1
                        if lost > allowed:
                            break
                        continue
                    j = nxt + 1
                else:
                    return True
        return False

    def all_arrive(self, parts: list[list[str]]) -> bool:
        return all(self.arrives(part) for part in parts)

    def contains(self, fact: list[str]) -> bool:
        """`fact`'s words stand in the text contiguously."""
        n = len(fact)
        return any(self.words[i:i + n] == fact for i in self.at.get(fact[0], []))
