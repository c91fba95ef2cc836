"""Formulas as text: TeX kept as TeX, MathML linearised (a/b, x^2, x_i, sqrt(x)), a
graphic-only formula as a placeholder."""

from __future__ import annotations

import re

from lxml import etree

from builders.pmc_jats.markup import localname
from medc.text.normalize import collapse_spaces

RENDERED = "medc-rendered"  # marks a formula element whose text is already its rendering

_MATH_GROUPS = {"mrow", "mstyle", "mpadded", "mphantom", "menclose", "semantics", "math", "mtd"}


_TOKENS = frozenset({"mi", "mn", "mo", "mtext", "ms"})
_NOT_RENDERED = frozenset({"annotation", "annotation-xml"})
_WORD = re.compile(r"\w+")


# The MathML element names as lxml gives them, with the namespace or without (a local-name
# lookup per element costs as much as reading a leaf).
_MATHML = "http://www.w3.org/1998/Math/MathML"
_MATHML_NAMES = {tag: name for name in (*_TOKENS, *_MATH_GROUPS, *_NOT_RENDERED, "mspace", "mfrac", "msup", "msub",
                                        "msubsup", "munder", "munderover", "mover", "msqrt", "mroot", "mfenced",
                                        "mtr", "mtable")
                 for tag in (name, f"{{{_MATHML}}}{name}")}


def _token_text(el: etree._Element) -> str:
    """A token's text (mi, mn, mo, ...), read without walking its children; white space collapsed."""
    text = el.text if len(el) == 0 else "".join(el.itertext())
    return " ".join((text or "").split())


def _group(s: str) -> str:
    return s if len(s) <= 1 or _WORD.fullmatch(s) else f"({s})"


def linearize_mathml(el: etree._Element) -> str:
    """Readable one-line text of a MathML tree: a/b, x^2, x_i, sqrt(x)."""
    return _linear(el, localname(el))


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


def render_formula(el: etree._Element) -> str:
    """TeX kept as TeX, MathML linearised, graphic-only formulas as a placeholder."""
    if el.get(RENDERED):
        return (el.text or "").strip()
    tex = next(el.iter("{*}tex-math"), None)  # tag-filtered iteration: in C
    if tex is not None:
        body = collapse_spaces("".join(tex.itertext()))
        body = re.sub(r"^\\documentclass.*?\\begin\{document\}|\\end\{document\}$", "", body, flags=re.S).strip()
        return body
    math = next(el.iter("{*}math"), None)
    if math is not None:
        return collapse_spaces(linearize_mathml(math))
    return "[formula]"
