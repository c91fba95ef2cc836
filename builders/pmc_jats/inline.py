"""Inline markup, rewritten once per subtree so that every inline run is then read in one
C-level call."""

from __future__ import annotations

import re

from lxml import etree

from builders.pmc_jats.citations import CITE_CLOSE, CITE_OPEN, CLOSING_PUNCTUATION
from builders.pmc_jats.markup import INLINE_SKIP, all_text, localname
from builders.pmc_jats.mathml import RENDERED, render_formula


FOOTNOTE_MARK = re.compile(r"[a-z]{1,2}|[*†‡§¶#]{1,3}")
_FN_MARKER = re.compile(r"\d{1,3}|[a-z]{1,2}|[ivx]{1,5}|[*†‡§¶#]{1,3}", re.IGNORECASE)  # a footnote reference's marker
# Formatting a footnote mark may be wrapped in (`<sup><italic>a</italic></sup>`).
MARK_FORMATTING = frozenset({"italic", "bold", "roman", "sc", "underline", "sans-serif", "monospace"})


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
            _replace_text(el, _spaced(el, render_formula(el)), rendered=True)
    for el in list(root.iter("{*}math", "tex-math")):
        if el.getparent() is None or _inside_formula(el):
            continue
        target = el.getparent() if localname(el) == "tex-math" else el
        _replace_text(target, _spaced(target, render_formula(target)), rendered=True)
    for el in list(root.iter("xref")):
        if el.get("ref-type") == "bibr":
            if len(el):
                _replace_text(el, CITE_OPEN + "".join(el.itertext()) + CITE_CLOSE)
            else:  # the common case: a plain marker ("12", "Smith et al., 2001")
                el.text = CITE_OPEN + (el.text or "") + CITE_CLOSE
        elif el.get("ref-type") == "table-fn":  # a table footnote's mark: the footnotes are not text
            _replace_text(el, "")
        elif el.get("ref-type") == "fn" and _FN_MARKER.fullmatch("".join(el.itertext()).strip()):
            _replace_text(el, "")  # a footnote's marker ("moderno<xref>16</xref>", SciELO): not glued to the word
    # Footnote marks written as bare superscripts in tables ("(n = 98 942)<sup>a</sup>", also in
    # italic or bold) would be glued to the number before them; exponents (digits) and longer
    # superscripts stay.
    for table in root.iter("table-wrap"):
        for sup in list(table.iter("sup")):
            if len(sup) == 0:
                mark = sup.text or ""
            elif all(localname(d) in MARK_FORMATTING for d in sup.iterdescendants()):
                mark = "".join(sup.itertext())
            else:
                continue
            if FOOTNOTE_MARK.fullmatch(mark.strip()):
                _replace_text(sup, "")
    for el in list(root.iter("break", "hr")):
        _replace_text(el, " ")
    # The parts of a caption (title, paragraphs) and a label before what it labels are apart when
    # they are read as one run: a figure's source-data file described inside its caption
    # (eLife: "<label>Source data 1.</label><caption><title>...</title><p>...") is not glued.
    for el in root.iter("caption", "label"):
        for part in (el,) if el.tag == "label" else el:
            part.tail = " " + (part.tail or "")


_OPENING = frozenset("([{")


def _spaced(el: etree._Element, rendering: str) -> str:
    """A formula's rendering with a space on each side, to keep it apart from the words around
    it; none after an opening bracket or before closing punctuation ("(C_g)", "M=4.64, 95% CI")."""
    previous = el.getprevious()
    before = (previous.tail if previous is not None else el.getparent().text if el.getparent() is not None else "") or ""
    lead = "" if before[-1:] in _OPENING else " "
    trail = "" if (el.tail or "")[:1] in CLOSING_PUNCTUATION else " "
    return f"{lead}{rendering}{trail}"


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
        el.set(RENDERED, "1")


def inline_text(el: etree._Element, *, with_tail: bool = False) -> str:
    """The text of an element (of a subtree passed through `prepare_inline`), inline markup
    flattened; citations marked for removal."""
    text = all_text(el)
    if with_tail and el.tail:
        text += el.tail
    return text
