"""In-text citations: marked while the inline markup is rewritten, removed afterwards
without leaving "[, ]" debris; `clean_inline` / `clean_many` finish a run of inline text."""

from __future__ import annotations

import re

from lxml import etree

from builders.pmc_jats.markup import XLINK_HREF, all_text
from medc.text.normalize import collapse_spaces

CITE_OPEN, CITE_CLOSE = "\ue001", "\ue002"
_CITE = f"{CITE_OPEN}[^{CITE_OPEN}{CITE_CLOSE}]*{CITE_CLOSE}"
_SEP = r"\s*(?:[,;\u2013\u2014\-]|and|&)?\s*"
# A bracketed group of citations; one pattern per opening bracket, so that each starts with a
# literal (the regex engine then skips ahead to candidate positions in C).
_CITE_GROUPS = tuple(re.compile(rf"\{b}\s*{_CITE}(?:{_SEP}{_CITE})*\s*[\])]") for b in "[(")
# A numeric marker ("12", "3-5"). A year is not one: where only the year of an author-year citation
# is linked ("(Stelter et al., <xref>2022</xref>)", Wiley), the year stays with its authors
# instead of leaving "(Stelter et al.,)".
_NUM_CITE = f"{CITE_OPEN}(?!\\s*(?:1[5-9]|20)\\d\\d\\s*{CITE_CLOSE})[^{CITE_OPEN}{CITE_CLOSE}A-Za-z]*{CITE_CLOSE}"
_NUM_CITE_RUN = re.compile(rf"{_NUM_CITE}(?:{_SEP}{_NUM_CITE})*")
_EMPTY_BRACKETS = (re.compile(r"\[\s*\]"), re.compile(r"\(\s*\)"))  # literal starts: fast scans
_GONE = "\ue003"  # where a citation was: the white space before it goes too
# A kept citation that starts with a name, written straight after a word or a comma with no space
# ("<italic>T. albicollis</italic><xref>Brandt et al., 2009</xref>", "e.g.,<xref>Machado, 1999</xref>"):
# found by its marker (a literal start: the scan runs in C), the character before it checked after.
_NAMED_CITE = re.compile(f"{CITE_OPEN}(?=[^\\W\\d_])")


def _apart(match: re.Match[str]) -> str:
    before = match.string[match.start() - 1] if match.start() else " "
    return " " if before.isalnum() or before in "_.,;:" else ""
CLOSING_PUNCTUATION = frozenset(".,;:!?)]}")  # punctuation that never follows a space


def strip_citations(text: str) -> str:
    """Remove citation markers (marked during rendering) without leaving "[, ]" debris.

    Bracketed groups made only of citations go, numeric citation runs go (superscript
    style), and narrative author-year citations ("as Smith et al. (2001) showed") keep
    their words.
    """
    if CITE_OPEN not in text:
        return text
    # Patterns start at a bracket or a marker (no leading white space to try at every
    # position); the space before a removed citation is dropped with plain string work.
    for group in _CITE_GROUPS:
        text = group.sub(_GONE, text)
    text = _NUM_CITE_RUN.sub(_GONE, text)
    if CITE_OPEN in text:  # narrative citations keep their words, apart from the word before them
        text = _NAMED_CITE.sub(_apart, text).replace(CITE_OPEN, "").replace(CITE_CLOSE, "")
    for empty in _EMPTY_BRACKETS:  # (cheaper than asking first: a two-character `in` is a slow search)
        text = empty.sub(_GONE, text)
    pieces = text.split(_GONE)
    # The white space before a removed citation goes, and the white space after it too when
    # punctuation follows ("program <sup> [9] </sup>." is "program.", not "program .").
    out = []
    for i, piece in enumerate(pieces):
        if i and piece.lstrip()[:1] in CLOSING_PUNCTUATION:
            piece = piece.lstrip()
        out.append(piece.rstrip() if i + 1 < len(pieces) else piece)
    return "".join(out)


def clean_inline(text: str) -> str:
    return collapse_spaces(strip_citations(text))


_BLOCK_SEP = "\x00"  # not white space for str.split(), never in XML text


def clean_many(texts: list[str]) -> list[str]:
    """`clean_inline` of each text, done on all of them at once: one citation pass over the
    joined texts, then white space collapsed in each (`collapse_spaces`)."""
    if not texts:
        return []
    return [collapse_spaces(text) for text in strip_citations(_BLOCK_SEP.join(texts)).split(_BLOCK_SEP)]


_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> str:
    return " " + " ".join(_WORD.findall(text.lower())) + " "


_DOI = re.compile(r"10\.\d{4,9}/\S+")


def _doi(text: str | None) -> str | None:
    m = _DOI.search(text or "")
    return m.group(0).rstrip(".,;)").lower() if m else None


def drop_written_out_references(article: etree._Element) -> None:
    """Remove body paragraphs that write out an entry of the reference list in full (eLife
    Insights' "Related research article" box: authors, year, title, journal and a link to the
    entry's DOI): they are bibliography, not prose. A paragraph goes when it links to the DOI of
    a reference and holds that reference's title. Only DOI links in paragraphs are candidates
    (found in C); the reference list is read only when there are some."""
    body = article.find("body")
    # A paragraph's links to a DOI: tag-filtered iteration in C (an XPath `.//p/ext-link` first
    # builds the set of every node of the body).
    links = [link for link in body.iter("ext-link") if link.getparent().tag == "p" and "10." in (link.get(XLINK_HREF) or "")
             ] if body is not None else []
    if not links:
        return
    linked = {doi for link in links if (doi := _doi(link.get(XLINK_HREF)))}
    titles: dict[str, str] = {}  # DOI → title words, for the references the body links to
    for ref in article.iterfind("back/ref-list/ref"):
        ids = [el.text for el in ref.iter("pub-id") if el.get("pub-id-type") == "doi"] + [
            el.get(XLINK_HREF) for el in ref.iter("ext-link")]
        dois = linked.intersection(filter(None, map(_doi, ids)))
        title = next(ref.iter("article-title"), None) if dois else None
        if title is not None and (words := _words(all_text(title))).count(" ") > 7:  # six words or more
            titles.update(dict.fromkeys(dois, words))
    for link in links:
        p = link.getparent()
        title = titles.get(_doi(link.get(XLINK_HREF)) or "")
        if title and p.getparent() is not None and title in _words(all_text(p)):
            parent = p.getparent()
            if p.tail:
                prev = p.getprevious()
                if prev is not None:
                    prev.tail = (prev.tail or "") + p.tail
                else:
                    parent.text = (parent.text or "") + p.tail
            parent.remove(p)
