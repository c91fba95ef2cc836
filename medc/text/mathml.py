"""MathML as one line of readable text (a/b, x^2, x_i, sqrt(x), V̇O_2max): formulas in JATS
articles and in PubMed abstracts are read the same way."""

from __future__ import annotations

import re

from lxml import etree

MATHML_NAMESPACE = "http://www.w3.org/1998/Math/MathML"
MATH = f"{{{MATHML_NAMESPACE}}}math"

_MATH_GROUPS = {"mrow", "mstyle", "mpadded", "mphantom", "menclose", "semantics", "math", "mtd"}


_TOKENS = frozenset({"mi", "mn", "mo", "mtext", "ms"})
_NOT_RENDERED = frozenset({"annotation", "annotation-xml"})
_WORD = re.compile(r"\w+")


# The MathML element names as lxml gives them, with the namespace or without (a local-name
# lookup per element costs as much as reading a leaf).
_MATHML_NAMES = {tag: name for name in (*_TOKENS, *_MATH_GROUPS, *_NOT_RENDERED, "mspace", "mfrac", "msup", "msub",
                                        "msubsup", "munder", "munderover", "mover", "msqrt", "mroot", "mfenced",
                                        "mtr", "mtable")
                 for tag in (name, f"{{{MATHML_NAMESPACE}}}{name}")}


def _token_text(el: etree._Element) -> str:
    """A token's text (mi, mn, mo, ...), read without walking its children; white space collapsed."""
    text = el.text if len(el) == 0 else "".join(el.itertext())
    return " ".join((text or "").split())


def _group(s: str) -> str:
    return s if len(s) <= 1 or _WORD.fullmatch(s) else f"({s})"


# An accent over a single letter (`<mover accent="true">`: V̇, x̄, x̂) as the combining character.
_ACCENTS = {".": "\u0307", "\u02d9": "\u0307", "\u0307": "\u0307", "\u00a8": "\u0308", "..": "\u0308", "^": "\u0302",
            "\u02c6": "\u0302", "~": "\u0303", "\u02dc": "\u0303", "\u00af": "\u0304", "\u203e": "\u0304", "_": "\u0304",
            "\u2192": "\u20d7"}


def localname(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def linearize_mathml(el: etree._Element) -> str:
    """Readable one-line text of a MathML tree: a/b, x^2, x_i, sqrt(x)."""
    return _linear(el, localname(el))


def replace_mathml(el: etree._Element) -> None:
    """Replace, in place, each MathML `math` element under `el` by its one-line text (its tail kept)."""
    for math in list(el.iter(MATH)):
        parent = math.getparent()
        if parent is None:
            continue
        text = f" {' '.join(linearize_mathml(math).split())} " + (math.tail or "")
        previous = math.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + text
        else:
            parent.text = (parent.text or "") + text
        parent.remove(math)


def _linear(el: etree._Element, name: str) -> str:
    if name in _TOKENS:
        return _token_text(el)
    if name == "mspace":
        return " "
    parts = []
    for k in el:
        kid = _MATHML_NAMES.get(k.tag) if isinstance(k.tag, str) else ""
        if kid is None:
            kid = localname(k)
        if not kid or kid in _NOT_RENDERED:
            continue
        # The leaves, most of the tree, are read here rather than in a call of their own.
        parts.append(_token_text(k) if kid in _TOKENS else _linear(k, kid))
    if name == "mfrac" and len(parts) == 2:
        return f"{_group(parts[0])}/{_group(parts[1])}"
    if name == "msup" and len(parts) == 2:
        return f"{parts[0]}^{_group(parts[1])}"
    if name == "msub" and len(parts) == 2:
        return f"{parts[0]}_{_group(parts[1])}"
    if name == "msubsup" and len(parts) == 3:
        return f"{parts[0]}_{_group(parts[1])}^{_group(parts[2])}"
    if name == "mover" and len(parts) == 2 and len(parts[0]) == 1 and parts[1] in _ACCENTS:
        return parts[0] + _ACCENTS[parts[1]]
    if name in ("munder", "munderover", "mover"):
        return " ".join(parts)
    if name == "msqrt":
        return f"sqrt({''.join(parts)})"
    if name == "mroot" and len(parts) == 2:
        return f"root{_group(parts[1])}({parts[0]})"
    if name == "mfenced":
        return f"{el.get('open', '(')}{', '.join(parts)}{el.get('close', ')')}"
    if name == "mtr":
        return " ".join(parts)
    if name == "mtable":
        return "; ".join(parts)
    return "".join(parts) if name in _MATH_GROUPS else " ".join(parts)
